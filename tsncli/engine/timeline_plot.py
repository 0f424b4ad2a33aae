"""A timeline as a PNG (OpenCV only): a band coloured by each window's top class, the score
curves of the classes that lead most often, a seconds axis and a legend (`--plot`)."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from tsncli.engine.drawing import class_colour, put_label, put_text, text_size
from tsncli.engine.timeline import TimelineRow, owned_spans, summarize
from tsncli.errors import UsageError
from tsncli.fsutil import atomic_write_bytes

WIDTH = 1280
MARGIN_LEFT, MARGIN_RIGHT = 70, 30
CURVES = 5  # classes drawn as score curves
GRID = (225, 225, 225)
INK = (40, 40, 40)


def _nice_step(span: float, ticks: int = 10) -> float:
    """A round tick spacing (1, 2 or 5 times a power of ten) giving about `ticks` ticks."""
    raw = max(span, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _curve_classes(rows: Sequence[TimelineRow], limit: int) -> list[str]:
    """The classes to draw curves for: those that top the most windows, then the highest
    scores among the top-k the rows carry."""
    leaders = Counter(r.label for r in rows)
    best: dict[str, float] = {}
    for row in rows:
        for name, score in row.top:
            best[name] = max(best.get(name, 0.0), score)
    order = sorted(best, key=lambda n: (-leaders.get(n, 0), -best[n]))
    return order[:limit]


def _peak(
    rows: Sequence[TimelineRow],
    curves: Sequence[str],
    index: dict[str, int],
    probabilities: np.ndarray | None,
) -> float:
    """The highest score any drawn curve reaches."""
    if probabilities is not None and len(curves):
        return float(probabilities[:, [index[name] for name in curves]].max())
    return max((score for row in rows for name, score in row.top if name in curves), default=1.0)


def render_timeline(
    rows: Sequence[TimelineRow],
    classes: Sequence[str],
    title: str = "",
    probabilities: np.ndarray | None = None,
) -> np.ndarray:
    """The timeline picture, BGR uint8 [H, WIDTH, 3]. Curves use `probabilities` [W, C] when
    given (every class in every window); from rows alone, a curve breaks where its class
    falls out of a window's top-k."""
    if not rows:
        raise UsageError("no windows to plot: the video gave no window")
    index = {name: i for i, name in enumerate(classes)}
    curves = _curve_classes(rows, CURVES)
    t0, t1 = rows[0].start, max(r.end for r in rows)
    span = max(t1 - t0, 1e-6)
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    band_top, band_h, gap, curve_h = 50, 44, 26, 300
    curve_top = band_top + band_h + gap
    axis_y = curve_top + curve_h
    legend_top = axis_y + 46
    legend_rows = math.ceil(len(curves) / 3)
    height = legend_top + 30 * legend_rows + 16
    image = np.full((height, WIDTH, 3), 255, np.uint8)

    def x_of(t: float) -> int:
        return MARGIN_LEFT + int(round((t - t0) / span * plot_w))

    put_text(image, title, (MARGIN_LEFT, 28), 0.7, INK, 2)
    # the band: each window's owned span in its top class's colour, lighter when less sure
    put_text(image, "top", (12, band_top + band_h // 2 + 6), 0.5, INK)
    cv2.rectangle(image, (MARGIN_LEFT, band_top), (x_of(t1), band_top + band_h), GRID, -1)
    for row, (start, end) in zip(rows, owned_spans(rows), strict=True):
        colour = np.array(class_colour(index.get(row.label, 0)), np.float32)
        mixed = colour * (0.35 + 0.65 * row.score) + 255 * (0.65 - 0.65 * row.score)
        x0, x1 = x_of(start), max(x_of(start) + 1, x_of(end))
        cv2.rectangle(image, (x0, band_top), (x1, band_top + band_h), mixed.tolist(), -1)
    # class names on the band where a run is wide enough to hold one
    for start, end, label in summarize(rows):
        x0, x1 = x_of(start), x_of(end)
        width, h, _ = text_size(label, 0.5)
        if x1 - x0 > width + 8:
            put_text(image, label, (x0 + 4, band_top + band_h // 2 + h // 2), 0.5, INK)
    # the probability axis: 0 to 1, or to the highest curve's peak rounded up when every
    # score is low (many classes), so low curves do not all lie on the floor
    peak = _peak(rows, curves, index, probabilities)
    top = 1.0 if peak > 0.5 else max(0.02, math.ceil(peak / 0.02) * 0.02)
    for q in range(5):
        y = axis_y - int(round(q / 4 * curve_h))
        cv2.line(image, (MARGIN_LEFT, y), (WIDTH - MARGIN_RIGHT, y), GRID, 1)
        put_text(image, f"{q / 4 * top:.3g}", (18, y + 5), 0.45, INK)
    step = _nice_step(span)
    tick = math.ceil(t0 / step) * step
    while tick <= t1 + 1e-9:
        x = x_of(tick)
        cv2.line(image, (x, curve_top), (x, axis_y), GRID, 1)
        cv2.line(image, (x, axis_y), (x, axis_y + 5), INK, 1)
        label = f"{tick:g}"
        put_text(image, label, (x - text_size(label, 0.45)[0] // 2, axis_y + 20), 0.45, INK)
        tick += step
    put_text(image, "seconds", (WIDTH - MARGIN_RIGHT - 70, axis_y + 38), 0.45, INK)
    cv2.line(image, (MARGIN_LEFT, axis_y), (WIDTH - MARGIN_RIGHT, axis_y), INK, 1)
    cv2.line(image, (MARGIN_LEFT, curve_top), (MARGIN_LEFT, axis_y), INK, 1)
    put_text(image, "probability", (MARGIN_LEFT + 6, curve_top + 16), 0.45, INK)
    # a curve per class through the window centres
    for name in curves:
        colour = class_colour(index.get(name, 0))
        runs: list[list[tuple[int, int]]] = [[]]
        for w, row in enumerate(rows):
            if probabilities is not None:
                score: float | None = float(probabilities[w, index[name]])
            else:
                score = dict(row.top).get(name)
            if score is None:  # not in this window's top-k: unknown, so the curve breaks
                runs.append([])
                continue
            centre = (row.start + row.end) / 2
            runs[-1].append((x_of(centre), axis_y - int(round(score / top * curve_h))))
        for run in runs:
            if len(run) == 1:
                cv2.circle(image, run[0], 2, colour, -1, cv2.LINE_AA)
            elif run:
                cv2.polylines(image, [np.array(run, np.int32)], False, colour, 2, cv2.LINE_AA)
    # the legend, three classes per line
    for i, name in enumerate(curves):
        x = MARGIN_LEFT + (i % 3) * (plot_w // 3)
        y = legend_top + (i // 3) * 30
        put_label(image, name, (x, y - 14), 0.5, class_colour(index.get(name, 0)))
    return image


def check_plot_path(path: str | os.PathLike[str]) -> None:
    """UsageError unless `path` names a PNG file."""
    if Path(path).suffix.lower() != ".png":
        raise UsageError(f"--plot {path}: name a .png file")


def save_timeline_plot(
    path: str | os.PathLike[str],
    rows: Sequence[TimelineRow],
    classes: Sequence[str],
    title: str = "",
    probabilities: np.ndarray | None = None,
) -> Path:
    """Write the timeline picture to `path` (PNG, atomically); see `render_timeline`."""
    check_plot_path(path)
    ok, data = cv2.imencode(".png", render_timeline(rows, classes, title, probabilities))
    if not ok:
        raise UsageError(f"could not encode the timeline plot for {path}")
    atomic_write_bytes(path, data.tobytes())
    return Path(path)
