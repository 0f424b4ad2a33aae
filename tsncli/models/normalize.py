"""Input normalisation: uint8 clips -> the float input a backbone expects, batched on the device.

The conventions (`InputConvention`, `CONVENTIONS`) are data in the backbone table,
`tsncli.specs.backbones`: `caffe_bgr255` (BN-Inception, the released Caffe/tsn-pytorch weights):
BGR, 0..255, minus the Caffe means 104/117/123, no std; flow minus 128, no std. `imagenet_rgb01`
(torchvision): RGB scaled to 0..1, ImageNet mean/std; flow minus 128, divided by 16.

Why flow std 16 for torchvision backbones: flow pixels encode v in [-20, 20] px as 255*(v+20)/40,
so 1 px of motion is 6.4 grey levels. Divided by 16, 1 px becomes 0.4 and 2.5 px becomes 1.0 --
the scale of ImageNet-normalised RGB, which the cross-modality-initialised conv1 expects. At a
raw 0..1 scale (1 px = 0.025) the flow stream did not learn (issue 9). Caffe keeps std 1 (1 px =
6.4), again a large signal, and exactly what the released flow models were trained on.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tsncli.errors import UsageError
from tsncli.modality import check_modality, reads_flow
from tsncli.specs.backbones import CONVENTIONS, InputConvention


def resolve_convention(convention: str | InputConvention | dict[str, Any]) -> InputConvention:
    """Accept a convention name, an `InputConvention`, or its dict from checkpoint meta."""
    if isinstance(convention, InputConvention):
        return convention
    if isinstance(convention, dict):
        return InputConvention.from_dict(convention)
    if convention not in CONVENTIONS:
        valid = ", ".join(CONVENTIONS)
        raise UsageError(f"unknown input convention {convention!r}; use one of: {valid}")
    return CONVENTIONS[convention]


class Normalize(nn.Module):
    """uint8 (..., C*L, H, W) -> normalised float of the same shape, in the backbone's order.

    RGB and RGB-diff: L frames of 3 channels, given in `input_order` ("rgb" or "bgr"; OpenCV
    decodes BGR); the module reorders to the backbone's order. RGB-diff frames are normalised
    like RGB; the TSN model takes their differences (the mean cancels, the std scales).
    Flow: 2L channels x0,y0,x1,y1,... centred on `flow_mean`, divided by `flow_std`.
    """

    def __init__(
        self,
        modality: str,
        convention: str | InputConvention | dict[str, Any],
        input_order: str = "rgb",
    ) -> None:
        super().__init__()
        self.modality = check_modality(modality)
        if input_order not in ("rgb", "bgr"):
            raise UsageError(f"input_order must be 'rgb' or 'bgr', not {input_order!r}")
        self.convention = resolve_convention(convention)
        flow = reads_flow(self.modality)
        self.swap = not flow and input_order != self.convention.channel_order
        self.group = 1 if flow else 3  # flow's x and y share one mean; rgb has one per colour
        conv = self.convention
        if flow:
            mean = torch.tensor([conv.flow_mean], dtype=torch.float32)
            std = torch.tensor([conv.flow_std], dtype=torch.float32)
        else:
            # shift by mean*scale and divide by std*scale: one fused affine on the 0..255 values
            mean = torch.tensor(conv.mean, dtype=torch.float32) * conv.scale
            std = torch.tensor(conv.std, dtype=torch.float32) * conv.scale
        self.register_buffer("mean", mean.view(-1, 1, 1), persistent=False)  # (c, 1, 1)
        self.register_buffer("inv_std", (1.0 / std).view(-1, 1, 1), persistent=False)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        # clip: (..., C*L, H, W) uint8 or float on the 0..255 scale
        *lead, channels, height, width = clip.shape
        group = self.group
        if channels % group:
            raise UsageError(f"{self.modality} input needs a multiple of {group} channels")
        x = clip.to(self.mean.dtype if not clip.is_floating_point() else clip.dtype)
        x = x.reshape(*lead, channels // group, group, height, width)  # (..., L, c, H, W)
        if self.swap:
            x = x.flip(-3)
        x = (x - self.mean.to(x.dtype)) * self.inv_std.to(x.dtype)
        return x.reshape(*lead, channels, height, width)
