"""Fusion of score files: aggregate each (see `aggregate`), then a weighted sum across files
aligned by video id (by order and labels for legacy files), a weight search, and `tsn fuse`'s core.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tsncli.engine.aggregate import aggregate_video, softmax
from tsncli.engine.confusion import save_confusion_png
from tsncli.engine.metrics import Metrics, compute_metrics
from tsncli.engine.scores import ScoreFile, load_scores, save_scores
from tsncli.errors import DataError, UsageError


def video_scores(sf: ScoreFile, crop_agg: str = "mean", use_softmax: bool = False) -> np.ndarray:
    """Video-level scores [V, C] of a score file under the chosen aggregation."""
    if crop_agg == "mean":
        out = np.asarray(sf.scores, dtype=np.float32)  # stored exactly (raw may be float16)
    elif sf.raw is None:
        raise UsageError(
            f"{sf.path}: --crop-agg {crop_agg} needs per-crop scores; rerun `tsn eval --keep-raw`"
        )
    else:
        out = np.stack([aggregate_video(r, crop_agg) for r in sf.raw])
    return softmax(out, axis=1) if use_softmax else out


def _name(sf: ScoreFile) -> str:
    return sf.path or "<scores>"


def align_score_files(files: Sequence[ScoreFile]) -> list[ScoreFile]:
    """Reorder every file to the first one's video order; raise DataError naming any mismatch."""
    if not files:
        raise UsageError("give at least one score file")
    for sf in files:
        _check_unique_videos(sf)
    ref = files[0]
    aligned = [ref]
    for sf in files[1:]:
        if sf.num_classes != ref.num_classes:
            raise DataError(
                f"{_name(sf)} has {sf.num_classes} classes but {_name(ref)} has {ref.num_classes}"
            )
        if sf.classes and ref.classes and sf.classes != ref.classes:
            diff = next(
                i for i, (a, b) in enumerate(zip(ref.classes, sf.classes, strict=True)) if a != b
            )
            raise DataError(
                f"class lists differ: class {diff} is {ref.classes[diff]!r} in {_name(ref)} "
                f"but {sf.classes[diff]!r} in {_name(sf)}"
            )
        aligned.append(_align_videos(ref, sf))
    return aligned


def _check_unique_videos(sf: ScoreFile) -> None:
    """A video id twice would be counted twice (and aligned by guesswork): refuse it."""
    if sf.videos is None or len(set(sf.videos)) == len(sf.videos):
        return
    counts = Counter(sf.videos)
    twice = next(v for v in sf.videos if counts[v] > 1)
    count = len(sf.videos) - len(set(sf.videos))
    raise DataError(
        f"{_name(sf)} holds video {twice!r} twice ({count} repeated ids); rerun `tsn eval` "
        "on a list that names each video once"
    )


def _align_videos(ref: ScoreFile, sf: ScoreFile) -> ScoreFile:
    if ref.videos is not None and sf.videos is not None:
        missing = [v for v in ref.videos if v not in set(sf.videos)]
        extra = [v for v in sf.videos if v not in set(ref.videos)]
        if missing or extra:
            raise DataError(
                f"video sets differ: {len(missing)} of {_name(ref)} missing from {_name(sf)}"
                f" (e.g. {missing[:3]}), {len(extra)} only in {_name(sf)} (e.g. {extra[:3]})"
            )
        position = {v: i for i, v in enumerate(sf.videos)}
        order = np.array([position[v] for v in ref.videos], dtype=np.int64)
        sf = _take(sf, order)
    elif len(sf) != len(ref):
        raise DataError(f"{_name(ref)} has {len(ref)} videos but {_name(sf)} has {len(sf)}")
    bad = np.flatnonzero(sf.labels != ref.labels)
    if bad.size:
        i = int(bad[0])
        who = ref.videos[i] if ref.videos is not None else f"#{i}"
        raise DataError(
            f"labels differ for {bad.size} videos, e.g. video {who}: {ref.labels[i]} in "
            f"{_name(ref)} but {sf.labels[i]} in {_name(sf)} (files made from different lists?)"
        )
    return sf


