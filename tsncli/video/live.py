"""Live video input for `tsn predict --stream`: name a source (a camera, a URL FFmpeg opens, or
stdin), open it with PyAV, and decode it on a reader thread into a bounded buffer that keeps the
newest frames, stamping each with the stream's own clock (the sender's time)."""

from __future__ import annotations

import glob
import os
import re
import stat
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, BinaryIO

import av
import cv2
import numpy as np

from tsncli.errors import DataError, UsageError
from tsncli.video.backend import AV_ERRORS, decode_threads, frame_to_bgr, short_error
from tsncli.video.decode import resize_frame

STDIN = "-"
CAMERA_FORMAT = "v4l2"  # FFmpeg's Video4Linux2 input device (libavdevice, in PyAV's wheels)
# `scheme://...`: any protocol; FFmpeg says which it does not know
_URL = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)([^/@:]*)(:[^/@]*)?@", re.IGNORECASE)
# FFmpeg's input options for low delay: analyse 0.1 s of stream instead of up to 5 s before the
# first frame (its default held a live stream's first frame back by about a second); a codec's
# parameters still arrive in-band with its first keyframe
LIVE_OPTIONS = {"analyzeduration": "100000", "probesize": "32768"}
# a pts jump larger than this (seconds), or backwards, is a discontinuity (an MPEG-TS clock
# wrap, a camera restart): the stream clock then advances by the arrival gap instead
_JUMP = 5.0


@dataclass(frozen=True)
class LiveSource:
    """What `--stream SRC` names: `kind` is camera, url or stdin; `target` is what av.open gets
    (a device path, the URL, or a file object), `format` the demuxer to force (None: probe)."""

    text: str
    kind: str
    target: Any
    format: str | None = None

    @property
    def name(self) -> str:
        """The source as error messages and logs show it (a URL's password hidden)."""
        if self.kind == "stdin":
            return "stdin"
        if self.kind == "camera" and self.text != self.target:
            return f"camera {self.text} ({self.target})"
        return redact_url(self.text) if self.kind == "url" else f"camera {self.text}"


def redact_url(url: str) -> str:
    """`url` with the password of `scheme://user:password@host` replaced by `***`."""
    return _USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}{':***' if m.group(3) else ''}@", url)


def resolve_live_source(text: str, stdin: BinaryIO | None = None) -> LiveSource:
    """The source `text` names: `-` (stdin, or `stdin` when given), a camera index (`0`, read as
    /dev/video0) or device, or a URL with a scheme (`rtsp://`, `udp://`, `http://`, `tcp://`, ...).
    UsageError for anything else, a regular file included (a file is not live)."""
    text = text.strip()
    if text == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        return LiveSource(text, "stdin", _PartialReader(stream))
    if text.isdigit():
        return LiveSource(text, "camera", _camera_device(int(text)), CAMERA_FORMAT)
    if _URL.match(text):
        return LiveSource(text, "url", text)
    if text.startswith("/dev/video"):
        return LiveSource(text, "camera", text, CAMERA_FORMAT)
    if os.path.exists(text):
        mode = os.stat(text).st_mode
        if stat.S_ISFIFO(mode):  # a named pipe is a live byte stream, as stdin is
            return LiveSource(text, "url", text)
        if stat.S_ISCHR(mode):
            return LiveSource(text, "camera", text, CAMERA_FORMAT)
        raise UsageError(
            f"--stream {text}: a file is not a live stream; label its windows with "
            f"`tsn predict {text} --window 2 --stride 1`"
        )
    raise UsageError(
        f"--stream {text}: not a camera index, camera device, URL or '-'; pass e.g. 0, "
        "/dev/video0, rtsp://host/path, udp://@:5000, tcp://host:port or - (stdin)"
    )


def _camera_device(index: int) -> str:
    """The device of camera `index` on this platform (Linux's /dev/videoN)."""
    if not sys.platform.startswith("linux"):
        raise UsageError(
            f"--stream {index}: camera indexes are read with Video4Linux2, which needs Linux; "
            "stream the camera with ffmpeg (e.g. to udp://127.0.0.1:5000) and pass that URL"
        )
    return f"/dev/video{index}"


