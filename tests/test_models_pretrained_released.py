"""Released TSNs (`--pretrained kinetics400`): `tsn fetch weights NAME` downloads MMAction2's file
from a 127.0.0.1 server, checks its sha256 prefix and converts it; `tsn train` then starts from
its backbone with a new fc, or from ImageNet weights with a warning when it was never fetched."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re

import numpy as np
import pytest
import torch
import torchvision
from train_fixtures import make_dataset

from tsncli.acquire import catalog, download
from tsncli.acquire.weights import WEIGHTS_PREFIX, converted_checkpoint_path, weights_catalog_entry
from tsncli.errors import DataError, UsageError
from tsncli.models.checkpoint import load_checkpoint
from tsncli.models.convert import convert_checkpoint
from tsncli.models.pretrained import load_pretrained_weights, resolve_pretrained_weights
from tsncli.models.tsn import create_tsn
from tsncli.specs.backbones import BACKBONES
from tsncli.specs.pretrained import PRETRAINED, PretrainedTSN, find_pretrained, pretrained_sources
from tsncli.specs.weights import UrlWeights

torch.set_num_threads(1)

KINETICS_CLASSES = 5  # stands for Kinetics' 400: the run's fc must not keep it


def _to_mmaction(key: str) -> str:
    """A torchvision ResNet key in MMAction2's TSN layout (ConvModule: `.conv`/`.bn`)."""
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


def _mmaction_file(in_channels: int, seed: int) -> tuple[bytes, dict[str, torch.Tensor]]:
    """A synthetic MMAction2 TSN ResNet-18 checkpoint (`meta` + `state_dict`) as bytes, and the
    torchvision state it was made from."""
    torch.manual_seed(seed)
    resnet = torchvision.models.resnet18(weights=None, num_classes=KINETICS_CLASSES)
    if in_channels != 3:
        resnet.conv1 = torch.nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    state = resnet.state_dict()
    payload = {
        "meta": {"epoch": 100, "mmcv_version": "1.0.0", "config": "model = dict(...)"},
        "state_dict": {_to_mmaction(k): v for k, v in state.items()},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue(), state


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.0)
    monkeypatch.setattr(download, "RETRIES", 1)
    monkeypatch.setenv("TSN_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TSN_MIRROR", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def released_files():
    return {"rgb": _mmaction_file(3, seed=1), "flow": _mmaction_file(10, seed=2)}


def _register(monkeypatch, server, modality: str, data: bytes, prefix: str | None = None):
    """A test-only released TSN for resnet18 served from 127.0.0.1 (the shipped table is
    untouched after the test); `prefix` overrides the hash the file name carries."""
    prefix = prefix or hashlib.sha256(data).hexdigest()[:8]
    config = f"tsn_r18_1x1x8_kinetics400_{modality}"
    url = server.add(f"/mmaction/{config}/{config}_20200702-{prefix}.pth", data)
    spec = PretrainedTSN(
        name=f"tsn_r18_kinetics400_{modality}",
        source="kinetics400",
        arch="resnet18",
        modality=modality,
        weights=UrlWeights(url, sha256_prefix=prefix, what="Kinetics-400 TSN"),
        converter="mmaction",
        release=f"test {config}",
    )
    monkeypatch.setitem(PRETRAINED._items, spec.name, spec)
    monkeypatch.setitem(
        catalog.CATALOG._items, WEIGHTS_PREFIX + spec.name, lambda: weights_catalog_entry(spec.name)
    )
    return spec


def _fetch(runner, cli, *names):
    return runner.invoke(cli, ["fetch", "weights", *names])


def test_fetch_weights_verifies_and_converts_a_released_tsn_once(
    runner, cli, server, monkeypatch, released_files
):
    data, state = released_files["rgb"]
    spec = _register(monkeypatch, server, "rgb", data)
    result = _fetch(runner, cli, spec.name)
    assert result.exit_code == 0, result.output
    converted = catalog.released_tsn_path(spec.name)
    assert result.stdout.strip().splitlines()[-1] == str(converted)
    assert catalog.weights_path(spec.name).read_bytes() == data  # the download is kept
    ckpt = load_checkpoint(converted)
    meta = ckpt["meta"]
    assert (meta["arch"], meta["modality"], meta["num_classes"]) == ("resnet18", "rgb", 5)
    key = "layer4.1.conv2.weight"
    assert torch.equal(ckpt["state_dict"][f"backbone.{key}"], state[key])
    assert not list(converted.parent.glob("*.tmp*"))

    requests = len(server.files[next(iter(server.files))].requests)
    again = _fetch(runner, cli, spec.name)
    assert again.exit_code == 0 and again.stdout.strip().splitlines()[-1] == str(converted)
    assert len(server.files[next(iter(server.files))].requests) == requests  # verified, skipped


def test_a_released_file_with_the_wrong_hash_is_refused_and_nothing_is_kept(
    runner, cli, server, monkeypatch, released_files
):
    data, _ = released_files["rgb"]
    spec = _register(monkeypatch, server, "rgb", data, prefix="00000000")
    result = _fetch(runner, cli, spec.name)
    assert result.exit_code == 1
    assert "checksum mismatch" in result.output
    assert not catalog.weights_path(spec.name).exists()
    assert not catalog.released_tsn_path(spec.name).exists()


def test_a_verified_file_that_is_no_mmaction_tsn_fails_in_one_line_without_a_checkpoint(
    runner, cli, server, monkeypatch
):
    spec = _register(monkeypatch, server, "rgb", b"an HTML page, say" * 100)
    result = _fetch(runner, cli, spec.name)
    assert result.exit_code == 1
    assert result.output.count("error:") == 1 and "not a readable weights file" in result.output
    assert catalog.weights_path(spec.name).is_file()  # verified: the next fetch converts again
    assert not catalog.released_tsn_path(spec.name).exists()


class HistoryBuffer:
    """Stands for another library's object in a checkpoint's meta: never executed on load."""

    def __init__(self):
        self.values = [1, 2, 3]


def test_a_legacy_torch_file_with_foreign_objects_converts_as_mmaction2s_2020_releases(tmp_path):
    _, state = _mmaction_file(3, seed=4)
    payload = {
        "meta": {"seed": np.int64(3), "hub": HistoryBuffer(), "time": "Thu Jul  2 2020"},
        "state_dict": {_to_mmaction(k): v for k, v in state.items()},
    }
    path = tmp_path / "tsn_r18_legacy.pth"
    torch.save(payload, path, _use_new_zipfile_serialization=False)  # torch < 1.6's format
    convert_checkpoint("mmaction", path, tmp_path / "r18.tsn.pt", arch="resnet18")
    converted = load_checkpoint(tmp_path / "r18.tsn.pt")["state_dict"]
    assert torch.equal(converted["backbone.layer3.0.conv1.weight"], state["layer3.0.conv1.weight"])


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("ds"), num_classes=3, videos_per_class=2)


