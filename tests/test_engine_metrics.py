"""Metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsncli.engine.metrics import (
    compute_metrics,
    confusion_matrix,
    mean_class_accuracy,
    topk_accuracy,
)


def test_confusion_matrix_counts_rows_as_true_classes():
    cf = confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], 3)
    assert cf.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_mean_class_accuracy_averages_per_class_recall_not_videos():
    # class 0: 3 videos, all right; class 1: 1 video, wrong -> MCA 0.5, top-1 0.75
    scores = np.array([[2, 1], [3, 0], [5, 1], [9, 1]], dtype=np.float32)
    m = compute_metrics(scores, [0, 0, 0, 1])
    assert m.mean_class_accuracy == pytest.approx(0.5)
    assert m.top1 == pytest.approx(0.75)
    assert m.num_videos == 4


def test_mean_class_accuracy_ignores_classes_without_videos():
    # class 2 is predicted but never true: the original returned NaN here
    cf = confusion_matrix([0, 1, 1], [0, 1, 2], 3)
    assert mean_class_accuracy(cf) == pytest.approx((1.0 + 0.5) / 2)


def test_top5_counts_label_among_five_best():
    scores = np.tile(np.arange(7, dtype=np.float32), (2, 1))  # best: 6,5,4,3,2
    assert topk_accuracy(scores, [2, 1], 5) == pytest.approx(0.5)
    assert topk_accuracy(scores, [2, 1], 1) == 0.0


def test_topk_is_capped_at_number_of_classes():
    assert topk_accuracy(np.array([[0.1, 0.9, 0.0]]), [2], 5) == 1.0


def test_metrics_accept_torch_tensors():
    m = compute_metrics(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 0]))
    assert m.top1 == 1.0 and m.mean_class_accuracy == 1.0


def test_metrics_to_dict_has_fractions_and_per_class_names():
    m = compute_metrics(np.array([[1.0, 0.0], [1.0, 0.0]]), [0, 1])
    d = m.to_dict(["a", "b"], per_class=True)
    assert d["mean_class_accuracy"] == 0.5 and d["per_class"] == {"a": 1.0, "b": 0.0}
