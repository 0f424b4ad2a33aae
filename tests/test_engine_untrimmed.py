"""Untrimmed-video scoring: the original's three snippet aggregations and ActivityNet's official
classification metrics, each against arrays and rankings worked out by hand."""

import numpy as np
import pytest

from tsncli.engine.aggregate import (
    aggregate_snippets,
    mtwi_aggregation,
    parse_snippet_agg,
    softmax,
    top_k_aggregation,
)
from tsncli.engine.metrics import compute_untrimmed_metrics, interpolated_average_precision
from tsncli.errors import UsageError

# [S=3 snippets, K=2 crops, C=2 classes]
RAW = np.array(
    [
        [[1, 0], [3, 0]],
        [[0, 2], [2, 4]],
        [[4, 1], [4, 1]],
    ],
    dtype=np.float32,
)


def test_top_k_takes_the_k_best_crop_means_per_class():
    # crop means: class 0 -> 2, 1, 4; class 1 -> 0, 3, 1
    assert top_k_aggregation(RAW, 2, use_softmax=False) == pytest.approx([3.0, 2.0])
    assert top_k_aggregation(RAW, 2) == pytest.approx(softmax(np.array([3.0, 2.0])))


def test_top_k_with_more_k_than_snippets_is_the_mean():
    assert top_k_aggregation(RAW, 5, use_softmax=False) == pytest.approx([7 / 3, 4 / 3])


def test_mtwi_with_fewer_snippets_than_a_window():
    # crop max: class 0 -> 3, 2, 4; class 1 -> 0, 4, 1
    # 1 s: windows = snippets, all kept -> 3, 5/3; 2 s: windows [0:2], [2:4] -> (3+4)/2, (4+1)/2;
    # 4, 8, 16 s: one window of everything -> 4, 4
    expected = [(3 + 3.5 + 4 + 4 + 4) / 5, (5 / 3 + 2.5 + 4 + 4 + 4) / 5]
    assert mtwi_aggregation(RAW, 1, use_softmax=False) == pytest.approx(expected)
    assert aggregate_snippets(RAW, "mtwi") == pytest.approx(softmax(np.array(expected)))


def test_mtwi_keeps_a_quarter_of_the_windows_when_that_is_more_than_15():
    raw = np.arange(80, dtype=np.float32).reshape(80, 1, 1)  # snippet i scores i
    per_span = [
        69.5,  # 1 s: 80 windows, the best 20 (80 // 4) are 60..79
        65.0,  # 2 s: windows every 2 with maxima 1, 3, .., 79; the best 15 are 51..79
        51.0,  # 4 s: every ceil(3.2) = 4, maxima 3, 7, .., 79; best 15: 23..79
        541 / 12,  # 8 s: every 7, 12 windows (all kept): 7, 14, .., 77 and 79
        363 / 7,  # 16 s: every 13, 7 windows: 15, 28, 41, 54, 67, 79, 79
    ]
    assert mtwi_aggregation(raw, 1, use_softmax=False) == pytest.approx([np.mean(per_span)])


def test_mtwi_windows_follow_the_snippet_rate():
    raw = np.arange(80, dtype=np.float32).reshape(80, 1, 1)
    # at 2 snippets per second, the 1 s windows are the 2 s windows at 1 per second
    two = mtwi_aggregation(raw, 2, use_softmax=False)
    assert two != pytest.approx(mtwi_aggregation(raw, 1, use_softmax=False))


def test_mean_is_the_default_aggregation_with_softmax():
    assert aggregate_snippets(RAW, "mean") == pytest.approx(softmax(np.array([7 / 3, 4 / 3])))


@pytest.mark.parametrize(
    "text, parsed", [("mean", ("mean", 0)), ("top-k:3", ("top-k", 3)), ("mtwi", ("mtwi", 0))]
)
def test_snippet_agg_names(text, parsed):
    assert parse_snippet_agg(text) == parsed


