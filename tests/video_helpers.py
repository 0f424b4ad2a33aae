"""Tiny generated videos (MJPG/XVID .avi, mp4v .mp4) for video-source tests."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from flow_helpers import shifted_frames

CODECS = {"mjpg": ("MJPG", "avi"), "xvid": ("XVID", "avi"), "mp4v": ("mp4v", "mp4")}


def make_video(
    folder: Path, name: str, codec: str = "mjpg", n: int = 40, size: tuple[int, int] = (64, 48)
) -> Path:
    """A video of a texture moving right 2 px per frame (so XVID/mp4v write P-frames)."""
    fourcc, ext = CODECS[codec]
    path = folder / f"{name}.{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} here"
    seed = sum(map(ord, name)) % 1000
    for frame in shifted_frames(n, width, height, 2, 1, seed=seed, channels=3):
        writer.write(frame)
    writer.release()
    return path


def decode_all(path: Path) -> list[np.ndarray]:
    """Every frame of a video, decoded from the start with plain PyAV (the reference): BGR."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