def _train(runner, cli, lists, out, *extra):
    args = ["train", "toyds", "rgb", "--lists-dir", str(lists), "--out", str(out)]
    args += ["--arch", "resnet18", "--crop-size", "32", "--segments", "2", "--batch", "3"]
    args += ["--workers", "0", "--gpus", "0", "--eval-every", "0", "--epochs", "1", "--lr", "1e-9"]
    result = runner.invoke(cli, [*args, *extra])
    result.text = " ".join(result.output.split())  # Rich wraps long paths
    return result


def test_train_with_pretrained_kinetics400_takes_its_backbone_and_a_new_fc(
    runner, cli, server, monkeypatch, released_files, lists, tmp_path
):
    data, state = released_files["rgb"]
    spec = _register(monkeypatch, server, "rgb", data)
    assert _fetch(runner, cli, spec.name).exit_code == 0
    result = _train(runner, cli, lists, tmp_path / "run", "--pretrained", "kinetics400")
    assert result.exit_code == 0, result.output
    assert "not in the cache" not in result.text
    trained = load_checkpoint(tmp_path / "run" / "last.pt")["state_dict"]
    for key in ("layer4.1.conv2.weight", "conv1.weight", "layer1.0.conv1.weight"):
        assert torch.allclose(trained[f"backbone.{key}"], state[key], atol=1e-6)
    assert trained["fc.weight"].shape == (3, 512)  # a new classifier for the run's 3 classes


def test_without_the_released_tsn_training_starts_from_imagenet_and_says_so(
    runner, cli, server, monkeypatch, released_files, lists, tmp_path
):
    spec = _register(monkeypatch, server, "rgb", released_files["rgb"][0])
    torch.manual_seed(3)
    imagenet = torchvision.models.resnet18(weights=None).state_dict()
    path = catalog.weights_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(imagenet, path)
    result = _train(runner, cli, lists, tmp_path / "run", "--pretrained", "kinetics400")
    assert result.exit_code == 0, result.output
    assert "starting from ImageNet weights" in result.text
    assert f"tsn fetch weights {spec.name}" in result.text
    trained = load_checkpoint(tmp_path / "run" / "last.pt")["state_dict"]
    key = "layer4.1.conv2.weight"
    assert torch.allclose(trained[f"backbone.{key}"], imagenet[key], atol=1e-6)


