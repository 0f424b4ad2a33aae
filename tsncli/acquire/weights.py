"""ImageNet and optical-flow weights in the catalog: torchvision's URLs and hash prefixes,
read from its `*_Weights` enums only when an entry is built (completion never imports it)."""

from __future__ import annotations

import re

from tsncli.acquire.catalog_types import CatalogEntry, RemoteFile

_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")  # torch.hub convention: name-<sha256 prefix>.ext


# arch -> torchvision enum class name; IMAGENET1K_V1 is what TSN-era work and MMAction2 used.
TORCHVISION_WEIGHTS = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights",
    "resnet152": "ResNet152_Weights",
    "mobilenet_v2": "MobileNet_V2_Weights",
    "mobilenet_v3_large": "MobileNet_V3_Large_Weights",
    "efficientnet_b0": "EfficientNet_B0_Weights",
}
TORCHVISION_WEIGHTS_VERSION = "IMAGENET1K_V1"
BNINCEPTION_URL = "https://yjxiong.blob.core.windows.net/models/bn_inception-9f5701afb96c8044.pth"
# optical-flow models for `tsn flow --algo raft_*`: torchvision enum class name, version
FLOW_WEIGHTS = {"raft_small": "Raft_Small_Weights", "raft_large": "Raft_Large_Weights"}
FLOW_WEIGHTS_VERSION = "C_T_V2"
WEIGHT_ARCHS = (*TORCHVISION_WEIGHTS, "bninception", *FLOW_WEIGHTS)


WEIGHTS_PREFIX = "weights/"


def _hash_prefix(url: str) -> str | None:
    match = _HASH_IN_NAME.search(url.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def torchvision_entry(arch: str) -> CatalogEntry:
    import torchvision.models

    enum = getattr(torchvision.models, TORCHVISION_WEIGHTS[arch])
    weights = enum[TORCHVISION_WEIGHTS_VERSION]
    mb = weights.meta.get("_file_size")
    approx = int(mb * 1024 * 1024) if mb else None
    name = weights.url.rsplit("/", 1)[-1]
    file = RemoteFile(name, weights.url, hash_prefix=_hash_prefix(weights.url), approx_bytes=approx)
    return CatalogEntry(
        WEIGHTS_PREFIX + arch,
        "weights",
        f"ImageNet weights for {arch} (torchvision {enum.__name__}.{TORCHVISION_WEIGHTS_VERSION})",
        (file,),
    )


def raft_entry(arch: str) -> CatalogEntry:
    import torchvision.models.optical_flow

    enum = getattr(torchvision.models.optical_flow, FLOW_WEIGHTS[arch])
    weights = enum[FLOW_WEIGHTS_VERSION]
    mb = weights.meta.get("_file_size")
    name = weights.url.rsplit("/", 1)[-1]
    file = RemoteFile(
        name,
        weights.url,
        hash_prefix=_hash_prefix(weights.url),
        approx_bytes=int(mb * 1024 * 1024) if mb else None,
    )
    label = f"torchvision {enum.__name__}.{FLOW_WEIGHTS_VERSION}"
    return CatalogEntry(WEIGHTS_PREFIX + arch, "weights", f"{arch} optical flow ({label})", (file,))


def bninception_entry() -> CatalogEntry:
    # The suffix of this name is not documented as a sha256 prefix, so it is not checked.
    file = RemoteFile(BNINCEPTION_URL.rsplit("/", 1)[-1], BNINCEPTION_URL, approx_bytes=45_000_000)
    return CatalogEntry(
        WEIGHTS_PREFIX + "bninception",
        "weights",
        "ImageNet weights for BN-Inception (the TSN PyTorch port's .pth)",
        (file,),
    )


def weight_archs() -> tuple[str, ...]:
    """Every name `tsn fetch weights NAME` takes: backbones, then flow models."""
    return WEIGHT_ARCHS


def weights_catalog_entry(arch: str) -> CatalogEntry:
    """The catalog entry of `arch`'s pretrained weights."""
    if arch in TORCHVISION_WEIGHTS:
        return torchvision_entry(arch)
    if arch in FLOW_WEIGHTS:
        return raft_entry(arch)
    return bninception_entry()
