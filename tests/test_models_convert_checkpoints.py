"""`tsn convert mmaction|tsn-pytorch`: key mapping gives the source model's outputs exactly."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torchvision

from tsncli.errors import DataError, UsageError
from tsncli.models.checkpoint import create_model_from_checkpoint
from tsncli.models.convert import convert_checkpoint
from tsncli.models.tsn import TSN

torch.set_num_threads(1)


class HistoryBuffer:
    """Stands for mmengine's message-hub objects that a safe load must not execute."""

    def __init__(self):
        self.values = [1, 2, 3]


def _randomise_bn(model):
    gen = torch.Generator().manual_seed(5)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def _to_mmaction(key: str) -> str:
    if key.startswith("fc."):
        return "cls_head.fc_cls." + key[3:]
    key = re.sub(r"^conv1\.", "conv1.conv.", key)
    key = re.sub(r"^bn1\.", "conv1.bn.", key)
    key = re.sub(r"\.conv(\d)\.", r".conv\1.conv.", key)
    key = re.sub(r"\.bn(\d)\.", r".conv\1.bn.", key)
    key = key.replace(".downsample.0.", ".downsample.conv.").replace(
        ".downsample.1.", ".downsample.bn."
    )
    return "backbone." + key


@pytest.fixture(scope="module")
def mmaction_source(tmp_path_factory):
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(weights=None, num_classes=5)
    _randomise_bn(resnet)
    resnet.eval()
    state = {_to_mmaction(k): v for k, v in resnet.state_dict().items()}
    state["data_preprocessor.mean"] = torch.tensor([123.675, 116.28, 103.53])
    payload = {
        "meta": {"epoch": 100, "seed": np.array([1, 2]), "hub": HistoryBuffer()},
        "state_dict": state,
    }
    path = tmp_path_factory.mktemp("mm") / "tsn_r18.pth"
    torch.save(payload, path)
    return path, resnet, payload


def test_mmaction_resnet_converts_to_the_same_outputs(mmaction_source, tmp_path):
    path, resnet, _ = mmaction_source
    report = convert_checkpoint("mmaction", path, tmp_path / "r18.pt", arch="resnet18")
    assert (report.modality, report.num_classes) == ("rgb", 5)
    model, meta = create_model_from_checkpoint(tmp_path / "r18.pt")
    x = torch.randn(2, 1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), resnet(x[:, 0]), atol=1e-5)
    assert meta["input"]["channel_order"] == "rgb" and meta["input"]["flow_std"] == 128.0


def test_foreign_objects_in_a_checkpoint_are_never_executed(mmaction_source, tmp_path):
    from tsncli.models.pretrained import load_foreign_file

    path, _, _ = mmaction_source
    loaded = load_foreign_file(path)
    assert not isinstance(loaded["meta"]["hub"], HistoryBuffer)
    assert torch.is_tensor(loaded["state_dict"]["backbone.conv1.conv.weight"])


def test_unmapped_mmaction_key_is_an_error_that_lists_it(mmaction_source, tmp_path):
    _, _, payload = mmaction_source
    state = dict(payload["state_dict"], **{"cls_head.extra_fc.weight": torch.zeros(2, 2)})
    bad = tmp_path / "bad.pth"
    torch.save({"state_dict": state}, bad)
    with pytest.raises(DataError, match="cls_head.extra_fc.weight"):
        convert_checkpoint("mmaction", bad, tmp_path / "x.pt", arch="resnet18")


def test_wrong_arch_names_the_missing_parameters(mmaction_source, tmp_path):
    path, _, _ = mmaction_source
    with pytest.raises(DataError, match="lacks 80 parameters: backbone.layer1.2"):
        convert_checkpoint("mmaction", path, tmp_path / "x.pt", arch="resnet34")


def test_mmaction_needs_an_arch(mmaction_source, tmp_path):
    path, _, _ = mmaction_source
    with pytest.raises(UsageError, match="--arch"):
        convert_checkpoint("mmaction", path, tmp_path / "x.pt")


def _port_checkpoint(model: TSN, arch_name: str, path):
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue  # the port predates this buffer
        if key.startswith("backbone."):
            state["module.base_model." + key.removeprefix("backbone.")] = value
        else:
            state["module.new_fc." + key.removeprefix("fc.")] = value
    torch.save({"epoch": 80, "arch": arch_name, "state_dict": state, "best_prec1": 80.1}, path)


def test_tsn_pytorch_bninception_flow_converts_to_the_same_outputs(tmp_path):
    torch.manual_seed(1)
    source = TSN(num_classes=6, modality="flow", arch="bninception", num_segments=3).eval()
    _randomise_bn(source)
    _port_checkpoint(source, "BNInception", tmp_path / "port.pth.tar")
    report = convert_checkpoint("tsn-pytorch", tmp_path / "port.pth.tar", tmp_path / "flow.pt")
    assert (report.arch, report.modality, report.new_length) == ("bninception", "flow", 5)
    model, meta = create_model_from_checkpoint(tmp_path / "flow.pt")
    x = torch.randn(1, 3, 10, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), source(x), atol=1e-5)
    assert list(meta["input"]["mean"]) == [104.0, 117.0, 128.0]  # the port's means


def test_tsn_pytorch_resnet_uses_the_ports_flow_scale(tmp_path):
    source = TSN(num_classes=3, modality="rgbdiff", arch="resnet18")
    _port_checkpoint(source, "resnet18", tmp_path / "port.pth")
    report = convert_checkpoint("tsn-pytorch", tmp_path / "port.pth", tmp_path / "d.pt")
    assert (report.modality, report.new_length) == ("rgbdiff", 5)
    _, meta = create_model_from_checkpoint(tmp_path / "d.pt")
    assert meta["input"]["flow_mean"] == 127.5


def test_a_tsn_pytorch_file_with_stray_keys_is_refused(tmp_path):
    source = TSN(num_classes=3, arch="tiny")
    _port_checkpoint(source, "tiny", tmp_path / "port.pth")
    data = torch.load(tmp_path / "port.pth")
    data["state_dict"]["module.consensus.weight"] = torch.zeros(3)
    torch.save(data, tmp_path / "port.pth")
    with pytest.raises(DataError, match="module.consensus.weight|consensus.weight"):
        convert_checkpoint("tsn-pytorch", tmp_path / "port.pth", tmp_path / "x.pt")


def test_class_files_may_be_zero_based_one_based_or_plain_names(tmp_path):
    from tsncli.models.convert import read_class_names

    zero = tmp_path / "zero.txt"
    zero.write_text("0 ApplyEyeMakeup\n1 Archery\n")
    one = tmp_path / "one.txt"
    one.write_text("1 ApplyEyeMakeup\r\n2 Archery\r\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("brush_hair\ncartwheel\n")
    assert read_class_names(zero, 2) == read_class_names(one, 2) == ["ApplyEyeMakeup", "Archery"]
    assert read_class_names(plain, 2) == ["brush_hair", "cartwheel"]
    assert read_class_names(None, 3) == ["0", "1", "2"]
    gap = tmp_path / "gap.txt"
    gap.write_text("0 a\n2 b\n")
    with pytest.raises(DataError, match="without gaps"):
        read_class_names(gap, 2)
