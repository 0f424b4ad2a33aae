"""`tsn predict --stream`'s core: label windows of a live source as they complete, never falling
behind it. A reader thread (`tsncli.video.live.FrameReader`) decodes into a buffer that keeps the
newest frames; when inference is slower than the stream, the next window is cut at the newest
frame (frames passed over are counted as dropped), so a label is at most one window plus one
inference behind the sender. Stops at the end of the stream, after `max_seconds`, or on Ctrl-C,
and writes the timeline (`tsncli.engine.timeline.write_timeline`) either way."""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tsncli.engine.timeline import (
    TimelineRow,
    check_timeline_path,
    timeline_json,
    timeline_rows,
    write_timeline,
)
from tsncli.engine.windows import Window, WindowScorer, WindowScores, check_window
from tsncli.errors import DataError, Terminated, UsageError
from tsncli.modality import reads_flow
from tsncli.video.live import (
    FrameReader,
    LiveFrame,
    LiveSource,
    open_live_source,
    resolve_live_source,
)

log = logging.getLogger("tsncli.engine.live")

# frames the reader may hold, in seconds of stream beyond a window and a stride (a consumer
# busier than that only needs the newest window anyway), and at most this many frames
_BUFFER_SLACK_SECONDS = 2.0
_MAX_BUFFERED = 2048
_TIMING_WINDOWS = 3  # the first windows whose inference time is checked against the stride
_POLL_SECONDS = 0.05  # how often the loop looks at the clock while waiting for frames


@dataclass(frozen=True)
class StreamSettings:
    """Window length and stride in seconds, classes shown, when to stop (`max_seconds` of wall
    time after the stream opened; None: at its end or Ctrl-C), and how long to wait for the
    source to open and for data once open."""

    window: float = 2.0
    stride: float = 1.0
    top_k: int = 5
    max_seconds: float | None = None
    open_timeout: float = 10.0
    read_timeout: float = 10.0

    def __post_init__(self) -> None:
        check_window(self.window, self.stride)
        if self.max_seconds is not None and (
            not math.isfinite(self.max_seconds) or self.max_seconds <= 0
        ):
            raise UsageError(f"--max-seconds must be a positive number, got {self.max_seconds}")
        if self.top_k < 1:
            raise UsageError("--top-k must be at least 1")


@dataclass(frozen=True)
class LiveWindow:
    """One labelled window: its timeline row (seconds on the stream's clock from its first
    frame), how many frames it held, how far behind the sender its label came out (`lag`:
    the sender's clock then minus the window's end), the frames dropped so far, and the
    seconds its inference took."""

    row: TimelineRow
    frames: int
    lag: float
    dropped: int
    inference: float

    def to_json(self) -> dict[str, Any]:
        """The window as the timeline file writes it, plus frames, lag, dropped, inference."""
        item = timeline_json([self.row])["windows"][0]
        item.update(
            frames=self.frames,
            lag=round(self.lag, 3),
            dropped=self.dropped,
            inference=round(self.inference, 3),
        )
        return item


@dataclass
class StreamResult:
    """How a stream run ended: `stopped` is "end of stream", "max-seconds", "interrupted" or
    "terminated"; `error` the reason the stream broke off, if it did."""

    source: str
    windows: list[LiveWindow] = field(default_factory=list)
    decoded: int = 0
    dropped: int = 0
    stopped: str = "end of stream"
    error: str | None = None
    timeline: Path | None = None

    @property
    def rows(self) -> list[TimelineRow]:
        return [w.row for w in self.windows]

    @property
    def mean_lag(self) -> float:
        return float(np.mean([w.lag for w in self.windows])) if self.windows else 0.0

    @property
    def max_lag(self) -> float:
        return max((w.lag for w in self.windows), default=0.0)


