"""Flip (flow x inverted, y untouched), resizing many channels, train/val transforms, layout."""

from __future__ import annotations

import numpy as np

from tsncli.data import crops as C
from tsncli.data import transforms as T


def _ramp(height: int, width: int, channels: int) -> np.ndarray:
    x = np.arange(width, dtype=np.uint8)[None, :, None]
    return np.broadcast_to(
        x + np.arange(channels, dtype=np.uint8), (height, width, channels)
    ).copy()


def test_flow_flip_inverts_x_channels_only():
    group = _ramp(4, 6, 4)  # x0, y0, x1, y1
    out = T.flip_horizontal(group, "flow")
    mirrored = group[:, ::-1]
    assert np.array_equal(out[:, :, 0], 255 - mirrored[:, :, 0])
    assert np.array_equal(out[:, :, 2], 255 - mirrored[:, :, 2])
    assert np.array_equal(out[:, :, 1], mirrored[:, :, 1])
    assert np.array_equal(out[:, :, 3], mirrored[:, :, 3])


def test_rgb_flip_only_mirrors():
    group = _ramp(4, 6, 6)
    assert np.array_equal(T.flip_horizontal(group, "rgb"), group[:, ::-1])
    assert np.array_equal(T.flip_horizontal(group, "rgbdiff"), group[:, ::-1])


def test_flow_flip_leaves_the_input_untouched():
    group = _ramp(2, 3, 2)
    before = group.copy()
    T.flip_horizontal(group, "flow")
    assert np.array_equal(group, before)


def test_ten_crop_flips_invert_flow_x():
    group = np.full((256, 340, 2), 200, np.uint8)  # x = y = 200 everywhere
    crops = T.test_crops(group, 224, 10, "flow")
    assert (crops[:5] == 200).all()
    assert (crops[5:, :, :, 0] == 55).all() and (crops[5:, :, :, 1] == 200).all()


def test_resize_handles_more_channels_than_opencv_wraps():
    group = np.random.default_rng(0).integers(0, 256, (20, 30, 250), dtype=np.uint8)
    out = T.resize(group, 15, 10)
    assert out.shape == (10, 15, 250)
    first = T.resize(np.ascontiguousarray(group[:, :, :3]), 15, 10)
    # OpenCV's 3-channel and generic paths may round differently by one grey level
    assert np.abs(out[:, :, :3].astype(int) - first).max() <= 1
    assert T.resize(group[:, :, :1], 15, 10).shape == (10, 15, 1)


def test_train_crops_give_crop_size_and_flip_about_half_the_time():
    rng = np.random.default_rng(1)
    group = np.zeros((64, 85, 30), np.uint8)
    group[:, :, 0::2] = 100  # flow x
    group[:, :, 1::2] = 100  # flow y
    flipped = 0
    for _ in range(200):
        # the dataset's path: one sampled box and flip decision, applied to every frame
        box, flip = T.sample_train_crop(85, 64, 56, "flow", rng)
        out = T.crop_resize_flip(group, box, 56, flip, "flow")
        assert out.shape == (56, 56, 30) and out.flags["C_CONTIGUOUS"]
        flipped += int(out[0, 0, 0] == 155)
        assert (out[:, :, 1::2] == 100).all()
    assert 60 < flipped < 140


def test_val_transform_is_a_centre_crop_after_short_side_resize():
    group = _ramp(128, 170, 3)
    out = T.val_transform(group, 112)
    assert out.shape == (112, 112, 3)
    resized = T.resize_short_side(group, 128)
    assert resized.shape[:2] == (128, 170)
    x, y, _, _ = C.center_crop_box(170, 128, 112)
    assert np.array_equal(out, resized[y : y + 112, x : x + 112])


def test_to_snippets_puts_channels_in_snippet_frame_channel_order():
    group = np.zeros((2, 3, 12), np.uint8)
    group[:, :, :] = np.arange(12, dtype=np.uint8)
    out = T.to_snippets(group, 3)
    assert out.shape == (3, 4, 2, 3)
    assert [int(out[s, c, 0, 0]) for s in range(3) for c in range(4)] == list(range(12))
    batch = T.to_snippets(np.stack([group, group]), 3)
    assert batch.shape == (2, 3, 4, 2, 3)


def test_flow_flip_of_many_channels_inverts_every_x_channel():
    group = _ramp(3, 5, 250)
    out = T.flip_horizontal(group, "flow")
    mirrored = group[:, ::-1].astype(int)
    assert np.array_equal(out[:, :, 0::2], 255 - mirrored[:, :, 0::2])
    assert np.array_equal(out[:, :, 1::2], mirrored[:, :, 1::2])
    assert np.array_equal(T.flip_horizontal(group[:, :, :1], "rgb"), group[:, ::-1, :1])
