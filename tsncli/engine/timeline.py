"""A timeline of scored windows: its rows (the top-k classes of each window, and of each
checkpoint), smoothing over windows, the summary of where the top label holds, and the timeline
files (JSON or CSV by suffix, written atomically) that `tsn predict --window` and `--stream`
write and `read_timeline` reads back.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tsncli.engine.aggregate import softmax
from tsncli.engine.windows import WindowScores
from tsncli.errors import DataError, UsageError
from tsncli.fsutil import atomic_write_text

TIMELINE_FORMATS = (".json", ".csv")
TIMELINE_VERSION = 1
Ranked = list[tuple[str, float]]  # (class, probability), best first


@dataclass(frozen=True)
class TimelineRow:
    """One window of a timeline: its span in seconds, the top-k (class, probability) of the
    fused scores and, with several checkpoints, of each one's (keyed by modality)."""

    index: int
    start: float
    end: float
    top: Ranked
    modalities: dict[str, Ranked] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.top[0][0]

    @property
    def score(self) -> float:
        return self.top[0][1]


def _ranked(probabilities: np.ndarray, classes: Sequence[str], k: int) -> Ranked:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(classes[i], round(float(probabilities[i]), 6)) for i in order]


def smooth(scores: np.ndarray, n: int) -> np.ndarray:
    """Moving average of `scores` [W, C] over `n` windows centred on each one (the first and
    last windows average the neighbours they have). n = 1 returns the scores unchanged."""
    scores = np.asarray(scores, dtype=np.float64)
    if n < 1:
        raise UsageError(f"--smooth must be at least 1 window, got {n}")
    if n == 1 or len(scores) == 0:
        return scores.copy()
    before, after = (n - 1) // 2, n // 2
    padded = np.concatenate([np.zeros((1, scores.shape[1])), np.cumsum(scores, axis=0)])
    rows = np.arange(len(scores))
    lo = np.maximum(rows - before, 0)
    hi = np.minimum(rows + after + 1, len(scores))
    return (padded[hi] - padded[lo]) / (hi - lo)[:, None]


def window_probabilities(scored: Sequence[WindowScores], smooth_windows: int = 1) -> np.ndarray:
    """Fused class probabilities [W, C] of scored windows (softmax, then `smooth`)."""
    if not scored:
        return np.zeros((0, 0))
    return smooth(softmax(np.stack([s.fused for s in scored])), smooth_windows)


def timeline_rows(
    scored: Sequence[WindowScores],
    classes: Sequence[str],
    top_k: int = 5,
    smooth_windows: int = 1,
) -> list[TimelineRow]:
    """Rows from scored windows: softmax probabilities of the fused (and, with several
    checkpoints, each checkpoint's) logits, each smoothed over `smooth_windows` windows."""
    if not scored:
        return []
    fused = window_probabilities(scored, smooth_windows)  # [W, C]
    names = list(scored[0].per_model) if len(scored[0].per_model) > 1 else []
    per_model = {
        name: smooth(softmax(np.stack([s.per_model[name] for s in scored])), smooth_windows)
        for name in names
    }
    return [
        TimelineRow(
            s.window.index,
            round(s.window.start, 3),
            round(s.window.end, 3),
            _ranked(fused[w], classes, top_k),
            {name: _ranked(per_model[name][w], classes, top_k) for name in names},
        )
        for w, s in enumerate(scored)
    ]


def owned_spans(rows: Sequence[TimelineRow]) -> list[tuple[float, float]]:
    """The time each window speaks for: from its start to the next window's start (or its own
    end, whichever is first), so overlapping windows tile the video; the last to its end."""
    spans = []
    for i, row in enumerate(rows):
        end = row.end if i + 1 == len(rows) else min(row.end, rows[i + 1].start)
        spans.append((row.start, end))
    return spans


def summarize(rows: Sequence[TimelineRow]) -> list[tuple[float, float, str]]:
    """(start, end, class) of each run of windows with the same top label, over the spans the
    windows own (`owned_spans`); a gap between windows (stride > window) ends a run."""
    segments: list[tuple[float, float, str]] = []
    for row, (start, end) in zip(rows, owned_spans(rows), strict=True):
        if segments and segments[-1][2] == row.label and math.isclose(segments[-1][1], start):
            segments[-1] = (segments[-1][0], end, row.label)
        else:
            segments.append((start, end, row.label))
    return segments