class _Windows:
    """Cuts windows from the frames taken so far: on the stride grid while the consumer keeps
    up, at the newest frame when it is behind. Holds the frames the next window can need."""

    def __init__(self, window: float, stride: float) -> None:
        self.window, self.stride = window, stride
        self.history: deque[LiveFrame] = deque()
        self.next_end = window  # the first window is [0, window) of the stream
        self.last_end = 0.0  # end of the last labelled window: frames before it were seen
        self.index = 0
        self.skipped = 0  # frames passed over because inference fell behind

    def add(self, frames: Sequence[LiveFrame]) -> None:
        self.history.extend(frames)

    def period(self) -> float:
        """Seconds between frames, from the frames held (the median gap)."""
        times = [f.seconds for f in self.history]
        if len(times) < 2:
            return 0.0
        return float(np.median(np.diff(times[-32:])))

    def complete(self) -> tuple[Window, list[LiveFrame]] | None:
        """The next window once its last frame has arrived (the frame after it would fall past
        its end), else None. When frames past the end have piled up (inference was slower than
        the stride), the window is cut at the newest frame instead, and the frames between the
        last window and it count as skipped."""
        if not self.history:
            return None
        period = self.period()
        newest = self.history[-1].seconds
        if newest + 1.5 * period < self.next_end:  # (half a period of slack for jitter)
            return None
        end = self.next_end
        if newest - end > max(3 * period, 1e-6):  # behind: label the newest window instead
            end = newest + period  # (the newest frame included)
        return self._cut(end)

    def finish(self, min_frames: int) -> tuple[Window, list[LiveFrame]] | None:
        """At the end of the stream: the window ending at its last frame, when that frame is
        past the last labelled window and the window holds at least `min_frames` frames."""
        if not self.history or self.history[-1].seconds < self.last_end:
            return None
        cut = self._cut(self.history[-1].seconds + self.period())
        return cut if len(cut[1]) >= min_frames else None

    def _cut(self, end: float) -> tuple[Window, list[LiveFrame]]:
        start = max(end - self.window, 0.0)
        on_grid = self.next_end - self.window  # where the window would start had it kept up
        frames = [f for f in self.history if start <= f.seconds < end]
        self.skipped += sum(
            1 for f in self.history if max(self.last_end, on_grid) <= f.seconds < start
        )
        first = frames[0].index if frames else 0
        last = frames[-1].index + 1 if frames else 0
        window = Window(self.index, first, last, start, end)
        self.index += 1
        self.last_end = end
        self.next_end = end + self.stride
        keep_from = self.next_end - self.window  # the next window starts here or later
        while self.history and self.history[0].seconds < keep_from:
            self.history.popleft()
        return window, frames


def _slow_warning(scorer: WindowScorer, seconds: float, settings: StreamSettings) -> str:
    """Why the stream cannot be followed window by window, and what would let it."""
    fixes = [f"--stride {math.ceil(seconds * 10) / 10:g} or more", "fewer --segments or --crops"]
    fixes.append("--gpu")
    flows = [
        st.flow_algorithm
        for s, st in zip(scorer.scorers, scorer.settings, strict=True)
        if reads_flow(s.modality) and st.flow_algorithm
    ]
    if flows:
        fixes.append(f"a checkpoint trained with a faster flow algorithm than {flows[0]}")
    flow_note = " (flow is computed for every window)" if flows else ""
    return (
        f"inference takes {seconds:.2f} s per window{flow_note}, longer than the "
        f"{settings.stride:g} s stride: windows will be cut at the newest frame and frames "
        f"dropped to stay live; to label every stride use {', '.join(fixes[:-1])} or {fixes[-1]}"
    )


def _reader_size(scorer: WindowScorer) -> dict[str, Any]:
    """Resize in the reader to the checkpoints' frame size when they agree (the scorer would
    resize each frame so anyway), so the buffered frames stay small."""
    shapes = {(st.size, st.short_side) for st in scorer.settings}
    if len(shapes) != 1:
        return {}
    size, short_side = shapes.pop()
    return {"size": size, "short_side": short_side}


def open_reader(source: LiveSource, scorer: WindowScorer, settings: StreamSettings) -> FrameReader:
    """Open `source` and start decoding it on a reader thread whose buffer holds a window, a
    stride and some slack of frames, resized to the checkpoints' frame size."""
    container, stream = open_live_source(source, settings.open_timeout, settings.read_timeout)
    fps = float(stream.average_rate or stream.guessed_rate or 30.0)
    horizon = settings.window + settings.stride + _BUFFER_SLACK_SECONDS
    capacity = min(_MAX_BUFFERED, max(16, math.ceil(horizon * fps)))
    reader = FrameReader(
        container, stream, capacity, ignore_rotation=scorer.ignore_rotation, **_reader_size(scorer)
    )
    return reader.start()


