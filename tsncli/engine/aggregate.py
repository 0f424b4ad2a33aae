"""THE score aggregation of one video: crop mean|max, then snippet mean, optional softmax.

Below both `scores` (legacy files are aggregated on load) and `fusion` (which fuses aggregated
scores), so neither has to import the other.
"""

from __future__ import annotations

import numpy as np

from tsncli.errors import UsageError

CROP_AGGREGATIONS = ("mean", "max")


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def aggregate_video(
    raw: np.ndarray, crop_agg: str = "mean", use_softmax: bool = False
) -> np.ndarray:
    """Video score [C] from raw [S, K, C]: crop mean|max, snippet mean, optional softmax.

    Exactly the original `default_aggregation_func` (float32 arithmetic as in numpy there).
    """
    if crop_agg not in CROP_AGGREGATIONS:
        raise UsageError(f"unknown crop aggregation {crop_agg!r}; use one of {CROP_AGGREGATIONS}")
    r = np.asarray(raw, dtype=np.float32)
    per_snippet = r.mean(axis=-2) if crop_agg == "mean" else r.max(axis=-2)  # [S, C]
    video = per_snippet.mean(axis=-2)  # [C]
    return softmax(video) if use_softmax else video