class _PartialReader:
    """A binary stream as PyAV should read it live: `read(n)` returns what has arrived (at most
    `n` bytes) instead of waiting for all `n`, which on a pipe would wait for the sender to send
    a whole probe's worth (seconds of video) before the first frame decodes."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._read = getattr(stream, "read1", stream.read)

    def read(self, size: int = -1) -> bytes:
        return self._read(size if size > 0 else 65536)


def open_live_source(
    source: LiveSource, open_timeout: float = 10.0, read_timeout: float = 10.0
) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """(container, first video stream) of `source`, opened for low delay. DataError naming the
    source and FFmpeg's reason when it cannot be opened; a read that waits longer than
    `read_timeout` seconds for data later ends the stream."""
    if source.kind == "camera" and not os.path.exists(source.target):
        found = sorted(glob.glob("/dev/video[0-9]*"))
        have = f"cameras here: {', '.join(found)}" if found else "no camera is connected"
        raise DataError(
            f"{source.name} does not exist ({have}); pass the index or device of a camera"
        )
    try:
        container = av.open(
            source.target,
            format=source.format,
            options=LIVE_OPTIONS,
            timeout=(open_timeout, read_timeout),
            metadata_errors="ignore",
        )
    except av.error.ExitError:
        # FFmpeg gave up because a signal came (Ctrl-C while it waited for the source); PyAV
        # swallows the KeyboardInterrupt the handler raised, so raise it again here
        raise KeyboardInterrupt from None
    except AV_ERRORS as exc:
        reason = getattr(exc, "strerror", None) or short_error(exc)  # FFmpeg's words alone
        fix = {
            "stdin": "pipe a video stream into it (e.g. MPEG-TS)",
            "camera": "check that it is connected and no other program is using it",
        }.get(source.kind, "check that the sender is running and the address is right")
        raise DataError(f"cannot open stream {source.name} ({reason}); {fix}") from exc
    if not container.streams.video:
        container.close()
        raise DataError(f"{source.name} has no video stream; pass a source that sends video")
    stream = container.streams.video[0]
    stream.codec_context.thread_count = decode_threads()
    stream.codec_context.thread_type = "SLICE"  # frame threads hold frames back: latency
    return container, stream


@dataclass
class LiveFrame:
    """One decoded frame: `index` counts decoded frames from 0, `seconds` is its time on the
    stream's clock from the first frame, `arrived` the reader's monotonic clock when decoded."""

    index: int
    seconds: float
    arrived: float
    image: np.ndarray  # RGB uint8 [H, W, 3], resized


class _StreamClock:
    """Stream seconds from frame timestamps, counted from the first frame and never going back:
    a discontinuity (or a frame without a timestamp) advances by the arrival gap instead."""

    def __init__(self) -> None:
        self.origin: float | None = None
        self.last: tuple[float, float, float] | None = None  # (pts seconds, stream s, arrival)

    def seconds(self, pts: float | None, arrived: float) -> float:
        if self.last is None:
            self.origin = pts if pts is not None else 0.0
            self.last = (pts if pts is not None else 0.0, 0.0, arrived)
            return 0.0
        last_pts, last_seconds, last_arrived = self.last
        step = None if pts is None else pts - last_pts
        if step is None or step <= 0 or step > _JUMP:
            step = max(arrived - last_arrived, 1e-3)  # timestamps no longer tell: the wall does
        seconds = last_seconds + step
        self.last = (pts if pts is not None else last_pts + step, seconds, arrived)
        return seconds


class FrameReader:
    """Decodes a live stream on its own thread into a buffer of at most `capacity` frames; when
    the buffer is full the oldest frame is dropped (and counted), so the consumer always finds the
    newest frames however slow it is. The thread owns the container and closes it when done.

    `stream_now()` estimates the sender's clock: a real-time sender's frame `seconds` leave it at
    `arrived - offset` with a least offset for the frames that met no delay, so the smallest
    `arrived - seconds` seen maps monotonic time to stream time."""

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        capacity: int,
        *,
        size: tuple[int, int] | None = None,
        short_side: int | None = None,
        ignore_rotation: bool = False,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.container, self.stream = container, stream
        self.capacity = capacity
        self.size, self.short_side, self.ignore_rotation = size, short_side, ignore_rotation
        self.dropped = 0  # frames the buffer discarded before the consumer took them
        self.decoded = 0
        self.ended = False
        self.error: str | None = None  # why the stream ended early (a read error, a timeout)
        self._buffer: deque[LiveFrame] = deque()
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._offset: float | None = None  # least (arrival - stream seconds)
        self._last_seconds: float | None = None  # the newest frame's stream time
        self._thread = threading.Thread(target=self._run, name="tsn-live-reader", daemon=True)

    @property
    def fps(self) -> float:
        """The frame rate the stream declares (0.0 when it declares none)."""
        rate = self.stream.average_rate or self.stream.guessed_rate
        return float(rate or 0.0)

    def start(self) -> FrameReader:
        self._thread.start()
        return self

    def _run(self) -> None:
        clock = _StreamClock()
        try:
            for frame in self.container.decode(self.stream):
                if self._stop.is_set():
                    break
                arrived = time.monotonic()
                image = resize_frame(
                    frame_to_bgr(frame, ignore_rotation=self.ignore_rotation),
                    size=self.size,
                    short_side=self.short_side,
                )
                seconds = clock.seconds(frame.time, arrived)
                rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                self._push(LiveFrame(self.decoded, seconds, arrived, rgb))
                self.decoded += 1
        except AV_ERRORS as exc:  # a dropped connection, a read timeout, corrupt data
            if not self._stop.is_set():
                self.error = short_error(exc)
        finally:
            with self._ready:
                self.ended = True  # the sender's clock stops with its last frame
                self._ready.notify_all()
            self.container.close()

    def _push(self, frame: LiveFrame) -> None:
        with self._ready:
            offset = frame.arrived - frame.seconds
            self._offset = offset if self._offset is None else min(self._offset, offset)
            self._last_seconds = frame.seconds
            if len(self._buffer) >= self.capacity:
                self._buffer.popleft()
                self.dropped += 1
            self._buffer.append(frame)
            self._ready.notify_all()

    def take(self, timeout: float) -> list[LiveFrame]:
        """Every buffered frame, oldest first, waiting up to `timeout` seconds for one to
        arrive; [] when none came (or the stream ended: see `ended`)."""
        with self._ready:
            if not self._buffer and not self.ended:
                self._ready.wait(timeout)
            frames = list(self._buffer)
            self._buffer.clear()
            return frames

    def stream_now(self, at: float | None = None) -> float | None:
        """The sender's clock (stream seconds) at monotonic time `at` (now), estimated from the
        frames so far; None before the first frame. After the stream ended it stays at the last
        frame: a sender that stopped sends no newer frames to fall behind."""
        with self._ready:
            offset, last, ended = self._offset, self._last_seconds, self.ended
        if offset is None or last is None:
            return None
        now = (time.monotonic() if at is None else at) - offset
        return min(now, last) if ended else now

    def close(self, wait: float = 1.0) -> None:
        """Stop decoding; wait up to `wait` seconds for the thread (a read blocked on a silent
        network ends at its read timeout, and the daemon thread never holds up an exit)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(wait)

    def __enter__(self) -> FrameReader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
