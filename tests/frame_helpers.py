"""Frame folders of textured JPEGs, like dense_flow's (`img_`, `flow_x_`, `flow_y_`, 1-based), for
the loader tests: smooth random textures that shift from frame to frame, so JPEG entropy and
crops look like real frames'."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tsncli.lists.listfile import VideoRecord


def textured_frame_folders(root: Path, shapes: list[tuple[int, int, int]]) -> list[VideoRecord]:
    """One folder `root/video_<v>` per (width, height, frames) in `shapes`, labelled v."""
    rng = np.random.default_rng(0)
    records = []
    for v, (width, height, count) in enumerate(shapes):
        folder = root / f"video_{v}"
        folder.mkdir()
        base = cv2.GaussianBlur(
            (rng.random((height, width + 40, 3)) * 255).astype(np.uint8), (0, 0), 2
        )
        grey = cv2.GaussianBlur(
            (rng.random((height, width + 40)) * 255).astype(np.uint8), (0, 0), 1
        )
        for k in range(1, count + 1):
            cv2.imwrite(str(folder / f"img_{k:05d}.jpg"), np.roll(base, 3 * k, 1)[:, :width])
            cv2.imwrite(str(folder / f"flow_x_{k:05d}.jpg"), np.roll(grey, k, 1)[:, :width])
            cv2.imwrite(str(folder / f"flow_y_{k:05d}.jpg"), np.roll(grey, -k, 0)[:, :width])
        records.append(VideoRecord(str(folder), count, v))
    return records
