"""Videos encoded in the tests with PyAV: H.264 with B-frames and a long GOP, MPEG-4 part 2 AVI,
MJPG AVI, and variable-frame-rate H.264 (irregular timestamps on a 1 ms time base)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from flow_helpers import shifted_frames

# name: (codec, file extension, GOP, B-frames, variable rate, pixel format)
FIXTURES = {
    "h264_bframes": ("libx264", "mp4", 100, 3, False, "yuv420p"),
    "mpeg4_avi": ("mpeg4", "avi", 12, 2, False, "yuv420p"),
    "mjpg_avi": ("mjpeg", "avi", 1, 0, False, "yuvj420p"),
    "vfr_h264": ("libx264", "mkv", 30, 2, True, "yuv420p"),
}
VFR_STEPS_MS = (20, 33, 40, 77)


def encode_video(
    path: Path, codec: str, n: int, gop: int, bframes: int = 0, variable: bool = False,
    pix_fmt: str = "yuv420p", size: tuple[int, int] = (64, 48), seed: int = 0,
) -> Path:  # fmt: skip
    """Encode `n` frames of a texture moving 2 px right per frame (B/P-frames really predict)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.options = {"bf": str(bframes), "g": str(gop), "keyint_min": str(gop),
                              "sc_threshold": "0"}  # fmt: skip
        elif bframes:
            stream.codec_context.max_b_frames = bframes
        if variable:
            stream.codec_context.time_base = Fraction(1, 1000)
        t = 0
        for image in shifted_frames(n, width, height, 2, 0, seed=seed, channels=3):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            if variable:
                frame.pts, frame.time_base = t, Fraction(1, 1000)
                t += int(rng.choice(VFR_STEPS_MS))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_fixture(folder: Path, name: str, n: int = 120) -> Path:
    """The fixture `name` (see FIXTURES) with `n` frames, written under `folder`."""
    codec, ext, gop, bframes, variable, pix_fmt = FIXTURES[name]
    return encode_video(folder / f"{name}.{ext}", codec, n, gop, bframes, variable, pix_fmt)


def sequential_frames(path: Path) -> list[np.ndarray]:
    """Every frame from a plain PyAV decode from the start (the reference), BGR uint8."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
