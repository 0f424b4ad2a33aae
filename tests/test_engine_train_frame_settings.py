"""Training records the FrameSettings eval and predict later resolve for the same frames."""

from __future__ import annotations

from pathlib import Path

import pytest
from video_helpers import make_video

from tsncli.flow.job import load_frames_settings
from tsncli.frame_settings import FrameSettings, resolve_frame_settings
from tsncli.lists.listfile import VideoRecord, read_list_header, write_classes, write_list
from tsncli.models.checkpoint import load_checkpoint, read_meta

TINY = ["--arch", "tiny", "--pretrained", "none", "--crop-size", "16", "--segments", "2"]
FAST = ["--batch", "2", "--workers", "0", "--gpus", "0", "--eval-every", "0", "--epochs", "1"]
MISMATCH = "other settings than the model was trained on"


def _videos(root: Path) -> Path:
    for cls in ("jump", "run"):
        for i in range(2):
            make_video(root / "videos" / cls, f"v_{cls}_g0{i}", "mjpg", n=10, size=(32, 24))
    return root / "videos"


@pytest.fixture(scope="module")
def dis_frames(tmp_path_factory):
    """`tsn flow --algo dis --size 64x48 --bound 15` frames and a flow list over them."""
    from typer.testing import CliRunner

    from tsncli.cli import app

    root = tmp_path_factory.mktemp("dis")
    frames = root / "frames"
    args = ["flow", str(_videos(root)), str(frames), "--algo", "dis", "--size", "64x48"]
    result = CliRunner().invoke(app, [*args, "--bound", "15", "--workers", "1"])
    assert result.exit_code == 0, result.output
    records = []
    for folder in sorted(p for p in frames.iterdir() if p.is_dir()):
        count = len(list(folder.glob("flow_x_*.jpg")))
        records.append(VideoRecord(str(folder), count, int("_run_" in folder.name)))
    lists = root / "lists"
    lists.mkdir()
    for subset in ("train", "val"):
        write_list(lists / f"custom_flow_{subset}_split_1.txt", records)
    write_classes(lists / "custom_classes.txt", ["jump", "run"])
    return frames, lists


def _train(runner, cli, lists: Path, out: Path, *extra: str) -> Path:
    args = ["train", "custom", "flow", "--lists-dir", str(lists), "--out", str(out)]
    result = runner.invoke(cli, [*args, *TINY, *FAST, *extra])
    assert result.exit_code == 0, result.output
    return out / "last.pt"


def _eval_output(runner, cli, ckpt: Path, list_file: Path, scores: Path) -> str:
    args = ["eval", str(ckpt), "--list", str(list_file), "--save-scores", str(scores)]
    result = runner.invoke(cli, [*args, "--segments", "2", "--crops", "1"])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_training_on_tsn_flow_frames_records_what_eval_resolves(runner, cli, dis_frames, tmp_path):
    frames, lists = dis_frames
    ckpt = _train(runner, cli, lists, tmp_path / "run")
    recorded = read_meta(load_checkpoint(ckpt)).frames
    assert recorded == resolve_frame_settings(frames=load_frames_settings(frames))
    assert recorded == FrameSettings(size=(64, 48), flow_algorithm="dis", bound=15.0)
    output = _eval_output(runner, cli, ckpt, lists / "custom_flow_val_split_1.txt", tmp_path / "s")
    assert MISMATCH not in output


def test_frames_made_otherwise_than_training_are_still_reported(runner, cli, dis_frames, tmp_path):
    frames, lists = dis_frames
    ckpt = _train(runner, cli, lists, tmp_path / "run")
    other = tmp_path / "other"
    other.mkdir()
    (other / "flow_config.yaml").write_text("algo: farneback\nsize: 64x48\nbound: 15\n")
    for folder in (p for p in frames.iterdir() if p.is_dir()):
        (other / folder.name).symlink_to(folder, target_is_directory=True)
    val = tmp_path / "val.txt"
    val.write_text(
        (lists / "custom_flow_val_split_1.txt").read_text().replace(str(frames), str(other))
    )
    output = _eval_output(runner, cli, ckpt, val, tmp_path / "s")
    assert MISMATCH in output and "flow_algorithm 'farneback' vs 'dis'" in output


def test_training_on_a_video_list_records_its_header_and_on_the_fly_flow(runner, cli, tmp_path):
    videos, lists = _videos(tmp_path), tmp_path / "lists"
    args = ["lists", "custom", "--videos", str(videos), "--source", "videos", "--size", "24x20"]
    result = runner.invoke(
        cli, [*args, "--val-ratio", "0.5", "--out", str(lists), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    ckpt = _train(runner, cli, lists, tmp_path / "run", "--flow-on-the-fly", "dis")
    recorded = read_meta(load_checkpoint(ckpt)).frames
    val = lists / "custom_flow_val_split_1.txt"
    header = read_list_header(val)
    assert recorded == resolve_frame_settings(recorded, list_header=header)  # what eval resolves
    assert recorded == FrameSettings(size=(24, 20), flow_algorithm="dis", source="videos")
    assert MISMATCH not in _eval_output(runner, cli, ckpt, val, tmp_path / "s")
