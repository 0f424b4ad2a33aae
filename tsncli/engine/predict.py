"""`tsn predict`'s core: score single videos (files decoded in memory, or frame folders) with
one or more checkpoints, fuse them, and report top classes and a per-snippet timeline.

Video files are decoded with the frame size, step, flow algorithm and bound stored in the
checkpoint (the `tsn flow` settings it was trained with). Only the frames and flow pairs the
snippets use are kept, each passed through the same JPEG encoding `tsn flow` writes to disk, so
a prediction equals `tsn eval` on that video's extracted frames. Checkpoints trained on video
lists (`meta["frames"]["source"] == "videos"`) decode sparsely like their training loader did,
with no JPEG round trip and their recorded on-the-fly flow.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tsncli.data.frames import count_frames, load_snippets
from tsncli.data.sampling import snippet_frame_indices, test_offsets
from tsncli.engine.fusion import aggregate_video, fuse_scores, softmax
from tsncli.engine.inference import Scorer, load_scorer
from tsncli.engine.scores import ScoreFile
from tsncli.errors import DataError, UsageError
from tsncli.flow.algorithms import create_flow_fn
from tsncli.flow.encoding import encode_flow
from tsncli.flow.extract import JPEG_QUALITY
from tsncli.frame_settings import DEFAULT_ALGORITHM, resolve_frame_settings
from tsncli.video.decode import iter_video_frames, probe_video


@dataclass
class Prediction:
    """Fused scores of one video; `error` is set instead when it could not be read."""

    video: str
    classes: list[str]
    scores: np.ndarray | None = None  # [C] fused logits
    snippet_scores: np.ndarray | None = None  # [S, C] fused per-snippet logits (crop mean)
    snippet_frames: list[int] | None = None  # first frame (1-based) of each snippet
    fps: float = 0.0
    error: str | None = None

    @property
    def probabilities(self) -> np.ndarray:
        return softmax(self.scores)

    def top(self, k: int) -> list[tuple[int, str, float]]:
        """(class index, name, probability) of the k best classes."""
        p = self.probabilities
        order = np.argsort(-p, kind="stable")[:k]
        return [(int(i), self.classes[i], float(p[i])) for i in order]

    def timeline(self) -> list[dict[str, Any]]:
        """Per snippet: frame, time in seconds (when fps is known), top class and probability."""
        rows = []
        for s, (frame, logits) in enumerate(
            zip(self.snippet_frames, self.snippet_scores, strict=True)
        ):
            p = softmax(logits)
            best = int(np.argmax(p))
            seconds = round((frame - 1) / self.fps, 3) if self.fps > 0 else None
            rows.append(
                {
                    "snippet": s,
                    "frame": frame,
                    "seconds": seconds,
                    "class": self.classes[best],
                    "probability": float(p[best]),
                }
            )
        return rows


def _jpeg_roundtrip(image: np.ndarray, flags: int) -> np.ndarray:
    """The image as `tsn flow` stores it and `frames.py` reads it back (JPEG, quality 95)."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover
        raise DataError("JPEG encoding failed")
    return cv2.imdecode(data, flags)


def _frame_settings(meta: dict[str, Any]) -> dict[str, Any]:
    frames = resolve_frame_settings(meta.get("frames"))  # any recorded shape; TSN's defaults
    return {
        "size": frames.size,
        "short_side": frames.short_side,
        "step": frames.step,
        "algo": frames.flow_algorithm or DEFAULT_ALGORITHM,
        "bound": frames.bound,
    }


def _assemble(images: dict[int, list[np.ndarray]], indices: np.ndarray) -> np.ndarray:
    """Stack the frames `indices` [S, L] into (H, W, S*L*C) like `frames.load_snippets`."""
    flat = indices.reshape(-1).tolist()
    first = images[flat[0]]
    per = sum(1 if im.ndim == 2 else im.shape[2] for im in first)
    h, w = first[0].shape[:2]
    out = np.empty((h, w, len(flat) * per), np.uint8)
    for position, index in enumerate(flat):
        channels = [im[:, :, None] if im.ndim == 2 else im for im in images[index]]
        out[:, :, position * per : (position + 1) * per] = np.concatenate(channels, axis=2)
    return out


