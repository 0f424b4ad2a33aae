"""Long videos for the window tests, encoded with PyAV: phases of evalkit's moving squares
(one class per phase), small frames so a minute of video encodes and decodes in a second."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

# per evalkit class (red_left, green_right, blue_up): RGB colour and velocity in px per frame
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
VELOCITY = [(-2, 0), (2, 0), (0, -2)]


def phase_frame(label: int, t: int, size: tuple[int, int] = (96, 72)) -> np.ndarray:
    """Frame `t` of a phase of class `label`: an RGB uint8 [H, W, 3] square moving on a
    striped background (stripes give flow something to track)."""
    width, height = size
    image = np.full((height, width, 3), 90, np.uint8)
    image[::8] = 60
    dx, dy = VELOCITY[label]
    side = height // 4
    x = (width // 2 + dx * (t % 12)) % (width - side)
    y = (height // 2 + dy * (t % 12)) % (height - side)
    image[y : y + side, x : x + side] = COLOURS[label]
    return image


def write_phased_video(
    path: Path,
    phases: list[tuple[int, float]],
    fps: int = 10,
    size: tuple[int, int] = (96, 72),
    codec: str = "mpeg4",
) -> Path:
    """Encode phases [(class, seconds)] one after another at `fps`; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for label, seconds in phases:
            for t in range(round(seconds * fps)):
                frame = av.VideoFrame.from_ndarray(phase_frame(label, t, size), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
