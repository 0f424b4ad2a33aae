"""Group transforms on uint8 clips: multi-scale crop, flip (flow x inverted), val and test crops.

A clip ("group") is one uint8 array (H, W, K): every image of every snippet stacked on the channel
axis, K = S*L*C in (snippet, frame, channel) order; flow channels alternate x, y. One crop box and
one flip decision apply to all K channels, as in TSN's group transforms. Train, eval and predict
all call the crop geometry (`tsncli.data.crops`, `multiscale_crop_sizes`) and the flip
(`flip_horizontal`) defined here, and nowhere else.
"""

from __future__ import annotations

import cv2
import numpy as np

from tsncli.data.crops import (
    Box,
    center_crop_box,
    fixed_crop_offsets,
    scale_size,
    test_crop_boxes,
    test_resize_size,
)
from tsncli.modality import Modality, check_modality, reads_flow

RGB_SCALES = (1.0, 0.875, 0.75, 0.66)
FLOW_SCALES = (1.0, 0.875, 0.75)  # flow and RGB-diff (the PyTorch port's choice for both)
_CROP_SCALES = {Modality.RGB: RGB_SCALES, Modality.FLOW: FLOW_SCALES, Modality.RGBDIFF: FLOW_SCALES}
SNAP_PIXELS = 3  # a crop side within 3 px of the crop size snaps to it
_MAX_RESIZE_CHANNELS = 128  # OpenCV wraps at most 128 channels per array


def crop_scales(modality: str) -> tuple[float, ...]:
    """Multi-scale crop ratios: RGB {1, .875, .75, .66}; flow and RGB-diff {1, .875, .75}."""
    return _CROP_SCALES[check_modality(modality)]


def multiscale_crop_sizes(
    width: int, height: int, crop_size: int, scales: tuple[float, ...], max_distort: int = 1
) -> list[tuple[int, int]]:
    """All (crop_w, crop_h) pairs TSN's multi-scale crop may pick for a width x height frame.

    Sides are int(min(W, H) * r); a side within 3 px of `crop_size` snaps to it; the width and
    height ratio indices differ by at most `max_distort`.
    340x256 at 224 gives sides 256, 224, 192, 168.
    """
    base = min(width, height)
    sides = [int(base * r) for r in scales]
    sides = [crop_size if abs(s - crop_size) < SNAP_PIXELS else s for s in sides]
    return [
        (w, h)
        for i, h in enumerate(sides)
        for j, w in enumerate(sides)
        if abs(i - j) <= max_distort
    ]


def random_multiscale_box(
    width: int,
    height: int,
    crop_size: int,
    scales: tuple[float, ...],
    rng: np.random.Generator,
    max_distort: int = 1,
    more_fix_crop: bool = True,
) -> Box:
    """Pick a multi-scale crop: a random size pair, then a random offset from the fixed grid."""
    sizes = multiscale_crop_sizes(width, height, crop_size, scales, max_distort)
    crop_w, crop_h = sizes[int(rng.integers(len(sizes)))]
    offsets = fixed_crop_offsets(width, height, crop_w, crop_h, more_fix_crop)
    x, y = offsets[int(rng.integers(len(offsets)))]
    return x, y, crop_w, crop_h


def crop(group: np.ndarray, box: Box) -> np.ndarray:
    """A view (H', W', K) of `group` (H, W, K) inside `box`."""
    x, y, w, h = box
    return group[y : y + h, x : x + w]


