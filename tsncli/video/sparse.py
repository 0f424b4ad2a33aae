"""Read chosen frames of one video exactly: follow the decode plan (seek to a keyframe by its
timestamp, decode forward), and number frames by their timestamps, so frame k is the k-th frame
of a full decode from the start, on B-frame and variable-rate streams too.

Without a timeline (timestamps missing) frames are numbered by decoding forward from the start.
Frames are turned by the display rotation as `tsn flow`'s are (`frame_to_bgr`).
Files PyAV cannot open fall back to OpenCV, decoding forward (logged once per file).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence

import av
import numpy as np

from tsncli.errors import DataError
from tsncli.video.backend import (
    AV_ERRORS,
    VideoDecodeError,
    frame_to_bgr,
    open_container,
    short_error,
)
from tsncli.video.fallback import read_opencv_frames, use_opencv_instead
from tsncli.video.plan import DecodePlan, DecodeStep, plan_decode
from tsncli.video.timeline import Timeline

log = logging.getLogger("tsncli.video.sparse")


class SparseReader:
    """Decode chosen frames (BGR uint8 [H, W, 3], full size, turned by the display rotation
    unless `ignore_rotation`) of one video with the fewest decoded frames. `decoded`, `skipped`
    and `seeks` count what the reads really did; the planner's count is `decoded + skipped`
    (frames passed)."""

    def __init__(
        self,
        path: str,
        keyframes: Sequence[int] | None = None,
        timeline: Timeline | None = None,
        threads: int | None = None,
        *,
        ignore_rotation: bool = False,
    ) -> None:
        self.path, self.timeline, self.threads = path, timeline, threads
        self.ignore_rotation = ignore_rotation
        # seeking needs timestamps to land on and to number the frames it lands on
        self.keyframes = keyframes if timeline is not None else None
        self.decoded = 0  # frames the decoder decoded
        self.skipped = 0  # non-reference frames it passed without decoding (not needed)
        self.seeks = 0
        self._at = 0  # the frame being reached (named in errors)

    def plan(self, positions: Iterable[int]) -> DecodePlan:
        """The decode plan for 0-based `positions` (what `read` follows)."""
        return plan_decode(positions, self.keyframes)

    def read(self, positions: Iterable[int]) -> dict[int, np.ndarray]:
        """{position: BGR uint8 [H, W, 3]} for the 0-based display `positions`."""
        plan = self.plan(positions)
        if not plan.steps:
            return {}
        try:
            container, stream = open_container(self.path, self.threads)
        except DataError as exc:
            if not use_opencv_instead(self.path, exc):
                raise VideoDecodeError(self.path, plan.steps[0].target, f" ({exc})") from exc
            return self._fallback(plan, exc)
        try:
            return self._follow(plan, container, stream)
        except AV_ERRORS as exc:
            raise VideoDecodeError(self.path, self._at, f" ({short_error(exc)})") from exc
        finally:
            container.close()

    def _follow(self, plan: DecodePlan, container, stream) -> dict[int, np.ndarray]:
        frames: dict[int, np.ndarray] = {}
        # with timestamps, frames nobody needs that no other frame references are not decoded
        line = self.timeline
        keep = None if line is None else {line.pts_of(step.target) for step in plan.steps}
        decoding = _numbered(_decode(container, stream, keep), self.timeline, 0)
        last = -1  # the last display position the decoder passed
        for step in plan.steps:
            self._at = step.target
            if step.seek_to is not None:
                assert self.timeline is not None
                self.seeks += 1
                landed, decoding = self._seek(container, stream, keep, step)
                last = landed - 1  # frames before where the seek landed are not passed
            for index, frame in decoding:
                self.decoded += 1
                if index is None:
                    raise VideoDecodeError(self.path, step.target, " (unknown timestamp)")
                if index > step.target:
                    raise VideoDecodeError(self.path, step.target, " (frame missing)")
                self.skipped += max(0, index - last - 1)  # passed without decoding them
                last = max(last, index)
                if index == step.target:
                    frames[index] = frame_to_bgr(frame, ignore_rotation=self.ignore_rotation)
                    break
            else:
                raise VideoDecodeError(self.path, step.target, " (video ended early)")
        return frames

    def _seek(
        self, container, stream, keep: set[int] | None, step: DecodeStep
    ) -> tuple[int, Iterator]:
        """(where it landed, the decoding from there) after seeking to keyframe `step.seek_to`
        by its timestamp. The demuxer may land on an earlier keyframe (exact, just more to
        decode); should it land past the target (a container whose index times run ahead of
        its frames), start again from the beginning."""
        assert self.timeline is not None
        for start in (step.seek_to, 0):
            container.seek(self.timeline.pts_of(start), stream=stream)
            decoding = _numbered(_decode(container, stream, keep), self.timeline, None)
            first = next(decoding, None)
            if first is None or first[0] is None or first[0] <= step.target:
                landed = start if first is None or first[0] is None else first[0]
                return landed, itertools.chain([first] if first else [], decoding)
            log.info("%s: a seek for frame %d landed on %d", self.path, step.target, first[0])
        raise VideoDecodeError(self.path, step.target, " (seeking does not reach it)")

    def _fallback(self, plan: DecodePlan, error: DataError) -> dict[int, np.ndarray]:
        log.warning("%s: PyAV cannot open it (%s); decoding with OpenCV", self.path, error)
        wanted = [step.target for step in plan.steps]
        try:
            frames, decoded = read_opencv_frames(
                self.path, wanted, ignore_rotation=self.ignore_rotation
            )
        except DataError as exc:
            raise VideoDecodeError(self.path, wanted[0], f" ({exc})") from exc
        self.decoded += decoded
        missing = [w for w in wanted if w not in frames]
        if missing:
            raise VideoDecodeError(self.path, missing[0], " (video ended early)")
        return frames


def _decode(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream,
    keep: set[int] | None,
) -> Iterator[av.VideoFrame]:  # fmt: skip
    """Decode `stream` from where the container is; when `keep` (timestamps) is given, every
    other packet is sent with skip_frame=NONREF, so the decoder drops it if no frame references
    it (B-frames mostly): exact, since nothing else depends on such a frame."""
    ctx = stream.codec_context
    for packet in container.demux(stream):
        if keep is not None:
            ctx.skip_frame = "DEFAULT" if packet.pts is None or packet.pts in keep else "NONREF"
        yield from packet.decode()


def _numbered(
    frames: Iterator[av.VideoFrame], timeline: Timeline | None, start: int | None
) -> Iterator[tuple[int | None, av.VideoFrame]]:
    """(display position, frame): by timestamp when there is a timeline, else by counting from
    `start` (only valid from the beginning of the file)."""
    count = start
    for frame in frames:
        if timeline is not None:
            yield timeline.index_of(frame.pts), frame
        else:
            yield count, frame
            count = None if count is None else count + 1
