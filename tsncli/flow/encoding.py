"""The one flow <-> 8-bit image encoding (dense_flow's), used by flow, train, eval and predict."""

from __future__ import annotations

import numpy as np

from tsncli.frame_settings import DEFAULT_BOUND


def encode_flow(flow: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Map flow in pixels to uint8: clip to [-b, b], then round(255 * (v + b) / (2b)).

    Zero flow maps to 128 (127.5 rounded half to even gives 128). Works on any shape.
    """
    if bound <= 0:
        raise ValueError(f"flow bound must be positive, got {bound}")
    v = np.clip(np.asarray(flow, dtype=np.float32), -bound, bound)
    return np.rint(255.0 * (v + bound) / (2.0 * bound)).astype(np.uint8)


def decode_flow(image: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Inverse of `encode_flow`: uint8 (or float 0..255) back to pixels, float32."""
    if bound <= 0:
        raise ValueError(f"flow bound must be positive, got {bound}")
    return np.asarray(image, dtype=np.float32) * (2.0 * bound / 255.0) - bound
