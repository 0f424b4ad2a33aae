"""PyAV plumbing every decoding path shares: open a file's first video stream with a decoder
thread count, turn a decoded frame into the BGR uint8 array every step uses (turned upright as
players show it), and the error type."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from tsncli.errors import DataError, UsageError

THREADS_ENV = "TSN_DECODE_THREADS"
_LOCAL = threading.local()  # per-thread swscale converter (see frame_to_bgr)
# extension: a demuxer that refuses files whose header is not its format's (its full name, which
# is the container name probing reports)
MOV, MATROSKA = "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"
DEMUXERS = {".avi": "avi", ".mp4": MOV, ".m4v": MOV, ".mov": MOV, ".mkv": MATROSKA,
            ".webm": MATROSKA}  # fmt: skip
AV_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, OSError, ValueError)
# counter-clockwise quarter turns -> cv2.rotate's code (np.rot90(image, k), but contiguous)
_TURNS = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (frame_count is the container's estimate)."""

    path: str
    width: int
    height: int
    fps: float
    frame_count: int


class VideoDecodeError(DataError):
    """A video could not be decoded at a frame (`frame` is 0-based)."""

    def __init__(self, path: str, frame: int, detail: str = "") -> None:
        self.path, self.frame = path, frame
        super().__init__(
            f"cannot decode video {path} at frame {frame + 1}{detail}; re-encode or remove it "
            "(`tsn lists --source videos` re-counts changed videos)"
        )


def decode_threads(threads: int | None = None) -> int:
    """Decoder threads per open video: `threads`, else $TSN_DECODE_THREADS, else 1 (loader
    workers each decode their own clips, so one thread each keeps the CPUs evenly shared)."""
    if threads is None:
        text = os.environ.get(THREADS_ENV, "").strip()
        threads = int(text) if text.isdigit() else 1
    return max(0, int(threads))  # 0: FFmpeg picks (one per core)


def set_decode_threads(threads: int | None) -> None:
    """Make `threads` the decoder threads of this process and of the workers it starts (they
    inherit $TSN_DECODE_THREADS): what `--decode-threads` sets. None leaves the default."""
    if threads is None:
        return
    if threads < 0:
        raise UsageError(f"--decode-threads must be 0 (one per core) or more, got {threads}")
    os.environ[THREADS_ENV] = str(int(threads))


def open_container(
    path: str | os.PathLike[str], threads: int | None = None, *, sequential: bool = False
) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """(container, first video stream) of `path` opened with PyAV; DataError when it cannot be.
    `sequential`: every frame will be decoded, so several threads may work on several frames
    (frame threads); otherwise they split each frame (slice threads), as frame threads would
    decode frames past the one a sparse read stops at."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"video {p} does not exist; check the path")
    if not os.access(p, os.R_OK):
        raise DataError(f"cannot read video {p}: permission denied; check its permissions")
    try:
        container = _open_av(p)
    except AV_ERRORS as exc:
        raise DataError(f"cannot open video {p} ({short_error(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise DataError(f"{p} has no video stream; pass a video file")
    stream = container.streams.video[0]
    count = decode_threads(threads)
    stream.codec_context.thread_count = count
    stream.codec_context.thread_type = "AUTO" if sequential and count != 1 else "SLICE"
    return container, stream


def _open_av(path: Path) -> av.container.InputContainer:
    """Open with the demuxer the file's extension names when that demuxer checks the header
    it reads (skips probing every demuxer: 40% of an open, paid once per clip); a file that is
    not what its name says is probed."""
    name = DEMUXERS.get(path.suffix.lower())
    if name is not None:
        try:
            return av.open(str(path), format=name, metadata_errors="ignore")
        except AV_ERRORS:
            pass
    return av.open(str(path), metadata_errors="ignore")


def frame_to_bgr(frame: av.VideoFrame, *, ignore_rotation: bool = False) -> np.ndarray:
    """BGR uint8 [H, W, 3] of a decoded frame (FFmpeg's swscale, BT.601 like OpenCV's reader:
    the same bytes), turned by its display rotation as ffmpeg and players show it (a portrait
    phone video comes out portrait) unless `ignore_rotation` keeps the stored orientation.

    One converter per thread: `frame.to_ndarray` would build a new swscale context for every
    frame, which costs 3-4x the conversion itself; and one swscale thread, as swscale's default
    of one per core costs 1.2-3x the CPU time for a 320x240 frame."""
    reformatter = getattr(_LOCAL, "reformatter", None)
    if reformatter is None:
        reformatter = _LOCAL.reformatter = VideoReformatter()
    image = reformatter.reformat(frame, format="bgr24", threads=1).to_ndarray()
    return image if ignore_rotation else rotate_upright(image, display_rotation(frame))


def display_rotation(frame: av.VideoFrame) -> int:
    """The counter-clockwise turn (0, 90, 180 or 270 degrees) that shows `frame` upright: its
    display matrix's rotation (PyAV's `frame.rotation`, counter-clockwise, as ffprobe's
    "rotation"), to the nearest quarter turn as ffmpeg's autorotate takes it. A mirrored
    matrix's flip is not applied."""
    try:
        degrees = frame.rotation
    except (AttributeError, *AV_ERRORS):  # no display matrix
        return 0
    return (round(float(degrees or 0) / 90) % 4) * 90


def rotate_upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """`image` [H, W, C] turned `rotation` degrees counter-clockwise (a multiple of 90): what
    ffmpeg shows for a frame whose display rotation that is (checked against ffmpeg 5.1)."""
    code = _TURNS.get((rotation // 90) % 4)
    return image if code is None else cv2.rotate(image, code)


def short_error(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
