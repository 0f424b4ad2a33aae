"""`tsn train` on the command line: a tiny run, --resume, and errors that name the fix."""

from __future__ import annotations

import json

import pytest
from train_fixtures import make_dataset

TINY = ["--arch", "tiny", "--pretrained", "none", "--crop-size", "16", "--segments", "2"]
FAST = ["--batch", "4", "--workers", "0", "--gpus", "0", "--eval-every", "1"]


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("ds"), num_classes=2, videos_per_class=2)


def _run(runner, cli, *args):
    result = runner.invoke(cli, ["train", *args])
    result.text = " ".join(result.output.split())  # Rich wraps long paths
    return result


def test_train_runs_writes_checkpoints_and_prints_json(runner, cli, lists, tmp_path):
    out = tmp_path / "run"
    args = ["toyds", "rgb", "--lists-dir", str(lists), "--out", str(out), *TINY, *FAST]
    result = _run(runner, cli, *args, "--epochs", "1", "--json", "--seed", "1")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["epochs"] == 1 and summary["last_checkpoint"].endswith("last.pt")
    assert (out / "last.pt").is_file() and (out / "config.yaml").is_file()

    again = _run(runner, cli, *args, "--epochs", "1")
    assert again.exit_code == 1 and "--resume" in again.output

    resumed = _run(runner, cli, "toyds", "rgb", "--out", str(out), "--resume", "--epochs", "2")
    assert resumed.exit_code == 0, resumed.output  # lists, arch, ... come from config.yaml
    assert "resumed after epoch 1" in resumed.output
    assert "validation after epoch 2/2" in resumed.output


def test_missing_list_file_names_tsn_lists(runner, cli, tmp_path):
    (tmp_path / "toyds_classes.txt").write_text("0 a\n1 b\n")
    result = _run(runner, cli, "toyds", "flow", "--lists-dir", str(tmp_path), *TINY, *FAST)
    assert result.exit_code == 1
    assert "toyds_flow_train_split_1.txt" in result.text and "tsn lists toyds" in result.text


def test_missing_classes_file_names_tsn_lists(runner, cli, tmp_path):
    result = _run(runner, cli, "toyds", "rgb", "--lists-dir", str(tmp_path), *TINY)
    assert result.exit_code == 1 and "toyds_classes.txt" in result.output
    assert "tsn lists" in result.text


def test_missing_imagenet_weights_name_the_fetch_command(runner, cli, lists, monkeypatch, tmp_path):
    monkeypatch.setenv("TSN_HOME", str(tmp_path / "cache"))
    args = ["toyds", "rgb", "--lists-dir", str(lists), "--arch", "resnet18", *FAST]
    result = _run(runner, cli, *args, "--out", str(tmp_path / "r"))
    assert result.exit_code == 1
    assert "tsn fetch weights resnet18" in result.text


def test_missing_frames_are_reported_before_training(runner, cli, tmp_path):
    lists = make_dataset(tmp_path / "ds", num_classes=1, videos_per_class=1, num_frames=2)
    (tmp_path / "ds" / "frames" / "c0_v0" / "img_00002.jpg").unlink()
    result = _run(runner, cli, "toyds", "rgb", "--lists-dir", str(lists), *TINY, *FAST)
    assert result.exit_code == 1 and "img_00002.jpg" in result.text
    assert not (tmp_path / "runs").exists()


def test_bad_option_values_are_one_line_errors(runner, cli, lists):
    result = _run(runner, cli, "toyds", "depth", "--lists-dir", str(lists), *TINY)
    assert result.exit_code == 1 and "rgb, flow, rgbdiff" in result.output
    result = _run(runner, cli, "toyds", "rgb", "--lr-steps", "ten", *TINY)
    assert result.exit_code == 1 and "--lr-steps" in result.output
    result = _run(runner, cli, "toyds", "rgb", "--arch", "vgg99", "--lists-dir", str(lists))
    assert result.exit_code == 1 and "resnet18" in result.output


def test_gpus_without_cuda_points_to_the_cpu(runner, cli, lists, tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # any machine, GPU or not
    args = ["toyds", "rgb", "--lists-dir", str(lists), *TINY, "--gpus", "2"]
    result = _run(runner, cli, *args, "--out", str(tmp_path / "g"))
    assert result.exit_code == 1 and "--gpus 0" in result.text and "torchrun" in result.text


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--lr", "-1", "lr must be greater than 0, got -1.0"),
        ("--lr", "0", "lr must be greater than 0, got 0.0"),
        ("--clip-grad", "-5", "clip_grad must not be negative, got -5.0"),
    ],
)
def test_bad_optimizer_values_are_refused_before_a_run_folder_exists(
    runner, cli, lists, tmp_path, flag, value, message
):
    out = tmp_path / "run"
    args = ["toyds", "rgb", "--lists-dir", str(lists), "--out", str(out), *TINY, *FAST]
    result = _run(runner, cli, *args, "--epochs", "1", flag, value)
    assert result.exit_code == 1
    assert message in result.text and "Traceback" not in result.output
    assert not out.exists()  # not even a config.yaml
