"""The per-class report `tsn eval --report DIR` and `tsn fuse --report DIR` write: a CSV per
class, a CSV of the most common confusions, and the confusion PNG sorted by class accuracy.

File names live in `REPORT_FILES`; every file is written atomically, so a report folder never
holds a half-written file.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsncli.engine.confusion import save_confusion_png
from tsncli.engine.metrics import per_class_accuracy
from tsncli.fsutil import atomic_write_text, sweep_stale_temps

PER_CLASS_CSV = "per_class.csv"
CONFUSIONS_CSV = "confusions.csv"
CONFUSION_PNG = "confusion.png"
REPORT_FILES = (PER_CLASS_CSV, CONFUSIONS_CSV, CONFUSION_PNG)
TOP_CONFUSIONS = 20  # rows of confusions.csv


@dataclass(frozen=True)
class Confusion:
    """One off-diagonal cell: `count` videos of `true` predicted as `predicted`; `share` is the
    fraction of `true`'s videos that went there."""

    true: str
    predicted: str
    count: int
    share: float


def top_confusions(
    confusion: np.ndarray, class_names: list[str], limit: int = TOP_CONFUSIONS
) -> list[Confusion]:
    """The `limit` largest off-diagonal cells, most videos first (ties: larger share, then the
    class order), empty cells left out."""
    cf = np.asarray(confusion, dtype=np.int64)
    support = cf.sum(axis=1)
    rows = [
        (int(cf[t, p]), cf[t, p] / support[t], t, p)
        for t, p in zip(*np.nonzero(cf), strict=True)
        if t != p
    ]
    rows.sort(key=lambda r: (-r[0], -r[1], r[2], r[3]))
    return [
        Confusion(class_names[t], class_names[p], count, float(share))
        for count, share, t, p in rows[:limit]
    ]


def accuracy_order(confusion: np.ndarray) -> np.ndarray:
    """Class indices from the lowest accuracy to the highest (ties in class order); classes
    without any video (no accuracy) come last."""
    accuracy = per_class_accuracy(confusion)
    key = np.where(np.isnan(accuracy), np.inf, accuracy)
    return np.argsort(key, kind="stable")


def _fraction(value: float) -> str:
    """A fraction for CSV: 6 decimals, empty where it is undefined (NaN)."""
    return "" if math.isnan(value) else f"{value:.6f}"


def _csv_text(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def per_class_rows(
    confusion: np.ndarray, class_names: list[str], average_precision: Mapping[str, float] | None
) -> tuple[list[str], list[list[object]]]:
    """Header and rows of per_class.csv, in class order: class, support (true videos), accuracy
    (recall, empty without support) and, when the metrics computed it, ap."""
    cf = np.asarray(confusion, dtype=np.int64)
    support = cf.sum(axis=1)
    accuracy = per_class_accuracy(cf)
    header = ["class", "support", "accuracy"]
    if average_precision is not None:
        header.append("ap")
    rows: list[list[object]] = []
    for i, name in enumerate(class_names):
        row: list[object] = [name, int(support[i]), _fraction(float(accuracy[i]))]
        if average_precision is not None:
            ap = average_precision.get(name)
            row.append("" if ap is None else _fraction(float(ap)))
        rows.append(row)
    return header, rows


def save_report(
    folder: str | os.PathLike[str],
    confusion: np.ndarray,
    class_names: list[str] | None,
    average_precision: Mapping[str, float] | None = None,
) -> list[Path]:
    """Write per_class.csv, confusions.csv and confusion.png (rows and columns sorted by class
    accuracy, lowest first) into `folder`; `average_precision` (class name -> AP, e.g. the
    official ActivityNet AP) adds an `ap` column. Returns the paths written."""
    cf = np.asarray(confusion, dtype=np.int64)
    names = list(class_names) if class_names else [str(i) for i in range(cf.shape[0])]
    if len(names) != cf.shape[0]:
        raise ValueError(f"{len(names)} class names for a {cf.shape[0]}-class confusion matrix")
    out = Path(folder)
    paths = [out / name for name in REPORT_FILES]
    sweep_stale_temps(*paths)  # what a killed report left beside its files
    atomic_write_text(paths[0], _csv_text(*per_class_rows(cf, names, average_precision)))
    confusions = [
        [c.true, c.predicted, c.count, _fraction(c.share)] for c in top_confusions(cf, names)
    ]
    atomic_write_text(paths[1], _csv_text(["true", "predicted", "count", "share"], confusions))
    # the accuracy beside each name says why the rows come in this order
    labels = [
        f"{name} ({'-' if math.isnan(a) else f'{100 * a:.0f}%'})"
        for name, a in zip(names, per_class_accuracy(cf), strict=True)
    ]
    save_confusion_png(paths[2], cf, labels, order=accuracy_order(cf))
    return paths
