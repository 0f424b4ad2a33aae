"""Draw a labelled confusion-matrix PNG with OpenCV (row-normalised, rows = true classes),
optionally with the classes in a given order (the report sorts them by accuracy)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from tsncli.fsutil import atomic_path

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def render_confusion(
    confusion: np.ndarray,
    class_names: list[str] | None = None,
    order: np.ndarray | list[int] | None = None,
) -> np.ndarray:
    """A BGR image [H, W, 3] uint8: one cell per class pair, names on the left and the top.
    `order` (class indices) permutes rows and columns alike, so the diagonal stays correct."""
    cf = np.asarray(confusion, dtype=np.float64)
    c = cf.shape[0]
    names = class_names or [str(i) for i in range(c)]
    if order is not None:
        index = np.asarray(order, dtype=np.int64)
        if sorted(index.tolist()) != list(range(c)):
            raise ValueError(f"order must be a permutation of the {c} class indices")
        cf = cf[np.ix_(index, index)]
        names = [names[i] for i in index]
    cell = int(np.clip(1000 // max(c, 1), 8, 40))
    scale = max(0.3, min(0.5, cell / 30))
    text_w = max(cv2.getTextSize(n, _FONT, scale, 1)[0][0] for n in names) + 8
    rates = cf / np.maximum(cf.sum(axis=1, keepdims=True), 1)  # [C, C] row-normalised
    grid = (255 * rates).astype(np.uint8)
    grid = cv2.resize(grid, (c * cell, c * cell), interpolation=cv2.INTER_NEAREST)
    heat = cv2.applyColorMap(grid, cv2.COLORMAP_VIRIDIS)
    image = np.full((text_w + c * cell + 4, text_w + c * cell + 4, 3), 255, np.uint8)
    image[text_w : text_w + c * cell, text_w : text_w + c * cell] = heat
    top = np.full((text_w, c * cell, 3), 255, np.uint8).transpose(1, 0, 2).copy()  # rotated
    for i, name in enumerate(names):
        y = text_w + i * cell + cell // 2 + 4
        cv2.putText(image, name, (4, y), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(top, name, (4, i * cell + cell // 2 + 4), _FONT, scale, (0, 0, 0), 1)
    image[:text_w, text_w : text_w + c * cell] = cv2.rotate(top, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def save_confusion_png(
    path: str | os.PathLike[str],
    confusion: np.ndarray,
    class_names: list[str] | None = None,
    order: np.ndarray | list[int] | None = None,
) -> Path:
    """Write the confusion-matrix image atomically as PNG (`order`: as `render_confusion`)."""
    ok, data = cv2.imencode(".png", render_confusion(confusion, class_names, order))
    if not ok:  # pragma: no cover - PNG encoding of a uint8 image does not fail
        raise RuntimeError("PNG encoding failed")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return Path(path)
