"""The one decoder every step uses (`tsn flow`, video lists, `tsn predict`, `tsn probe`): find
videos, probe them, and stream resized BGR uint8 [H, W, 3] frames one at a time with PyAV.
Memory does not grow with video length; `tsncli.video.sparse` reads chosen frames exactly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import parse_size  # re-exported: flow, lists and probe use it here
from tsncli.fsutil import unreadable_warning, walk_files
from tsncli.video.backend import AV_ERRORS, VideoInfo, frame_to_bgr, open_container, short_error
from tsncli.video.fallback import iter_opencv_frames, probe_opencv, use_opencv_instead

log = logging.getLogger("tsncli.video.decode")

VIDEO_EXTENSIONS: tuple[str, ...] = ("avi", "mp4", "mkv", "webm", "mov", "m4v", "mpg", "mpeg")
LIST_EXTENSIONS: tuple[str, ...] = ("txt", "lst", "list")
__all__ = ["VideoInfo"]  # re-exported: callers import it from here


def resolve_frame_size(
    width: int, height: int, size: tuple[int, int] | None = None, short_side: int | None = None
) -> tuple[int, int]:
    """The (width, height) frames are resized to: `size` exactly, or the shorter side scaled to
    `short_side` keeping the aspect ratio, or unchanged when neither is given."""
    if size is not None and short_side is not None:
        raise UsageError("give either a size (WxH) or a short side, not both")
    if size is not None:
        return size
    if short_side is not None:
        if short_side <= 0:
            raise UsageError(f"short side must be positive, got {short_side}")
        scale = short_side / min(width, height)
        return max(1, round(width * scale)), max(1, round(height * scale))
    return width, height


def check_size_options(size: str | None, short_side: int | None) -> None:
    """Validate the `--size WxH` / `--short-side S` pair that flow and lists share."""
    if size is not None and short_side is not None:
        raise UsageError("give either --size WxH or --short-side S, not both")
    if size is not None:
        parse_size(size)
    if short_side is not None and short_side <= 0:
        raise UsageError(f"--short-side must be positive, got {short_side}")


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


def iter_video_frames(
    path: str | os.PathLike[str],
    *,
    size: tuple[int, int] | None = None,
    short_side: int | None = None,
    step: int = 1,
    threads: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield decoded frames 1, 1+step, 1+2*step, ... as BGR uint8 [H, W, 3], resized on the fly.

    Decoded with PyAV in display order (OpenCV only when PyAV cannot open the file, logged).
    A decode error mid-file ends the video there, as OpenCV's reader did. Raises DataError
    when the file cannot be opened or yields no frame at all.
    """
    if step < 1:
        raise UsageError(f"step must be >= 1, got {step}")
    decoded = 0
    for frame in _iter_bgr(path, step, threads):
        decoded += 1
        yield resize_frame(frame, size=size, short_side=short_side)
    if decoded == 0:
        raise DataError(f"no frames could be decoded from {path} (empty or corrupt video)")


def _iter_bgr(path: str | os.PathLike[str], step: int, threads: int | None) -> Iterator[np.ndarray]:
    try:
        container, stream = open_container(path, threads, sequential=True)
    except DataError as exc:
        if not use_opencv_instead(path, exc):
            raise
        log.warning("%s: PyAV cannot open it (%s); decoding with OpenCV", path, exc)
        yield from iter_opencv_frames(path, step)
        return
    try:
        for index, frame in enumerate(container.decode(stream)):
            if index % step == 0:
                yield frame_to_bgr(frame)
    except AV_ERRORS as exc:
        log.warning("%s: decoding stopped early (%s)", path, short_error(exc))
    finally:
        container.close()


def read_video_frames(
    path: str | os.PathLike[str],
    *,
    size: tuple[int, int] | None = None,
    short_side: int | None = None,
    step: int = 1,
) -> list[np.ndarray]:
    """All frames of a (short) video in memory; prefer `iter_video_frames` for long ones."""
    return list(iter_video_frames(path, size=size, short_side=short_side, step=step))


def list_videos(
    src: str | os.PathLike[str], extensions: tuple[str, ...] = VIDEO_EXTENSIONS
) -> list[Path]:
    """Resolve SRC: one video file, a folder searched recursively, or a text file of paths.

    In a list file, blank lines and `#` comments are skipped; relative paths are taken from the
    list file's folder; a line `path label` (split-file style) uses its first field.
    """
    root = Path(src)
    exts = {e.lower().lstrip(".") for e in extensions}
    if root.is_dir():
        files, unreadable = walk_files(root)
        if unreadable:
            log.warning("%s", unreadable_warning(root, unreadable))
        return sorted(p for p in map(Path, files) if p.suffix.lower().lstrip(".") in exts)
    if not root.is_file():
        raise UsageError(f"{root} does not exist; pass a video, a folder of videos or a list file")
    suffix = root.suffix.lower().lstrip(".")
    if suffix in exts or suffix not in LIST_EXTENSIONS:
        return [root]
    return _read_video_list(root)


def _read_video_list(list_file: Path) -> list[Path]:
    videos: list[Path] = []
    missing: list[str] = []
    for raw in list_file.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        path = _list_entry(list_file.parent, line)
        if path is None:
            missing.append(line)
        else:
            videos.append(path)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise UsageError(
            f"{len(missing)} video(s) listed in {list_file} do not exist ({shown}); "
            "fix the list (relative paths are read from the list file's folder)"
        )
    return videos


def _list_entry(base: Path, line: str) -> Path | None:
    candidates = [line]
    if len(line.split()) > 1:
        candidates.append(line.split()[0])
    for text in candidates:
        p = Path(text).expanduser()
        p = p if p.is_absolute() else base / p
        if p.is_file():
            return p
    return None
