"""`--report DIR` of `tsn eval` and `tsn fuse`: per_class.csv, confusions.csv and the confusion
PNG sorted by class accuracy, checked against a small score file whose answers are known."""

from __future__ import annotations

import csv
import json

import cv2
import evalkit
import numpy as np
import pytest

from tsncli.engine.confusion import render_confusion
from tsncli.engine.metrics import compute_metrics
from tsncli.engine.report import accuracy_order, save_report, top_confusions
from tsncli.engine.scores import ScoreFile, load_scores, save_scores

CLASSES = ["walk", "run", "jump", "swim"]
# true label -> predicted label, per video: walk 3/4 right (1 -> run), run 1/3 right
# (2 -> walk), jump 2/2 right, swim 0/3 right (2 -> jump, 1 -> run)
PAIRS = [(0, 0), (0, 0), (0, 0), (0, 1)]
PAIRS += [(1, 1), (1, 0), (1, 0)]
PAIRS += [(2, 2), (2, 2)]
PAIRS += [(3, 2), (3, 2), (3, 1)]


def _score_file(path):
    labels = np.array([t for t, _ in PAIRS])
    scores = np.full((len(PAIRS), len(CLASSES)), -1.0, np.float32)
    for row, (_, predicted) in enumerate(PAIRS):
        scores[row, predicted] = 2.0
    videos = [f"v{i:02d}" for i in range(len(PAIRS))]
    return save_scores(path, ScoreFile(scores, labels, videos, CLASSES, {}))


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


EXPECTED_PER_CLASS = [
    ["class", "support", "accuracy"],
    ["walk", "4", "0.750000"],
    ["run", "3", "0.333333"],
    ["jump", "2", "1.000000"],
    ["swim", "3", "0.000000"],
]
EXPECTED_CONFUSIONS = [
    ["true", "predicted", "count", "share"],
    ["run", "walk", "2", "0.666667"],  # 2 of run's 3 videos
    ["swim", "jump", "2", "0.666667"],  # a tie on count and share: class order decides
    ["swim", "run", "1", "0.333333"],  # equal counts: the larger share of its class first
    ["walk", "run", "1", "0.250000"],
]


