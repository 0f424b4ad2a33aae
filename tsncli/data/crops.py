"""Where crops go, in pixels (no image is touched here): TSN's fixed crop grid, the centre crop,
and the registry of test crop schemes that `tsn eval` and `tsn predict --crops N` choose from.

Adding a test crop scheme is one `CropScheme` entry in `TEST_CROPS`: the CLI choices, help and
errors read the registry. Kept free of NumPy and OpenCV so a command's help stays fast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tsncli.errors import UsageError

Box = tuple[int, int, int, int]  # x, y, width, height in pixels

log = logging.getLogger("tsncli.data.crops")


def scale_size(crop_size: int) -> int:
    """The short side frames are resized to before val/test crops: 256 for 224, scaled alike."""
    return int(round(crop_size * 256 / 224))


def fixed_crop_offsets(
    width: int, height: int, crop_w: int, crop_h: int, more_fix_crop: bool = True
) -> list[tuple[int, int]]:
    """TSN's fixed crop grid (x, y): steps (W-w)//4, (H-h)//4.

    Order: upper-left, upper-right, lower-left, lower-right, centre; with `more_fix_crop` also
    centre-left, centre-right, lower-centre, upper-centre and the four quarter points (13 in all).
    """
    ws = (width - crop_w) // 4
    hs = (height - crop_h) // 4
    offsets = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]
    if more_fix_crop:
        offsets += [
            (0, 2 * hs),
            (4 * ws, 2 * hs),
            (2 * ws, 4 * hs),
            (2 * ws, 0),
            (ws, hs),
            (3 * ws, hs),
            (ws, 3 * hs),
            (3 * ws, 3 * hs),
        ]
    return offsets


def center_crop_box(width: int, height: int, crop_size: int) -> Box:
    """The centre crop, i.e. the centre point of the fixed grid."""
    x, y = fixed_crop_offsets(width, height, crop_size, crop_size, more_fix_crop=False)[4]
    return x, y, crop_size, crop_size


@dataclass(frozen=True)
class CropScheme:
    """A test crop scheme, chosen by its crop count with `--crops N`."""

    count: int  # crops per snippet
    help: str  # what the crops are, for docs and error messages
    offsets: Callable[[int, int, int], list[tuple[int, int]]]  # (W, H, crop) -> unmirrored (x, y)
    mirrored: bool = False  # the same crops again, mirrored: only for models trained with flips
    resize_to_crop: bool = False  # short side resized to the crop itself, not `scale_size`


def _centre(width: int, height: int, crop_size: int) -> list[tuple[int, int]]:
    return [center_crop_box(width, height, crop_size)[:2]]


def _along_long_side(width: int, height: int, crop_size: int) -> list[tuple[int, int]]:
    grid = fixed_crop_offsets(width, height, crop_size, crop_size, more_fix_crop=True)
    # left/centre/right (landscape) or top/centre/bottom (portrait)
    return [grid[5], grid[4], grid[6]] if width >= height else [grid[8], grid[4], grid[7]]


def _corners_and_centre(width: int, height: int, crop_size: int) -> list[tuple[int, int]]:
    return fixed_crop_offsets(width, height, crop_size, crop_size, more_fix_crop=False)


TEST_CROPS: dict[int, CropScheme] = {
    scheme.count: scheme
    for scheme in (
        CropScheme(1, "the centre crop", _centre),
        CropScheme(
            3,
            "start, centre and end along the long side of the frame resized to the crop",
            _along_long_side,
            resize_to_crop=True,
        ),
        CropScheme(5, "the 4 corners and the centre", _corners_and_centre),
        CropScheme(
            10,
            "the 4 corners and the centre, and the same 5 mirrored (TSN's)",
            _corners_and_centre,
            mirrored=True,
        ),
    )
}
DEFAULT_TEST_CROPS = 10  # TSN's: 4 corners + centre, and the same 5 mirrored
UNMIRRORED_TEST_CROPS = 5  # the default for a model trained without flips: 10 less the mirrored


def test_crop_choices() -> str:
    """The registered counts for help and errors, largest first: "10, 5, 3 or 1"."""
    counts = [str(n) for n in sorted(TEST_CROPS, reverse=True)]
    return counts[0] if len(counts) == 1 else f"{', '.join(counts[:-1])} or {counts[-1]}"


def get_test_crops(count: int) -> CropScheme:
    """The scheme of `count` crops; an unregistered count is a UsageError listing the others."""
    scheme = TEST_CROPS.get(count)
    if scheme is None:
        raise UsageError(f"--crops must be {test_crop_choices()}, got {count}")
    return scheme


def test_crop_boxes(
    width: int, height: int, crop_size: int, num_crops: int
) -> list[tuple[Box, bool]]:
    """(box, flipped) per test crop of an already resized frame (see `test_resize_size`), as
    the registered scheme of `num_crops` places them (mirrored ones after the others)."""
    if num_crops not in TEST_CROPS:
        valid = ", ".join(map(str, sorted(TEST_CROPS)))
        raise UsageError(f"unsupported number of test crops {num_crops}; use one of: {valid}")
    scheme = TEST_CROPS[num_crops]
    boxes = [
        ((x, y, crop_size, crop_size), False) for x, y in scheme.offsets(width, height, crop_size)
    ]
    if scheme.mirrored:
        boxes += [(box, True) for box, _ in boxes]
    return boxes


# pytest must not collect the public `test_*` helpers as tests
test_crop_choices.__test__ = False  # type: ignore[attr-defined]
test_crop_boxes.__test__ = False  # type: ignore[attr-defined]


def resolve_test_crops(requested: int | None, flip: bool = True, model: str = "") -> int:
    """The test crops per snippet for a model: `requested`, else 10, or 5 when the model was
    trained without mirrored clips (`flip` False: classes that are not mirror-invariant, such
    as sthv2's "left to right"), since 10 adds mirrored crops. Asking for mirrored crops then is
    an error. The 5-crop default is said in one info line naming `model` (eval, predict)."""
    if requested is None:
        if flip:
            return DEFAULT_TEST_CROPS
        if model:
            log.info(
                "%s was trained without mirrored clips (flip: false): testing %d crops, not %d",
                model,
                UNMIRRORED_TEST_CROPS,
                DEFAULT_TEST_CROPS,
            )
        return UNMIRRORED_TEST_CROPS
    if requested not in TEST_CROPS:
        valid = ", ".join(map(str, sorted(TEST_CROPS)))
        raise UsageError(f"--crops must be one of {valid}, got {requested}")
    if TEST_CROPS[requested].mirrored and not flip:
        raise UsageError(
            "this model was trained without mirrored clips (flip: false; its classes are not "
            f"mirror-invariant), and {requested} crops include {requested // 2} mirrored ones; "
            f"use --crops {UNMIRRORED_TEST_CROPS}"
        )
    return requested


def test_resize_size(crop_size: int, num_crops: int) -> int:
    """Short side before test cropping: `scale_size(crop)` (256 for 224), or the crop itself for
    a scheme that says so (3-crop)."""
    scheme = TEST_CROPS.get(num_crops)  # an unknown count fails in `test_crop_boxes`
    return crop_size if scheme is not None and scheme.resize_to_crop else scale_size(crop_size)


test_resize_size.__test__ = False  # type: ignore[attr-defined]