def test_without_either_weights_the_error_names_the_imagenet_fetch(
    server, monkeypatch, released_files, caplog
):
    _register(monkeypatch, server, "rgb", released_files["rgb"][0])
    monkeypatch.setattr(logging.getLogger("tsncli"), "propagate", True)  # the CLI turns it off
    with pytest.raises(DataError, match="tsn fetch weights resnet18"):
        resolve_pretrained_weights("kinetics400", "resnet18", "rgb")
    assert "tsn fetch weights tsn_r18_kinetics400_rgb" in caplog.text


def test_a_released_flow_tsn_keeps_its_filters_on_tsns_flow_scale(
    runner, cli, server, monkeypatch, released_files
):
    data, state = released_files["flow"]
    spec = _register(monkeypatch, server, "flow", data)
    assert _fetch(runner, cli, spec.name).exit_code == 0
    path = resolve_pretrained_weights("kinetics400", "resnet18", "flow")
    assert path == str(catalog.released_tsn_path(spec.name))
    model = create_tsn("resnet18", 7, "flow", num_segments=2, new_length=5)
    fc_before = model.fc.weight.detach().clone()
    report = load_pretrained_weights(model, path)
    assert report.adapted == []
    # MMAction2 fed (x - 128) / 128, tsn feeds (x - 128) / 16: the filters shrink by 16 / 128
    assert torch.allclose(model.backbone.conv1.weight, state["conv1.weight"] * 0.125)
    backbone = model.backbone.state_dict()
    assert torch.equal(backbone["layer2.0.conv1.weight"], state["layer2.0.conv1.weight"])
    assert torch.equal(model.fc.weight, fc_before)


def test_a_run_with_no_released_tsn_for_its_arch_starts_from_imagenet_and_names_those_that_exist(
    monkeypatch, caplog
):
    path = catalog.weights_path("resnet34")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"stands for the weights")
    monkeypatch.setattr(logging.getLogger("tsncli"), "propagate", True)  # the CLI turns it off
    assert resolve_pretrained_weights("kinetics400", "resnet34", "rgb") == str(path)
    assert re.search("no kinetics400 TSN for resnet34 rgb.*resnet50 rgb.*ImageNet", caplog.text)


def test_an_unknown_pretrained_name_lists_the_choices(tmp_path):
    with pytest.raises(UsageError, match="imagenet, kinetics400, none"):
        resolve_pretrained_weights(str(tmp_path / "nope.pth"), "resnet50", "rgb")


def test_every_shipped_released_tsn_is_fetchable_and_convertible():
    for name in PRETRAINED:
        spec = PRETRAINED.get(name)
        backbone = BACKBONES.get(spec.arch)
        assert backbone.conversion, f"{name}: {spec.arch} has no key conversion"
        file = weights_catalog_entry(name).files[0]
        assert file.hash_prefix and file.filename.endswith(f"-{file.hash_prefix}.pth")
        assert all(url.endswith("/" + file.filename) for url in file.urls)
        assert converted_checkpoint_path(catalog.weights_path(name)).name.endswith(".tsn.pt")
        assert find_pretrained(spec.source, spec.arch, spec.modality) is spec


def test_the_activitynet_presets_start_from_a_registered_kinetics_tsn():
    from tsncli.config import load_preset

    for preset, modality in (("activitynet_rgb", "rgb"), ("activitynet_flow", "flow")):
        train = load_preset(preset)["train"]
        assert train["pretrained"] in pretrained_sources()
        assert find_pretrained(train["pretrained"], train["arch"], modality) is not None


def test_train_help_and_fetch_list_show_the_released_tsns(runner, cli):
    help_text = " ".join(runner.invoke(cli, ["train", "--help"]).output.split())
    assert "kinetics400" in help_text and "tsn_r50_kinetics400_rgb" in help_text
    listing = runner.invoke(cli, ["fetch", "--list", "--json"])
    names = {row["name"] for row in json.loads(listing.stdout)}
    assert {WEIGHTS_PREFIX + n for n in PRETRAINED} <= names