def _video_group(path: str, scorer: Scorer, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode a video file in memory -> (group (H, W, S*L*C), indices [S, L])."""
    st = _frame_settings(scorer.meta)
    length, flow = scorer.frames_per_snippet, scorer.modality == "flow"

    def frames():
        return iter_video_frames(
            path, size=st["size"], short_side=st["short_side"], step=st["step"]
        )

    decoded = sum(1 for _ in frames())  # first pass: count (a container's count is a guess)
    available = decoded - 1 if flow else decoded  # N frames give N - 1 flow pairs
    if available < 1:
        raise DataError(f"{path} has {decoded} frame(s); flow needs at least 2")
    indices = snippet_frame_indices(test_offsets(available, segments, length), length, available)
    needed = set(indices.reshape(-1).tolist())
    images: dict[int, list[np.ndarray]] = {}
    flow_fn = create_flow_fn(st["algo"]) if flow else None
    previous = None
    for k, frame in enumerate(frames(), start=1):  # frame: BGR uint8 [H, W, 3]
        if not flow:
            if k in needed:
                images[k] = [_jpeg_roundtrip(frame, cv2.IMREAD_COLOR_RGB)]
            continue
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if previous is not None and (k - 1) in needed:  # flow k-1: frame k-1 -> frame k
            field = flow_fn(previous, gray)  # [H, W, 2] pixels
            images[k - 1] = [
                _jpeg_roundtrip(encode_flow(field[..., i], st["bound"]), cv2.IMREAD_GRAYSCALE)
                for i in (0, 1)
            ]
        previous = gray
    return _assemble(images, indices), indices


def _sparse_video_group(path: str, scorer: Scorer, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Like the video-list loader: indexed count, keyframe seeks, no JPEG round trip."""
    from tsncli.data.video_source import VideoFileSource
    from tsncli.lists.listfile import VideoRecord
    from tsncli.video.index import index_video

    source = VideoFileSource.from_settings(scorer.meta["frames"])
    entry = index_video(path)
    source.keyframes = {entry.path: entry.keyframes}
    flow = scorer.modality == "flow"
    available, length = entry.num_frames - (1 if flow else 0), scorer.frames_per_snippet
    if available < 1:
        raise DataError(f"{path} has {entry.num_frames} frame(s); flow needs at least 2")
    indices = snippet_frame_indices(test_offsets(available, segments, length), length, available)
    record = VideoRecord(path, available, 0)
    return source.load_snippets(record, indices, scorer.modality), indices


def _folder_group(path: str, scorer: Scorer, segments: int) -> tuple[np.ndarray, np.ndarray]:
    available = count_frames(path, scorer.modality)
    if available < 1:
        raise DataError(f"no {scorer.modality} frames in {path}; extract them with `tsn flow`")
    length = scorer.frames_per_snippet
    indices = snippet_frame_indices(test_offsets(available, segments, length), length, available)
    return load_snippets(path, indices, scorer.modality), indices


def _score_one(
    path: str, scorer: Scorer, segments: int, crops: int
) -> tuple[np.ndarray, list[int]]:
    from_videos = resolve_frame_settings(scorer.meta.get("frames")).source == "videos"
    load = _sparse_video_group if from_videos else _video_group
    load = _folder_group if Path(path).is_dir() else load
    group, indices = load(path, scorer, segments)
    raw = scorer.score(scorer.test_clip(group, segments, crops)[None])[0]  # (S, N, C)
    step = _frame_settings(scorer.meta)["step"] if not Path(path).is_dir() else 1
    return raw, [(int(i) - 1) * step + 1 for i in indices[:, 0]]


def predict_videos(
    videos: Sequence[str | os.PathLike[str]],
    checkpoints: Sequence[str | os.PathLike[str]],
    weights: Sequence[float] | None = None,
    segments: int = 25,
    crops: int = 10,
    device: str = "cpu",
):
    """Yield a Prediction per video (an `error` one for a video that cannot be read)."""
    if not checkpoints:
        raise UsageError("give at least one --checkpoint")
    weights = list(weights) if weights else [1.0] * len(checkpoints)
    if len(weights) != len(checkpoints):
        raise UsageError(f"{len(weights)} weights given for {len(checkpoints)} checkpoints")
    scorers = [load_scorer(c, device) for c in checkpoints]
    classes = scorers[0].class_names
    for scorer, ckpt in zip(scorers[1:], checkpoints[1:], strict=True):
        if scorer.class_names != classes:
            raise UsageError(
                f"{ckpt} predicts other classes than {checkpoints[0]}; fuse checkpoints "
                "trained on the same class list"
            )
    for video in videos:
        path = str(video)
        try:
            if not Path(path).exists():
                raise DataError(f"{path} does not exist; pass a video file or a frames folder")
            files, snippets, frames = [], [], []
            for scorer, ckpt in zip(scorers, checkpoints, strict=True):
                raw, frames = _score_one(path, scorer, segments, crops)
                sf = ScoreFile(
                    aggregate_video(raw)[None],
                    np.zeros(1, np.int64),
                    [path],
                    scorer.class_names,
                    path=str(ckpt),
                )
                files.append(sf)
                snippets.append(raw.mean(axis=1))  # [S, C] crop mean
            fused = fuse_scores(files, weights)  # checks the class lists agree
            per_snippet = sum(w * s for w, s in zip(weights, snippets, strict=True))
            fps = 0.0 if Path(path).is_dir() else probe_video(path).fps
            yield Prediction(path, classes, fused.scores[0], per_snippet, frames, fps)
        except (DataError, cv2.error, OSError, ValueError) as exc:
            yield Prediction(path, classes, error=" ".join(str(exc).split()))