@pytest.mark.parametrize("text", ["top-k", "top-k:0", "top-k:x", "max", "mtwi:2", ""])
def test_bad_snippet_agg_names_the_choices(text):
    with pytest.raises(UsageError, match="top-k"):
        parse_snippet_agg(text)


def test_interpolated_ap_makes_precision_monotone_from_the_right():
    # precision 1, 0.5, 2/3 at recall 0.5, 0.5, 1 -> 0.5 * 1 + 0.5 * 2/3
    ap = interpolated_average_precision(np.array([1, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0]))
    assert ap == pytest.approx(0.5 + 1 / 3)


def test_official_metrics_on_a_hand_worked_case_with_a_two_label_video():
    truth = {"v1": {"A"}, "v2": {"B"}, "v3": {"A", "B"}}
    preds = {
        "v1": [("A", 0.9), ("B", 0.1)],
        "v2": [("A", 0.6), ("B", 0.4)],
        "v3": [("B", 0.7), ("A", 0.3)],
    }
    m = compute_untrimmed_metrics(truth, preds)
    # A: v1 tp, v2 fp, v3 tp -> 0.5 * 1 + 0.5 * 2/3; B: v3 tp, v2 tp, v1 fp -> 1
    assert m.per_class_ap == pytest.approx({"A": 0.5 + 1 / 3, "B": 1.0})
    assert m.map == pytest.approx((0.5 + 1 / 3 + 1.0) / 2)
    # top-1: v1 hit, v2 miss, v3 hits one of its two labels (counted as a hit)
    assert m.hit1 == pytest.approx(2 / 3)
    assert m.hit3 == pytest.approx(1.0)


def test_a_class_with_no_true_positive_has_ap_zero():
    truth = {"v1": {"A"}, "v2": {"B"}}
    preds = {"v2": [("B", 0.9), ("A", 0.5)], "v1": [("B", 0.8)]}
    m = compute_untrimmed_metrics(truth, preds)
    # A: only v2 predicted (a false positive); B: v2 tp then v1 fp -> 1
    assert m.per_class_ap == pytest.approx({"A": 0.0, "B": 1.0})
    assert m.map == pytest.approx(0.5)
    assert m.hit1 == pytest.approx(0.5)  # v1's best is B


def test_ties_rank_as_the_official_evaluation_ranks_them():
    # equal scores: the official reversed argsort puts the later prediction first (v2, a false
    # positive), so A's precision at full recall is 1/2
    truth = {"v1": {"A"}, "v2": {"B"}}
    m = compute_untrimmed_metrics(truth, {"v1": [("A", 0.5)], "v2": [("A", 0.5)]})
    assert m.per_class_ap == pytest.approx({"A": 0.5, "B": 0.0})


def test_a_second_prediction_for_the_same_video_is_a_false_positive():
    truth = {"v1": {"A"}, "v2": {"A"}}
    m = compute_untrimmed_metrics(truth, {"v1": [("A", 0.9), ("A", 0.8)], "v2": [("A", 0.7)]})
    # v1 tp, v1 again fp, v2 tp: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    assert m.map == pytest.approx(0.5 + 1 / 3)


def test_videos_without_predictions_miss_and_unknown_labels_fail():
    truth = {"v1": {"A"}, "v2": {"A"}}
    assert compute_untrimmed_metrics(truth, {"v1": [("A", 1.0)]}).hit1 == pytest.approx(0.5)
    with pytest.raises(ValueError, match="'Z'.*not a class"):
        compute_untrimmed_metrics(truth, {"v1": [("Z", 1.0)]})


def test_known_classes_without_ground_truth_rank_but_have_no_ap():
    truth = {"v1": {"A"}}
    preds = {"v1": [("C", 0.9), ("A", 0.5)]}
    m = compute_untrimmed_metrics(truth, preds, known_labels={"A", "B", "C"})
    assert m.per_class_ap == pytest.approx({"A": 1.0})
    assert m.hit1 == 0.0 and m.hit3 == 1.0