def resize(group: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of all K channels at once (chunked past OpenCV's 128-channel limit)."""
    if group.shape[1] == width and group.shape[0] == height:
        return group
    if group.ndim == 2 or group.shape[2] <= _MAX_RESIZE_CHANNELS:
        out = cv2.resize(group, (width, height), interpolation=cv2.INTER_LINEAR)
        return out if out.ndim == group.ndim else out[:, :, None]  # cv2 drops a single channel
    chunks = [
        resize(group[:, :, k : k + _MAX_RESIZE_CHANNELS], width, height)
        for k in range(0, group.shape[2], _MAX_RESIZE_CHANNELS)
    ]
    return np.concatenate(chunks, axis=2)


def short_side_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) with the short side `size`, keeping the aspect ratio (torchvision's
    rule); the one rule the CPU and the device decode paths (`device_decode`) both size by."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def resize_short_side(group: np.ndarray, size: int) -> np.ndarray:
    """Resize so the short side is `size`, keeping the aspect ratio (`short_side_size`)."""
    height, width = group.shape[:2]
    return resize(group, *short_side_size(width, height, size))


def flip_horizontal(group: np.ndarray, modality: str) -> np.ndarray:
    """Mirror left-right; for flow, invert the x images (255 - v): THE flow flip.

    Flow channels alternate x, y (x at even channel indices), so only even channels invert.
    Returns a new contiguous array; the input is untouched.
    """
    if group.ndim == 3 and 1 < group.shape[2] <= _MAX_RESIZE_CHANNELS:
        out = cv2.flip(group, 1)  # ~100x faster than a numpy reversed copy
    elif group.ndim == 3 and group.shape[2] > _MAX_RESIZE_CHANNELS:
        out = np.empty(group.shape, dtype=group.dtype)
        for k in range(0, group.shape[2], _MAX_RESIZE_CHANNELS):
            part = group[:, :, k : k + _MAX_RESIZE_CHANNELS]
            out[:, :, k : k + part.shape[2]] = flip_horizontal(part, Modality.RGB)  # mirror only
    else:
        out = np.ascontiguousarray(group[:, ::-1])
    if reads_flow(modality):
        out[:, :, 0::2] = 255 - out[:, :, 0::2]
    return out


def sample_train_crop(
    width: int,
    height: int,
    crop_size: int,
    modality: str,
    rng: np.random.Generator,
    flip_probability: float = 0.5,
) -> tuple[Box, bool]:
    """The random part of training augmentation: a multi-scale grid box and a flip decision."""
    box = random_multiscale_box(width, height, crop_size, crop_scales(modality), rng)
    return box, bool(rng.random() < flip_probability)


def crop_resize_flip(
    group: np.ndarray, box: Box, crop_size: int, flipped: bool, modality: str
) -> np.ndarray:
    """Apply a sampled training crop: crop `box`, resize to crop_size, flip if asked."""
    out = resize(crop(group, box), crop_size, crop_size)
    return flip_horizontal(out, modality) if flipped else np.ascontiguousarray(out)


def halves_exactly(box: Box, crop_size: int) -> bool:
    """Whether `box` is exactly twice `crop_size` both ways. OpenCV then resizes by pixel area,
    which rounds a 1-channel and a 2-channel image differently (by 1 level), so a flow pair
    must be resized as the pair to keep its established pixels."""
    return box[2] == 2 * crop_size and box[3] == 2 * crop_size


def crop_resize_flip_plane(
    plane: np.ndarray,
    box: Box,
    crop_size: int,
    flipped: bool,
    invert: bool,
    out: np.ndarray,
    scratch: np.ndarray | None = None,
) -> None:
    """`crop_resize_flip` of one contiguous (H, W) channel, written into `out` (crop, crop).

    `invert` marks a flow x channel (inverted when flipped). Pixels equal the 2-channel path's
    unless `halves_exactly(box, crop_size)` (callers check; tests/test_data_loader_pixels.py);
    this path skips the channel interleaving and the transposed copy. `scratch`, a
    (crop, crop) uint8 buffer, saves an allocation per flipped plane.
    """
    x, y, w, h = box
    view = plane[y : y + h, x : x + w]
    if not flipped:
        if w == crop_size and h == crop_size:
            out[...] = view
        else:
            cv2.resize(view, (crop_size, crop_size), dst=out, interpolation=cv2.INTER_LINEAR)
        return
    if w == crop_size and h == crop_size:
        resized = view
    else:
        resized = scratch if scratch is not None else np.empty_like(out)
        cv2.resize(view, (crop_size, crop_size), dst=resized, interpolation=cv2.INTER_LINEAR)
    cv2.flip(resized, 1, dst=out)
    if invert:
        cv2.bitwise_not(out, dst=out)  # 255 - v for uint8


def val_transform(group: np.ndarray, crop_size: int) -> np.ndarray:
    """Validation: short side to `scale_size(crop_size)`, then the centre crop."""
    scaled = resize_short_side(group, scale_size(crop_size))
    height, width = scaled.shape[:2]
    return np.ascontiguousarray(crop(scaled, center_crop_box(width, height, crop_size)))


def test_crops(group: np.ndarray, crop_size: int, num_crops: int, modality: str) -> np.ndarray:
    """Test-time crops (N, crop, crop, K): resize, then `test_crop_boxes` (flow x inverted)."""
    scaled = resize_short_side(group, test_resize_size(crop_size, num_crops))
    height, width = scaled.shape[:2]
    out = []
    for box, flipped in test_crop_boxes(width, height, crop_size, num_crops):
        view = crop(scaled, box)
        out.append(flip_horizontal(view, modality) if flipped else view)
    return np.stack(out)


test_crops.__test__ = False  # type: ignore[attr-defined]


def test_clip(
    group: np.ndarray, crop_size: int, num_crops: int, modality: str, num_snippets: int
) -> np.ndarray:
    """THE test-time input (eval and predict, via `TSNDataset` in test mode): uint8 frames
    (H, W, S*L*C) -> `test_crops` in the model's layout (N, S, C*L, crop, crop)."""
    return to_snippets(test_crops(group, crop_size, num_crops, modality), num_snippets)


test_clip.__test__ = False  # type: ignore[attr-defined]


def to_snippets(group: np.ndarray, num_snippets: int) -> np.ndarray:
    """(..., H, W, S*L*C) -> (..., S, L*C, H, W): the layout the TSN model takes (still uint8)."""
    *lead, height, width, channels = group.shape
    if channels % num_snippets:
        raise ValueError(f"{channels} channels do not split into {num_snippets} snippets")
    moved = np.moveaxis(group, -1, -3)  # (..., K, H, W)
    return np.ascontiguousarray(moved).reshape(
        *lead, num_snippets, channels // num_snippets, height, width
    )
