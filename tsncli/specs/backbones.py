"""The backbone table: per name, how to build it, its feature width, first conv and BN, input
convention, ImageNet weights and the key mapping that converts released models. Adding a
torchvision backbone is one `BACKBONES.add` here; `tsn train --arch`, `--pretrained imagenet`,
`tsn fetch weights` and `tsn fetch --list` all read this table. Plain data: importing it loads
neither torch nor torchvision (builders import them when called).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tsncli.registry import Registry
from tsncli.specs.weights import TorchvisionWeights, UrlWeights, WeightsSource

DEFAULT_ARCH = "bninception"  # TSN's backbone: `tsn train --arch` and TrainConfig.arch


@dataclass(frozen=True)
class InputConvention:
    """How a backbone wants its input: colour order, value scale, mean/std per channel.

    `caffe_bgr255` (BN-Inception, the released Caffe/tsn-pytorch weights): BGR, 0..255, minus
    the Caffe means, no std; flow minus 128, no std. `imagenet_rgb01` (torchvision): RGB scaled
    to 0..1, ImageNet mean/std; flow minus 128, divided by 16 (why: `tsncli.models.normalize`).
    """

    name: str
    channel_order: str  # "bgr" | "rgb": order of the 3 colour channels the backbone sees
    scale: float  # uint8 values are divided by this first (1 keeps 0..255, 255 gives 0..1)
    mean: tuple[float, float, float]  # in the backbone's channel order, after `scale`
    std: tuple[float, float, float]
    flow_mean: float  # on the 0..255 flow pixel scale
    flow_std: float

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping for checkpoint meta."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputConvention:
        """Inverse of `to_dict` (lists become tuples)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields}
        return cls(**values)


CONVENTIONS: dict[str, InputConvention] = {
    "caffe_bgr255": InputConvention(
        name="caffe_bgr255",
        channel_order="bgr",
        scale=1.0,
        mean=(104.0, 117.0, 123.0),
        std=(1.0, 1.0, 1.0),
        flow_mean=128.0,
        flow_std=1.0,
    ),
    "imagenet_rgb01": InputConvention(
        name="imagenet_rgb01",
        channel_order="rgb",
        scale=255.0,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        flow_mean=128.0,
        flow_std=16.0,
    ),
}

# How a torchvision classifier becomes a feature extractor (N, 3, H, W) -> (N, feature_dim).
HEADS = ("drop_fc", "drop_classifier", "mobilenet_v3_pre_logits")


@dataclass(frozen=True)
class TorchvisionBackbone:
    """Builds `torchvision.models.<arch>(weights=None)` and cuts its head (one of `HEADS`).

    Module names stay torchvision's, so its published state dicts load by key.
    """

    arch: str  # the torchvision.models builder, e.g. "resnet50"
    head: str

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"head {self.head!r} is not one of {HEADS}")

    def __call__(self) -> Any:
        import torchvision
        from torch import nn

        model = getattr(torchvision.models, self.arch)(weights=None)
        if self.head == "drop_fc":
            model.fc = nn.Identity()
        elif self.head == "drop_classifier":
            model.classifier = nn.Identity()
        else:
            # classifier = [Linear(960, 1280), Hardswish, Dropout, Linear(1280, 1000)]: the first
            # two are pretrained features; TSN adds its own dropout and fc. Indices are kept so
            # the weight keys still match.
            model.classifier = nn.Sequential(model.classifier[0], model.classifier[1])
        return model


@dataclass(frozen=True, kw_only=True)
class BackboneSpec:
    """Everything about one backbone name. `weights` has no default: an entry states its
    ImageNet weights, or `weights=None` to say it has none (then `--pretrained imagenet` and
    `tsn fetch weights` refuse it)."""

    name: str
    # -> module mapping (N, 3, H, W) to (N, feature_dim): a builder, or "module:attr" of one
    # in a layer above this table (resolved by `tsncli.models.backbones.create_backbone`)
    build: TorchvisionBackbone | Callable[[], Any] | str
    feature_dim: int
    first_conv: str  # dotted module name of the first nn.Conv2d inside the built module
    first_bn: str  # dotted module name of the first BatchNorm (the one partial BN keeps)
    convention: str  # input convention name in CONVENTIONS
    weights: WeightsSource | None
    # "module:attr" of the function renaming a released model's keys to ours (`tsn convert`)
    conversion: str | None = None
    min_size: int = 32  # smallest input side that runs forward
    # Grad-CAM's target (`tsn explain`): the dotted name of the module whose output is the last
    # convolutional feature map, or several joined by "+" whose outputs the network concatenates
    # along channels (a block no single module holds). Every entry below states one; None only
    # for a spec built outside this table (then `tsn explain` needs --layer).
    cam_layer: str | None = None

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(
                f"backbone {self.name!r}: convention {self.convention!r} is not one of "
                f"{', '.join(CONVENTIONS)}"
            )
        if self.weights is not None and not isinstance(
            self.weights, TorchvisionWeights | UrlWeights
        ):
            raise ValueError(
                f"backbone {self.name!r}: weights must be TorchvisionWeights, UrlWeights or None"
            )
        for ref in (self.build, self.conversion):
            if isinstance(ref, str) and ":" not in ref:
                raise ValueError(f"backbone {self.name!r}: {ref!r} is not 'module:attr'")


