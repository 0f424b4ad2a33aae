"""Where a named model's pretrained weights come from: a torchvision `*_Weights` enum member
(URL and hash prefix read from torchvision when asked) or a plain URL. Registry entries
(`tsncli.specs.backbones`, `tsncli.specs.flow_algorithms`, `tsncli.specs.pretrained`) carry one;
`tsn fetch weights NAME` and its catalog entry follow from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TorchvisionWeights:
    """torchvision weights by enum: `module` is "models" or "models.optical_flow"."""

    enum: str  # e.g. "ResNet50_Weights"
    version: str  # e.g. "IMAGENET1K_V1"
    module: str = "models"
    what: str = "ImageNet weights"  # `tsn fetch --list` says "<what> for <name> (...)"


@dataclass(frozen=True)
class UrlWeights:
    """Weights at a URL; `sha256_prefix` is checked when the name carries one."""

    url: str
    approx_bytes: int | None = None
    sha256_prefix: str | None = None
    what: str = "ImageNet weights"
    mirrors: tuple[str, ...] = ()  # further URLs of the same file, tried in order after `url`


WeightsSource = TorchvisionWeights | UrlWeights
