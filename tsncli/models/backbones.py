"""The backbone registry: name -> feature extractor (N, 3, H, W) -> (N, D) and how to feed it.

Each entry keeps the source model's module names (torchvision's, or the Caffe layer names for
BN-Inception) so published weights load by key. TSN swaps the first conv for flow/RGB-diff.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torchvision
from torch import nn

from tsncli.registry import Registry


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """What TSN needs to know about a backbone besides its weights."""

    name: str
    build: Callable[[], nn.Module]  # -> module mapping (N, 3, H, W) to (N, feature_dim)
    feature_dim: int
    first_conv: str  # dotted module name of the first nn.Conv2d inside the built module
    first_bn: str  # dotted module name of the first BatchNorm (the one partial BN keeps)
    convention: str  # input convention name in tsncli.models.normalize.CONVENTIONS
    weights_format: str  # "torchvision" | "bninception" | "none": what load_imagenet_weights reads
    min_size: int = 32  # smallest input side that runs forward


BACKBONES: Registry[BackboneSpec] = Registry("backbone")


def get_backbone(name: str) -> BackboneSpec:
    """The spec registered under `name` (unknown names list the valid ones)."""
    return BACKBONES.get(name)


def create_backbone(name: str) -> nn.Module:
    """Build the named backbone with random weights (load ImageNet weights separately)."""
    return get_backbone(name).build()


def get_submodule(root: nn.Module, dotted: str) -> nn.Module:
    """`root.a.b.0` style lookup."""
    return root.get_submodule(dotted)


def set_submodule(root: nn.Module, dotted: str, module: nn.Module) -> None:
    """Replace the submodule at a dotted name."""
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


def _torchvision(arch: str, head: Callable[[nn.Module], None]) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        model = getattr(torchvision.models, arch)(weights=None)
        head(model)
        return model

    return build


def _drop_fc(model: nn.Module) -> None:
    model.fc = nn.Identity()


def _drop_classifier(model: nn.Module) -> None:
    model.classifier = nn.Identity()


def _keep_mobilenet_v3_pre_logits(model: nn.Module) -> None:
    # classifier = [Linear(960, 1280), Hardswish, Dropout, Linear(1280, 1000)]: the first two are
    # pretrained features; TSN adds its own dropout and fc. Keep indices so weight keys still match.
    model.classifier = nn.Sequential(model.classifier[0], model.classifier[1])


for _depth, _dim in ((18, 512), (34, 512), (50, 2048), (101, 2048), (152, 2048)):
    _name = f"resnet{_depth}"
    BACKBONES.add(
        _name,
        BackboneSpec(
            name=_name,
            build=_torchvision(_name, _drop_fc),
            feature_dim=_dim,
            first_conv="conv1",
            first_bn="bn1",
            convention="imagenet_rgb01",
            weights_format="torchvision",
        ),
    )

# MobileNet / EfficientNet: the stem conv + BN sit in features.0; 1280-d pooled features.
for _name, _head in (
    ("mobilenet_v2", _drop_classifier),
    ("mobilenet_v3_large", _keep_mobilenet_v3_pre_logits),
    ("efficientnet_b0", _drop_classifier),
):
    BACKBONES.add(
        _name,
        BackboneSpec(
            name=_name,
            build=_torchvision(_name, _head),
            feature_dim=1280,
            first_conv="features.0.0",
            first_bn="features.0.1",
            convention="imagenet_rgb01",
            weights_format="torchvision",
        ),
    )


class TinyCNN(nn.Module):
    """A 3-conv network for tests and demos: fast on CPU, has BN, learns toy data."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.conv3 = nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1)
        self.bn3 = nn.BatchNorm2d(4 * width)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):  # (N, 3, H, W) -> (N, 4*width)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.relu(self.bn3(self.conv3(x)))
        return self.pool(x).flatten(1)


BACKBONES.add(
    "tiny",
    BackboneSpec(
        name="tiny",
        build=TinyCNN,
        feature_dim=64,
        first_conv="conv1",
        first_bn="bn1",
        convention="imagenet_rgb01",
        weights_format="none",
        min_size=8,
    ),
)


def _build_bninception() -> nn.Module:
    from tsncli.models.bninception import BNInception

    return BNInception()


BACKBONES.add(
    "bninception",
    BackboneSpec(
        name="bninception",
        build=_build_bninception,
        feature_dim=1024,
        first_conv="conv1_7x7_s2",
        first_bn="conv1_7x7_s2_bn",
        convention="caffe_bgr255",
        weights_format="bninception",
        min_size=32,
    ),
)
