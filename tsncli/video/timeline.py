"""A video stream's layout without decoding it: presentation timestamps of every frame in display
order, keyframe positions, codec, rate. Read once by demuxing (packets only) and cached in the
video index; frame k is the k-th frame a full decode from the start returns."""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from tsncli.errors import DataError
from tsncli.video.backend import AV_ERRORS, open_container, short_error


@dataclass(frozen=True)
class Timeline:
    """Presentation timestamps (stream time base) of frames 0..count-1: `start + k * step` when
    the rate is constant, else the explicit `pts` tuple."""

    count: int
    start: int = 0
    step: int = 1
    pts: tuple[int, ...] | None = None

    @classmethod
    def from_pts(cls, pts: Sequence[int]) -> Timeline:
        """The timeline of sorted, distinct timestamps (compact when they are evenly spaced)."""
        values = tuple(int(p) for p in pts)
        step = values[1] - values[0] if len(values) > 1 else 1
        if step > 0 and all(b - a == step for a, b in zip(values, values[1:], strict=False)):
            return cls(len(values), values[0] if values else 0, step)
        return cls(len(values), pts=values)

    @property
    def variable(self) -> bool:
        """True when frames are not evenly spaced in time (a variable frame rate)."""
        return self.pts is not None

    def pts_of(self, index: int) -> int:
        """Timestamp of frame `index` (0-based, display order)."""
        return self.pts[index] if self.pts is not None else self.start + index * self.step

    def index_of(self, pts: int | None) -> int | None:
        """Frame number of timestamp `pts`; None when no frame has it."""
        if pts is None:
            return None
        if self.pts is None:
            k, rest = divmod(pts - self.start, self.step)
            return k if rest == 0 and 0 <= k < self.count else None
        i = bisect_right(self.pts, pts) - 1
        return i if i >= 0 and self.pts[i] == pts else None

    def to_json(self) -> dict[str, Any]:
        if self.pts is None:
            return {"count": self.count, "start": self.start, "step": self.step}
        return {"count": self.count, "pts": list(self.pts)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Timeline:
        pts = data.get("pts")
        if pts is not None:
            return cls(int(data["count"]), pts=tuple(int(p) for p in pts))
        return cls(int(data["count"]), int(data["start"]), int(data["step"]))


@dataclass(frozen=True)
class StreamLayout:
    """What demuxing a video's first video stream tells (no frame is decoded)."""

    path: str
    codec: str
    container: str
    width: int
    height: int
    fps: float
    time_base: Fraction
    container_frames: int  # the header's claim (0: not stored, e.g. Matroska)
    packets: int
    timeline: Timeline | None  # None: timestamps missing or repeated, number by decoding only
    keyframes: tuple[int, ...]  # display positions of keyframe packets


def scan_layout(path: str | os.PathLike[str]) -> StreamLayout:
    """Demux every packet of `path`'s video stream (no decoding); DataError if unreadable."""
    container, stream = open_container(path)
    packets: list[tuple[int | None, bool]] = []
    try:
        for packet in container.demux(stream):
            if packet.size and not packet.is_discard:  # size 0: the demuxer's end marker
                packets.append((packet.pts, packet.is_keyframe))
    except AV_ERRORS as exc:
        if not packets:
            raise DataError(f"cannot read video {path} ({short_error(exc)})") from exc
    finally:
        ctx, rate = stream.codec_context, stream.average_rate or stream.guessed_rate
        info = (ctx.name, container.format.name, ctx.width, ctx.height, rate, stream.frames)
        time_base = stream.time_base or Fraction(1, 1)
        container.close()
    timeline, keys = _timeline(packets)
    name, fmt, width, height, rate, claimed = info
    return StreamLayout(
        str(path), name, fmt, width, height, float(rate or 0.0), time_base, int(claimed or 0),
        len(packets), timeline, keys,
    )  # fmt: skip


def _timeline(packets: list[tuple[int | None, bool]]) -> tuple[Timeline | None, tuple[int, ...]]:
    pts = [p for p, _ in packets]
    if not pts or any(p is None for p in pts) or len(set(pts)) != len(pts):
        return None, ()
    order = sorted(pts)
    display = {p: i for i, p in enumerate(order)}
    keys = tuple(sorted(display[p] for p, key in packets if key))
    return Timeline.from_pts(order), keys


def keyframe_at_or_before(keyframes: Sequence[int] | None, frame: int) -> int:
    """The last of the sorted `keyframes` that is <= `frame`; 0 when none is or they are unknown."""
    if not keyframes:
        return 0
    i = bisect_right(keyframes, frame)
    return int(keyframes[i - 1]) if i else 0
