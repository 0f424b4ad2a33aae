"""The test crop registry: every scheme makes its count of crops of the crop size, mirrored ones
only where the scheme says so, and eval/predict offer exactly the registered counts."""

from __future__ import annotations

import numpy as np
import pytest

from tsncli.data import crops as C
from tsncli.data import transforms as T
from tsncli.errors import UsageError

SCHEMES = sorted(C.TEST_CROPS.values(), key=lambda scheme: scheme.count)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda scheme: str(scheme.count))
@pytest.mark.parametrize(("height", "width"), [(48, 64), (64, 48)])  # landscape and portrait
def test_every_scheme_makes_its_count_of_crops_of_the_crop_size(scheme, height, width):
    group = np.random.default_rng(0).integers(0, 255, (height, width, 6), dtype=np.uint8)
    out = T.test_crops(group, 32, scheme.count, "rgb")
    assert out.shape == (scheme.count, 32, 32, 6) and out.dtype == np.uint8
    frame_h, frame_w = T.resize_short_side(group, C.test_resize_size(32, scheme.count)).shape[:2]
    boxes = C.test_crop_boxes(frame_w, frame_h, 32, scheme.count)
    assert sum(flipped for _, flipped in boxes) == (scheme.count // 2 if scheme.mirrored else 0)
    for (x, y, w, h), _ in boxes:  # inside the resized frame
        assert 0 <= x <= frame_w - w and 0 <= y <= frame_h - h


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda scheme: str(scheme.count))
def test_every_scheme_has_help_and_resolves_by_its_count(scheme):
    assert scheme.help and C.get_test_crops(scheme.count) is scheme
    assert str(scheme.count) in C.test_crop_choices()
    assert C.resolve_test_crops(scheme.count, flip=True) == scheme.count
    if scheme.mirrored:  # a model trained without flips is never tested on mirrored crops
        with pytest.raises(UsageError, match=f"--crops {C.UNMIRRORED_TEST_CROPS}"):
            C.resolve_test_crops(scheme.count, flip=False)
    else:
        assert C.resolve_test_crops(scheme.count, flip=False) == scheme.count


def test_the_defaults_are_registered_and_the_unmirrored_one_has_no_mirrored_crops():
    assert C.DEFAULT_TEST_CROPS in C.TEST_CROPS
    assert not C.get_test_crops(C.UNMIRRORED_TEST_CROPS).mirrored


UNREGISTERED = next(n for n in range(1, 100) if n not in C.TEST_CROPS)


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_eval_and_predict_reject_an_unregistered_count_listing_the_registered(
    runner, cli, tmp_path, command
):
    ckpt = tmp_path / "missing.pt"  # the count is checked before anything is read
    if command == "eval":
        args = ["eval", str(ckpt), "--list", str(tmp_path / "l.txt")]
        args += ["--save-scores", str(tmp_path / "s.npz")]
    else:
        args = ["predict", str(tmp_path / "v.avi"), "--checkpoint", str(ckpt)]
    result = runner.invoke(cli, [*args, "--crops", str(UNREGISTERED)])
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert f"got {UNREGISTERED}" in text
    assert all(str(n) in text for n in C.TEST_CROPS)


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_eval_and_predict_help_lists_the_registered_counts(runner, cli, command):
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert C.test_crop_choices() in " ".join(result.output.split())
