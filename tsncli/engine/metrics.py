"""THE accuracy metrics: confusion matrix, mean class accuracy (the paper's), top-1 and top-k.

Train, eval, fuse and predict all call these. Inputs are numpy arrays (torch tensors are
converted); accuracies are fractions in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def predictions_topk(scores: Any, k: int) -> np.ndarray:
    """The k best classes per row, best first, ties broken by the lower class index. [V, k]."""
    s = _as_numpy(scores)
    k = max(1, min(k, s.shape[1]))
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def confusion_matrix(labels: Any, predictions: Any, num_classes: int) -> np.ndarray:
    """Counts [C, C]: row = true class, column = predicted class. int64."""
    y = _as_numpy(labels).astype(np.int64).ravel()
    p = _as_numpy(predictions).astype(np.int64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels but {p.size} predictions")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {y.min()}..{y.max()}")
    flat = np.bincount(y * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall per class [C]; NaN for classes without any true sample."""
    cf = np.asarray(confusion, dtype=np.float64)
    counts = cf.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.diag(cf) / np.maximum(counts, 1), np.nan)


def mean_class_accuracy(confusion: np.ndarray) -> float:
    """Mean over classes of per-class recall (TSN's metric).

    Classes with no true sample are left out. (The original divided by zero for a class that
    was predicted but never present and reported NaN; this is the fix.)
    """
    recall = per_class_accuracy(confusion)
    present = ~np.isnan(recall)
    return float(recall[present].mean()) if present.any() else 0.0


def topk_accuracy(scores: Any, labels: Any, k: int) -> float:
    """Fraction of rows whose label is among the k best scores (k capped at C)."""
    y = _as_numpy(labels).astype(np.int64).ravel()
    if y.size == 0:
        return 0.0
    top = predictions_topk(scores, k)
    return float((top == y[:, None]).any(axis=1).mean())


@dataclass(frozen=True)
class Metrics:
    """Accuracy summary of video-level scores against labels."""

    mean_class_accuracy: float
    top1: float
    top5: float
    num_videos: int
    per_class: np.ndarray = field(repr=False)  # [C] recall, NaN where a class has no video
    confusion: np.ndarray = field(repr=False)  # [C, C] counts, rows = true class

    def to_dict(self, class_names: list[str] | None = None, per_class: bool = False) -> dict:
        """JSON-ready summary; with `per_class`, a name -> accuracy mapping (null when absent)."""
        out: dict[str, Any] = {
            "mean_class_accuracy": self.mean_class_accuracy,
            "top1": self.top1,
            "top5": self.top5,
            "num_videos": self.num_videos,
        }
        if per_class:
            names = class_names or [str(i) for i in range(len(self.per_class))]
            out["per_class"] = {
                n: (None if np.isnan(a) else float(a))
                for n, a in zip(names, self.per_class, strict=True)
            }
        return out


def compute_metrics(scores: Any, labels: Any, num_classes: int | None = None) -> Metrics:
    """All metrics of video-level scores [V, C] against labels [V]."""
    s = _as_numpy(scores)
    y = _as_numpy(labels).astype(np.int64).ravel()
    if s.ndim != 2 or s.shape[0] != y.size:
        raise ValueError(f"scores must be [V, C] with V = {y.size} labels, got {s.shape}")
    c = num_classes or s.shape[1]
    pred = s.argmax(axis=1) if y.size else np.zeros(0, dtype=np.int64)
    cf = confusion_matrix(y, pred, c)
    return Metrics(
        mean_class_accuracy=mean_class_accuracy(cf),
        top1=topk_accuracy(s, y, 1),
        top5=topk_accuracy(s, y, 5),
        num_videos=int(y.size),
        per_class=per_class_accuracy(cf),
        confusion=cf,
    )


# --- untrimmed classification: ActivityNet's official metrics -------------------------------------
@dataclass(frozen=True)
class UntrimmedMetrics:
    """ActivityNet classification metrics: mAP over the ground truth's classes, hit@1, hit@3."""

    map: float
    hit1: float
    hit3: float
    per_class_ap: dict[str, float] = field(default_factory=dict)  # class name -> AP


