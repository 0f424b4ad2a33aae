"""Pretrained weights in the catalog: one entry per backbone and flow algorithm whose registry
entry (`tsncli.specs`) names a weights source, and one per released TSN checkpoint
(`tsncli.specs.pretrained`, converted to a tsn checkpoint beside the download). torchvision's URLs
and hash prefixes are read from its `*_Weights` enums only when an entry is built (completion
never imports torchvision)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from tsncli.acquire.catalog_types import CatalogEntry, RemoteFile
from tsncli.specs.backbones import BACKBONES
from tsncli.specs.flow_algorithms import FLOW_ALGORITHMS
from tsncli.specs.pretrained import PRETRAINED, PretrainedTSN
from tsncli.specs.weights import TorchvisionWeights, UrlWeights, WeightsSource

_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")  # torch.hub convention: name-<sha256 prefix>.ext

WEIGHTS_PREFIX = "weights/"


def weight_sources() -> dict[str, WeightsSource]:
    """Every name `tsn fetch weights NAME` takes, with its source: backbones, flow models, then
    released TSNs."""
    sources: dict[str, WeightsSource] = {}
    for registry in (BACKBONES, FLOW_ALGORITHMS, PRETRAINED):
        for name in registry:
            weights = registry.get(name).weights
            if weights is not None:
                sources[name] = weights
    return sources


def weight_archs() -> tuple[str, ...]:
    """Every name `tsn fetch weights NAME` takes: backbones, flow models, then released TSNs."""
    return tuple(weight_sources())


def released_tsn(entry_name: str) -> PretrainedTSN | None:
    """The released TSN a catalog entry (`weights/NAME`) downloads, or None for other entries;
    its file is converted to a tsn checkpoint on arrival (`converted_checkpoint_path`)."""
    name = entry_name.removeprefix(WEIGHTS_PREFIX)
    if not entry_name.startswith(WEIGHTS_PREFIX) or name not in PRETRAINED:
        return None
    return PRETRAINED.get(name)


def converted_checkpoint_path(download: Path) -> Path:
    """Where the tsn checkpoint converted from a released file goes: beside it, `.tsn.pt` for its
    `.pth` (the release's hash stays in the name, so a new release never meets a stale copy)."""
    return download.with_suffix(".tsn.pt")


def url_weight_archs() -> tuple[str, ...]:
    """The names whose weights URL is ours (`tsn fetch --check` probes them; torchvision's URLs
    come from torchvision itself)."""
    return tuple(n for n, s in weight_sources().items() if isinstance(s, UrlWeights))


def weights_catalog_entry(arch: str) -> CatalogEntry:
    """The catalog entry of `arch`'s pretrained weights."""
    source = weight_sources()[arch]
    if isinstance(source, TorchvisionWeights):
        return _torchvision_entry(arch, source)
    return _url_entry(arch, source)


def _hash_prefix(url: str) -> str | None:
    match = _HASH_IN_NAME.search(url.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def _torchvision_entry(arch: str, source: TorchvisionWeights) -> CatalogEntry:
    module = importlib.import_module(f"torchvision.{source.module}")
    weights = getattr(module, source.enum)[source.version]
    mb = weights.meta.get("_file_size")
    file = RemoteFile(
        weights.url.rsplit("/", 1)[-1],
        weights.url,
        hash_prefix=_hash_prefix(weights.url),
        approx_bytes=int(mb * 1024 * 1024) if mb else None,
    )
    label = f"torchvision {source.enum}.{source.version}"
    return CatalogEntry(
        WEIGHTS_PREFIX + arch, "weights", f"{source.what} for {arch} ({label})", (file,)
    )


def _url_entry(arch: str, source: UrlWeights) -> CatalogEntry:
    name = source.url.rsplit("/", 1)[-1]
    file = RemoteFile(
        name,
        source.url,
        hash_prefix=source.sha256_prefix,
        approx_bytes=source.approx_bytes,
        mirrors=source.mirrors,
    )
    released = PRETRAINED.get(arch) if arch in PRETRAINED else None
    if released is None:
        description = f"{source.what} for {arch} ({name})"
    else:
        description = (
            f"{source.what}, {released.arch} {released.modality}, for --pretrained "
            f"{released.source} ({released.release}; converted on arrival)"
        )
    return CatalogEntry(WEIGHTS_PREFIX + arch, "weights", description, (file,))
