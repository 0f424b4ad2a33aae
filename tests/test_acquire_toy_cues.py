"""The toy classes carry an appearance and a motion cue, each missing in a fixed share of videos."""

from __future__ import annotations

import cv2
import numpy as np

from tsncli.acquire.toy import _plan
from tsncli.acquire.toy_render import TOY_CLASSES, ToySpec, render_video_with_track

SPEC = ToySpec(videos_per_class=20, seed=0, min_frames=12, max_frames=16)


def _saturated_hues(frames: list[np.ndarray]) -> np.ndarray:
    """Hues (degrees) of strongly saturated, bright pixels over all frames."""
    hsv = cv2.cvtColor(np.concatenate(frames, axis=0), cv2.COLOR_BGR2HSV)
    mask = (hsv[..., 1] > 150) & (hsv[..., 2] > 100)
    return hsv[..., 0][mask].astype(np.float64) * 2.0


def test_every_class_has_its_own_colour_and_its_own_motion():
    hues = [hue for _, hue, _ in TOY_CLASSES]
    motions = [motion for _, _, motion in TOY_CLASSES]
    assert len(set(motions)) == len(motions)
    gaps = [min(abs(a - b), 360 - abs(a - b)) for i, a in enumerate(hues) for b in hues[i + 1 :]]
    assert min(gaps) >= 30


def test_grey_and_still_videos_have_the_designed_share_in_each_class_and_subset():
    plans = _plan(SPEC)
    for label in range(len(TOY_CLASSES)):
        for subset in ("train", "test"):
            group = [p for p in plans if p.label == label and p.subset == subset]
            assert sum(p.grey for p in group) == round(len(group) * SPEC.grey_fraction)
            assert sum(p.still for p in group) == round(len(group) * SPEC.still_fraction)


def test_missing_cues_are_drawn_independently():
    plans = _plan(ToySpec(videos_per_class=40, seed=0))
    both = sum(p.grey and p.still for p in plans) / len(plans)
    assert 0.0 < both < 0.1  # about grey_fraction * still_fraction = 0.04


def test_coloured_objects_show_their_class_hue_and_grey_objects_none():
    plans = _plan(SPEC)
    for label, (_, hue, _) in enumerate(TOY_CLASSES):
        coloured = next(p for p in plans if p.label == label and not p.grey)
        grey = next(p for p in plans if p.label == label and p.grey)
        hues = _saturated_hues(render_video_with_track(coloured, SPEC)[0])
        assert hues.size > 100
        distance = np.minimum(np.abs(hues - hue), 360 - np.abs(hues - hue))
        assert np.median(distance) < 15
        assert _saturated_hues(render_video_with_track(grey, SPEC)[0]).size < 20


def test_still_objects_stand_still_and_moving_objects_travel():
    for plan in _plan(SPEC):
        _, centres, cameras = render_video_with_track(plan, SPEC)
        travel = np.abs(centres - centres[0]).max()
        if plan.still:
            assert travel == 0.0
        else:
            assert travel > 3.0, plan.name
        assert np.abs(cameras).max() < 8  # the camera only jitters


def test_horizontal_motions_go_both_ways_so_flips_keep_the_class():
    spec = ToySpec(videos_per_class=12, seed=0, min_frames=12, max_frames=12)
    for label, (_, _, motion) in enumerate(TOY_CLASSES):
        if motion not in ("slide", "climb", "drop"):
            continue
        moving = [p for p in _plan(spec) if p.label == label and not p.still]
        dx = [
            np.sign(
                render_video_with_track(p, spec)[1][-1, 0]
                - render_video_with_track(p, spec)[1][0, 0]
            )
            for p in moving
        ]
        assert {1.0, -1.0} <= set(dx), motion


def test_still_objects_sit_where_a_centre_crop_sees_them():
    spec = ToySpec(videos_per_class=10, seed=0, min_frames=8, max_frames=8)
    side = min(spec.width, spec.height)
    for plan in (p for p in _plan(spec) if p.still):
        centre = render_video_with_track(plan, spec)[1][0]
        assert (spec.width - side) / 2 < centre[0] < (spec.width + side) / 2, plan.name
