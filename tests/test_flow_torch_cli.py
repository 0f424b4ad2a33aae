"""`tsn flow --impl torch` end to end on CPU (the GPU path's code with device cpu): the
dense_flow layout, batches of consecutive pairs, the recorded implementation, resume,
failures, and the one-line errors of --gpus and --device cuda without CUDA."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import yaml
from flow_helpers import moving_video

TORCH = ["--impl", "torch", "--size", "64x48", "--workers", "1"]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small frames: OpenMP threads only slow a busy CI machine down
    yield
    torch.set_num_threads(threads)


def _flow(runner, cli, *args):
    return runner.invoke(cli, ["flow", *map(str, args)])


def _grey(path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(int)


def test_torch_flow_writes_the_dense_flow_layout_and_records_its_implementation(
    runner, cli, tmp_path
):
    moving_video(tmp_path / "videos" / "right.avi", n=6, dx=2)
    out = tmp_path / "frames"
    result = _flow(runner, cli, tmp_path / "videos", out, *TORCH, "--batch-pairs", "2")
    assert result.exit_code == 0, result.output
    video = out / "right"
    assert sorted(p.name for p in video.glob("img_*.jpg")) == [
        f"img_{k:05d}.jpg" for k in range(1, 7)
    ]
    for axis in "xy":  # 5 pairs in batches of 2, 2 and 1: numbered on across batches
        assert sorted(p.name for p in video.glob(f"flow_{axis}_*.jpg")) == [
            f"flow_{axis}_{k:05d}.jpg" for k in range(1, 6)
        ]
    for k in range(1, 6):  # content moves right by 2 px: x flow ~ 128 + 2 * 255 / 40
        middle = _grey(video / f"flow_x_{k:05d}.jpg")[12:-12, 12:-12]
        assert np.median(middle) == pytest.approx(128 + 2 * 255 / 40, abs=2)
        assert np.median(_grey(video / f"flow_y_{k:05d}.jpg")[12:-12, 12:-12]) == pytest.approx(
            128, abs=2
        )
    settings = yaml.safe_load((out / "flow_config.yaml").read_text())
    assert settings["flow_implementation"] == "torch"


def test_batch_size_does_not_change_the_files(runner, cli, tmp_path):
    moving_video(tmp_path / "videos" / "v.avi", n=5, dx=1)
    for batch in ("1", "3"):
        result = _flow(
            runner, cli, tmp_path / "videos", tmp_path / batch, *TORCH, "--batch-pairs", batch
        )
        assert result.exit_code == 0, result.output
    for k in range(1, 5):
        one, three = (_grey(tmp_path / b / "v" / f"flow_x_{k:05d}.jpg") for b in ("1", "3"))
        assert np.abs(one - three).max() <= 1  # one JPEG level at most


def test_torch_runs_resume_and_refuse_to_mix_implementations(runner, cli, tmp_path):
    moving_video(tmp_path / "videos" / "a.avi", n=3)
    out = tmp_path / "frames"
    assert _flow(runner, cli, tmp_path / "videos", out, *TORCH).exit_code == 0
    again = _flow(runner, cli, tmp_path / "videos", out, *TORCH)
    assert again.exit_code == 0 and "done 0, skipped 1" in again.output
    opencv = _flow(runner, cli, tmp_path / "videos", out, "--size", "64x48", "--workers", "1")
    assert opencv.exit_code == 1
    assert "flow_implementation=torch" in opencv.output and "--force" in opencv.output


def test_a_corrupt_video_fails_alone_into_failed_tsv(runner, cli, tmp_path):
    moving_video(tmp_path / "videos" / "good.avi", n=3)
    (tmp_path / "videos" / "bad.avi").write_bytes(b"not a video at all")
    out = tmp_path / "frames"
    result = _flow(runner, cli, tmp_path / "videos", out, *TORCH)
    assert result.exit_code == 1
    assert (out / "good" / "flow_x_00002.jpg").is_file()
    assert not (out / "bad").exists()
    rows = (out / "failed.tsv").read_text().splitlines()
    assert rows[0] == "video_id\tpath\treason" and rows[1].startswith("bad\t")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
@pytest.mark.parametrize(
    ("flags", "named"), [(["--gpus", "1"], "--gpus 1"), (["--device", "cuda"], "--device cuda")]
)
def test_gpu_options_without_cuda_are_a_one_line_error_naming_workers(
    runner, cli, tmp_path, flags, named
):
    moving_video(tmp_path / "videos" / "a.avi", n=3)
    result = _flow(runner, cli, tmp_path / "videos", tmp_path / "frames", *flags)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and named in lines[0] and "--workers" in lines[0]


def test_an_algorithm_without_a_torch_implementation_is_refused(runner, cli, tmp_path):
    moving_video(tmp_path / "videos" / "a.avi", n=3)
    result = _flow(runner, cli, tmp_path / "videos", tmp_path / "f", "--algo", "dis", *TORCH)
    assert result.exit_code == 1 and "has no torch implementation" in result.output


def test_raft_without_weights_stops_before_any_video_naming_the_fetch_command(
    runner, cli, tmp_path, monkeypatch
):
    monkeypatch.setenv("TSN_HOME", str(tmp_path / "cache"))
    moving_video(tmp_path / "videos" / "a.avi", n=3)
    out = tmp_path / "frames"
    result = _flow(runner, cli, tmp_path / "videos", out, "--algo", "raft_small", "--workers", "1")
    assert result.exit_code == 1 and "tsn fetch weights raft_small" in result.output
    assert not (out / "a").exists() and not (out / "failed.tsv").exists()
