"""Encode BGR frames into a video file with PyAV: H.264 (libx264) when the wheel has the
encoder, MPEG-4 Part 2 otherwise; yuv420p at even dimensions, so browsers and players open it.
Written to a temporary name and renamed when complete (`tsncli.fsutil.atomic_path`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tsncli.errors import UsageError
from tsncli.fsutil import atomic_path

# container format per output suffix; MP4 first (what a browser plays)
CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
# encoders in order of preference: H.264 (libx264, or Cisco's openh264), then MPEG-4 Part 2
ENCODERS = ("libx264", "libopenh264", "mpeg4")


def check_video_output(path: str | os.PathLike[str]) -> str:
    """The container format for `path`'s suffix; UsageError naming the ones supported."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        raise UsageError(f"{path}: name an output video ending in {', '.join(CONTAINERS)}")
    return CONTAINERS[suffix]


def pick_encoder() -> str:
    """The first encoder of `ENCODERS` this PyAV build can write with."""
    for name in ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):
            continue
        return name
    raise UsageError(f"this PyAV build has none of the encoders {', '.join(ENCODERS)}")


def even_size(width: int, height: int) -> tuple[int, int]:
    """The largest even (width, height) not above the frame's: yuv420p halves both."""
    return max(2, width - width % 2), max(2, height - height % 2)


class VideoEncoder:
    """Frames in (`write`), one encoded stream out; made by `open_video_encoder`."""

    def __init__(self, container: av.container.OutputContainer, stream, size: tuple[int, int]):
        self.container, self.stream, self.size = container, stream, size
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        """Encode one BGR uint8 [H, W, 3] frame (cut to the even size the stream has)."""
        width, height = self.size
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(image[:height, :width]), format="bgr24"
        )
        frame.pts = self.frames  # time base 1 / rate: one tick per frame
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def flush(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)


@contextmanager
def open_video_encoder(
    path: str | os.PathLike[str], rate: Fraction, width: int, height: int
) -> Iterator[VideoEncoder]:
    """An encoder writing `path` at `rate` frames per second; the file appears (renamed from a
    temporary name) only when the block ends without an error."""
    fmt = check_video_output(path)
    codec = pick_encoder()
    size = even_size(width, height)
    with atomic_path(path) as tmp:
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        container = av.open(str(tmp), "w", format=fmt, options=options)
        try:
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, 1) / rate
            if codec == "libx264":
                stream.options = {"crf": "23", "preset": "veryfast"}
            else:  # MPEG-4 Part 2 has no CRF: a bit rate that keeps text sharp
                stream.bit_rate = max(500_000, int(size[0] * size[1] * float(rate) * 0.2))
            encoder = VideoEncoder(container, stream, size)
            yield encoder
            encoder.flush()
        finally:
            container.close()
