"""Training faults: a diverging run stops with one line and keeps the last good checkpoint;
non-finite option values are refused before any work."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from train_fixtures import make_dataset

from tsncli.models.checkpoint import load_checkpoint

TINY = ["--arch", "tiny", "--pretrained", "none", "--crop-size", "16", "--segments", "2"]
FAST = ["--batch", "4", "--workers", "0", "--gpus", "0", "--eval-every", "0"]


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("ds"), num_classes=2, videos_per_class=2)


def _train(runner, cli, lists, out, *extra):
    args = ["train", "toyds", "rgb", "--lists-dir", str(lists), "--out", str(out), *TINY, *FAST]
    return runner.invoke(cli, [*args, *extra])


def _weights_finite(path) -> bool:
    state = load_checkpoint(path)["state_dict"]
    return all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point())


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_non_finite_lr_is_refused_before_training(runner, cli, lists, tmp_path, value):
    result = _train(runner, cli, lists, tmp_path / "run", "--lr", value, "--epochs", "1")
    assert result.exit_code == 2
    assert "--lr must be a finite number" in result.output
    assert not (tmp_path / "run" / "last.pt").exists()


def test_non_finite_dropout_and_clip_are_refused(runner, cli, lists, tmp_path):
    for option in ("--dropout", "--clip-grad"):
        result = _train(runner, cli, lists, tmp_path / "run", option, "nan")
        assert result.exit_code == 2 and "finite" in result.output, option


def test_a_huge_lr_stops_the_run_with_one_line_naming_the_epoch(runner, cli, lists, tmp_path):
    out = tmp_path / "run"
    result = _train(runner, cli, lists, out, "--epochs", "4", "--lr", "1e30")
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "training diverged" in text and "in epoch" in text and "lower --lr" in text
    assert "Traceback" not in result.output
    if (out / "last.pt").exists():  # an epoch before the divergence may have been saved
        assert _weights_finite(out / "last.pt")


def test_a_nan_loss_in_epoch_two_keeps_epoch_one_as_last_pt(
    runner, cli, lists, tmp_path, monkeypatch
):
    real = F.cross_entropy
    calls = []

    def nan_after_first_epoch(*args, **kwargs):
        calls.append(1)  # 4 videos, batch 4, no validation: one call per epoch
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) > 1 else loss

    monkeypatch.setattr(F, "cross_entropy", nan_after_first_epoch)
    out = tmp_path / "run"
    result = _train(runner, cli, lists, out, "--epochs", "3")
    assert result.exit_code == 1, result.output
    assert "diverged: the loss became nan in epoch 2/3" in " ".join(result.output.split())
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert _weights_finite(out / "last.pt")


def test_a_non_finite_lr_in_a_config_file_is_refused(runner, cli, lists, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("lr: .nan\n")  # YAML's spelling of nan
    result = _train(runner, cli, lists, tmp_path / "run", "--config", str(config))
    assert result.exit_code == 1
    assert "lr must be a finite number" in " ".join(result.output.split())


def test_resume_without_a_run_is_refused_unless_allow_fresh(runner, cli, lists, tmp_path):
    out = tmp_path / "empty"
    refused = _train(runner, cli, lists, out, "--resume", "--epochs", "1")
    assert refused.exit_code == 1
    assert "holds no run to resume" in " ".join(refused.output.split())
    assert not (out / "last.pt").exists()
    fresh = _train(runner, cli, lists, out, "--resume", "--allow-fresh", "--epochs", "1")
    assert fresh.exit_code == 0, fresh.output
    assert (out / "last.pt").is_file()


def test_a_corrupt_frame_is_replaced_by_its_neighbour(tmp_path):
    from train_fixtures import make_video

    from tsncli.data.snippet_source import FRAME_FOLDERS
    from tsncli.lists.listfile import VideoRecord

    folder = make_video(tmp_path / "v", 8, 0)
    (folder / "img_00003.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    frames = FRAME_FOLDERS.read_frames(VideoRecord(str(folder), 8, 0), np.array([[3], [6]]), "rgb")
    assert len(frames) == 2 and frames[0].shape == (32, 40, 3)


def test_a_video_whose_frames_are_all_corrupt_is_skipped_and_reported(
    runner, cli, tmp_path_factory, tmp_path
):
    lists = make_dataset(tmp_path_factory.mktemp("bad"), num_classes=2, videos_per_class=2)
    bad = lists.parent / "frames" / "c0_v0"
    for image in bad.glob("img_*.jpg"):
        image.write_bytes(b"\xff\xd8 not a jpeg")
    result = _train(runner, cli, lists, tmp_path / "run", "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "skipping" in result.output and "c0_v0" in result.output
    assert (tmp_path / "run" / "last.pt").is_file()


def test_a_frame_missing_mid_folder_skips_its_video_in_every_epoch_warning_once(
    runner, cli, tmp_path_factory, tmp_path
):
    lists = make_dataset(tmp_path_factory.mktemp("gap"), num_classes=2, videos_per_class=2)
    (lists.parent / "frames" / "c1_v1" / "img_00004.jpg").unlink()
    # 8 segments of 8 frames read every frame, so each epoch reaches the gap
    result = _train(runner, cli, lists, tmp_path / "run", "--epochs", "3", "--segments", "8")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.count("skipping") == 1 and "c1_v1: frame" in text and "img_00004.jpg" in text
    skipped = (tmp_path / "run" / "skipped_videos.txt").read_text().splitlines()
    assert [line.split("\t")[0] for line in skipped] == [str(lists.parent / "frames" / "c1_v1")]
    assert "1 undecodable video(s) skipped" in text
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 3


def test_a_loader_worker_traceback_becomes_its_last_line():
    from tsncli.cli import strip_worker_traceback

    message = (
        "Caught DataError in DataLoader worker process 3.\nOriginal Traceback (most recent call "
        'last):\n  File "x.py", line 1, in f\n    raise DataError(m)\n'
        "tsncli.errors.DataError: frame /f/img_00002.jpg is missing; re-extract it\n"
    )
    assert strip_worker_traceback(message) == (
        "frame /f/img_00002.jpg is missing; re-extract it (in worker process 3)"
    )


def test_resume_after_the_classes_changed_names_both_files(runner, cli, tmp_path):
    lists = make_dataset(tmp_path / "ds", num_classes=2, videos_per_class=2)
    out = tmp_path / "run"
    assert _train(runner, cli, lists, out, "--epochs", "1").exit_code == 0
    from tsncli.lists.listfile import read_classes, write_classes

    classes = lists / "toyds_classes.txt"
    names = read_classes(classes)
    write_classes(classes, [names[0], "renamed"])  # same count, another name
    renamed = _train(runner, cli, lists, out, "--epochs", "2", "--resume")
    text = " ".join(renamed.output.split())
    assert renamed.exit_code == 1 and "Traceback" not in renamed.output
    assert f"class 1 '{names[1]}'" in text and "'renamed'" in text and "last.pt" in text
    write_classes(classes, [*names, "added"])  # a class added
    added = _train(runner, cli, lists, out, "--epochs", "2", "--resume")
    assert added.exit_code == 1 and "2 classes, but" in " ".join(added.output.split())
    assert load_checkpoint(out / "last.pt")["epoch"] == 1  # the run is untouched


def test_sigterm_stops_training_like_ctrl_c_and_resume_sweeps_stale_temp_files(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tsncli.fsutil import temp_prefix

    lists = make_dataset(tmp_path / "ds", num_classes=2, videos_per_class=2)
    out = tmp_path / "run"
    args = ["train", "toyds", "rgb", "--lists-dir", str(lists), "--out", str(out), *TINY, *FAST]
    cmd = [sys.executable, "-m", "tsncli", *args]
    proc = subprocess.Popen([*cmd, "--epochs", "500"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "last.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert (out / "last.pt").exists(), "no epoch finished"
    os.kill(proc.pid, signal.SIGTERM)  # what SLURM preemption sends
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "terminated (SIGTERM)" in stderr and "Traceback" not in stderr
    epoch = load_checkpoint(out / "last.pt")["epoch"]  # the last good checkpoint, whole
    assert epoch >= 1
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    # what a SIGKILL during a save leaves: a hidden temporary file beside last.pt
    stale = out / f"{temp_prefix(out / 'last.pt')}killed.tmp"
    stale.write_bytes(b"x" * 1000)
    resumed = subprocess.run(
        [*cmd, "--epochs", str(epoch + 1), "--resume"], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert not stale.exists()


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 123 bytes. Error code 12 (Cannot allocate memory)"
        ),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    ],
    ids=["cpu", "cuda"],
)
def test_out_of_memory_is_one_line_naming_batch_and_micro_batch(
    runner, cli, lists, tmp_path, monkeypatch, error
):
    real = F.cross_entropy
    calls = []

    def fail_in_epoch_two(*args, **kwargs):
        calls.append(1)  # one call per epoch (4 videos, batch 4, no validation)
        if len(calls) > 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "cross_entropy", fail_in_epoch_two)
    out = tmp_path / "run"
    result = _train(runner, cli, lists, out, "--epochs", "3")
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error")]
    text = " ".join(result.output.split())
    assert len(lines) == 1 and "out of" in text and "memory in training of epoch 2/3" in text
    assert "--batch-size" in text and "--micro-batch" in text
    assert "Traceback" not in result.output and "alloc_cpu" not in result.output
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
