"""Training, evaluation and prediction straight from video lists (`tsn lists --source videos`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from video_helpers import make_video

from tsncli.engine.fusion import softmax
from tsncli.engine.scores import load_scores
from tsncli.lists.listfile import read_list

TINY = ["--arch", "tiny", "--pretrained", "none", "--crop-size", "16", "--segments", "2"]
FAST = ["--batch", "2", "--workers", "0", "--gpus", "0", "--eval-every", "1", "--epochs", "1"]


@pytest.fixture(scope="module")
def video_lists(tmp_path_factory):
    """Two classes x two MJPG videos (12 frames) and their video lists under lists/."""
    from typer.testing import CliRunner

    from tsncli.cli import app

    root = tmp_path_factory.mktemp("vids")
    for cls in ("jump", "run"):
        for i in range(2):
            make_video(root / "videos" / cls, f"v_{cls}_g0{i}", "mjpg", n=12, size=(32, 24))
    args = ["lists", "custom", "--videos", str(root / "videos"), "--source", "videos"]
    args += ["--val-ratio", "0.5", "--out", str(root / "lists"), "--size", "24x20"]
    args += ["--workers", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return root / "lists"


def _train(runner, cli, lists, out, modality="rgb", *extra):
    args = ["train", "custom", modality, "--lists-dir", str(lists), "--out", str(out)]
    result = runner.invoke(cli, [*args, *TINY, *FAST, *extra, "--json"])
    result.text = " ".join(result.output.split())
    return result


def test_train_eval_and_predict_from_video_lists(runner, cli, video_lists, tmp_path):
    result = _train(runner, cli, video_lists, tmp_path / "run")
    assert result.exit_code == 0, result.output
    ckpt = tmp_path / "run" / "last.pt"
    meta = torch.load(ckpt, map_location="cpu", weights_only=False)["meta"]
    assert meta["frames"]["source"] == "videos" and meta["frames"]["size"] == "24x20"

    scores = tmp_path / "scores.npz"
    args = ["eval", str(ckpt), "--list", str(video_lists / "custom_rgb_val_split_1.txt")]
    result = runner.invoke(
        cli, [*args, "--save-scores", str(scores), "--segments", "3", "--crops", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["failed"] == [] and scores.is_file()

    video = read_list(video_lists / "custom_rgb_val_split_1.txt")[0].path
    result = runner.invoke(
        cli,
        ["predict", video, "--checkpoint", str(ckpt), "--segments", "3", "--crops", "1", "--json"],
    )
    assert result.exit_code == 0, result.output
    # predict decodes like the loader did (sparse, no JPEG), so it equals eval on that video
    top = json.loads(result.stdout)["videos"][0]["top"]
    sf = load_scores(scores)
    expected = softmax(sf.scores[sf.videos.index(Path(video).stem)])
    np.testing.assert_allclose([t["probability"] for t in top], np.sort(expected)[::-1], atol=1e-5)


def test_flow_on_the_fly_trains_and_is_recorded_for_predict(runner, cli, video_lists, tmp_path):
    result = _train(
        runner, cli, video_lists, tmp_path / "run", "flow", "--flow-on-the-fly", "farneback"
    )
    assert result.exit_code == 0, result.output
    ckpt = tmp_path / "run" / "last.pt"
    meta = torch.load(ckpt, map_location="cpu", weights_only=False)["meta"]
    assert meta["frames"]["flow_algorithm"] == "farneback"
    video = read_list(video_lists / "custom_flow_val_split_1.txt")[0].path
    result = runner.invoke(
        cli,
        ["predict", video, "--checkpoint", str(ckpt), "--segments", "2", "--crops", "1", "--json"],
    )
    assert result.exit_code == 0, result.output


def test_flow_on_a_video_list_needs_flow_on_the_fly(runner, cli, video_lists, tmp_path):
    result = _train(runner, cli, video_lists, tmp_path / "run", "flow")
    assert result.exit_code == 1 and "--flow-on-the-fly dis" in result.text


def test_unknown_flow_on_the_fly_lists_the_choices(runner, cli, video_lists, tmp_path):
    result = _train(runner, cli, video_lists, tmp_path / "run", "flow", "--flow-on-the-fly", "tvl1")
    assert result.exit_code == 1 and "dis, farneback" in result.text


def test_a_corrupt_video_is_reported_once_skipped_and_the_rest_train(runner, cli, tmp_path):
    for cls in ("a", "b"):
        for i in range(2):
            make_video(tmp_path / "videos" / cls, f"v_{cls}_{i}", "mjpg", n=12, size=(32, 24))
    broken = tmp_path / "videos" / "a" / "v_a_0.avi"
    lists = tmp_path / "lists"
    args = [
        "lists",
        "custom",
        "--videos",
        str(tmp_path / "videos"),
        "--source",
        "videos",
        "--val-ratio",
        "0.5",
        "--out",
        str(lists),
        "--size",
        "24x20",
        "--workers",
        "1",
    ]
    assert runner.invoke(cli, args).exit_code == 0
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 3])  # truncated after indexing: counts now lie
    for name in ("custom_rgb_train_split_1.txt", "custom_rgb_val_split_1.txt"):
        text = (lists / name).read_text()
        if str(broken) not in text:  # put the broken video in both subsets
            (lists / name).write_text(text + f"{broken} 12 0\n")
    out = tmp_path / "run"
    result = _train(runner, cli, lists, out, "rgb", "--epochs", "2")
    assert result.exit_code == 0, result.output
    skipped = (out / "skipped_videos.txt").read_text().splitlines()
    assert [line.split("\t")[0] for line in skipped] == [str(broken)]
    assert "1 undecodable video(s) skipped" in result.text

    scores = tmp_path / "s.npz"
    args = [
        "eval",
        str(out / "last.pt"),
        "--list",
        str(lists / "custom_rgb_val_split_1.txt"),
        "--save-scores",
        str(scores),
        "--segments",
        "3",
        "--crops",
        "1",
    ]
    result = runner.invoke(cli, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "v_a_0" in text and "1 video(s) could not be read" in text
