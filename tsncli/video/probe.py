"""`tsn probe`'s core: what a video holds (codec, container and decoded frame counts, rate,
keyframes), whether it decodes to the end (not short of the header's frame count or duration:
`tsncli.video.extent`), and chosen frames written as PNG exactly as the video
loader returns them. Over many videos it runs on the worker pool."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2

from tsncli.errors import DataError, UsageError
from tsncli.fsutil import atomic_write_bytes
from tsncli.parallel import run_pool
from tsncli.video.backend import AV_ERRORS, open_container, short_error
from tsncli.video.decode import probe_rotation, resize_frame
from tsncli.video.extent import DecodeEnd, extent_of
from tsncli.video.files import list_videos
from tsncli.video.sparse import SparseReader
from tsncli.video.timeline import StreamLayout, scan_layout


@dataclass(frozen=True)
class ProbeRequest:
    """One video to probe, and the frames (0-based, display order) to write under `out`."""

    path: str
    frames: tuple[int, ...] = ()
    out: str | None = None
    size: tuple[int, int] | None = None
    short_side: int | None = None


@dataclass(frozen=True)
class ProbeReport:
    """What probing one video found; `error` is set when it cannot be read to the end."""

    path: str
    codec: str = ""
    container: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    variable_rate: bool = False
    container_frames: int = 0  # the header's claim (0: not stored)
    packets: int = 0  # frame packets the demuxer lists
    decoded_frames: int = 0  # frames a full decode from the start returns
    decodes_to_end: bool = False
    timestamps_exact: bool = False  # seeking by timestamp numbers frames as decoding does
    keyframes: tuple[int, ...] = ()
    written: tuple[str, ...] = ()
    past_end: tuple[int, ...] = ()  # requested frames the video does not have
    error: str | None = None
    expected_frames: int = 0  # what the header's count or duration says (0: neither recorded)
    partial: str | None = None  # why it ends early ("decoded 391 of 795 frames"), else None
    rotation: int = 0  # display rotation, degrees counter-clockwise (width, height: as stored)

    @property
    def ok(self) -> bool:
        return self.error is None and self.decodes_to_end

    @property
    def longest_gop(self) -> int:
        """Most frames from one keyframe to the next (or to the end)."""
        bounds = [*self.keyframes, self.decoded_frames]
        return max((b - a for a, b in zip(bounds, bounds[1:], strict=False)), default=0)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            keyframes=list(self.keyframes), written=list(self.written), past_end=list(self.past_end)
        )
        return dict(data, ok=self.ok, longest_gop=self.longest_gop)


def probe_file(request: ProbeRequest) -> ProbeReport:
    """Probe one video (never raises for a bad file: the report carries the error)."""
    try:
        layout = scan_layout(request.path)
    except DataError as exc:
        return ProbeReport(request.path, error=str(exc))
    end, error, exact = _decode_through(layout)
    decoded, partial = end.frames, end.shortfall()
    report = ProbeReport(
        request.path, layout.codec, layout.container, layout.width, layout.height, _fps(layout),
        bool(layout.timeline and layout.timeline.variable), layout.container_frames,
        layout.packets, decoded, error is None and decoded == layout.packets and partial is None,
        exact, layout.keyframes, error=error, expected_frames=_expected(end), partial=partial,
        rotation=probe_rotation(request.path),
    )  # fmt: skip
    if not request.frames or report.error is not None:
        return report
    try:
        written = write_frames(request, layout)
    except DataError as exc:
        return ProbeReport(**{**asdict(report), "error": str(exc)})
    past_end = tuple(k for k in request.frames if k >= decoded)
    return ProbeReport(**{**asdict(report), "written": written, "past_end": past_end})


def _fps(layout: StreamLayout) -> float:
    """Frames per second: the mean over the timestamps when the rate varies."""
    line = layout.timeline
    if line is None or not line.variable or line.count < 2:
        return layout.fps
    seconds = (line.pts_of(line.count - 1) - line.pts_of(0)) * layout.time_base
    return float((line.count - 1) / seconds) if seconds > 0 else layout.fps


def _expected(end: DecodeEnd) -> int:
    extent = end.extent
    if extent is None:
        return 0
    return extent.frames or round(extent.seconds * extent.fps)


def _decode_through(layout: StreamLayout) -> tuple[DecodeEnd, str | None, bool]:
    """(frames decoded from the start and their span, decode error, frame timestamps count
    0, 1, 2, ...)."""
    container, stream = open_container(layout.path, sequential=True)
    end = DecodeEnd(extent=extent_of(container, stream))
    exact, error = layout.timeline is not None, None
    try:
        for frame in container.decode(stream):
            if exact and layout.timeline.index_of(frame.pts) != end.frames:
                exact = False
            end.saw(frame)
    except AV_ERRORS as exc:
        error = f"decoding stops after frame {end.frames}: {short_error(exc)}"
    finally:
        container.close()
    if end.frames == 0 and error is None:
        error = "no frame decodes"
    return end, error, exact and end.frames == layout.packets


def write_frames(request: ProbeRequest, layout: StreamLayout) -> tuple[str, ...]:
    """Write the requested frames the video has as PNG under `out/<video stem>/frame_<k>.png`,
    decoded and resized exactly as the video loader does (keyframe seeks, `resize_frame`)."""
    if request.out is None:
        raise UsageError("--frames needs --out DIR to write the frames to")
    reader = SparseReader(request.path, layout.keyframes, layout.timeline)
    frames = reader.read(k for k in request.frames if k < layout.packets)  # BGR uint8 [H, W, 3]
    folder = Path(request.out) / Path(request.path).stem
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for k in sorted(frames):
        target = folder / f"frame_{k:06d}.png"
        image = resize_frame(frames[k], size=request.size, short_side=request.short_side)
        ok, data = cv2.imencode(".png", image)  # not imwrite: it crashes on non-UTF-8 names
        if not ok:
            raise DataError(f"cannot encode frame {k} of {request.path} as PNG")
        atomic_write_bytes(target, data.tobytes())
        written.append(str(target))
    return tuple(written)


def probe_videos(requests: Sequence[ProbeRequest], workers: int = 1) -> Iterator[ProbeReport]:
    """Probe every request (on `workers` processes), yielding reports in the given order."""
    done: dict[int, ProbeReport] = {}
    following = 0
    jobs = max(1, min(workers, len(requests)))
    for index, report in run_pool(_probe_task, requests, workers=jobs, max_pending=jobs * 4):
        done[index] = report
        while following in done:
            yield done.pop(following)
            following += 1


def _probe_task(request: ProbeRequest) -> ProbeReport:
    try:
        return probe_file(request)
    except (DataError, OSError, *AV_ERRORS) as exc:
        return ProbeReport(request.path, error=short_error(exc))


def parse_frame_list(text: str | None) -> tuple[int, ...]:
    """ "0,120,399" -> (0, 120, 399): 0-based frame numbers in display order."""
    if not text:
        return ()
    try:
        frames = tuple(sorted({int(part) for part in text.replace(" ", "").split(",") if part}))
    except ValueError:
        raise UsageError(f"--frames {text!r} is not a list of numbers; e.g. 0,120,399") from None
    if any(k < 0 for k in frames):
        raise UsageError("--frames are 0-based and cannot be negative")
    return frames


def probe_requests(
    paths: Sequence[str | os.PathLike[str]], frames: tuple[int, ...], out: str | None,
    size: tuple[int, int] | None, short_side: int | None,
) -> list[ProbeRequest]:  # fmt: skip
    """One request per video (folders and list files expanded)."""
    if frames and out is None:
        raise UsageError("--frames needs --out DIR to write the frames to")
    videos = [str(v) for p in paths for v in list_videos(p)]
    if not videos:
        raise UsageError("no videos found; pass video files, folders of videos or list files")
    return [ProbeRequest(v, frames, out, size, short_side) for v in videos]
