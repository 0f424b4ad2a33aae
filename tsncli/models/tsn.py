"""The TSN wrapper: one shared backbone per snippet, dropout, a new fc, segmental consensus.

Tensor contract (train, eval, predict and export all follow it):

    input   float (B, S, C*L, H, W), already normalised by `tsncli.models.normalize`
              rgb      C*L = 3L   L frames, colour order of the backbone's convention
              flow     C*L = 2L   x0, y0, x1, y1, ... (warped flow is the same, from warp_tvl1)
              rgbdiff  C*L = 3(L+1)   L+1 consecutive RGB frames; the model takes the L
                       differences frame[i+1] - frame[i] itself, so conv1 sees 3L channels
    output  consensus logits (B, K); identity consensus returns per-snippet logits (B, S, K)

S may differ from `num_segments` at test time (e.g. 25 snippets) for every consensus but
`weighted`. `tsncli.modality.input_frames(modality, L)`: frames per snippet the loader reads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tsncli.errors import UsageError
from tsncli.modality import (
    Modality,
    backbone_channels,
    check_modality,
    default_dropout,
    default_new_length,
    input_channels,
)
from tsncli.models.backbones import create_backbone, get_backbone, set_submodule
from tsncli.models.consensus import create_consensus
from tsncli.specs.backbones import DEFAULT_ARCH, BackboneSpec

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def cross_modality_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of `conv` taking `in_channels`: weight = mean over the old input channels, repeated.

    This is TSN's cross-modality init (flow 2L, RGB-diff 3L from the RGB conv1); bias is kept.
    """
    new = nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )
    with torch.no_grad():
        mean = conv.weight.mean(dim=1, keepdim=True)  # (O, 1, kh, kw)
        new.weight.copy_(mean.expand(-1, in_channels, -1, -1))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new.to(conv.weight.device, conv.weight.dtype)


