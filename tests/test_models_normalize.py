"""Batched input normalisation per backbone convention and modality."""

from __future__ import annotations

import pytest
import torch

from tsncli.errors import UsageError
from tsncli.models.normalize import Normalize
from tsncli.specs.backbones import CONVENTIONS, InputConvention


def _rgb_clip(r, g, b):
    clip = torch.zeros(1, 1, 3, 2, 2, dtype=torch.uint8)
    clip[:, :, 0], clip[:, :, 1], clip[:, :, 2] = r, g, b
    return clip


def test_caffe_convention_gives_bgr_0_255_minus_caffe_means():
    out = Normalize("rgb", "caffe_bgr255")(_rgb_clip(123, 117, 104))
    assert torch.allclose(out, torch.zeros_like(out))
    out = Normalize("rgb", "caffe_bgr255")(_rgb_clip(200, 0, 0))
    assert out[0, 0, 2, 0, 0].item() == 200 - 123  # red lands in channel 2 (BGR)
    assert out[0, 0, 0, 0, 0].item() == -104


def test_bgr_input_order_skips_the_swap():
    bgr = _rgb_clip(104, 117, 123)
    out = Normalize("rgb", "caffe_bgr255", input_order="bgr")(bgr)
    assert torch.allclose(out, torch.zeros_like(out))


def test_imagenet_convention_scales_to_unit_range_and_standardises():
    clip = _rgb_clip(255, 0, 128)
    out = Normalize("rgb", "imagenet_rgb01")(clip)
    assert out[0, 0, 0, 0, 0].item() == pytest.approx((1.0 - 0.485) / 0.229, rel=1e-5)
    assert out[0, 0, 1, 0, 0].item() == pytest.approx((0.0 - 0.456) / 0.224, rel=1e-5)
    assert out[0, 0, 2, 0, 0].item() == pytest.approx((128 / 255 - 0.406) / 0.225, rel=1e-5)


def test_imagenet_convention_swaps_bgr_input_to_rgb():
    rgb = Normalize("rgb", "imagenet_rgb01")(_rgb_clip(10, 20, 30))
    bgr = Normalize("rgb", "imagenet_rgb01", input_order="bgr")(_rgb_clip(30, 20, 10))
    assert torch.allclose(rgb, bgr)


def test_multi_frame_rgb_is_normalised_per_frame():
    clip = torch.cat([_rgb_clip(123, 117, 104), _rgb_clip(123, 117, 104)], dim=2)  # L = 2
    out = Normalize("rgbdiff", "caffe_bgr255")(clip)
    assert out.shape == (1, 1, 6, 2, 2) and torch.count_nonzero(out) == 0


def test_flow_is_centred_on_128_with_a_small_std():
    clip = torch.full((2, 3, 10, 4, 4), 128, dtype=torch.uint8)
    clip[..., 0, 0] = 128 + 32  # ~5 px of motion at bound 20
    out = Normalize("flow", "imagenet_rgb01")(clip)
    assert out[..., 1, 1].abs().max().item() == 0
    assert out[..., 0, 0].min().item() == pytest.approx(2.0)  # a large signal, not 0.125
    caffe = Normalize("flow", "caffe_bgr255")(clip)
    assert caffe[..., 0, 0].min().item() == 32


def test_convention_round_trips_through_a_dict():
    conv = CONVENTIONS["caffe_bgr255"]
    assert InputConvention.from_dict(conv.to_dict()) == conv
    module = Normalize("rgb", conv.to_dict())
    assert module.convention == conv


def test_unknown_convention_and_modality_are_usage_errors():
    with pytest.raises(UsageError, match="imagenet_rgb01"):
        Normalize("rgb", "yuv")(_rgb_clip(1, 2, 3))
    with pytest.raises(UsageError, match="flow"):
        Normalize("depth", "caffe_bgr255")


def test_float_half_input_keeps_its_dtype():
    out = Normalize("rgb", "imagenet_rgb01")(_rgb_clip(1, 2, 3).half())
    assert out.dtype == torch.float16
