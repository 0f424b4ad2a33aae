"""Support for video_loader_throughput.py: the benchmark's video sets (encoded with PyAV), the
OpenCV sparse reader `tsn` used before PyAV (the baseline), per-reader decode accounting, and
the per-frame costs the floor is built from (sequential decode, open, JPEG read, conversion)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from tsncli.video.backend import frame_to_bgr
from tsncli.video.decode import resize_frame
from tsncli.video.timeline import keyframe_at_or_before

OPENCV_SEEK_BACK = 16  # frames cv2's FFmpeg seek rewinds before decoding forward


def texture_video(
    path: Path, frames: int, size: tuple[int, int], codec: str, gop: int, bframes: int = 0
) -> Path:
    """A blurred texture panning 2 px per frame, encoded with PyAV (`codec`, GOP, B-frames)."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    w, h = size
    base = cv2.GaussianBlur((rng.random((h, w + 2 * frames, 3)) * 255).astype(np.uint8), (0, 0), 2)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":  # x264's defaults otherwise (preset medium, CRF 23)
            stream.options = {"g": str(gop), "bf": str(bframes), "keyint_min": str(gop)}
        elif bframes:
            stream.codec_context.max_b_frames = bframes
        for k in range(frames):
            image = np.ascontiguousarray(base[:, 2 * k : 2 * k + w])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


class OpenCVSparseReader:
    """`tsn`'s sparse reader before PyAV (the baseline): cv2 seeks, which rewind 16 frames
    then to a keyframe, only when that starts past the current position; else grab forward."""

    def __init__(self, path, keyframes=None, size=None, short_side=None, *_args) -> None:
        self.path, self.keyframes = path, keyframes
        self.size, self.short_side = size, short_side
        self.decoded = 0
        self.seeks = 0

    def _rewind(self, target: int) -> int:
        return keyframe_at_or_before(self.keyframes, target - OPENCV_SEEK_BACK)

    def read(self, positions):
        wanted = sorted({int(p) for p in positions})
        frames = {}
        capture = cv2.VideoCapture(str(self.path))
        position = 0
        try:
            for target in wanted:
                if self.keyframes and position < self._rewind(target):
                    self.decoded += target - self._rewind(target)  # inside cv2 (estimated)
                    self.seeks += 1
                    capture.set(cv2.CAP_PROP_POS_FRAMES, target)
                    position = target
                while position < target:
                    self.decoded += 1
                    capture.grab()
                    position += 1
                self.decoded += 1
                _ok, frame = capture.read()
                position += 1
                frames[target] = resize_frame(frame, size=self.size, short_side=self.short_side)
        finally:
            capture.release()
        return frames


class Accounting:
    """Wraps a source's `reader` to sum decoded frames, skipped (non-reference) frames, the
    planner's minimum of frames passed (when the reader has a `plan`), clips and the CPU
    seconds spent inside `read`."""

    def __init__(self, make_reader) -> None:
        self.make_reader = make_reader
        self.decoded = self.skipped = self.minimum = self.clips = 0
        self.seconds = 0.0

    def __call__(self, path):
        reader = self.make_reader(path)
        real_read = reader.read

        def read(positions):
            positions = list(positions)
            if hasattr(reader, "plan"):
                self.minimum += reader.plan(positions).decoded
            before, skipped = reader.decoded, getattr(reader, "skipped", 0)
            start = time.process_time()
            frames = real_read(positions)
            self.seconds += time.process_time() - start
            self.decoded += reader.decoded - before
            self.skipped += getattr(reader, "skipped", 0) - skipped
            self.clips += 1
            return frames

        reader.read = read
        return reader


def sequential_seconds_per_frame(path: Path) -> float:
    """Seconds per frame of a plain single-threaded PyAV decode from start to end (no colour
    conversion, like `ffmpeg -threads 1 -i F -f null -`)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        start, count = time.process_time(), 0
        for _frame in container.decode(stream):
            count += 1
        return (time.process_time() - start) / max(1, count)


def open_seconds(path: Path, repeats: int = 10) -> float:
    """Seconds to open and close a video with PyAV (paid once per clip by the sparse reader)."""
    start = time.process_time()
    for _ in range(repeats):
        av.open(str(path)).close()
    return (time.process_time() - start) / repeats


def _best_per_item(fn: Callable[[object], object], items: list, repeats: int = 3) -> float:
    """CPU seconds per item of `fn` over `items`, the best of `repeats` passes."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for item in items:
            fn(item)
        best = min(best, (time.process_time() - start) / max(1, len(items)))
    return best


def imread_seconds(folder: Path, limit: int = 60) -> float:
    """Seconds to read one frame-folder JPEG (`cv2.imread`, what the frame loader pays)."""
    files = sorted(str(p) for p in folder.glob("img_*.jpg"))[:limit]
    return _best_per_item(cv2.imread, files)


def convert_resize_seconds(path: Path, size: tuple[int, int], limit: int = 60) -> float:
    """Seconds per frame of what the video loader adds to decoding: swscale to BGR
    (`frame_to_bgr`), the bilinear resize to `size` (`resize_frame`) and BGR -> RGB."""
    with av.open(str(path)) as container:
        frames = list(itertools.islice(container.decode(video=0), limit))

    def convert(frame: av.VideoFrame) -> object:
        bgr = resize_frame(frame_to_bgr(frame), size=size)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    return _best_per_item(convert, frames)