def _take(sf: ScoreFile, order: np.ndarray) -> ScoreFile:
    raw = None if sf.raw is None else [sf.raw[i] for i in order]
    videos = [sf.videos[i] for i in order] if sf.videos is not None else None
    return ScoreFile(
        sf.scores[order], sf.labels[order], videos, sf.classes, sf.meta, raw, sf.path, sf.legacy
    )


@dataclass(frozen=True)
class Fused:
    """Fused video-level scores and what they describe."""

    scores: np.ndarray  # [V, C] float32
    labels: np.ndarray  # [V]
    videos: list[str] | None
    classes: list[str] | None


def fuse_scores(
    files: Sequence[ScoreFile],
    weights: Sequence[float] | None = None,
    crop_agg: str = "mean",
    use_softmax: bool = False,
) -> Fused:
    """Weighted sum of aggregated video scores across aligned files (`eval_scores.py`)."""
    weights = list(weights) if weights else [1.0] * len(files)
    if len(weights) != len(files):
        raise UsageError(f"{len(weights)} weights given for {len(files)} score files")
    aligned = align_score_files(files)
    total = np.zeros_like(aligned[0].scores, dtype=np.float32)
    for sf, w in zip(aligned, weights, strict=True):
        total += video_scores(sf, crop_agg, use_softmax) * np.float32(w)
    ref = aligned[0]
    classes = next((sf.classes for sf in aligned if sf.classes), None)
    videos = next((sf.videos for sf in aligned if sf.videos is not None), None)
    return Fused(total, ref.labels, videos, classes)


def search_weights(
    files: Sequence[ScoreFile],
    grid: Sequence[float] = tuple(np.round(np.arange(0, 3.01, 0.25), 2)),
    crop_agg: str = "mean",
    use_softmax: bool = False,
) -> list[tuple[list[float], float]]:
    """Mean class accuracy for each weight vector (first weight fixed at 1), best first."""
    aligned = align_score_files(files)
    per_file = [video_scores(sf, crop_agg, use_softmax) for sf in aligned]
    labels = aligned[0].labels
    results = []
    for rest in itertools.product(grid, repeat=len(files) - 1):
        weights = [1.0, *map(float, rest)]
        total = sum(s * np.float32(w) for s, w in zip(per_file, weights, strict=True))
        results.append((weights, compute_metrics(total, labels).mean_class_accuracy))
    results.sort(key=lambda r: -r[1])
    return results


@dataclass(frozen=True)
class FuseResult:
    """What `tsn fuse` reports: the fused scores, their metrics and the inputs' paths."""

    fused: Fused
    metrics: Metrics
    paths: list[str]
    weights: list[float]


def fuse_files(
    paths: Sequence[str | os.PathLike[str]],
    weights: Sequence[float] | None = None,
    crop_agg: str = "mean",
    use_softmax: bool = False,
    out: str | os.PathLike[str] | None = None,
    confusion_png: str | os.PathLike[str] | None = None,
) -> FuseResult:
    """Load, align and fuse score files; optionally save the fused file and a confusion PNG."""
    files = [load_scores(p) for p in paths]
    weights = list(weights) if weights else [1.0] * len(files)
    fused = fuse_scores(files, weights, crop_agg, use_softmax)
    metrics = compute_metrics(fused.scores, fused.labels)
    if out is not None:
        meta = {
            "fused_from": [str(p) for p in paths],
            "weights": weights,
            "crop_agg": crop_agg,
            "softmax": use_softmax,
        }
        videos = fused.videos or [f"video_{i:06d}" for i in range(len(fused.labels))]
        save_scores(out, ScoreFile(fused.scores, fused.labels, videos, fused.classes, meta))
    if confusion_png is not None:
        save_confusion_png(confusion_png, metrics.confusion, fused.classes)
    return FuseResult(fused, metrics, [str(p) for p in paths], weights)
