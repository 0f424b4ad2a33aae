"""What the video index knows about one video file (`VideoEntry`; imported from video.index)."""

from __future__ import annotations

from dataclasses import dataclass

from tsncli.video.timeline import Timeline, keyframe_at_or_before


@dataclass(frozen=True)
class VideoEntry:
    """What the index knows about one video file (positions are 0-based, display order)."""

    path: str
    size: int
    mtime_ns: int
    num_frames: int  # decodable frames
    container_frames: int  # what the container's header claimed
    keyframes: tuple[int, ...] | None  # None: unknown, decode forward instead of seeking
    counted: bool  # True when the container lied and a decode pass gave num_frames
    width: int
    height: int
    fps: float
    timeline: Timeline | None = None  # frame timestamps; None: number frames by decoding

    def keyframe_at_or_before(self, frame: int) -> int:
        """The last keyframe at or before `frame` (0 when keyframes are unknown)."""
        return keyframe_at_or_before(self.keyframes, frame)
