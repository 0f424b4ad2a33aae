"""`tsn fuse` on untrimmed videos: the original's snippet aggregations before fusion, ActivityNet's
official metrics computed on exactly what the submission file holds, and the guard rails."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tsncli.engine.aggregate import aggregate_snippets, aggregate_video
from tsncli.engine.metrics import compute_untrimmed_metrics
from tsncli.engine.scores import ScoreFile, save_scores
from tsncli.lists.activitynet import load_submission

TAXONOMY = [
    {"nodeId": 1, "nodeName": "Root", "parentId": None, "parentName": None},
    {"nodeId": 2, "nodeName": "BMX", "parentId": 1, "parentName": "Root"},
    {"nodeId": 3, "nodeName": "Baking cookies", "parentId": 1, "parentName": "Root"},
    {"nodeId": 4, "nodeName": "archery", "parentId": 1, "parentName": "Root"},
]
# the score files name classes in another order than the annotation file: matched by name
CLASSES = ["archery", "BMX", "Baking cookies"]
VIDEOS = ["v_def", "v_xyz", "v_zzz"]  # zzz is not in the annotation file


def _annotations(tmp_path):
    def video(subset, *labels):
        annotations = [{"segment": [0.0, 1.0], "label": lb} for lb in labels]
        return {"subset": subset, "duration": 3.0, "annotations": annotations}

    doc = {
        "version": "VERSION 1.3",
        "taxonomy": TAXONOMY,
        "database": {
            "def": video("validation", "archery", "BMX"),  # two labels
            "xyz": video("validation", "Baking cookies"),
            "gone": video("validation", "BMX"),  # annotated, never scored
            "trn": video("training", "BMX"),
        },
    }
    path = tmp_path / "activity_net.v1-3.min.json"
    path.write_text(json.dumps(doc))
    return path


def _scores(path, seed, keep_raw=True):
    raw = np.random.default_rng(seed).normal(size=(3, 6, 2, 3)).astype(np.float32) * 2
    scores = np.stack([aggregate_video(r) for r in raw])
    sf = ScoreFile(scores, np.array([0, 2, 1]), VIDEOS, CLASSES, {}, raw if keep_raw else None)
    save_scores(path, sf)
    return raw


def test_fuse_reports_the_official_metrics_of_the_submission_it_writes(runner, cli, tmp_path):
    ann = _annotations(tmp_path)
    rgb, flow = _scores(tmp_path / "rgb.npz", 1), _scores(tmp_path / "flow.npz", 2)
    sub = tmp_path / "sub.json"
    args = ["fuse", str(tmp_path / "rgb.npz"), str(tmp_path / "flow.npz"), "--weights", "1", "1.5"]
    args += ["--snippet-agg", "top-k:2", "--annotations", str(ann), "--submission", str(sub)]
    result = runner.invoke(cli, [*args, "--json", "--per-class"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    # the fused scores: each file's top-2 aggregation (softmaxed) of its raw scores as stored
    # (float16), weighted 1 and 1.5
    rgb, flow = rgb.astype(np.float16), flow.astype(np.float16)
    fused = np.stack(
        [aggregate_snippets(a, "top-k", 2) + 1.5 * aggregate_snippets(b, "top-k", 2)
         for a, b in zip(rgb, flow, strict=True)]
    )  # fmt: skip
    doc = json.loads(sub.read_text())
    assert doc["version"] == "VERSION 1.3"
    assert doc["external_data"] == {"used": False, "details": ""}
    assert set(doc["results"]) == {"def", "xyz", "zzz"}  # ids without v_
    rows = doc["results"]["def"]
    assert [r["label"] for r in rows] == [CLASSES[i] for i in np.argsort(-fused[0])]
    assert [r["score"] for r in rows] == pytest.approx(sorted(fused[0], reverse=True))
    # what we report is what the official evaluation computes on that very file
    truth = {"def": {"archery", "BMX"}, "xyz": {"Baking cookies"}, "gone": {"BMX"}}
    official = compute_untrimmed_metrics(truth, load_submission(sub))
    assert (payload["map"], payload["hit1"], payload["hit3"]) == (
        official.map,
        official.hit1,
        official.hit3,
    )
    assert payload["per_class_ap"] == official.per_class_ap
    assert payload["snippet_agg"] == "top-k:2"
    assert "1 scored videos are not in" in result.stderr and "zzz" in result.stderr
    assert "1 annotated validation videos have no scores" in result.stderr


def test_submission_top_keeps_the_best_labels_and_marks_external_data(runner, cli, tmp_path):
    ann = _annotations(tmp_path)
    _scores(tmp_path / "rgb.npz", 1)
    sub = tmp_path / "sub.json"
    args = ["fuse", str(tmp_path / "rgb.npz"), "--annotations", str(ann), "--submission", str(sub)]
    result = runner.invoke(cli, [*args, "--submission-top", "1", "--external-data", "Kinetics"])
    assert result.exit_code == 0, result.output
    doc = json.loads(sub.read_text())
    assert all(len(rows) == 1 for rows in doc["results"].values())
    assert doc["external_data"] == {"used": True, "details": "Kinetics"}
    assert "mAP" in result.stdout and "hit@3" in result.stdout


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--submission", "sub.json"], "--submission needs --annotations"),
        (["--snippet-agg", "top-k:0"], "top-k:K with K >= 1"),
        (["--snippet-agg", "mtwi", "--crop-agg", "max"], "sets its own crop rule"),
        (["--subset", "train"], "--subset must be one of: training, validation, testing"),
    ],
)
def test_bad_untrimmed_options_are_one_line_errors(runner, cli, tmp_path, extra, message):
    _scores(tmp_path / "rgb.npz", 1)
    result = runner.invoke(cli, ["fuse", str(tmp_path / "rgb.npz"), *extra])
    assert result.exit_code == 1
    assert message in result.stderr


def test_snippet_aggregation_without_raw_scores_names_the_fix(runner, cli, tmp_path):
    _scores(tmp_path / "rgb.npz", 1, keep_raw=False)
    result = runner.invoke(cli, ["fuse", str(tmp_path / "rgb.npz"), "--snippet-agg", "mtwi"])
    assert result.exit_code == 1
    assert "rerun `tsn eval --keep-raw`" in result.stderr


def test_scores_of_classes_outside_the_annotation_file_are_refused(runner, cli, tmp_path):
    ann = _annotations(tmp_path)
    raw = np.zeros((3, 1, 1, 3), dtype=np.float32)
    sf = ScoreFile(raw[:, 0, 0], np.zeros(3), VIDEOS, ["archery", "BMX", "Surfing"], {}, raw)
    save_scores(tmp_path / "rgb.npz", sf)
    result = runner.invoke(cli, ["fuse", str(tmp_path / "rgb.npz"), "--annotations", str(ann)])
    assert result.exit_code == 1
    assert "not in the annotation file (e.g. 'Surfing')" in result.stderr
