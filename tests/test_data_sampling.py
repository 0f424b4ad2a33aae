"""TSN sampling formulas (train/val/test) including short videos, and 1-based frame indices."""

from __future__ import annotations

import numpy as np

from tsncli.data.sampling import (
    snippet_frame_indices,
    test_offsets,
    train_offsets,
    val_offsets,
)


def test_train_offsets_fall_inside_their_own_segment():
    rng = np.random.default_rng(0)
    for _ in range(50):
        offsets = train_offsets(100, 3, 1, rng)
        # avg = 100 // 3 = 33: segment i covers [33 i, 33 i + 33)
        for i, o in enumerate(offsets):
            assert 33 * i <= o < 33 * (i + 1)


def test_train_offsets_for_flow_leave_room_for_the_stack():
    rng = np.random.default_rng(1)
    for _ in range(50):
        offsets = train_offsets(20, 3, 5, rng)
        assert offsets.max() + 5 <= 20


def test_train_offsets_for_videos_shorter_than_segments_times_average():
    rng = np.random.default_rng(2)
    # N=5, S=3, L=5 -> avg = 1 // 3 = 0, N > S -> sorted ints in [0, 1)
    assert train_offsets(5, 3, 5, rng).tolist() == [0, 0, 0]
    # N=4, S=3, L=1 -> avg = 1 -> regular
    assert sorted(train_offsets(4, 3, 1, rng).tolist()) == train_offsets(4, 3, 1, rng).tolist()
    # N <= S -> zeros
    assert train_offsets(2, 3, 1, rng).tolist() == [0, 0, 0]


def test_val_offsets_are_segment_centres():
    # tick = 100/3; offsets int(tick/2 + tick*i) = 16, 50, 83
    assert val_offsets(100, 3, 1).tolist() == [16, 50, 83]
    # flow: tick = 96/3 = 32 -> 16, 48, 80
    assert val_offsets(100, 3, 5).tolist() == [16, 48, 80]
    assert val_offsets(3, 3, 1).tolist() == [0, 0, 0]


def test_test_offsets_are_evenly_spaced_and_in_range():
    offsets = test_offsets(250, 25, 1)
    assert offsets.tolist() == [5 + 10 * i for i in range(25)]
    short = test_offsets(10, 25, 5)
    assert short.min() >= 0 and short.max() <= 5
    assert np.all(np.diff(short) >= 0)


def test_frame_indices_are_one_based_and_repeat_the_last_frame():
    idx = snippet_frame_indices(np.array([0, 7]), 5, 10)
    assert idx.tolist() == [[1, 2, 3, 4, 5], [8, 9, 10, 10, 10]]
