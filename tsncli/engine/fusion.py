"""Fusion of score files: aggregate each (see `aggregate`), then a weighted sum across files
aligned by video id (by order and labels for legacy files), a weight search, and `tsn fuse`'s core.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tsncli.engine.aggregate import (
    DEFAULT_SNIPPETS_PER_SECOND,
    aggregate_snippets,
    aggregate_video,
    parse_snippet_agg,
    softmax,
)
from tsncli.engine.confusion import save_confusion_png
from tsncli.engine.metrics import (
    Metrics,
    UntrimmedMetrics,
    compute_metrics,
    compute_untrimmed_metrics,
)
from tsncli.engine.scores import ScoreFile, load_scores, save_scores
from tsncli.errors import DataError, UsageError
from tsncli.fsutil import sweep_stale_temps
from tsncli.lists.activitynet import ActivityNet, video_id_of

log = logging.getLogger("tsncli.engine.fusion")

SNIPPET_RATE_KEY = "snippets_per_second"  # score-file meta: the rate M-TWI's windows assume


def video_scores(
    sf: ScoreFile, crop_agg: str = "mean", use_softmax: bool = False,
    snippet_agg: str | None = None,
) -> np.ndarray:  # fmt: skip
    """Video-level scores [V, C] of a score file under the chosen aggregation.

    With `snippet_agg` (`mean`, `top-k:K` or `mtwi`, the original's untrimmed rules), each video's
    raw snippet scores are aggregated by that rule, which fixes its own crop rule and ends in a
    softmax; M-TWI reads the file's snippets-per-second rate (1 when it records none, as the
    original assumes)."""
    if snippet_agg is not None:
        return _snippet_scores(sf, snippet_agg)
    if crop_agg == "mean":
        out = np.asarray(sf.scores, dtype=np.float32)  # stored exactly (raw may be float16)
    elif sf.raw is None:
        raise UsageError(
            f"{sf.path}: --crop-agg {crop_agg} needs per-crop scores; rerun `tsn eval --keep-raw`"
        )
    else:
        out = np.stack([aggregate_video(r, crop_agg) for r in sf.raw])
    return softmax(out, axis=1) if use_softmax else out


def _snippet_scores(sf: ScoreFile, snippet_agg: str) -> np.ndarray:
    rule, k = parse_snippet_agg(snippet_agg)
    if sf.raw is None:
        raise UsageError(
            f"{_name(sf)}: --snippet-agg needs per-snippet scores; rerun `tsn eval --keep-raw`"
        )
    rate = sf.meta.get(SNIPPET_RATE_KEY)
    if rule == "mtwi" and rate is None:
        log.info("%s records no snippet rate: M-TWI assumes 1 snippet per second", _name(sf))
    rate = float(rate) if rate else DEFAULT_SNIPPETS_PER_SECOND
    return np.stack([aggregate_snippets(r, rule, k, rate) for r in sf.raw]).astype(np.float32)


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
    snippet_agg: str | None = None,
) -> Fused:
    """Weighted sum of aggregated video scores across aligned files (`eval_scores.py`)."""
    weights = list(weights) if weights else [1.0] * len(files)
    if len(weights) != len(files):
        raise UsageError(f"{len(weights)} weights given for {len(files)} score files")
    aligned = align_score_files(files)
    total = np.zeros_like(aligned[0].scores, dtype=np.float32)
    for sf, w in zip(aligned, weights, strict=True):
        total += video_scores(sf, crop_agg, use_softmax, snippet_agg) * np.float32(w)
    ref = aligned[0]
    classes = next((sf.classes for sf in aligned if sf.classes), None)
    videos = next((sf.videos for sf in aligned if sf.videos is not None), None)
    return Fused(total, ref.labels, videos, classes)


def search_weights(
    files: Sequence[ScoreFile],
    grid: Sequence[float] = tuple(np.round(np.arange(0, 3.01, 0.25), 2)),
    crop_agg: str = "mean",
    use_softmax: bool = False,
    snippet_agg: str | None = None,
) -> list[tuple[list[float], float]]:
    """Mean class accuracy for each weight vector (first weight fixed at 1), best first."""
    aligned = align_score_files(files)
    per_file = [video_scores(sf, crop_agg, use_softmax, snippet_agg) for sf in aligned]
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
    snippet_agg: str | None = None,
) -> FuseResult:
    """Load, align and fuse score files; optionally save the fused file and a confusion PNG."""
    # what a killed fuse left beside its outputs (their writes are atomic)
    sweep_stale_temps(*(p for p in (out, confusion_png) if p is not None))
    files = [load_scores(p) for p in paths]
    weights = list(weights) if weights else [1.0] * len(files)
    fused = fuse_scores(files, weights, crop_agg, use_softmax, snippet_agg)
    metrics = compute_metrics(fused.scores, fused.labels)
    if out is not None:
        meta = {
            "fused_from": [str(p) for p in paths],
            "weights": weights,
            "crop_agg": crop_agg,
            "softmax": use_softmax,
            "snippet_agg": snippet_agg,
        }
        videos = fused.videos or [f"video_{i:06d}" for i in range(len(fused.labels))]
        save_scores(out, ScoreFile(fused.scores, fused.labels, videos, fused.classes, meta))
    if confusion_png is not None:
        save_confusion_png(confusion_png, metrics.confusion, fused.classes)
    return FuseResult(fused, metrics, [str(p) for p in paths], weights)


@dataclass(frozen=True)
class UntrimmedReport:
    """Fused scores judged as ActivityNet judges them: the official metrics computed on exactly
    the rows a submission file holds, and those rows."""

    metrics: UntrimmedMetrics
    results: dict[str, list[tuple[str, float]]]  # video id (no `v_`) -> (label, score), best first
    not_annotated: list[str]  # scored videos the annotation file does not know
    unscored: int  # annotated videos of the subset that have no scores


def judge_untrimmed(
    fused: Fused, db: ActivityNet, subset: str = "validation", top: int | None = None
) -> UntrimmedReport:
    """The submission rows of `fused` (every class, or the `top` best per video) and the official
    mAP/hit@k on them. Classes are matched by name, so any class order works; files without
    names (legacy `eval_net.py`) are taken to use the original's order (sorted taxonomy leaves)."""
    classes = list(fused.classes) if fused.classes else list(db.classes)
    if len(classes) != fused.scores.shape[1]:
        raise DataError(
            f"the scores have {fused.scores.shape[1]} classes but the annotation file has "
            f"{len(db.classes)}; score the model trained on this version's classes"
        )
    unknown = [c for c in classes if c not in set(db.classes)]
    if unknown:
        raise DataError(
            f"{len(unknown)} scored classes are not in the annotation file (e.g. {unknown[0]!r}); "
            "use the annotation file of the version the model was trained on"
        )
    if fused.videos is None:
        raise DataError("the scores carry no video ids (a legacy file?); the metrics need them")
    n = len(classes) if top is None else max(1, min(top, len(classes)))
    results: dict[str, list[tuple[str, float]]] = {}
    for video, row in zip(fused.videos, fused.scores, strict=True):
        best = np.argsort(-row, kind="stable")[:n]
        results[video_id_of(video)] = [(classes[i], float(row[i])) for i in best]
    truth = db.ground_truth(subset)
    not_annotated = [v for v in results if v not in db.videos]
    unscored = sum(1 for v in truth if v not in results)
    metrics = compute_untrimmed_metrics(truth, results, set(db.classes))
    return UntrimmedReport(metrics, results, not_annotated, unscored)
