"""A live sender for `tsn predict --stream` tests and benchmarks: generated frames (a coloured
square moving across a textured background) encoded with PyAV as MPEG-TS, sent over TCP on
127.0.0.1 or into a pipe at real-time pace, with the sender's own clock to measure lag by."""

from __future__ import annotations

import io
import socket
import threading
import time
from typing import BinaryIO

import av
import numpy as np

FPS = 25
SIZE = (64, 48)  # width, height


def moving_square(n: int, size: tuple[int, int] = SIZE, colour=(255, 0, 0)) -> list[np.ndarray]:
    """`n` RGB frames of a square moving 2 px right per frame over horizontal stripes."""
    width, height = size
    frames = []
    for t in range(n):
        image = np.full((height, width, 3), 90, np.uint8)
        image[::8] = 60  # texture, so flow has something to track
        x = (8 + 2 * t) % max(width - 12, 1)
        image[height // 3 : height // 3 + 12, x : x + 12] = colour
        frames.append(image)
    return frames


def encode_mpegts(frames: list[np.ndarray], fps: int = FPS) -> tuple[bytes, list[int]]:
    """MPEG-TS bytes of `frames` (MPEG-2 video, no B-frames, so none waits for a later one)
    and, per frame, the byte offset by which it has been muxed: frame i is whole once
    `bounds[i]` bytes are out."""
    height, width = frames[0].shape[:2]
    buffer = io.BytesIO()
    bounds = []
    with av.open(buffer, "w", format="mpegts", options={"flush_packets": "1"}) as container:
        stream = container.add_stream("mpeg2video", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.max_b_frames = 0
        stream.codec_context.gop_size = fps
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
            bounds.append(buffer.tell())
        for packet in stream.encode():
            container.mux(packet)
    data = buffer.getvalue()
    # an encoder holding a frame back muxes it with the next: the last ones at the flush
    bounds = bounds[1:] + [len(data)]
    return data, bounds


class RealTimeSender:
    """Sends `frames` as MPEG-TS at `fps`, frame i when its time comes on the sender's clock
    (`clock()`: seconds since the first byte went out), over TCP to the first client that
    connects to `port` (`serve_tcp`) or into a pipe (`write_to`)."""

    def __init__(self, frames: list[np.ndarray], fps: int = FPS) -> None:
        self.fps = fps
        self.data, self.bounds = encode_mpegts(frames, fps)
        self.started: float | None = None
        self.finished = threading.Event()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def seconds(self) -> float:
        """The stream's length in seconds."""
        return len(self.bounds) / self.fps

    def clock(self) -> float:
        """Seconds of stream the sender has sent so far (0 before it started)."""
        if self.started is None:
            return 0.0
        return min(time.monotonic() - self.started, self.seconds)

    def _send(self, write) -> None:
        self.started = time.monotonic()
        sent = 0
        try:
            for i, bound in enumerate(self.bounds):
                delay = self.started + i / self.fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                write(self.data[sent:bound])
                sent = bound
        except (BrokenPipeError, ConnectionError, OSError, ValueError):
            pass  # the receiver stopped listening: that is its right
        finally:
            self.finished.set()

    def serve_tcp(self) -> int:
        """Listen on 127.0.0.1; return the port. One client gets the stream, then it closes."""
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(1)

        def run() -> None:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed before anyone connected
            with conn:
                self._send(conn.sendall)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self._server.getsockname()[1]

    def write_to(self, pipe: BinaryIO, close: bool = True) -> None:
        """Send into `pipe` on a thread (closing it at the end, as a sender that stops)."""

        def run() -> None:
            def write(chunk: bytes) -> None:
                pipe.write(chunk)
                pipe.flush()

            self._send(write)
            if close:
                try:
                    pipe.close()
                except OSError:
                    pass

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=self.seconds + 5)

    def __enter__(self) -> RealTimeSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
