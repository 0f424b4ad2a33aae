"""OpenCV decoding, kept only for files PyAV cannot open: forward decoding from the start (it
cannot seek exactly), frames as BGR uint8 [H, W, 3], turned by the display rotation as PyAV's
frames are (OpenCV's CAP_PROP_ORIENTATION_AUTO, set either way so both readers agree)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from tsncli.errors import DataError
from tsncli.fsutil import needs_bytes_path
from tsncli.video.backend import VideoInfo


def iter_opencv_frames(
    path: str | os.PathLike[str], step: int = 1, *, ignore_rotation: bool = False
) -> Iterator[np.ndarray]:
    """Frames 0, step, 2*step, ... decoded with OpenCV; DataError when it cannot open the file."""
    capture = _open(path, ignore_rotation)
    try:
        index = 0
        while True:
            ok, frame = capture.read() if index % step == 0 else (capture.grab(), None)
            if not ok:
                return
            index += 1
            if frame is not None:
                yield frame
    finally:
        capture.release()


def read_opencv_frames(
    path: str | os.PathLike[str], wanted: Sequence[int], *, ignore_rotation: bool = False
) -> tuple[dict[int, np.ndarray], int]:
    """({position: frame} for sorted 0-based `wanted`, frames decoded), decoding forward only."""
    capture = _open(path, ignore_rotation)
    frames: dict[int, np.ndarray] = {}
    decoded = 0
    try:
        last = max(wanted, default=-1)
        targets = set(wanted)
        while decoded <= last:
            ok, frame = capture.read() if decoded in targets else (capture.grab(), None)
            if not ok:
                break
            if frame is not None:
                frames[decoded] = frame
            decoded += 1
    finally:
        capture.release()
    return frames, decoded


def opencv_frame_count(path: str | os.PathLike[str]) -> int:
    """Frames OpenCV decodes from the start to the end of `path`."""
    capture = _open(path)
    try:
        count = 0
        while capture.grab():
            count += 1
        return count
    finally:
        capture.release()


def _open(path: str | os.PathLike[str], ignore_rotation: bool = False) -> cv2.VideoCapture:
    if needs_bytes_path(path):  # cv2.VideoCapture segfaults on such a str
        raise DataError(f"OpenCV cannot open {path!r}: its name is not UTF-8; rename the file")
    if os.path.exists(path) and not os.access(path, os.R_OK):
        raise DataError(f"cannot read video {path}: permission denied; check its permissions")
    capture = cv2.VideoCapture(str(Path(path)))
    if not capture.isOpened():
        capture.release()
        raise DataError(f"cannot open video {path} (corrupt file or unsupported codec)")
    # OpenCV >= 4.5 turns frames by the display rotation by default, as `frame_to_bgr` does;
    # set it explicitly so --ignore-rotation reaches this reader too
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0 if ignore_rotation else 1)
    return capture


def probe_opencv(path: str | os.PathLike[str]) -> VideoInfo:
    """`VideoInfo` of a file only OpenCV opens (its header's size, fps and frame count)."""
    capture = _open(path)
    try:
        return VideoInfo(
            path=str(path),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
            frame_count=max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
        )
    finally:
        capture.release()


def use_opencv_instead(path: str | os.PathLike[str], error: DataError) -> bool:
    """After PyAV failed to open `path` with `error`: True when OpenCV opens it (the fallback
    then applies and is worth a warning); False when the file is missing or unreadable."""
    if "does not exist" in str(error) or needs_bytes_path(path):  # OpenCV crashes on the latter
        return False
    capture = cv2.VideoCapture(str(Path(path)))
    try:
        return bool(capture.isOpened())
    finally:
        capture.release()
