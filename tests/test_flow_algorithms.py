"""Flow algorithms: unknown names, the TV-L1 parameters, the sign convention, accuracy on known
motion, warped flow (tests/test_registries.py checks every registered algorithm builds)."""

from __future__ import annotations

import numpy as np
import pytest
from flow_helpers import shifted_frames, texture

from tsncli.errors import UsageError
from tsncli.flow.algorithms import create_flow_fn
from tsncli.flow.warped import WarpedFlow
from tsncli.specs.flow_algorithms import TVL1_PARAMS

# TV-L1 is ~1.8 s per 340x256 pair here, so its tests use tiny frames.
PLAIN = [("tvl1", 64, 48), ("farneback", 96, 72), ("dis", 96, 72)]


def test_unknown_algorithm_lists_the_valid_names():
    with pytest.raises(UsageError, match="use one of: tvl1"):
        create_flow_fn("brox")


def test_tvl1_parameters_are_opencv_defaults_set_explicitly():
    import cv2

    default = cv2.optflow.DualTVL1OpticalFlow_create()
    assert default.getTau() == TVL1_PARAMS["tau"]
    assert default.getLambda() == TVL1_PARAMS["lambda_"]
    assert default.getScalesNumber() == TVL1_PARAMS["nscales"]
    assert default.getWarpingsNumber() == TVL1_PARAMS["warps"]


@pytest.mark.parametrize("name,width,height", PLAIN)
@pytest.mark.parametrize("dx,dy", [(2, 1), (-2, -1)])
def test_translated_frames_give_the_known_flow_in_the_interior(name, width, height, dx, dy):
    a, b = shifted_frames(2, width, height, dx, dy)
    flow = create_flow_fn(name)(a, b)
    assert flow.shape == (height, width, 2) and flow.dtype == np.float32
    interior = flow[8:-8, 8:-8].reshape(-1, 2)
    median = np.median(interior, axis=0)
    assert abs(median[0] - dx) < 0.3, median
    assert abs(median[1] - dy) < 0.3, median
    assert np.mean(np.abs(interior - [dx, dy]) < 0.75) > 0.9


def test_flow_fn_rejects_colour_or_mismatched_frames():
    fn = create_flow_fn("dis")
    with pytest.raises(ValueError, match="greyscale uint8"):
        fn(np.zeros((48, 64, 3), np.uint8), np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="greyscale uint8"):
        fn(np.zeros((48, 64), np.uint8), np.zeros((48, 60), np.uint8))


def _pan_with_object(width: int, height: int, pan: int, move: int) -> tuple[np.ndarray, np.ndarray]:
    """Background pans right by `pan`; a textured square moves right by `move` on top of it."""
    bg = shifted_frames(2, width, height, pan, 0, seed=1)
    obj = texture(height // 4, width // 5, seed=2)
    oy, ox = height * 3 // 8, width // 4
    a, b = bg[0].copy(), bg[1].copy()
    a[oy : oy + obj.shape[0], ox : ox + obj.shape[1]] = obj
    b[oy : oy + obj.shape[0], ox + move : ox + move + obj.shape[1]] = obj
    centre = (slice(oy + 4, oy + obj.shape[0] - 4), slice(ox + move + 4, ox + obj.shape[1] - 4))
    return a, b, centre


@pytest.mark.parametrize("name,width,height", [("warp_dis", 160, 120), ("warp_tvl1", 96, 72)])
def test_warped_flow_removes_the_camera_pan_but_keeps_the_moving_object(name, width, height):
    pan, move = 3, 7
    a, b, centre = _pan_with_object(width, height, pan, move)
    background = np.ones((height, width), bool)
    background[height // 4 : height * 3 // 4, width // 8 : width * 3 // 4] = False
    background[:6] = background[-6:] = False
    background[:, :6] = background[:, -6:] = False

    plain = create_flow_fn(name.removeprefix("warp_"))(a, b)
    warped = create_flow_fn(name)(a, b)

    assert np.median(plain[background][:, 0]) == pytest.approx(pan, abs=0.5)
    assert np.abs(np.median(warped[background], axis=0)).max() < 0.3
    object_x = np.median(warped[centre][..., 0])
    assert object_x > 2.0  # the object still moves (by move - pan = 4 relative to the camera)


def test_warped_flow_falls_back_to_plain_flow_without_enough_matches():
    flat = np.full((48, 64), 100, np.uint8)
    flat[20:28, 30:34] = 180  # a single blob: far too few features for a homography
    moved = np.roll(flat, 1, axis=1)
    warped = WarpedFlow(create_flow_fn("dis"))
    assert warped.estimate_homography(flat, moved) is None
    np.testing.assert_allclose(warped(flat, moved), create_flow_fn("dis")(flat, moved), atol=1e-5)
