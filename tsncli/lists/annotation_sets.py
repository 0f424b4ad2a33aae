"""Datasets whose splits come as annotation files (Kinetics CSVs, Something-Something JSON):
which reader each uses, and the one entry point `tsn lists` calls for them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tsncli.lists.annotated import (
    AnnotatedListsConfig,
    AnnotatedListsResult,
    Annotations,
    build_annotated_lists,
)
from tsncli.lists.kinetics import load_kinetics_annotations
from tsncli.lists.splits import DATASETS
from tsncli.lists.sthv2 import load_sthv2_annotations

if TYPE_CHECKING:  # the progress protocol is only a type here
    from tsncli.progress import ProgressFn

# split format -> reader(annotation folder, dataset name)
READERS: dict[str, Callable[[Path, str], Annotations]] = {
    "kinetics": load_kinetics_annotations,
    "sthv2": load_sthv2_annotations,
}


def is_annotated(dataset: str) -> bool:
    """True for registered datasets read from annotation files rather than split files."""
    return dataset in DATASETS and DATASETS.get(dataset).split_format in READERS


def build_lists_from_annotations(
    config: AnnotatedListsConfig, on_progress: ProgressFn | None = None
) -> AnnotatedListsResult:
    """Read the dataset's annotation files, then write its video lists (see `annotated`)."""
    read = READERS[str(DATASETS.get(config.dataset).split_format)]
    annotations = read(config.annotations_dir, config.dataset)
    return build_annotated_lists(config, annotations, on_progress)