BACKBONES: Registry[BackboneSpec] = Registry("backbone")


def add_backbone(spec: BackboneSpec) -> None:
    """Register `spec` under its name."""
    BACKBONES.add(spec.name, spec)


def list_backbones() -> list[str]:
    """Every registered backbone name, in registration order."""
    return BACKBONES.names()


# IMAGENET1K_V1 is what TSN-era work and MMAction2 used.
_MMACTION_RESNET = "tsncli.models.convert:mmaction_key"  # MMAction2's TSN ResNet key names
for _depth, _dim in ((18, 512), (34, 512), (50, 2048), (101, 2048), (152, 2048)):
    add_backbone(
        BackboneSpec(
            name=f"resnet{_depth}",
            build=TorchvisionBackbone(f"resnet{_depth}", "drop_fc"),
            feature_dim=_dim,
            first_conv="conv1",
            first_bn="bn1",
            convention="imagenet_rgb01",
            weights=TorchvisionWeights(f"ResNet{_depth}_Weights", "IMAGENET1K_V1"),
            conversion=_MMACTION_RESNET,
            cam_layer="layer4",  # the last residual stage, before the global pool
        )
    )

# MobileNet / EfficientNet: the stem conv + BN sit in features.0; 1280-d pooled features.
add_backbone(
    BackboneSpec(
        name="mobilenet_v2",
        build=TorchvisionBackbone("mobilenet_v2", "drop_classifier"),
        feature_dim=1280,
        first_conv="features.0.0",
        first_bn="features.0.1",
        convention="imagenet_rgb01",
        weights=TorchvisionWeights("MobileNet_V2_Weights", "IMAGENET1K_V1"),
        cam_layer="features.18",  # the last conv + BN + activation before the pool
    )
)
add_backbone(
    BackboneSpec(
        name="mobilenet_v3_large",
        build=TorchvisionBackbone("mobilenet_v3_large", "mobilenet_v3_pre_logits"),
        feature_dim=1280,
        first_conv="features.0.0",
        first_bn="features.0.1",
        convention="imagenet_rgb01",
        weights=TorchvisionWeights("MobileNet_V3_Large_Weights", "IMAGENET1K_V1"),
        cam_layer="features.16",  # the last conv + BN + activation before the pool
    )
)
add_backbone(
    BackboneSpec(
        name="efficientnet_b0",
        build=TorchvisionBackbone("efficientnet_b0", "drop_classifier"),
        feature_dim=1280,
        first_conv="features.0.0",
        first_bn="features.0.1",
        convention="imagenet_rgb01",
        weights=TorchvisionWeights("EfficientNet_B0_Weights", "IMAGENET1K_V1"),
        cam_layer="features.8",  # the last conv + BN + activation before the pool
    )
)
add_backbone(
    BackboneSpec(
        name="tiny",  # for tests and demos: fast on CPU, has BN, learns toy data
        build="tsncli.models.backbones:TinyCNN",
        feature_dim=64,
        first_conv="conv1",
        first_bn="bn1",
        convention="imagenet_rgb01",
        weights=None,
        min_size=8,
        # bn3's output, which the ReLU after it rectifies in place: the last block's features
        cam_layer="bn3",
    )
)
add_backbone(
    BackboneSpec(
        name="bninception",  # module names are the Caffe layer names with `/` -> `_`
        build="tsncli.models.bninception:BNInception",
        feature_dim=1024,
        first_conv="conv1_7x7_s2",
        first_bn="conv1_7x7_s2_bn",
        convention="caffe_bgr255",
        # The TSN PyTorch port's .pth. The suffix of its name is not documented as a sha256
        # prefix, so it is not checked.
        weights=UrlWeights(
            "https://yjxiong.blob.core.windows.net/models/bn_inception-9f5701afb96c8044.pth",
            approx_bytes=45_000_000,
        ),
        conversion="tsncli.models.bninception:caffe_to_module_name",
        # inception_5b's output is the concatenation of its four branches (no module holds
        # it): Grad-CAM over the branch ends summed is Grad-CAM over the concatenation
        cam_layer="+".join(
            f"inception_5b_{branch}_bn" for branch in ("1x1", "3x3", "double_3x3_2", "pool_proj")
        ),
    )
)
