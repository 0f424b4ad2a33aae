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
