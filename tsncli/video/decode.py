"""The one decoder every step uses (`tsn flow`, video lists, `tsn predict`, `tsn probe`): probe
videos and stream resized BGR uint8 [H, W, 3] frames one at a time with PyAV, turned upright by
the display rotation (unless `ignore_rotation`), then resized.
Memory does not grow with video length; `tsncli.video.sparse` reads chosen frames exactly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import cv2
import numpy as np

from tsncli.errors import DataError, UsageError
from tsncli.video.backend import (
    AV_ERRORS,
    VideoInfo,
    display_rotation,
    frame_to_bgr,
    open_container,
    short_error,
)
from tsncli.video.extent import DecodeEnd, extent_of
from tsncli.video.fallback import iter_opencv_frames, probe_opencv, use_opencv_instead
from tsncli.video.files import resolve_frame_size

log = logging.getLogger("tsncli.video.decode")


def resize_frame(
    frame: np.ndarray, *, size: tuple[int, int] | None = None, short_side: int | None = None
) -> np.ndarray:
    """Resize one decoded frame the way `tsn flow` does (bilinear; unchanged when it fits).

    Every path that turns decoded video into network input (`tsn flow`, sparse video loading,
    `tsn predict`) calls this, so their frames are identical.
    """
    h, w = frame.shape[:2]
    target = resolve_frame_size(w, h, size, short_side)
    if (w, h) != target:
        frame = cv2.resize(frame, target, interpolation=cv2.INTER_LINEAR)
    return frame


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Open `path` and read its size, fps and (estimated) frame count without decoding it."""
    try:
        container, stream = open_container(path)
    except DataError as exc:
        if not use_opencv_instead(path, exc):
            raise
        return probe_opencv(path)
    try:
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            path=str(path),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=float(rate or 0.0),
            frame_count=max(0, int(stream.frames or 0)),
        )
    finally:
        container.close()


def probe_rotation(path: str | os.PathLike[str]) -> int:
    """The display rotation of `path` (0, 90, 180 or 270 degrees counter-clockwise, as ffprobe's
    "rotation"): decodes its first frame, since PyAV reads the display matrix from frames.
    0 when no frame decodes; DataError when the file cannot be opened."""
    container, stream = open_container(path)
    try:
        for frame in container.decode(stream):
            return display_rotation(frame)
    except AV_ERRORS:
        pass
    finally:
        container.close()
    return 0


def iter_video_frames(
    path: str | os.PathLike[str],
    *,
    size: tuple[int, int] | None = None,
    short_side: int | None = None,
    step: int = 1,
    threads: int | None = None,
    end: DecodeEnd | None = None,
    ignore_rotation: bool = False,
) -> Iterator[np.ndarray]:
    """Yield decoded frames 1, 1+step, 1+2*step, ... as BGR uint8 [H, W, 3], resized on the fly.
    Each is first turned by the display rotation, so sizes apply to the frame as players show
    it; `ignore_rotation` keeps the stored orientation.

    Decoded with PyAV in display order (OpenCV only when PyAV cannot open the file, logged).
    A decode error mid-file ends the video there, as OpenCV's reader did. Raises DataError
    when the file cannot be opened or yields no frame at all. `end`, when given, counts every
    decoded frame and its timestamps (PyAV only), to tell a video that ends early.
    """
    if step < 1:
        raise UsageError(f"step must be >= 1, got {step}")
    decoded = 0
    for frame in _iter_bgr(path, step, threads, end, ignore_rotation):
        decoded += 1
        yield resize_frame(frame, size=size, short_side=short_side)
    if decoded == 0:
        raise DataError(f"no frames could be decoded from {path} (empty or corrupt video)")


def _iter_bgr(
    path: str | os.PathLike[str],
    step: int,
    threads: int | None,
    end: DecodeEnd | None = None,
    ignore_rotation: bool = False,
) -> Iterator[np.ndarray]:
    try:
        container, stream = open_container(path, threads, sequential=True)
    except DataError as exc:
        if not use_opencv_instead(path, exc):
            raise
        log.warning("%s: PyAV cannot open it (%s); decoding with OpenCV", path, exc)
        yield from iter_opencv_frames(path, step, ignore_rotation=ignore_rotation)
        return
    if end is not None:
        end.extent = extent_of(container, stream)
    try:
        for index, frame in enumerate(container.decode(stream)):
            if end is not None:
                end.saw(frame)
            if index % step == 0:
                yield frame_to_bgr(frame, ignore_rotation=ignore_rotation)
    except AV_ERRORS as exc:
        log.warning("%s: decoding stopped early (%s)", path, short_error(exc))
    finally:
        container.close()
