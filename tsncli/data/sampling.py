"""TSN snippet sampling: the one place train, val, test and predict pick frames.

S segments, L = new_length consecutive frames per snippet, N frames in the video. Offsets are
0-based; `snippet_frame_indices` turns them into 1-based frame numbers (dense_flow files).
Dense testing of untrimmed videos places snippets by their centres instead (`dense_centres`).
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


def dense_centres(num_frames: int, stride: int) -> np.ndarray:
    """0-based snippet centres `stride//2 + k*stride` inside the video, as MMAction2's
    `UntrimmedSampleFrames(clip_interval=stride)`. Shape [S], int64. Where MMAction2 gives none
    (the video ends before the first centre), the one snippet is the video's middle frame, so
    every video is scored."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    centres = np.arange(stride // 2, num_frames, stride, dtype=np.int64)
    if centres.size == 0:
        return np.array([max(num_frames, 1) // 2], dtype=np.int64)
    return centres


def dense_frame_indices(num_frames: int, stride: int, new_length: int) -> np.ndarray:
    """1-based frame numbers [S, L] of dense testing: per centre c (`dense_centres`) the frames
    c - L//2 ... c + L - L//2 - 1, each clipped to the video (MMAction2's rule: a stack at either
    end repeats the first or last frame)."""
    steps = np.arange(-(new_length // 2), new_length - new_length // 2, dtype=np.int64)
    frames = dense_centres(num_frames, stride)[:, None] + steps[None, :]
    return np.clip(frames, 0, max(num_frames, 1) - 1) + 1


# `test_offsets` is a library function, not a pytest test, even when imported into a test module.
test_offsets.__test__ = False  # type: ignore[attr-defined]
