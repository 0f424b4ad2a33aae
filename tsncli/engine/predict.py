"""`tsn predict`'s core: score single videos (files decoded in memory, or frame folders) with
one or more checkpoints, fuse them, and report top classes and a per-snippet timeline; or, with
a window and stride, a timeline of windows over a long video decoded once (`predict_timeline`).

Each video is a one-video test set on eval's path (`Scorer.test_dataset`). A video file is
decoded with the checkpoint's frame settings: for a frames-trained model it is extracted like
`tsn flow` in memory (`MemoryFrameSource`: same flow, same JPEG files), so a prediction equals
`tsn eval` on its extracted frames; a video-list model decodes it sparsely like its loader did.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tsncli.data.memory_source import MemoryFrameSource
from tsncli.data.snippet_source import FRAME_FOLDERS, SnippetSource
from tsncli.data.video_source import VideoFileSource
from tsncli.engine.eval.inference import Scorer
from tsncli.engine.fusion import aggregate_video, fuse_scores, softmax
from tsncli.engine.scores import ScoreFile
from tsncli.engine.timeline import TimelineRow, timeline_rows, window_probabilities
from tsncli.engine.windows import WindowScorer, iter_scored_windows, load_checkpoints, plan_windows
from tsncli.errors import DataError, UsageError
from tsncli.flow.job import load_frames_settings
from tsncli.frame_settings import log_frames_mismatch, resolve_frame_settings
from tsncli.lists.frame_index import count_frames
from tsncli.lists.listfile import VideoRecord
from tsncli.modality import reads_flow
from tsncli.models.checkpoint import read_meta
from tsncli.progress import ProgressFn, Tracker
from tsncli.video.decode import iter_video_frames, probe_video
from tsncli.video.index import index_video

log = logging.getLogger("tsncli.engine.predict")


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


def load_test_input(
    path: str, scorer: Scorer, ignore_rotation: bool = False
) -> tuple[VideoRecord, SnippetSource, int]:
    """The one-video record, the source to read it through and the frame step for `path`: a
    frames folder as eval reads it; a video file as the checkpoint's training frames were made
    (extracted like `tsn flow` in memory, or decoded sparsely for a video-list model), in the
    stored orientation when the checkpoint's frames were or `ignore_rotation` asks."""
    modality = scorer.modality
    if Path(path).is_dir():
        available = count_frames(path).frames(modality)
        if available < 1:
            raise DataError(f"no {modality} frames in {path}; extract them with `tsn flow`")
        trained = read_meta(scorer.meta).frames
        actual = load_frames_settings(Path(path).parent)  # OUT/flow_config.yaml of `tsn flow`
        log_frames_mismatch(log, Path(path).parent, trained, actual, modality)
        return VideoRecord(path, available, 0), FRAME_FOLDERS, 1
    frames = resolve_frame_settings(scorer.meta.get("frames"))  # any recorded shape
    if ignore_rotation and not frames.ignore_rotation:
        trained = frames
        frames = resolve_frame_settings(trained, overrides={"ignore_rotation": True})
        log_frames_mismatch(log, path, trained, frames, modality)
    if frames.source == "videos":
        entry = index_video(path)
        source = VideoFileSource.from_settings(frames)
        source.flow_device = str(scorer.device)
        source.keyframes = {entry.path: entry.keyframes}
        source.timelines = {entry.path: entry.timeline}
        available = entry.num_frames - (1 if reads_flow(modality) else 0)
        if available < 1:
            raise DataError(f"{path} has {entry.num_frames} frame(s); flow needs at least 2")
        return VideoRecord(path, available, 0), source, frames.step
    source = MemoryFrameSource(frames, device=str(scorer.device))
    return VideoRecord(path, source.count(path, modality), 0), source, frames.step


def _score_one(
    path: str, scorer: Scorer, segments: int, crops: int, ignore_rotation: bool = False
) -> tuple[np.ndarray, list[int]]:
    """Raw logits (S, N, C) of one video and the first frame (1-based, in the video's own
    numbering) of each snippet."""
    record, source, step = load_test_input(path, scorer, ignore_rotation)
    dataset = scorer.test_dataset([record], source, segments, crops)
    raw = scorer.score(dataset.load_clip(0)[None])[0]  # (S, N, C)
    indices = dataset.frame_indices(0)  # [S, L] 1-based
    return raw, [(int(i) - 1) * step + 1 for i in indices[:, 0]]