def _follow(
    reader: FrameReader,
    windows: _Windows,
    scorer: WindowScorer,
    settings: StreamSettings,
    result: StreamResult,
    on_window: Callable[[LiveWindow], None] | None,
) -> None:
    """Label windows as they complete until the stream ends or `max_seconds` pass."""
    deadline = None
    if settings.max_seconds is not None:
        deadline = time.monotonic() + settings.max_seconds
    timings: list[float] = []
    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            result.stopped = "max-seconds"
            return
        wait = _POLL_SECONDS if deadline is None else min(_POLL_SECONDS, deadline - now)
        frames = reader.take(max(wait, 0.0))
        windows.add(frames)
        cut = windows.complete()
        if cut is None and not frames and reader.ended:
            cut = windows.finish(scorer.min_frames)
            if cut is None:
                result.stopped = "end of stream"
                return
        if cut is None:
            continue
        window, held = cut
        if len(held) < scorer.min_frames:  # frames lost (a stall): nothing to label
            continue
        began = time.monotonic()
        # each frame's own number: frames dropped inside the window must not shift the snippets
        # the scorer's cache matches by frame number
        numbers = [f.index for f in held]
        fused, per_model = scorer.score_frames([f.image for f in held], numbers[0], numbers)
        done = time.monotonic()
        stream_now = reader.stream_now(done)
        lag = max(0.0, (stream_now if stream_now is not None else window.end) - window.end)
        scored = WindowScores(window, fused, per_model)
        row = timeline_rows([scored], scorer.classes, settings.top_k)[0]
        dropped = reader.dropped + windows.skipped
        labelled = LiveWindow(row, len(held), lag, dropped, done - began)
        result.windows.append(labelled)
        timings.append(labelled.inference)
        if len(timings) == _TIMING_WINDOWS:
            # the first inference also warms the model up; the others tell its pace
            typical = float(np.median(timings[1:]))
            if typical > settings.stride:
                log.warning("%s", _slow_warning(scorer, typical, settings))
        if on_window is not None:
            on_window(labelled)


def predict_stream(
    source: str,
    scorer: WindowScorer,
    settings: StreamSettings,
    on_window: Callable[[LiveWindow], None] | None = None,
    timeline: str | os.PathLike[str] | None = None,
    meta: dict[str, Any] | None = None,
    stdin: BinaryIO | None = None,
) -> StreamResult:
    """Label the windows of the live `source` (`--stream`: a camera index or device, a URL,
    or `-` for `stdin`) as they complete, calling `on_window` with each, until the stream
    ends, `settings.max_seconds` pass (counted from when it opened), or Ctrl-C. The timeline
    (when asked for) is written in every case; SIGTERM writes it too, then propagates
    (`Terminated`). DataError when the source does not open or sends no video."""
    live = resolve_live_source(source, stdin)
    if timeline is not None:
        check_timeline_path(timeline)
    result = StreamResult(live.name)
    windows = _Windows(settings.window, settings.stride)
    reader: FrameReader | None = None
    interrupt: KeyboardInterrupt | None = None
    try:
        reader = open_reader(live, scorer, settings)
        _follow(reader, windows, scorer, settings, result, on_window)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM as `Terminated`
        interrupt = exc
        result.stopped = "terminated" if isinstance(exc, Terminated) else "interrupted"
    finally:
        if reader is not None:
            reader.close()
    if reader is not None:
        result.decoded, result.error = reader.decoded, reader.error
        result.dropped = reader.dropped + windows.skipped
    if result.decoded == 0 and result.stopped == "end of stream":
        reason = f" ({result.error})" if result.error else ""
        raise DataError(
            f"{live.name} sent no video frames{reason}; check that the sender is sending video"
        )
    if timeline is not None:
        info = {
            "stream": live.name,
            "window": settings.window,
            "stride": settings.stride,
            "frames": result.decoded,
            "dropped": result.dropped,
            "stopped": result.stopped,
            **(meta or {}),
            "classes": scorer.classes,
        }
        result.timeline = write_timeline(timeline, result.rows, info)
    if isinstance(interrupt, Terminated):
        raise interrupt
    return result
