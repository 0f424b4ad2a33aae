"""The decode planner: it decodes the fewest frames any seek/decode-through choice allows, for
all-intra, GOP 12 and GOP 250 layouts, never past the last needed frame."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tsncli.video.plan import plan_decode
from tsncli.video.timeline import keyframe_at_or_before

LAYOUTS = {
    "all-intra": list(range(600)),
    "gop12": list(range(0, 600, 12)),
    "gop250": list(range(0, 600, 250)),
}


def brute_force_minimum(needed: list[int], keyframes: list[int]) -> int:
    """Fewest decoded frames over every choice of seeking or decoding through at each frame."""
    best = None
    for choices in itertools.product((False, True), repeat=len(needed)):
        position, total = 0, 0
        for target, seek in zip(needed, choices, strict=True):
            start = keyframe_at_or_before(keyframes, target) if seek else position
            if start > target:
                break
            total += target - start + 1
            position = target + 1
        else:
            best = total if best is None else min(best, total)
    return best


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_planner_decodes_the_minimum_for_random_clips(layout):
    keyframes = LAYOUTS[layout]
    rng = np.random.default_rng(len(layout))
    for _ in range(60):
        needed = sorted(rng.choice(600, size=int(rng.integers(1, 9)), replace=False).tolist())
        assert plan_decode(needed, keyframes).decoded == brute_force_minimum(needed, keyframes)


def test_all_intra_video_decodes_only_the_needed_frames():
    plan = plan_decode([5, 300, 301, 599], LAYOUTS["all-intra"])
    assert plan.decoded == 4 and [s.seek_to for s in plan.steps] == [5, 300, None, 599]


def test_gop12_seeks_to_each_group_and_decodes_through_within_one():
    plan = plan_decode([30, 33, 100], LAYOUTS["gop12"])
    # 24..30 (7 frames), 31..33 (3), then seek to 96 and decode 96..100 (5)
    assert [(s.seek_to, s.decoded) for s in plan.steps] == [(24, 7), (None, 3), (96, 5)]


def test_gop250_three_snippets_decode_from_their_keyframes():
    # a TSN training clip of 3 one-frame snippets in a 600-frame video, GOP 250
    plan = plan_decode([90, 290, 490], LAYOUTS["gop250"])
    assert [(s.seek_to, s.decoded) for s in plan.steps] == [(None, 91), (250, 41), (None, 200)]
    assert plan.decoded == 332 and max(s.target for s in plan.steps) == 490  # never past 490


def test_without_keyframes_it_decodes_forward_from_the_start_only():
    plan = plan_decode([10, 20], None)
    assert plan.seeks == 0 and plan.decoded == 21


def test_a_frame_behind_the_decoder_is_a_programming_error():
    with pytest.raises(ValueError):
        plan_decode([3], [0], position=5)
