"""Score files (npz): save atomically, load ours and the original `eval_net.py` format.

Ours: `scores` [V, C] float32 video-level logits (crop mean, then snippet mean), optional `raw`
[V, S, K, C] float16 (snippets x crops, with `--keep-raw`), `labels` [V], `videos` [V],
`classes` [C] and `meta` (a JSON string). Legacy (`eval_net.py`, the PyTorch port's
`test_models.py`): `scores` is an object array of (array[S, K, C], label) pairs, plus `labels`.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
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
    raw: np.ndarray | list[np.ndarray] | None = None  # [V, S, K, C] (or V arrays [S, K, C])
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
        arrays["raw"] = np.asarray(sf.raw, dtype=np.float16)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)  # a file handle, so numpy does not append ".npz"
    return Path(path)


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
