"""TSN wrapper: consensus types, partial BN, cross-modality init, RGB-diff, parameter groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tsncli.errors import UsageError
from tsncli.modality import default_new_length, input_channels, input_frames
from tsncli.models.consensus import CONSENSUS, create_consensus
from tsncli.models.tsn import TSN, cross_modality_conv, parameter_groups

torch.set_num_threads(1)


def _logits():
    return torch.tensor([[[1.0, 5.0], [3.0, -1.0], [2.0, 2.0]]])  # (B=1, S=3, K=2)


def test_avg_consensus_is_the_mean_over_snippets():
    assert torch.allclose(create_consensus("avg", 3)(_logits()), torch.tensor([[2.0, 2.0]]))


def test_max_consensus_is_the_per_class_max():
    assert torch.equal(create_consensus("max", 3)(_logits()), torch.tensor([[3.0, 5.0]]))


def test_identity_consensus_keeps_snippets():
    assert torch.equal(create_consensus("identity", 3)(_logits()), _logits())


def test_weighted_consensus_starts_as_mean_and_learns_weights():
    weighted = create_consensus("weighted", 3)
    assert torch.allclose(weighted(_logits()), torch.tensor([[2.0, 2.0]]))
    with torch.no_grad():
        weighted.weight.copy_(torch.tensor([100.0, 0.0, 0.0]))
    assert torch.allclose(weighted(_logits()), torch.tensor([[1.0, 5.0]]), atol=1e-4)
    weighted(_logits()).sum().backward()
    assert weighted.weight.grad is not None


def test_weighted_consensus_rejects_other_segment_counts():
    with pytest.raises(UsageError, match="trained for 3 segments"):
        create_consensus("weighted", 3)(torch.zeros(1, 5, 2))


def test_consensus_registry_names_all_four():
    assert set(CONSENSUS.names()) >= {"avg", "max", "weighted", "identity"}
    with pytest.raises(UsageError, match="avg"):
        create_consensus("median", 3)


def test_identity_consensus_model_returns_per_snippet_logits():
    model = TSN(num_classes=5, num_segments=3, arch="tiny", consensus="identity").eval()
    assert model(torch.randn(2, 3, 3, 16, 16)).shape == (2, 3, 5)


def test_avg_model_accepts_more_snippets_at_test_time():
    model = TSN(num_classes=5, num_segments=3, arch="tiny").eval()
    assert model(torch.randn(2, 25, 3, 16, 16)).shape == (2, 5)


def test_new_fc_is_initialised_small_and_biases_zero():
    model = TSN(num_classes=50, arch="resnet18")
    assert model.fc.weight.std().item() < 0.002
    assert torch.count_nonzero(model.fc.bias) == 0


def test_default_new_length_and_frames_per_modality():
    assert [default_new_length(m) for m in ("rgb", "flow", "rgbdiff")] == [1, 5, 5]
    assert input_frames("rgbdiff", 5) == 6 and input_frames("flow", 5) == 5
    assert input_channels("flow", 5) == 10 and input_channels("rgbdiff", 5) == 18


def test_wrong_channel_count_names_the_expected_one():
    model = TSN(num_classes=2, modality="flow", arch="tiny")
    with pytest.raises(UsageError, match="needs 10 channels"):
        model(torch.randn(1, 3, 3, 16, 16))


def test_unknown_modality_is_a_usage_error():
    with pytest.raises(UsageError, match="rgbdiff"):
        TSN(num_classes=2, modality="depth", arch="tiny")


def test_partial_bn_freezes_exactly_the_bn_layers_after_the_first():
    model = TSN(num_classes=3, arch="resnet18", partial_bn=True)
    model.train()
    bns = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    first_name, first = bns[0]
    assert first_name == "backbone.bn1"
    assert first.training and all(p.requires_grad for p in first.parameters())
    for _, bn in bns[1:]:
        assert not bn.training
        assert not any(p.requires_grad for p in bn.parameters())
    assert set(model.frozen_bn_names()) == {n for n, _ in bns[1:]}
    assert model.backbone.layer1[0].conv1.training  # non-BN modules still train


def test_frozen_bn_statistics_do_not_move_in_training():
    model = TSN(num_classes=3, arch="tiny", partial_bn=True)
    model.train()
    before_first = model.backbone.bn1.running_mean.clone()
    before_other = model.backbone.bn2.running_mean.clone()
    model(torch.randn(2, 3, 3, 16, 16) * 5 + 3)
    assert not torch.equal(model.backbone.bn1.running_mean, before_first)
    assert torch.equal(model.backbone.bn2.running_mean, before_other)


def test_partial_bn_off_trains_every_bn():
    model = TSN(num_classes=3, arch="tiny", partial_bn=False).train()
    assert model.frozen_bn_names() == []
    assert all(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def test_cross_modality_conv1_is_the_channel_mean_repeated():
    rgb = nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=True)
    flow = cross_modality_conv(rgb, 10)
    assert flow.weight.shape == (8, 10, 7, 7)
    mean = rgb.weight.mean(dim=1)
    for c in range(10):
        assert torch.allclose(flow.weight[:, c], mean)
    assert torch.equal(flow.bias, rgb.bias)
    assert flow.stride == rgb.stride and flow.padding == rgb.padding


@pytest.mark.parametrize(("modality", "channels"), [("flow", 10), ("rgbdiff", 15)])
def test_tsn_first_conv_has_2l_or_3l_channels(modality, channels):
    model = TSN(num_classes=3, modality=modality, arch="resnet18")
    assert model.first_conv.in_channels == channels
    w = model.first_conv.weight
    assert torch.allclose(w, w[:, :1].expand_as(w))  # every channel equals the mean


def test_rgbdiff_model_sees_frame_differences():
    model = TSN(num_classes=2, modality="rgbdiff", arch="tiny", new_length=2, dropout=0).eval()
    frames = torch.randn(1, 1, 9, 16, 16)
    shifted = frames + 7.0  # a constant brightness change cancels in the differences
    assert torch.allclose(model(frames), model(shifted), atol=1e-5)


def _group(groups, name):
    return next(g for g in groups if g["name"] == name)


def test_parameter_groups_use_tsn_multipliers_for_rgb():
    model = TSN(num_classes=3, arch="tiny")
    groups = parameter_groups(model, "rgb")
    mult = {g["name"]: (g["lr_mult"], g["decay_mult"]) for g in groups}
    assert mult == {
        "first_conv_weight": (1, 1),
        "first_conv_bias": (2, 0),
        "normal_weight": (1, 1),
        "normal_bias": (2, 0),
        "bn": (1, 0),
    }
    assert _group(groups, "first_conv_weight")["params"] == [model.backbone.conv1.weight]
    bn_params = _group(groups, "bn")["params"]
    assert bn_params == [model.backbone.bn1.weight, model.backbone.bn1.bias]  # partial BN
    normal_w = _group(groups, "normal_weight")["params"]
    assert any(p is model.fc.weight for p in normal_w)
    assert any(p is model.fc.bias for p in _group(groups, "normal_bias")["params"])


def test_parameter_groups_cover_every_trainable_parameter_once():
    model = TSN(num_classes=3, arch="mobilenet_v3_large", consensus="weighted", partial_bn=False)
    grouped = [id(p) for g in parameter_groups(model) for p in g["params"]]
    trainable = [id(p) for p in model.parameters() if p.requires_grad]
    assert sorted(grouped) == sorted(trainable)


def test_flow_first_conv_learns_faster():
    model = TSN(num_classes=3, modality="flow", arch="tiny")
    groups = parameter_groups(model)
    assert (
        _group(groups, "first_conv_weight")["lr_mult"],
        _group(groups, "first_conv_weight")["decay_mult"],
    ) == (5, 1)
    assert (
        _group(groups, "first_conv_bias")["lr_mult"],
        _group(groups, "first_conv_bias")["decay_mult"],
    ) == (10, 0)


def test_parameter_groups_unwrap_ddp_style_module_attribute():
    model = TSN(num_classes=3, arch="tiny")
    wrapped = nn.DataParallel(model)
    assert len(parameter_groups(wrapped)) == len(parameter_groups(model))


def test_partial_bn_survives_train_through_a_wrapper():
    model = TSN(num_classes=3, arch="tiny", partial_bn=True)
    wrapped = nn.DataParallel(model)
    wrapped.eval()
    wrapped.train()
    assert model.backbone.bn1.training and not model.backbone.bn2.training