def interpolated_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC 2011's AP: precision made non-increasing from the right, summed over recall steps."""
    p = np.concatenate([[0.0], precision, [0.0]])
    r = np.concatenate([[0.0], recall, [1.0]])
    for i in range(len(p) - 2, -1, -1):
        p[i] = max(p[i], p[i + 1])
    steps = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[steps] - r[steps - 1]) * p[steps]))


def _class_average_precision(positives: set[str], videos: list[str], scores: np.ndarray) -> float:
    """AP of one class: `videos`/`scores` are every prediction of that class, in file order;
    `positives` the videos labelled with it. A video's first (highest-ranked) prediction is a true
    positive, any later one of the same video a false positive, as the official evaluation."""
    order = scores.argsort()[::-1]  # the official ranking, ties included (numpy's default sort)
    matched: set[str] = set()
    tp = np.zeros(len(order))
    for rank, i in enumerate(order):
        video = videos[i]
        if video in positives and video not in matched:
            tp[rank] = 1
            matched.add(video)
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(1 - tp)
    recall = tp_cum / len(positives)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp_cum / (tp_cum + fp_cum)
    return interpolated_average_precision(precision, recall)


def _hit_at_k(
    labels: dict[str, set[str]], predictions: dict[str, list[tuple[str, float]]], k: int
) -> float:
    """Per ground-truth video, 1 if any of its labels is among its k best predictions (else 0),
    averaged over the videos (the official default, not the per-label average)."""
    hits = []
    for video in sorted(labels):
        preds = predictions.get(video, [])
        if not preds:
            hits.append(0.0)
            continue
        scores = np.array([s for _, s in preds], dtype=np.float64)
        top = {preds[i][0] for i in scores.argsort()[::-1][:k]}
        hits.append(float(np.ceil(np.mean([label in top for label in labels[video]]))))
    return float(np.mean(hits)) if hits else 0.0


def compute_untrimmed_metrics(
    ground_truth: dict[str, set[str]],
    predictions: dict[str, list[tuple[str, float]]],
    known_labels: set[str] | None = None,
) -> UntrimmedMetrics:
    """ActivityNet's `eval_classification.py`, in our words: `ground_truth` maps each video of
    the subset to its distinct labels (videos without any are left out), `predictions` maps video
    ids (as in the submission: no `v_`) to (label, score) rows in the submission's order.

    mAP is the mean AP over the classes of the ground truth; hit@k as `_hit_at_k`. A predicted
    label that is neither a class of the ground truth nor in `known_labels` (the taxonomy's
    classes) is a ValueError; the official script fails on any label without ground truth, so
    the two agree wherever it runs. Predictions for videos outside the ground truth count as false
    positives."""
    labels = {v: set(ls) for v, ls in ground_truth.items() if ls}
    classes = sorted({label for ls in labels.values() for label in ls})
    known = set(classes) | set(known_labels or ())
    per_class: dict[str, tuple[list[str], list[float]]] = {c: ([], []) for c in classes}
    for video, rows in predictions.items():
        for label, score in rows:
            if label not in known:
                raise ValueError(
                    f"predicted label {label!r} (video {video}) is not a class of the annotations"
                )
            if label in per_class:  # a known class without ground truth has no AP
                per_class[label][0].append(video)
                per_class[label][1].append(float(score))
    ap = {}
    for c in classes:
        positives = {v for v, ls in labels.items() if c in ls}
        videos, scores = per_class[c]
        ap[c] = _class_average_precision(positives, videos, np.array(scores, dtype=np.float64))
    mean_ap = float(np.mean(list(ap.values()))) if ap else 0.0
    return UntrimmedMetrics(
        map=mean_ap,
        hit1=_hit_at_k(labels, predictions, 1),
        hit3=_hit_at_k(labels, predictions, 3),
        per_class_ap=ap,
    )