def test_fuse_report_writes_per_class_and_confusion_files_of_a_known_score_file(
    runner, cli, tmp_path
):
    scores = _score_file(tmp_path / "s.npz")
    result = runner.invoke(cli, ["fuse", str(scores), "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "report written to" in result.stderr
    assert _rows(tmp_path / "report" / "per_class.csv") == EXPECTED_PER_CLASS
    assert _rows(tmp_path / "report" / "confusions.csv") == EXPECTED_CONFUSIONS
    assert cv2.imread(str(tmp_path / "report" / "confusion.png")) is not None
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == [
        "confusion.png",
        "confusions.csv",
        "per_class.csv",
    ]  # no temporary left behind


def test_confusions_keep_only_the_twenty_most_common():
    rng = np.random.default_rng(0)
    cf = rng.integers(0, 9, size=(8, 8))
    rows = top_confusions(cf, [f"c{i}" for i in range(8)])
    assert len(rows) == 20
    off = sorted((int(cf[t, p]) for t in range(8) for p in range(8) if t != p), reverse=True)
    assert [r.count for r in rows] == off[:20]
    assert all(r.true != r.predicted for r in rows)


def test_classes_sort_from_lowest_accuracy_and_classes_without_videos_go_last():
    cf = np.array([[3, 1, 0], [0, 0, 0], [2, 0, 1]])  # 75%, no videos, 33%
    assert accuracy_order(cf).tolist() == [2, 0, 1]


def test_sorted_png_shows_the_same_matrix_with_rows_and_columns_permuted():
    cf = np.array([[3, 1, 0], [1, 1, 0], [2, 0, 1]])
    names = ["a", "b", "c"]
    order = [2, 1, 0]
    sorted_image = render_confusion(cf, names, order=order)
    by_hand = render_confusion(cf[np.ix_(order, order)], ["c", "b", "a"])
    np.testing.assert_array_equal(sorted_image, by_hand)
    with pytest.raises(ValueError, match="permutation"):
        render_confusion(cf, names, order=[0, 0, 1])


def test_report_png_puts_the_worst_class_in_the_top_left_cell(tmp_path):
    cf = np.array([[4, 0], [3, 1]])  # class 1 at 25% comes first
    save_report(tmp_path, cf, ["good", "bad"])
    image = cv2.imread(str(tmp_path / "confusion.png"))
    plain = render_confusion(cf[np.ix_([1, 0], [1, 0])], ["bad (25%)", "good (100%)"])
    np.testing.assert_array_equal(image, plain)


def test_report_adds_an_ap_column_when_the_metrics_have_one(tmp_path):
    cf = np.array([[2, 0], [1, 1]])
    save_report(tmp_path, cf, ["a", "b"], {"a": 0.5})
    assert _rows(tmp_path / "per_class.csv") == [
        ["class", "support", "accuracy", "ap"],
        ["a", "2", "1.000000", "0.500000"],
        ["b", "2", "0.500000", ""],  # no AP for b: an empty cell, not a made-up number
    ]


def _activitynet(tmp_path):
    taxonomy = [{"nodeId": 1, "nodeName": "Root", "parentId": None, "parentName": None}]
    taxonomy += [
        {"nodeId": 2 + i, "nodeName": name, "parentId": 1, "parentName": "Root"}
        for i, name in enumerate(CLASSES)
    ]
    database = {
        f"v{i:02d}": {
            "subset": "validation",
            "duration": 3.0,
            "annotations": [{"segment": [0.0, 1.0], "label": CLASSES[t]}],
        }
        for i, (t, _) in enumerate(PAIRS)
    }
    path = tmp_path / "activity_net.v1-3.min.json"
    path.write_text(
        json.dumps({"version": "VERSION 1.3", "taxonomy": taxonomy, "database": database})
    )
    return path


def test_fuse_report_with_annotations_carries_the_official_per_class_ap(runner, cli, tmp_path):
    scores = _score_file(tmp_path / "s.npz")
    args = ["fuse", str(scores), "--annotations", str(_activitynet(tmp_path)), "--json"]
    result = runner.invoke(cli, [*args, "--per-class", "--report", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    official = json.loads(result.stdout)["per_class_ap"]
    rows = _rows(tmp_path / "r" / "per_class.csv")
    assert rows[0] == ["class", "support", "accuracy", "ap"]
    assert {r[0]: float(r[3]) for r in rows[1:]} == pytest.approx(official, abs=1e-6)


def test_report_into_a_file_is_a_one_line_error(runner, cli, tmp_path):
    scores = _score_file(tmp_path / "s.npz")
    (tmp_path / "taken").write_text("x")
    result = runner.invoke(cli, ["fuse", str(scores), "--report", str(tmp_path / "taken")])
    assert result.exit_code == 1
    assert "is a file; give a folder path" in " ".join(result.output.split())


def test_eval_report_matches_the_scores_it_saved(runner, cli, tmp_path):
    data = evalkit.make_dataset(tmp_path / "data", videos_per_class=1)
    ckpt = evalkit.make_checkpoint(tmp_path / "rgb.pt", "rgb", seed=1)
    args = ["eval", str(ckpt), "--list", str(data["rgb_list"]), "--save-scores"]
    args += [str(tmp_path / "s.npz"), "--segments", "2", "--crops", "1"]
    result = runner.invoke(cli, [*args, "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    saved = load_scores(tmp_path / "s.npz")
    metrics = compute_metrics(saved.scores, saved.labels)
    rows = _rows(tmp_path / "report" / "per_class.csv")
    assert [r[0] for r in rows[1:]] == evalkit.CLASSES
    assert [int(r[1]) for r in rows[1:]] == [1, 1, 1]
    assert [float(r[2]) for r in rows[1:]] == pytest.approx(metrics.per_class.tolist(), abs=1e-6)
    wrong = len(saved.labels) - int(np.trace(metrics.confusion))
    confusions = _rows(tmp_path / "report" / "confusions.csv")
    assert sum(int(r[2]) for r in confusions[1:]) == wrong


def test_scores_without_class_names_are_reported_by_index(tmp_path):
    save_report(tmp_path, np.array([[1, 1], [0, 2]]), None)  # a legacy eval_net.py file
    assert [r[0] for r in _rows(tmp_path / "per_class.csv")[1:]] == ["0", "1"]
    assert _rows(tmp_path / "confusions.csv")[1] == ["0", "1", "1", "0.500000"]
