"""`--decode-device cuda` through train, eval and features, run on the CPU: with the CUDA check
stood aside, loader workers hand over JPEG bytes and the loop or scorer decodes them on its
device (here torchvision's CPU decoder), giving what the CPU loader gives within the resize
rounding; and without CUDA each command refuses the flag in one line naming the fix."""

from __future__ import annotations

import cv2
import evalkit
import numpy as np
import pytest
import torch
from train_fixtures import make_dataset

from tsncli.data import device_decode
from tsncli.engine.eval import evaluate as evaluate_module
from tsncli.engine.eval import inference
from tsncli.engine.eval.evaluate import EvalSettings, evaluate
from tsncli.engine.features import extract as extract_module
from tsncli.engine.features.extract import FeatureSettings, extract_features
from tsncli.engine.features.formats import read_features
from tsncli.engine.scores import load_scores
from tsncli.engine.train import run as run_module
from tsncli.engine.train.config import TrainConfig
from tsncli.engine.train.run import train
from tsncli.errors import UsageError
from tsncli.layout import FLOW_TEMPLATES, RGB_TEMPLATE

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


def _no_cuda_check(name: str, compute_device: str = "cuda") -> str:
    return name  # decode wherever the model runs: the CPU here


@pytest.fixture
def decoded(monkeypatch) -> list[int]:
    """Counts the clips decoded from bytes (runs are in-process: one worker, workers=0)."""
    counted: list[int] = []
    original = device_decode.decode_clips

    def counting(clips, device):
        counted.append(len(clips))
        return original(clips, device)

    monkeypatch.setattr(device_decode, "decode_clips", counting)
    monkeypatch.setattr(inference, "decode_clips", counting)
    return counted


def write_frames(folder, images: int, seed: int = 0) -> None:
    """A frame folder of random 40x32 JPEGs: `images` RGB frames, one flow pair fewer."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(1, images + 1):
        cv2.imwrite(str(folder / RGB_TEMPLATE.format(i)), rng.integers(0, 255, (32, 40, 3)))
        for template in FLOW_TEMPLATES if i < images else ():
            cv2.imwrite(str(folder / template.format(i)), rng.integers(0, 255, (32, 40)))


@pytest.fixture(scope="module")
def train_lists(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("ds"), num_classes=2, videos_per_class=3)


@pytest.fixture(scope="module")
def evaldata(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaldata")
    data = evalkit.make_dataset(root, videos_per_class=1)
    data["rgb_ckpt"] = evalkit.make_checkpoint(root / "rgb.pt", "rgb", seed=1)
    data["flow_ckpt"] = evalkit.make_checkpoint(root / "flow.pt", "flow", seed=2)
    return data


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to what 1 level of input rounding moves a tiny random model's outputs."""
    return a.shape == b.shape and float(np.abs(a - b).max()) <= 0.02 * float(np.abs(b).max())


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_training_on_decoded_bytes_follows_the_cpu_loaders_run(
    train_lists, tmp_path, monkeypatch, modality, decoded
):
    monkeypatch.setattr(run_module, "check_decode_device", _no_cuda_check)
    kw = dict(
        dataset="toyds", modality=modality, lists_dir=str(train_lists), arch="tiny",
        pretrained="none", crop_size=16, segments=2, batch_size=3, workers=0, eval_every=1,
        gpus=0, tensorboard=False, epochs=2, seed=4, dropout=0.0, lr=0.01,
        new_length=2 if modality == "flow" else None,
    )  # fmt: skip
    cpu = train(TrainConfig(**kw, out=str(tmp_path / "cpu")))
    assert not decoded
    device = train(TrainConfig(**kw, out=str(tmp_path / "dev"), decode_device="cuda"))
    assert sum(decoded) == 2 * (6 + 6)  # 2 epochs of 6 training and 6 validation clips
    for a, b in zip(cpu.history, device.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=0.02)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=0.02)
    assert device.history[-1]["val_videos"] == 6


