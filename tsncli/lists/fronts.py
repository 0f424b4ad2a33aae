"""How `tsn lists DATASET` writes a dataset's lists: one `ListsBuilder` per way of making them
(official split files or the user's own videos; annotation files; ActivityNet's instances), named
by the dataset's registry entry (`DatasetSpec.lists`), with the config it resolves from the
command's options and the options only it takes. `tsn lists` asks this module, never the
dataset's name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsncli.specs.datasets import DATASETS

# the builder of datasets whose entry names none: split files (or own videos), or annotations
SPLIT_LISTS = "tsncli.lists.builder:SPLIT_LISTS"
ANNOTATED_LISTS = "tsncli.lists.annotated:ANNOTATED_LISTS"


@dataclass(frozen=True)
class ListsBuilder:
    """One way of writing lists: `resolve(overrides, config_file)` turns the options typed (the
    FRAMES argument under `frames`) and a `--config` file into its config; `build(config,
    on_progress=...)` writes the lists and returns what it wrote (`to_dict()` for `--json`)."""

    name: str  # in messages: "ActivityNet"
    resolve: Callable[[dict[str, Any], Path | None], Any]
    build: Callable[..., Any]
    options: tuple[str, ...] = ()  # command options only this builder takes (`unit`, `classes`)


def builder_reference(dataset: str) -> str:
    """The "module:attr" of the builder writing `dataset`'s lists (a name not registered is the
    user's own videos, as `tsn lists` has always taken it)."""
    spec = DATASETS.get(dataset) if dataset in DATASETS else None
    if spec is not None and spec.lists is not None:
        return spec.lists
    return ANNOTATED_LISTS if spec is not None and spec.annotations else SPLIT_LISTS


def load_builder(reference: str) -> ListsBuilder:
    module, _, attr = reference.partition(":")
    return getattr(importlib.import_module(module), attr)


def lists_builder(dataset: str) -> ListsBuilder:
    """The `ListsBuilder` of `dataset`."""
    return load_builder(builder_reference(dataset))


def builder_options() -> dict[str, str]:
    """{option: the builder name that alone takes it}, over every registered builder."""
    references = {builder_reference(name) for name in DATASETS} | {SPLIT_LISTS}
    owners: dict[str, str] = {}
    for reference in sorted(references):
        builder = load_builder(reference)
        owners.update(dict.fromkeys(builder.options, builder.name))
    return owners
