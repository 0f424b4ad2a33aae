"""End to end through the CLI on a small toy dataset: the demo's steps, each output checked.

fetch toy -> flow -> lists -> train rgb + flow -> eval both -> fuse -> predict. Run it alone
with `pytest -m e2e`; scripts/demo.sh is the full-size version.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tsncli.acquire.toy import load_toy_meta
from tsncli.lists.listfile import read_classes, read_list

pytestmark = pytest.mark.e2e

VIDEOS_PER_CLASS = 12  # 8 classes x 3 groups of 4: 64 train and 32 test videos
EPOCHS = 25
BATCH = 16
# 8 classes: chance is 0.125. Measured (seed 0, CPU): rgb 0.469, flow 0.656, fused 0.844 mean
# class accuracy on the 32 test videos; each stream must clear 0.3 (chance x 2.4).
STREAM_MIN_ACCURACY = 0.3


def _run(runner, cli, *args: str) -> str:
    result = runner.invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, f"tsn {' '.join(map(str, args))}\n{result.output}"
    return result.stdout


def _json(text: str) -> dict:
    return json.loads(text[text.index("{") :])


def test_toy_pipeline_runs_end_to_end_and_fusion_is_no_worse(runner, cli, tmp_path):
    data, runs, scores = tmp_path / "data", tmp_path / "runs", tmp_path / "scores"
    toy, frames = data / "toy", data / "toy" / "frames"

    _run(runner, cli, "fetch", "toy", "--dest", toy, "--videos-per-class", VIDEOS_PER_CLASS)
    meta = load_toy_meta(toy)
    videos = sorted(toy.glob("videos/*/*.avi"))
    assert len(videos) == 8 * VIDEOS_PER_CLASS == len(meta["videos"])
    assert (toy / "splits" / "trainlist01.txt").is_file()

    flow = ["--algo", "dis", "--size", "128x96", "--bound", "10", "--workers", "1"]
    _run(runner, cli, "flow", toy / "videos", frames, *flow)
    for video in videos:
        folder = frames / video.stem
        assert (folder / "img_00001.jpg").is_file() and (folder / "flow_x_00001.jpg").is_file()

    _run(runner, cli, "lists", "toy", frames, "--splits", toy / "splits", "--out", data)
    classes = read_classes(data / "toy_classes.txt")
    assert len(classes) == 8
    val = read_list(data / "toy_rgb_val_split_1.txt")
    assert len(val) == sum(v["subset"] == "test" for v in meta["videos"])
    assert len(read_list(data / "toy_flow_train_split_1.txt")) == len(videos) - len(val)

    accuracy = {}
    for modality in ("rgb", "flow"):
        run, npz = runs / modality, scores / f"{modality}.npz"
        small = ["--batch-size", BATCH, "--epochs", EPOCHS, "--workers", "0"]
        _run(runner, cli, "train", "toy", modality, "--preset", f"toy_{modality}",
             "--lists-dir", data, "--out", run, *small)  # fmt: skip
        assert (run / "last.pt").is_file() and (run / "config.yaml").is_file()
        assert (run / "metrics.jsonl").read_text().count("\n") == EPOCHS
        val_list = data / f"toy_{modality}_val_split_1.txt"
        test = ["--segments", "5", "--crops", "1", "--batch", "8"]
        out = _run(runner, cli, "eval", run / "last.pt", "--list", val_list, *test,
                   "--save-scores", npz, "--json")  # fmt: skip
        report = _json(out)
        assert report["num_videos"] == len(val)
        assert np.load(npz, allow_pickle=True)["scores"].shape == (len(val), len(classes))
        accuracy[modality] = report["mean_class_accuracy"]
        assert accuracy[modality] >= STREAM_MIN_ACCURACY, (modality, report)

    fused_npz = scores / "fused.npz"
    out = _run(runner, cli, "fuse", scores / "rgb.npz", scores / "flow.npz", "--weights", "1", "1",
               "--out", fused_npz, "--json")  # fmt: skip
    fused = _json(out)["mean_class_accuracy"]
    assert fused_npz.is_file()
    assert fused >= max(accuracy.values()), (accuracy, fused)

    sample = toy / "videos" / meta["videos"][0]["class_name"] / f"{meta['videos'][0]['name']}.avi"
    checkpoints = [
        "--checkpoint",
        runs / "rgb" / "last.pt",
        "--checkpoint",
        runs / "flow" / "last.pt",
    ]
    out = _run(runner, cli, "predict", sample, *checkpoints, "--segments", "5", "--crops", "1",
               "--top-k", "3", "--json")  # fmt: skip
    top = _json(out)["videos"][0]["top"]
    assert len(top) == 3 and top[0]["class"] in classes
    assert sum(t["probability"] for t in top) <= 1.0 + 1e-6