@pytest.mark.parametrize("modality", ["rgb", "flow"])
@pytest.mark.parametrize("settings", [EvalSettings(segments=3, crops=10), EvalSettings(stride=4)])
def test_eval_on_decoded_bytes_scores_as_the_cpu_loader(
    evaldata, tmp_path, monkeypatch, modality, settings, decoded
):
    monkeypatch.setattr(evaluate_module, "check_decode_device", _no_cuda_check)
    ckpt, lst = evaldata[f"{modality}_ckpt"], evaldata[f"{modality}_list"]
    evaluate(ckpt, lst, tmp_path / "cpu.npz", settings)
    device = EvalSettings(**{**settings.__dict__, "decode_device": "cuda"})
    assert not decoded
    evaluate(ckpt, lst, tmp_path / "dev.npz", device)
    assert sum(decoded) >= 3  # every video (dense: every chunk)
    cpu_scores, dev_scores = load_scores(tmp_path / "cpu.npz"), load_scores(tmp_path / "dev.npz")
    assert _close(dev_scores.scores, cpu_scores.scores)
    assert dev_scores.videos == cpu_scores.videos


def test_features_on_decoded_bytes_equal_the_cpu_loaders(evaldata, tmp_path, monkeypatch, decoded):
    """Frame folders and a video extracted in memory (its JPEG bytes) alike; the settings guard
    keeps the two apart, and a CPU run's meta reads as before the option."""
    monkeypatch.setattr(extract_module, "check_decode_device", _no_cuda_check)
    folders = tmp_path / "frames"
    write_frames(folders / "v_0", 9, seed=3)
    videos = evaldata["videos"][0].parent
    for name, source in (("frames", folders), ("videos", videos)):
        ckpts = [evaldata["rgb_ckpt"], evaldata["flow_ckpt"]]
        settings = FeatureSettings(stride=4, crops=1, loader_threads=1)
        cpu = extract_features(source, ckpts, tmp_path / f"{name}_cpu", settings)
        decoded.clear()
        device = FeatureSettings(stride=4, crops=1, loader_threads=1, decode_device="cuda")
        dev = extract_features(source, ckpts, tmp_path / f"{name}_dev", device)
        assert decoded and not dev.failures
        assert cpu.written and sorted(dev.written) == sorted(cpu.written)
        for video in cpu.written:
            a = read_features(tmp_path / f"{name}_cpu" / f"{video}.npy")
            b = read_features(tmp_path / f"{name}_dev" / f"{video}.npy")
            assert _close(b, a)
    with pytest.raises(UsageError, match="decode_device differ"):
        extract_features(folders, [evaldata["rgb_ckpt"]], tmp_path / "frames_dev", settings)
    assert "decode_device" not in (tmp_path / "frames_cpu" / "features_meta.json").read_text()


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_train_refuses_the_flag_without_cuda_naming_the_fix(runner, cli, train_lists, no_cuda):
    args = ["train", "toyds", "rgb", "--lists-dir", str(train_lists), "--arch", "tiny"]
    result = runner.invoke(cli, [*args, "--pretrained", "none", "--decode-device", "cuda"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "--decode-device cuda needs a CUDA GPU" in text and "--decode-device cpu" in text
    assert "Traceback" not in result.output
    typo = runner.invoke(cli, [*args, "--decode-device", "gpu"])
    assert typo.exit_code == 1 and "not one of: cpu, cuda" in typo.output


def test_eval_and_features_refuse_the_flag_without_cuda(runner, cli, evaldata, tmp_path, no_cuda):
    ckpt = str(evaldata["rgb_ckpt"])
    result = runner.invoke(cli, [
        "eval", ckpt, "--list", str(evaldata["rgb_list"]), "--save-scores",
        str(tmp_path / "s.npz"), "--decode-device", "cuda",
    ])  # fmt: skip
    assert result.exit_code == 1 and "--decode-device cpu" in " ".join(result.output.split())
    assert not (tmp_path / "s.npz").exists()
    result = runner.invoke(cli, [
        "features", str(evaldata["frames"]), "--checkpoint", ckpt, "--out",
        str(tmp_path / "f"), "--decode-device", "cuda",
    ])  # fmt: skip
    assert result.exit_code == 1 and "--decode-device cpu" in " ".join(result.output.split())
