"""Generated test inputs for the flow tests: textured frames moving by a known amount, videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def texture(height: int, width: int, seed: int = 0, channels: int = 0) -> np.ndarray:
    """Smooth random texture, uint8 [H, W] (or [H, W, C]), good for optical flow."""
    rng = np.random.default_rng(seed)
    shape = (height, width, channels) if channels else (height, width)
    noise = (rng.random(shape) * 255).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.5)


def shifted_frames(
    n: int, width: int, height: int, dx: int, dy: int, *, seed: int = 0, channels: int = 0
) -> list[np.ndarray]:
    """n frames of one texture whose content moves by (dx, dy) pixels per frame."""
    margin = max(abs(dx), abs(dy)) * n + 4
    big = texture(height + 2 * margin, width + 2 * margin, seed, channels)
    return [
        big[
            margin - dy * i : margin - dy * i + height, margin - dx * i : margin - dx * i + width
        ].copy()
        for i in range(n)
    ]


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """Write BGR (or greyscale) frames as an MJPG .avi."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    for f in frames:
        writer.write(f if f.ndim == 3 else cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def moving_video(path: Path, n: int = 5, width: int = 64, height: int = 48, dx: int = 2) -> Path:
    """A small colour video whose content moves right by dx pixels per frame."""
    return write_video(path, shifted_frames(n, width, height, dx, 0, channels=3))