class TSN(nn.Module):
    """Temporal Segment Network over a registered backbone; see the module docstring."""

    def __init__(
        self,
        num_classes: int,
        num_segments: int = 3,
        modality: str = Modality.RGB,
        arch: str = DEFAULT_ARCH,
        new_length: int | None = None,
        consensus: str = "avg",
        dropout: float | None = None,
        partial_bn: bool = True,
    ) -> None:
        super().__init__()
        modality = check_modality(modality)
        dropout = default_dropout(modality) if dropout is None else dropout
        if num_classes < 1 or num_segments < 1:
            raise UsageError("num_classes and num_segments must be at least 1")
        if not 0.0 <= dropout < 1.0:
            raise UsageError(f"dropout must be in [0, 1), not {dropout}")
        self.spec: BackboneSpec = get_backbone(arch)
        self.arch = arch
        self.modality = modality
        self.num_classes = num_classes
        self.num_segments = num_segments
        self.new_length = new_length if new_length is not None else default_new_length(modality)
        if self.new_length < 1:
            raise UsageError(f"new_length must be at least 1, not {self.new_length}")
        self.consensus_type = consensus
        self.dropout_p = dropout
        self.backbone = create_backbone(arch)
        channels = backbone_channels(modality, self.new_length)
        if channels != 3:
            first = self.backbone.get_submodule(self.spec.first_conv)
            set_submodule(self.backbone, self.spec.first_conv, cross_modality_conv(first, channels))
        self.dropout = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.spec.feature_dim, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, 0.001)
        nn.init.zeros_(self.fc.bias)
        self.consensus = create_consensus(consensus, num_segments)
        self.partial_bn = False
        self.set_partial_bn(partial_bn)

    @property
    def first_conv(self) -> nn.Conv2d:
        return self.backbone.get_submodule(self.spec.first_conv)

    @property
    def first_bn(self) -> nn.Module:
        return self.backbone.get_submodule(self.spec.first_bn)

    def frozen_bn_names(self) -> list[str]:
        """Names (in `named_modules`) of the BN layers partial BN freezes: all but the first."""
        if not self.partial_bn:
            return []
        first = self.first_bn
        return [n for n, m in self.named_modules() if isinstance(m, _BN_TYPES) and m is not first]

    def set_partial_bn(self, enabled: bool) -> None:
        """Freeze (eval mode, no grad) every BN layer but the first; or unfreeze them all."""
        self.partial_bn = enabled
        first = self.first_bn
        for module in self.modules():
            if isinstance(module, _BN_TYPES) and module is not first:
                for param in module.parameters(recurse=False):
                    param.requires_grad_(not enabled)
        self.train(self.training)

    def train(self, mode: bool = True) -> TSN:
        """Like nn.Module.train, but frozen BN layers stay in eval mode (partial BN)."""
        super().train(mode)
        if self.partial_bn and mode:
            names = set(self.frozen_bn_names())
            for name, module in self.named_modules():
                if name in names:
                    module.eval()
        return self

    def snippet_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, S, C*L, H, W) -> per-snippet logits (B, S, K), before consensus."""
        features = self.snippet_features(x)  # (B, S, D)
        logits = self.fc(self.dropout(features.flatten(0, 1)))  # (B*S, K)
        return logits.reshape(*features.shape[:2], self.num_classes)

    def snippet_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, S, C*L, H, W) -> the backbone's global-pool vector per snippet (B, S, D), the
        input of the fc (`tsn features --layer pool`)."""
        if x.dim() != 5:
            raise UsageError(f"TSN input must be (B, S, C*L, H, W), got shape {tuple(x.shape)}")
        batch, segments, channels, height, width = x.shape
        expected = input_channels(self.modality, self.new_length)
        if channels != expected:
            raise UsageError(
                f"{self.modality} TSN with new_length {self.new_length} needs {expected} "
                f"channels per snippet, got {channels}"
            )
        if self.modality is Modality.RGBDIFF:
            frames = x.reshape(batch, segments, self.new_length + 1, 3, height, width)
            x = (frames[:, :, 1:] - frames[:, :, :-1]).flatten(2, 3)  # (B, S, 3L, H, W)
        features = self.backbone(x.flatten(0, 1))  # (B*S, D)
        return features.reshape(batch, segments, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.consensus(self.snippet_logits(x))

    def describe(self) -> dict[str, Any]:
        """The constructor arguments, for checkpoint meta (`create_tsn(**describe())`)."""
        return {
            "arch": self.arch,
            "modality": self.modality,
            "num_classes": self.num_classes,
            "num_segments": self.num_segments,
            "new_length": self.new_length,
            "consensus": self.consensus_type,
            "dropout": self.dropout_p,
            "partial_bn": self.partial_bn,
        }


def create_tsn(
    arch: str,
    num_classes: int,
    modality: str = Modality.RGB,
    num_segments: int = 3,
    new_length: int | None = None,
    consensus: str = "avg",
    dropout: float | None = None,
    partial_bn: bool = True,
    **_ignored: Any,
) -> TSN:
    """Build a TSN with random weights (dropout None: the modality's default); extra keys (e.g.
    from checkpoint meta) are ignored."""
    return TSN(
        num_classes=num_classes,
        num_segments=num_segments,
        modality=modality,
        arch=arch,
        new_length=new_length,
        consensus=consensus,
        dropout=dropout,
        partial_bn=partial_bn,
    )


def unwrap_model(model: nn.Module) -> nn.Module:
    """Strip DDP (`.module`) and torch.compile (`._orig_mod`) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
            model = model.module
        else:
            return model


# (lr_mult, decay_mult) per group, TSN-FACTS.md; flow's first conv learns 5x (bias 10x).
_MULTIPLIERS = {
    "first_conv_weight": (1.0, 1.0),
    "first_conv_bias": (2.0, 0.0),
    "normal_weight": (1.0, 1.0),
    "normal_bias": (2.0, 0.0),
    "bn": (1.0, 0.0),
}
_FLOW_FIRST = {"first_conv_weight": (5.0, 1.0), "first_conv_bias": (10.0, 0.0)}


def parameter_groups(model: nn.Module, modality: str | None = None) -> list[dict[str, Any]]:
    """Optimizer groups with TSN's lr/decay multipliers; only trainable parameters.

    Each group: {"name", "params", "lr_mult", "decay_mult"}. The trainer sets
    lr = base_lr * lr_mult and weight_decay = base_wd * decay_mult. Empty groups are dropped.
    Other parameters (e.g. the weighted consensus) join `normal_weight`.
    """
    tsn = unwrap_model(model)
    modality = check_modality(modality or getattr(tsn, "modality", Modality.RGB))
    buckets: dict[str, list[nn.Parameter]] = {name: [] for name in _MULTIPLIERS}
    first = tsn.first_conv if isinstance(tsn, TSN) else None
    seen: set[int] = set()
    for module in tsn.modules():
        for pname, param in module.named_parameters(recurse=False):
            if id(param) in seen or not param.requires_grad:
                continue
            seen.add(id(param))
            if module is first:
                key = "first_conv_weight" if pname == "weight" else "first_conv_bias"
            elif isinstance(module, (*_BN_TYPES, nn.GroupNorm, nn.LayerNorm)):
                key = "bn"
            elif isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Linear):
                key = "normal_weight" if pname == "weight" else "normal_bias"
            else:
                key = "normal_weight"
            buckets[key].append(param)
    multipliers = dict(_MULTIPLIERS, **(_FLOW_FIRST if modality is Modality.FLOW else {}))
    return [
        {
            "name": name,
            "params": params,
            "lr_mult": multipliers[name][0],
            "decay_mult": multipliers[name][1],
        }
        for name, params in buckets.items()
        if params
    ]
