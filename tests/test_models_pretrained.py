"""ImageNet init: torchvision and BN-Inception .pth state dicts load by key, flow conv1 adapted."""

from __future__ import annotations

import pytest
import torch
import torchvision

from tsncli.errors import DataError, UsageError
from tsncli.models.bninception import BNInception
from tsncli.models.checkpoint import load_checkpoint, save_checkpoint
from tsncli.models.pretrained import load_backbone_from_checkpoint, load_imagenet_weights
from tsncli.models.tsn import TSN

torch.set_num_threads(1)


def _torchvision_file(tmp_path, arch):
    torch.manual_seed(1)
    state = getattr(torchvision.models, arch)(weights=None).state_dict()
    path = tmp_path / f"{arch}.pth"
    torch.save(state, path)
    return path, state


def test_torchvision_resnet_weights_load_and_the_head_is_dropped(tmp_path):
    path, state = _torchvision_file(tmp_path, "resnet18")
    model = TSN(num_classes=7, arch="resnet18")
    report = load_imagenet_weights(model, "resnet18", path)
    assert report.dropped == ["fc.bias", "fc.weight"] and report.adapted == []
    assert torch.equal(model.backbone.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert torch.equal(model.backbone.bn1.running_var, state["bn1.running_var"])
    assert model.fc.weight.shape == (7, 512)  # our new fc is untouched


def test_flow_model_gets_the_channel_mean_of_the_imagenet_conv1(tmp_path):
    path, state = _torchvision_file(tmp_path, "resnet18")
    model = TSN(num_classes=3, modality="flow", arch="resnet18")
    report = load_imagenet_weights(model, path=path)
    assert report.adapted == ["conv1.weight"]
    expected = state["conv1.weight"].mean(dim=1, keepdim=True).expand(-1, 10, -1, -1)
    assert torch.allclose(model.backbone.conv1.weight, expected)


def test_mobilenet_v3_keeps_its_pretrained_pre_logits_layer(tmp_path):
    path, state = _torchvision_file(tmp_path, "mobilenet_v3_large")
    model = TSN(num_classes=3, arch="mobilenet_v3_large")
    report = load_imagenet_weights(model, path=path)
    assert report.dropped == ["classifier.3.bias", "classifier.3.weight"]
    assert torch.equal(model.backbone.classifier[0].weight, state["classifier.0.weight"])


def _bninception_pth(tmp_path):
    """The port's .pth layout: Caffe names with `_`, BN without num_batches_tracked, fc 1000."""
    torch.manual_seed(2)
    state = {k: torch.randn(v.shape) for k, v in BNInception().state_dict().items()}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 1024), torch.randn(1000)
    path = tmp_path / "bn_inception-9f5701afb96c8044.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)  # 2017-era legacy format
    return path, state


def test_bninception_pth_maps_onto_the_native_model(tmp_path):
    path, state = _bninception_pth(tmp_path)
    model = TSN(num_classes=5, modality="rgbdiff", arch="bninception")
    report = load_imagenet_weights(model, path=path)
    assert report.dropped == ["fc.bias", "fc.weight"]
    assert report.adapted == ["conv1_7x7_s2.weight"]
    assert model.backbone.conv1_7x7_s2.weight.shape[1] == 15
    assert torch.equal(
        model.backbone.inception_4d_double_3x3_1_bn.running_mean,
        state["inception_4d_double_3x3_1_bn.running_mean"],
    )
    assert report.loaded == len(state) - 2


def test_weights_of_another_arch_list_the_mismatched_keys(tmp_path):
    path, _ = _torchvision_file(tmp_path, "resnet18")
    with pytest.raises(DataError, match="missing keys.*another architecture"):
        load_imagenet_weights(TSN(num_classes=3, arch="bninception"), path=path)


def test_missing_cached_weights_name_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TSN_HOME", str(tmp_path))
    with pytest.raises(DataError, match="tsn fetch weights resnet50"):
        load_imagenet_weights(TSN(num_classes=3, arch="resnet50"))


def test_imagenet_init_is_refused_for_the_tiny_test_backbone():
    with pytest.raises(UsageError, match="no ImageNet weights"):
        load_imagenet_weights(TSN(num_classes=3, arch="tiny"))


def test_unreadable_weights_file_is_a_data_error(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(DataError, match="not a readable weights file"):
        load_imagenet_weights(TSN(num_classes=3, arch="resnet18"), path=bad)


def test_init_from_a_checkpoint_takes_its_backbone_and_keeps_the_new_fc(tmp_path):
    torch.manual_seed(3)
    source = TSN(num_classes=400, arch="tiny")
    path = save_checkpoint(tmp_path / "kinetics.pt", source)
    target = TSN(num_classes=5, modality="flow", arch="tiny")
    fc_before = target.fc.weight.clone()
    report = load_backbone_from_checkpoint(target, load_checkpoint(path))
    assert report.adapted == ["conv1.weight"]
    assert torch.equal(target.backbone.conv3.weight, source.backbone.conv3.weight)
    assert torch.equal(target.fc.weight, fc_before)
