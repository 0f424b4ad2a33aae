"""Every registered backbone builds and runs forward in every modality; the registry names fixes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tsncli.errors import UsageError
from tsncli.modality import input_channels
from tsncli.models.backbones import create_backbone, get_backbone
from tsncli.models.tsn import TSN
from tsncli.specs.backbones import BACKBONES, CONVENTIONS

torch.set_num_threads(1)


@pytest.mark.parametrize("arch", BACKBONES.names())
def test_every_backbone_runs_forward_in_every_modality(arch):
    spec = get_backbone(arch)
    size = max(spec.min_size, 32)
    for modality in ("rgb", "flow", "rgbdiff"):
        model = TSN(num_classes=4, num_segments=2, modality=modality, arch=arch, dropout=0.5).eval()
        channels = input_channels(modality, model.new_length)
        with torch.no_grad():
            out = model(torch.randn(1, 2, channels, size, size))
        assert out.shape == (1, 4), (arch, modality)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("arch", BACKBONES.names())
def test_backbone_spec_names_real_first_conv_and_bn_and_feature_dim(arch):
    spec = get_backbone(arch)
    net = create_backbone(arch).eval()
    assert isinstance(net.get_submodule(spec.first_conv), nn.Conv2d)
    assert net.get_submodule(spec.first_conv).in_channels == 3
    first_bn = next(m for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    assert net.get_submodule(spec.first_bn) is first_bn
    assert spec.convention in CONVENTIONS
    size = max(spec.min_size, 32)
    with torch.no_grad():
        assert net(torch.randn(2, 3, size, size)).shape == (2, spec.feature_dim)


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(UsageError, match="resnet50"):
        get_backbone("resnet9000")


def test_torchvision_backbones_keep_torchvision_key_names():
    keys = set(create_backbone("resnet18").state_dict())
    assert "conv1.weight" in keys and "layer4.1.bn2.running_var" in keys
    assert not any(k.startswith("fc.") for k in keys)
    mnv3 = set(create_backbone("mobilenet_v3_large").state_dict())
    assert "classifier.0.weight" in mnv3 and "classifier.3.weight" not in mnv3
