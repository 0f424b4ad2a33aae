"""Whether a video ends where its container says: the header's frame count and duration against
what decoding returned. A video that stops clearly short of both (a cut download: decoding meets
the end of the file or a broken packet early) is "partial"; its frames are real, but fewer."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from tsncli.video.backend import MOV, open_container

# A healthy file may miss its header's claims by a frame or two (a count that includes a
# dropped or priming frame, B-frame reordering at the end, a duration rounded up to the audio);
# anything shorter than this is not noise.
SLACK_FRAMES = 3
SLACK_FRACTION = 0.02
# a whole-file duration is the longest stream's: audio often runs past the last video frame
WHOLE_FILE_SLACK_S = 1.0


@dataclass(frozen=True)
class Extent:
    """How long the container says the video stream is (0: not recorded)."""

    frames: int = 0  # the header's frame count (0 also for mp4/mov: see extent_of)
    seconds: float = 0.0  # the duration
    fps: float = 0.0
    whole_file: bool = False  # `seconds` is the container's, not the video stream's


def extent_of(container: Any, stream: Any) -> Extent:
    """The `Extent` of an open PyAV container's video `stream` (headers only, nothing read)."""
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate or 0.0)
    # An mp4/mov sample count includes the frames an edit list drops (a clip cut with
    # `ffmpeg -ss -c copy` keeps the GOP before its start), so only its duration is compared:
    # the moov header holds the whole, edit-list-aware duration even when the file is cut.
    frames = 0 if container.format.name == MOV else max(0, int(stream.frames or 0))
    if stream.duration and stream.time_base:
        return Extent(frames, float(stream.duration * stream.time_base), fps)
    tagged = _tag_seconds((stream.metadata or {}).get("DURATION"))  # Matroska writes one per track
    if tagged:
        return Extent(frames, tagged, fps)
    whole = container.duration / 1_000_000 if container.duration else 0.0
    return Extent(frames, float(whole), fps, whole_file=whole > 0)


def read_extent(path: str | os.PathLike[str]) -> Extent:
    """The `Extent` of `path`'s first video stream; DataError when it cannot be opened."""
    container, stream = open_container(path)
    try:
        return extent_of(container, stream)
    finally:
        container.close()


def _tag_seconds(text: str | None) -> float:
    """ "00:00:04.000000000" -> 4.0 (0.0 when absent or unreadable)."""
    try:
        h, m, s = (text or "").split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return 0.0


@dataclass
class DecodeEnd:
    """Filled while decoding from the start: frames returned and the time of the first and last
    (seconds; None when frames carry no timestamps)."""

    frames: int = 0
    first: float | None = None
    last: float | None = None
    extent: Extent | None = None  # what the header claims (None: not opened with PyAV)

    def saw(self, frame: Any) -> None:
        """Count one decoded PyAV frame."""
        self.frames += 1
        t = frame.time
        if t is not None:
            self.first = t if self.first is None else min(self.first, t)
            self.last = t if self.last is None else max(self.last, t)

    def shortfall(self) -> str | None:
        """`shortfall` of this decode against its header (None when nothing to compare)."""
        return None if self.extent is None else shortfall(self.extent, self.frames, self.span)

    @property
    def span(self) -> float | None:
        """Seconds from the first decoded frame's timestamp to the last's."""
        return None if self.first is None or self.last is None else self.last - self.first


def _slack(expected: float) -> float:
    return max(SLACK_FRAMES, math.ceil(SLACK_FRACTION * expected))


def count_shortfall(decoded: int, header_frames: int, reached: int | None = None) -> str | None:
    """The frame-count half of `shortfall`. `reached`: frames the timestamps account for, when
    more than were decoded (an AVI's dropped frames are counted in its header but decode to
    nothing)."""
    if header_frames > 0 and max(decoded, reached or 0) < header_frames - _slack(header_frames):
        return f"decoded {decoded} of {header_frames} frames"
    return None


def shortfall(extent: Extent, decoded: int, span: float | None = None) -> str | None:
    """Why a video whose decode returned `decoded` frames spanning `span` seconds (first to last
    timestamp) ended early, e.g. "decoded 391 of 795 frames"; None when it reached its end."""
    known = span is not None and extent.fps > 0
    reached = round(span * extent.fps) + 1 if known else None
    by_count = count_shortfall(decoded, extent.frames, reached)
    if by_count is not None:
        return by_count
    if span is None or extent.seconds <= 0 or extent.fps <= 0:
        return None
    frame_s = 1.0 / extent.fps
    covered = span + frame_s  # the last frame lasts one frame interval
    slack_s = _slack(extent.seconds * extent.fps) * frame_s
    slack_s += WHOLE_FILE_SLACK_S if extent.whole_file else 0.0
    if covered < extent.seconds - slack_s:
        expected = round(extent.seconds * extent.fps)
        return (
            f"decoded {decoded} of about {expected} frames "
            f"({covered:.1f} s of {extent.seconds:.1f} s)"
        )
    return None