def _check_suffix(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in TIMELINE_FORMATS:
        raise UsageError(
            f"--timeline {path}: name a .json or .csv file (the suffix picks the format)"
        )
    return suffix


def check_timeline_path(path: str | os.PathLike[str]) -> None:
    """UsageError unless `path` ends in .json or .csv (checked before any work starts)."""
    _check_suffix(path)


def _ranked_json(ranked: Ranked) -> list[dict[str, Any]]:
    return [{"class": c, "score": s} for c, s in ranked]


def timeline_json(rows: Sequence[TimelineRow], meta: Mapping[str, Any] | None = None) -> dict:
    """The JSON document of a timeline: `meta` fields, then `windows` (one object per row)."""
    windows = []
    for row in rows:
        item: dict[str, Any] = {
            "index": row.index,
            "start": row.start,
            "end": row.end,
            "top": _ranked_json(row.top),
        }
        if row.modalities:
            item["modalities"] = {m: _ranked_json(r) for m, r in row.modalities.items()}
        windows.append(item)
    return {"version": TIMELINE_VERSION, **(meta or {}), "windows": windows}


def _csv_text(rows: Sequence[TimelineRow]) -> str:
    """index, start, end, then class_1, score_1, ... class_k, score_k, then per modality
    <modality>_class_1, <modality>_score_1, ..."""
    k = max((len(r.top) for r in rows), default=0)
    names = list(rows[0].modalities) if rows else []
    header = ["index", "start", "end"]
    header += [f"{f}_{i}" for i in range(1, k + 1) for f in ("class", "score")]
    header += [f"{m}_{f}_{i}" for m in names for i in range(1, k + 1) for f in ("class", "score")]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        cells: list[Any] = [row.index, row.start, row.end]
        for ranked in [row.top, *(row.modalities[m] for m in names)]:
            for c, s in ranked:
                cells += [c, s]
            cells += ["", ""] * (k - len(ranked))
        writer.writerow(cells)
    return buffer.getvalue()


def write_timeline(
    path: str | os.PathLike[str],
    rows: Sequence[TimelineRow],
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write `rows` atomically as JSON (with `meta`: video, window, stride, ...) or CSV (rows
    only), picked by the suffix."""
    if _check_suffix(path) == ".json":
        text = json.dumps(timeline_json(rows, meta), indent=1) + "\n"
    else:
        text = _csv_text(rows)
    atomic_write_text(path, text)
    return Path(path)


def _ranked_from_json(items: Sequence[Mapping[str, Any]]) -> Ranked:
    return [(str(i["class"]), float(i["score"])) for i in items]


def _read_csv(text: str) -> list[TimelineRow]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or header[:3] != ["index", "start", "end"]:
        raise DataError("not a tsn timeline CSV (its header must start index,start,end)")
    top_columns = [i for i, h in enumerate(header) if h.startswith("class_")]
    modalities: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        name, _, rest = h.rpartition("_class_")
        if name and rest.isdigit():
            modalities.setdefault(name, []).append(i)

    def ranked(cells: list[str], columns: list[int]) -> Ranked:
        return [(cells[c], float(cells[c + 1])) for c in columns if cells[c] != ""]

    rows = []
    for cells in reader:
        if not cells:
            continue
        rows.append(
            TimelineRow(
                int(cells[0]),
                float(cells[1]),
                float(cells[2]),
                ranked(cells, top_columns),
                {m: ranked(cells, cols) for m, cols in modalities.items()},
            )
        )
    return rows


def read_timeline(path: str | os.PathLike[str]) -> list[TimelineRow]:
    """The rows of a timeline file `write_timeline` wrote (JSON or CSV, by the suffix)."""
    suffix = _check_suffix(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read the timeline {path}: {exc.strerror or exc}") from exc
    if suffix == ".csv":
        return _read_csv(text)
    try:
        data = json.loads(text)
        return [
            TimelineRow(
                int(w["index"]),
                float(w["start"]),
                float(w["end"]),
                _ranked_from_json(w["top"]),
                {m: _ranked_from_json(r) for m, r in w.get("modalities", {}).items()},
            )
            for w in data["windows"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a tsn timeline JSON file ({exc})") from exc
