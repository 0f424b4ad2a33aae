"""The catalog of fetchable things (datasets, annotations, Caffe models, ImageNet weights,
released TSN checkpoints).

Entries are registered by name; `tsn fetch NAME` and shell completion read this registry.
Datasets' files come from their specs (`tsncli.specs.datasets`), models' are written here. Each
file lists its URLs in the order they are tried; sizes and sha256 sums are the published ones
(`checksum_source` names where), never computed here. torchvision URLs and hash prefixes come
from torchvision's `*_Weights` enums, read lazily so completion never imports torchvision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from tsncli.acquire.catalog_types import CatalogEntry, RemoteFile, cache_dir
from tsncli.acquire.weights import (
    WEIGHTS_PREFIX,
    converted_checkpoint_path,
    weight_archs,
    weights_catalog_entry,
)
from tsncli.errors import DataError, UsageError
from tsncli.modality import Modality
from tsncli.registry import Registry
from tsncli.specs.datasets import DATASETS, DatasetSpec

__all__ = [  # re-exported: callers import the catalog's whole vocabulary from here
    "CATALOG", "WEIGHTS_PREFIX", "CatalogEntry", "RemoteFile", "cache_dir", "cached_weights_path",
    "entry_names", "fetch_weights_command", "get_entry", "released_tsn_path", "weight_archs",
    "weights_entry_name", "weights_path",
]  # fmt: skip

CATALOG: Registry[Callable[[], CatalogEntry]] = Registry("catalog entry")


def entry_names() -> list[str]:
    """Every catalog name, datasets first (cheap: imports nothing)."""
    return CATALOG.names()


def get_entry(name: str) -> CatalogEntry:
    """The entry called `name`; `weights ARCH` may be written `weights/ARCH`."""
    return CATALOG.get(name)()


def weights_entry_name(arch: str) -> str:
    """The catalog name of the weights `tsn fetch weights ARCH` gets (unknown -> error listing
    the names)."""
    archs = weight_archs()
    if arch not in archs:
        raise UsageError(f"no weights called {arch!r}; use one of: {', '.join(archs)}")
    return WEIGHTS_PREFIX + arch


def weights_path(arch: str) -> Path:
    """Where `tsn fetch weights ARCH` puts the downloaded weights file (may not exist yet)."""
    entry = get_entry(weights_entry_name(arch))
    return entry.default_dest() / entry.files[0].filename


def released_tsn_path(name: str) -> Path:
    """Where `tsn fetch weights NAME` puts the tsn checkpoint converted from the released TSN
    `NAME` (`tsncli.specs.pretrained`; may not exist yet)."""
    return converted_checkpoint_path(weights_path(name))


def cached_weights_path(arch: str, what: str, also: str = "") -> Path:
    """The file `tsn fetch weights ARCH` saved; a DataError naming that command if it is missing.

    `what` names the weights in the message ("ImageNet weights for resnet18"); `also` adds a
    second way out (", or train with --pretrained none").
    """
    path = weights_path(arch)
    if not path.is_file():
        raise DataError(
            f"{what} are not in the cache ({path}); run `{fetch_weights_command(arch)}` first{also}"
        )
    return path


def fetch_weights_command(arch: str) -> str:
    """The exact command that downloads the weights for `arch`."""
    return f"tsn fetch weights {arch}"


_TSN_BLOB = "https://yjxiong.blob.core.windows.net"
_RELEASED = (Modality.RGB, Modality.FLOW)  # the TSN authors released no RGB-diff models


def _dataset_entry(spec: DatasetSpec) -> CatalogEntry:
    """The catalog entry of a registered dataset's download (its files, in order)."""
    assert spec.download is not None  # only datasets with a download are registered
    files = tuple(RemoteFile(**dataclasses.asdict(f)) for f in spec.download.files)
    return CatalogEntry(spec.name, "dataset", spec.download.description, files)


def _tsn_init() -> CatalogEntry:
    files = tuple(
        RemoteFile(
            f"bn_inception_{m}_init.caffemodel",
            f"{_TSN_BLOB}/tsn-init/bn_inception_{m}_init.caffemodel",
            approx_bytes=45_000_000,
        )
        for m in _RELEASED
    )
    return CatalogEntry(
        "tsn-init", "caffe", "TSN Caffe init models (BN-Inception RGB, flow)", files
    )


def _tsn_reference() -> CatalogEntry:
    files = []
    for ds in ("ucf101", "hmdb51"):
        for split in (1, 2, 3):
            for modality in _RELEASED:
                stem = f"{ds}_split_{split}_tsn_{modality}_reference_bn_inception.caffemodel"
                # saved without the server's `.v5` suffix, as the original scripts did
                url = f"{_TSN_BLOB}/tsn-reference-models/{stem}.v5"
                files.append(RemoteFile(stem, url, approx_bytes=40_000_000))
    return CatalogEntry(
        "tsn-reference",
        "caffe",
        "The 12 released TSN Caffe models (UCF101/HMDB51 x 3 splits x RGB/flow)",
        tuple(files),
    )


for _spec in map(DATASETS.get, DATASETS):
    if _spec.download is not None:
        CATALOG.add(_spec.name, lambda s=_spec: _dataset_entry(s))
CATALOG.add("tsn-init", _tsn_init)
CATALOG.add("tsn-reference", _tsn_reference)
for _arch in weight_archs():
    CATALOG.add(WEIGHTS_PREFIX + _arch, lambda a=_arch: weights_catalog_entry(a))
