"""TSN snippet sampling: the one place train, val, test and predict pick frames.

S segments, L = new_length consecutive frames per snippet, N frames in the video. Offsets are
0-based; `snippet_frame_indices` turns them into 1-based frame numbers (dense_flow files).
"""

from __future__ import annotations

import numpy as np


def train_offsets(
    num_frames: int, num_segments: int, new_length: int, rng: np.random.Generator
) -> np.ndarray:
    """Random offset inside each of S equal segments (TSN training). Shape [S], int64."""
    usable = num_frames - new_length + 1
    average = usable // num_segments
    if average > 0:
        return np.arange(num_segments) * average + rng.integers(0, average, size=num_segments)
    if num_frames > num_segments and usable > 0:
        return np.sort(rng.integers(0, usable, size=num_segments))
    return np.zeros(num_segments, dtype=np.int64)


def val_offsets(num_frames: int, num_segments: int, new_length: int) -> np.ndarray:
    """Centre of each segment (TSN validation). Shape [S], int64."""
    if num_frames > num_segments + new_length - 1:
        tick = (num_frames - new_length + 1) / float(num_segments)
        return np.array([int(tick / 2.0 + tick * i) for i in range(num_segments)], dtype=np.int64)
    return np.zeros(num_segments, dtype=np.int64)


def test_offsets(num_frames: int, num_segments: int, new_length: int) -> np.ndarray:
    """Evenly spaced snippets (TSN testing, 25 by default); short videos repeat frames."""
    usable = max(num_frames - new_length + 1, 1)
    tick = usable / float(num_segments)
    return np.array(
        [min(int(tick / 2.0 + tick * i), usable - 1) for i in range(num_segments)], dtype=np.int64
    )


def snippet_frame_indices(offsets: np.ndarray, new_length: int, num_frames: int) -> np.ndarray:
    """1-based frame numbers [S, L]: offset+1 ... offset+L, the last frame repeating past N."""
    steps = np.arange(new_length)[None, :]
    return np.minimum(np.asarray(offsets)[:, None] + 1 + steps, max(num_frames, 1))


# `test_offsets` is a library function, not a pytest test, even when imported into a test module.
test_offsets.__test__ = False  # type: ignore[attr-defined]