def predict_videos(
    videos: Sequence[str | os.PathLike[str]],
    checkpoints: Sequence[str | os.PathLike[str]],
    weights: Sequence[float] | None = None,
    segments: int = 25,
    crops: int | None = None,
    device: str = "cpu",
    ignore_rotation: bool = False,
) -> Iterator[Prediction]:
    """Yield a Prediction per video (an `error` one for a video that cannot be read).
    `crops` None: 10, or 5 for a checkpoint trained without flips (no mirrored crops).
    `ignore_rotation`: decode rotated videos in their stored orientation (`--ignore-rotation`;
    a checkpoint whose frames were made so decodes them so anyway)."""
    scorers, weights, test_crops = load_checkpoints(checkpoints, weights, crops, device)
    classes = scorers[0].class_names
    for video in videos:
        path = str(video)
        try:
            if not Path(path).exists():
                raise DataError(f"{path} does not exist; pass a video file or a frames folder")
            files, snippets, frames = [], [], []
            for scorer, ckpt, n in zip(scorers, checkpoints, test_crops, strict=True):
                raw, frames = _score_one(path, scorer, segments, n, ignore_rotation)
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


@dataclass
class TimelinePrediction:
    """The windows of one video: a row per window, and what they were made with."""

    video: str
    classes: list[str]
    rows: list[TimelineRow]
    fps: float
    frames: int  # decoded frames
    window: float
    stride: float
    smooth: int
    probabilities: np.ndarray  # [W, C] fused, smoothed: every class, for the plot's curves

    def meta(self, checkpoints: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
        """The fields a timeline JSON file carries before its windows."""
        return {
            "video": self.video,
            "fps": round(self.fps, 6),
            "frames": self.frames,
            "window": self.window,
            "stride": self.stride,
            "smooth": self.smooth,
            "checkpoints": [str(c) for c in checkpoints],
            "classes": self.classes,
        }


def check_window_input(path: str) -> None:
    """UsageError unless `path` is a video file windows can be placed in (seconds need a
    frame rate, which a frames folder does not record)."""
    if Path(path).is_dir():
        raise UsageError(
            f"{path} is a frames folder, which records no frame rate to place windows in "
            "seconds; pass its video file, or drop --window to score the folder as one clip"
        )
    if not Path(path).exists():
        raise DataError(f"{path} does not exist; pass a video file")


def predict_timeline(
    video: str | os.PathLike[str],
    scorer: WindowScorer,
    window: float,
    stride: float,
    top_k: int = 5,
    smooth_windows: int = 1,
    on_progress: ProgressFn | None = None,
) -> TimelinePrediction:
    """Score `video` window by window: decoded once, forward only, at its own size; only the
    frames of windows not yet complete are held (`WindowCutter`), so memory does not grow
    with the video's length. Windows follow `plan_windows`."""
    path = str(video)
    check_window_input(path)
    info = probe_video(path)
    fps = info.fps
    estimate = plan_windows(info.frame_count, fps, window, stride, scorer.min_frames)
    tracker = Tracker(on_progress, "windows", total=len(estimate) or None)
    tracker.start()
    decoded = 0

    def frames() -> Iterator[np.ndarray]:  # RGB, as `WindowScorer.score_frames` takes them
        nonlocal decoded
        for bgr in iter_video_frames(path, ignore_rotation=scorer.ignore_rotation):
            decoded += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    scored = []
    for result in iter_scored_windows(frames(), scorer, fps, window, stride):
        scored.append(result)
        tracker.update(len(scored), message=f"{result.window.end:.1f}s")
    tracker.update(len(scored), total=len(scored))
    rows = timeline_rows(scored, scorer.classes, top_k, smooth_windows)
    probabilities = window_probabilities(scored, smooth_windows)
    return TimelinePrediction(
        path, scorer.classes, rows, fps, decoded, window, stride, smooth_windows, probabilities
    )
