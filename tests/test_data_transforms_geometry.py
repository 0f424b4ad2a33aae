"""Crop geometry: multi-scale sizes, the 13-offset grid, centre and test crops."""

from __future__ import annotations

import numpy as np
import pytest

from tsncli.data import crops as C
from tsncli.data import transforms as T
from tsncli.errors import UsageError


def test_multiscale_sizes_for_340x256_rgb_are_256_224_192_168_with_distort_one():
    sizes = T.multiscale_crop_sizes(340, 256, 224, T.RGB_SCALES)
    sides = {256, 224, 192, 168}
    assert {w for w, _ in sizes} == sides and {h for _, h in sizes} == sides
    order = [256, 224, 192, 168]
    for w, h in sizes:
        assert abs(order.index(w) - order.index(h)) <= 1
    assert len(sizes) == 10  # 4 diagonal + 2 * 3 neighbours


def test_flow_scales_drop_the_smallest_ratio():
    sizes = T.multiscale_crop_sizes(340, 256, 224, T.crop_scales("flow"))
    assert {w for w, _ in sizes} == {256, 224, 192}
    assert T.crop_scales("rgbdiff") == T.FLOW_SCALES
    assert T.crop_scales("rgb") == (1.0, 0.875, 0.75, 0.66)


def test_sides_within_three_pixels_snap_to_the_crop_size():
    # base 254: 0.875 * 254 = 222.25 -> 222, within 3 px of 224 -> 224
    sides = {w for w, _ in T.multiscale_crop_sizes(400, 254, 224, T.RGB_SCALES)}
    assert 224 in sides and 222 not in sides
    # the snap target follows the crop size: base 128 at crop 112 gives 128, 112, 96, 84
    sides = {w for w, _ in T.multiscale_crop_sizes(171, 128, 112, T.RGB_SCALES)}
    assert sides == {128, 112, 96, 84}
    # a side 3 px away does not snap (strictly less than 3)
    sides = {w for w, _ in T.multiscale_crop_sizes(400, 253, 224, (1.0,))}
    assert sides == {253}


def test_fixed_grid_has_thirteen_offsets_in_tsn_order():
    offsets = C.fixed_crop_offsets(340, 256, 224, 224)
    ws, hs = (340 - 224) // 4, (256 - 224) // 4  # 29, 8
    assert offsets == [
        (0, 0),
        (4 * ws, 0),
        (0, 4 * hs),
        (4 * ws, 4 * hs),
        (2 * ws, 2 * hs),
        (0, 2 * hs),
        (4 * ws, 2 * hs),
        (2 * ws, 4 * hs),
        (2 * ws, 0),
        (ws, hs),
        (3 * ws, hs),
        (ws, 3 * hs),
        (3 * ws, 3 * hs),
    ]
    assert len(C.fixed_crop_offsets(340, 256, 224, 224, more_fix_crop=False)) == 5


def test_random_multiscale_box_stays_inside_and_uses_only_grid_offsets():
    rng = np.random.default_rng(0)
    seen_sizes = set()
    for _ in range(300):
        x, y, w, h = T.random_multiscale_box(340, 256, 224, T.RGB_SCALES, rng)
        assert 0 <= x and x + w <= 340 and 0 <= y and y + h <= 256
        assert (x, y) in C.fixed_crop_offsets(340, 256, w, h)
        seen_sizes.add((w, h))
    assert seen_sizes == set(T.multiscale_crop_sizes(340, 256, 224, T.RGB_SCALES))


def test_centre_crop_is_the_grid_centre():
    assert C.center_crop_box(340, 256, 224) == (58, 16, 224, 224)


def test_scale_size_is_256_for_224_and_scales_with_the_crop():
    assert C.scale_size(224) == 256
    assert C.scale_size(112) == 128
    assert C.scale_size(96) == 110


def test_ten_crop_is_corners_and_centre_then_the_same_flipped():
    boxes = C.test_crop_boxes(341, 256, 224, 10)
    assert [flipped for _, flipped in boxes] == [False] * 5 + [True] * 5
    assert [b for b, _ in boxes[:5]] == [b for b, _ in boxes[5:]]
    assert [b[:2] for b, _ in boxes[:5]] == [(0, 0), (116, 0), (0, 32), (116, 32), (58, 16)]


def test_five_three_and_one_crop_variants():
    assert len(C.test_crop_boxes(341, 256, 224, 5)) == 5
    assert C.test_crop_boxes(341, 256, 224, 1) == [((58, 16, 224, 224), False)]
    three = [b for b, _ in C.test_crop_boxes(298, 224, 224, 3)]
    assert [b[:2] for b in three] == [(0, 0), (36, 0), (72, 0)]
    tall = [b for b, _ in C.test_crop_boxes(224, 298, 224, 3)]
    assert [b[:2] for b in tall] == [(0, 0), (0, 36), (0, 72)]


def test_unsupported_test_crop_count_names_the_valid_ones():
    with pytest.raises(UsageError, match="1, 3, 5, 10"):
        C.test_crop_boxes(340, 256, 224, 4)


def test_test_crops_resize_the_short_side_first():
    group = np.zeros((256, 340, 6), np.uint8)
    crops = T.test_crops(group, 112, 10, "rgb")
    assert crops.shape == (10, 112, 112, 6)
    assert T.test_crops(group, 224, 3, "rgb").shape == (3, 224, 224, 6)


def test_test_clip_is_the_test_crops_in_the_model_layout():
    rng = np.random.default_rng(0)
    group = rng.integers(0, 255, (60, 80, 4 * 2 * 2), dtype=np.uint8)  # S=4, L=2, flow
    clip = T.test_clip(group, 32, 10, "flow", 4)
    assert clip.shape == (10, 4, 4, 32, 32) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip, T.to_snippets(T.test_crops(group, 32, 10, "flow"), 4))
