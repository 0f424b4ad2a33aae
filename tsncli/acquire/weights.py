"""Pretrained weights in the catalog: one entry per backbone and flow algorithm whose registry
entry (`tsncli.specs`) names a weights source. torchvision's URLs and hash prefixes are read from
its `*_Weights` enums only when an entry is built (completion never imports torchvision)."""

from __future__ import annotations

import importlib
import re

from tsncli.acquire.catalog_types import CatalogEntry, RemoteFile
from tsncli.specs.backbones import BACKBONES
from tsncli.specs.flow_algorithms import FLOW_ALGORITHMS
from tsncli.specs.weights import TorchvisionWeights, UrlWeights, WeightsSource

_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")  # torch.hub convention: name-<sha256 prefix>.ext

WEIGHTS_PREFIX = "weights/"


def weight_sources() -> dict[str, WeightsSource]:
    """Every name `tsn fetch weights NAME` takes, with its source: backbones, then flow models."""
    sources: dict[str, WeightsSource] = {}
    for registry in (BACKBONES, FLOW_ALGORITHMS):
        for name in registry:
            weights = registry.get(name).weights
            if weights is not None:
                sources[name] = weights
    return sources


def weight_archs() -> tuple[str, ...]:
    """Every name `tsn fetch weights NAME` takes: backbones, then flow models."""
    return tuple(weight_sources())


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
        name, source.url, hash_prefix=source.sha256_prefix, approx_bytes=source.approx_bytes
    )
    return CatalogEntry(
        WEIGHTS_PREFIX + arch, "weights", f"{source.what} for {arch} ({name})", (file,)
    )
