"""Score files (npz): save atomically, load ours and the original `eval_net.py` format.

Ours: `scores` [V, C] float32 video-level logits (crop mean, then snippet mean), `labels` [V],
`videos` [V], `classes` [C], `meta` (a JSON string) and, with `--keep-raw` or dense testing, the
per-snippet, per-crop logits in float16: `raw` [V, S, K, C] when every video has S snippets, or,
when the counts differ (dense testing of videos of different lengths), `raw` [sum of S_v, K, C]
(all videos' snippets, one video after another) with `raw_offsets` [V + 1] int64 (video v's
snippets are rows raw_offsets[v]:raw_offsets[v + 1]). No key needs pickle. Legacy (`eval_net.py`,
the PyTorch port's `test_models.py`): `scores` is an object array of (array[S, K, C], label)
pairs, plus `labels`.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tsncli.engine.aggregate import aggregate_video
from tsncli.errors import DataError
from tsncli.fsutil import atomic_path

log = logging.getLogger("tsncli.engine.scores")

FORMAT_VERSION = 1


@dataclass
class ScoreFile:
    """Scores of one model over a list of videos."""

    scores: np.ndarray  # [V, C] float32, video-level logits
    labels: np.ndarray  # [V] int64
    videos: list[str] | None  # video ids; None for legacy files (aligned by order)
    classes: list[str] | None  # class names; None when unknown (legacy)
    meta: dict[str, Any] = field(default_factory=dict)
    # [V, S, K, C], or a list of V arrays [S_v, K, C] when the snippet counts differ
    raw: np.ndarray | list[np.ndarray] | None = None
    path: str | None = None
    legacy: bool = False

    @property
    def num_classes(self) -> int:
        return int(self.scores.shape[1])

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def save_scores(path: str | os.PathLike[str], score_file: ScoreFile) -> Path:
    """Write a score file atomically (temporary name, then rename)."""
    sf = score_file
    arrays: dict[str, np.ndarray] = {
        "scores": np.asarray(sf.scores, dtype=np.float32),
        "labels": np.asarray(sf.labels, dtype=np.int64),
        "videos": np.array(sf.videos if sf.videos is not None else [], dtype=np.str_),
        "classes": np.array(sf.classes if sf.classes is not None else [], dtype=np.str_),
        "meta": np.array(json.dumps({"format_version": FORMAT_VERSION, **sf.meta})),
    }
    if sf.raw is not None:
        arrays.update(_raw_arrays(sf.raw))
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)  # a file handle, so numpy does not append ".npz"
    return Path(path)


def _raw_arrays(raw: np.ndarray | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """`raw` [V, S, K, C] when every video has as many snippets, else the videos' snippets
    concatenated with `raw_offsets` [V + 1]."""
    if isinstance(raw, np.ndarray):
        return {"raw": raw.astype(np.float16, copy=False)}
    videos = [np.asarray(r, dtype=np.float16) for r in raw]
    if not videos:
        return {}
    if len({v.shape for v in videos}) == 1:
        return {"raw": np.stack(videos)}
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in videos])]).astype(np.int64)
    return {"raw": np.concatenate(videos), "raw_offsets": offsets}


def _split_raw(p: Path, raw: np.ndarray, offsets: np.ndarray, videos: int) -> list[np.ndarray]:
    """The per-video arrays [S_v, K, C] of a concatenated `raw`."""
    ok = (
        offsets.ndim == 1
        and len(offsets) == videos + 1
        and offsets[0] == 0
        and offsets[-1] == len(raw)
        and bool(np.all(np.diff(offsets) >= 0))
    )
    if not ok:
        raise DataError(
            f"{p}: raw_offsets do not split its {len(raw)} raw rows into {videos} videos"
        )
    return [raw[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def load_scores(path: str | os.PathLike[str]) -> ScoreFile:
    """Load a score file in our format or the legacy `eval_net.py` format."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"score file {p} does not exist; write one with `tsn eval --save-scores`")
    try:
        with np.load(p, allow_pickle=False) as npz:
            keys = set(npz.files)
            if "scores" not in keys or "labels" not in keys:
                raise DataError(f"{p} is not a score file: it has no 'scores'/'labels' arrays")
            if "videos" not in keys:
                return _load_legacy(p)
            return _load_current(p, npz)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{p} is not a readable .npz score file ({exc})") from None
    except ValueError as exc:
        raise DataError(f"{p} is not a readable score file ({exc})") from None


def _load_current(p: Path, npz: Any) -> ScoreFile:
    scores = np.asarray(npz["scores"], dtype=np.float32)
    labels = np.asarray(npz["labels"], dtype=np.int64)
    videos = [str(v) for v in npz["videos"]]
    classes = [str(c) for c in npz["classes"]] or None
    meta = json.loads(str(npz["meta"])) if "meta" in npz.files else {}
    raw = np.asarray(npz["raw"]) if "raw" in npz.files else None
    if raw is not None and "raw_offsets" in npz.files:
        raw = _split_raw(p, raw, np.asarray(npz["raw_offsets"], dtype=np.int64), len(videos))
    if scores.ndim != 2 or len(videos) != scores.shape[0] or labels.shape != (scores.shape[0],):
        raise DataError(
            f"{p}: scores {scores.shape}, labels {labels.shape} and {len(videos)} ids disagree"
        )
    if classes is not None and len(classes) != scores.shape[1]:
        raise DataError(f"{p}: {len(classes)} class names for {scores.shape[1]} score columns")
    return ScoreFile(scores, labels, videos, classes, meta, raw, str(p))


def _legacy_video_array(item: Any) -> np.ndarray:
    """One legacy per-video array as [S, K, C] float32 (squeezing Caffe's trailing 1x1 dims)."""
    arr = np.asarray(item, dtype=np.float32)
    while arr.ndim > 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:  # [S, C]: one crop
        arr = arr[:, None, :]
    elif arr.ndim == 1:
        arr = arr[None, None, :]
    if arr.ndim != 3:
        raise ValueError(f"per-video scores of shape {arr.shape}, expected [snippets, crops, C]")
    return arr


def _load_legacy(p: Path) -> ScoreFile:
    # The legacy format pickles Python objects; pickle can run code, so load only files you trust.
    log.info("%s: legacy eval_net.py score file (pickled object array); load trusted files only", p)
    with np.load(p, allow_pickle=True) as npz:
        pairs = npz["scores"]
        labels_key = np.asarray(npz["labels"]).astype(np.int64).ravel()
    if pairs.dtype != object:
        raise DataError(
            f"{p}: 'scores' is neither our [V, C] format (no 'videos') nor legacy pairs"
        )
    rows = pairs.reshape(len(pairs), -1) if pairs.ndim > 1 else pairs
    raw = [_legacy_video_array(row[0]) for row in rows]
    if len({r.shape[-1] for r in raw}) > 1:
        raise DataError(f"{p}: videos have different numbers of classes")
    labels = labels_key if labels_key.size == len(raw) else np.array([int(r[1]) for r in rows])
    scores = np.stack([aggregate_video(r) for r in raw]).astype(np.float32)
    meta = {"format": "legacy eval_net.py"}
    return ScoreFile(scores, labels, None, None, meta, raw, str(p), legacy=True)
