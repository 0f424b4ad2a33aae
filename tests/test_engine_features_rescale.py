"""Snippet features: BSN's and MMAction2's rescaling on hand-worked cases, and the feature files.

The expected numbers are worked out in the comments. Two facts make them short: between two
snippets the interpolation is a straight line, so the mean of 3 evenly spaced points on one
segment is the value at their middle; and a column equal to the snippet index is one straight
line across all segments. (benchmarks/features_rescale_crosscheck.py runs the originals' code.)
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tsncli.engine.features.formats import (
    FORMAT_SUFFIX,
    FORMATS,
    read_features,
    write_features,
)
from tsncli.engine.features.rescale import (
    RESCALE_METHODS,
    rescale,
    rescale_bsn,
    rescale_mmaction2,
)
from tsncli.errors import DataError, UsageError

# float32 output of a float64 result is within half a float32 ulp: relative 6e-8
EXACT = {"rtol": 1e-7, "atol": 0}


def index_and_square(count: int) -> np.ndarray:
    """Column 0 is the snippet index i, column 1 is i**2 (piecewise linear between snippets)."""
    i = np.arange(count, dtype=np.float64)
    return np.stack([i, i**2], axis=1)


# ---- BSN: seconds -------------------------------------------------------------------------


def test_bsn_repeats_a_single_snippet_on_every_row():
    one = np.array([[1.5, -2.0, 3.0]])
    out = rescale_bsn(one, stride=16, num_frames=20, duration=0.8, length=100)
    assert out.shape == (100, 3) and out.dtype == np.float64  # as the originals compute
    assert (out == one.astype(np.float32)).all()  # no zero rows, whatever the span


def test_bsn_two_snippets_give_zero_rows_outside_their_centres():
    # 32 frames in 1.28 s: fps 25, st = 16/25 = 0.64 s; snippets at x = 0.32 and 0.96 s;
    # span = 16*2/32 * 1.28 = 1.28 s; 5 bins of 0.256 s.
    # column 0 goes 0 -> 64 between the snippets: y(x) = 100 * (x - 0.32); column 1 is 5.
    # bin 0 [0, 0.256]: ends before 0.32 -> zeros
    # bin 1 [0.256, 0.512] -> [0.3201, 0.512], middle 0.41605 -> 9.605
    # bin 2 [0.512, 0.768], middle 0.64 -> 32
    # bin 3 [0.768, 1.024] -> [0.768, 0.9599], middle 0.86395 -> 54.395
    # bin 4 [1.024, 1.28]: starts after 0.96 -> zeros
    features = np.array([[0.0, 5.0], [64.0, 5.0]])
    out = rescale_bsn(features, stride=16, num_frames=32, duration=1.28, length=5)
    expected = [[0, 0], [9.605, 5], [32, 5], [54.395, 5], [0, 0]]
    np.testing.assert_allclose(out, np.array(expected, dtype=np.float32), **EXACT)


def test_bsn_fps_that_is_not_an_integer():
    # 30 frames in 1.001 s (fps 29.97...), stride 5, 6 snippets: st = 1.001/6 s, snippet i at
    # (i + 0.5) st, span 5*6/30 * 1.001 = 6 st; 3 bins of 2 st. In snippet index u = x/st - 0.5,
    # the 1e-4 s clamp is 1e-4/st = 6e-4/1.001 = 0.00059940060 of a snippet.
    # bin 0: u in [0.00059940060, 1.5]; middle 0.75029970030
    #   column 1 (i**2): at 0.00059940060 -> 0.00059940060, at 0.75029970030 -> 0.75029970030,
    #   at 1.5 -> (1 + 4)/2 = 2.5; mean 3.25089910090/3 = 1.08363303363
    # bin 1: u in [1.5, 3.5]; middle 2.5; column 1: 2.5, (4 + 9)/2 = 6.5, 12.5 -> 21.5/3
    # bin 2: u in [3.5, 5 - 0.00059940060 = 4.99940059940]; middle 4.24970029970
    #   column 1: 12.5, 16 + 9*0.24970029970 = 18.24730269730,
    #   16 + 9*0.99940059940 = 24.99460539460; mean 55.74190809190/3 = 18.58063603063
    out = rescale_bsn(index_and_square(6), stride=5, num_frames=30, duration=1.001, length=3)
    expected = [
        [0.75029970030, 1.08363303363],
        [2.5, 21.5 / 3],
        [4.24970029970, 18.58063603063],
    ]
    np.testing.assert_allclose(out, np.array(expected, dtype=np.float32), **EXACT)
    # a rounded rate (30 fps) moves the clamp to 6e-4 of a snippet: 0.7503, not 0.75029970
    rounded = rescale_bsn(index_and_square(6), stride=5, num_frames=30, duration=1.0, length=3)
    assert rounded[0, 0] == pytest.approx(0.7503, rel=1e-7)
    assert rounded[0, 0] != out[0, 0]


def test_bsn_video_shorter_than_the_bins_keeps_zero_rows_at_both_ends():
    # 3 snippets, 100 bins: span 3 st, snippets at 0.5, 1.5, 2.5 st.
    # bin j ends before the first snippet when (j + 1)/100 * 3 st < 0.5 st: j + 1 < 16.67, j <= 15;
    # it starts after the last when j/100 * 3 st > 2.5 st: j > 83.33, j >= 84. 16 zero rows each.
    features = np.ones((3, 2))
    out = rescale_bsn(features, stride=16, num_frames=48, duration=2.0, length=100)
    zero_rows = np.flatnonzero((out == 0).all(axis=1))
    assert zero_rows.tolist() == [*range(16), *range(84, 100)]
    assert (out[16:84] == 1).all()


# ---- MMAction2: snippet index ---------------------------------------------------------------


def test_mmaction2_repeats_a_single_snippet_on_every_row():
    one = np.array([[1.5, -2.0]], dtype=np.float32)
    out = rescale_mmaction2(one, length=7)
    assert out.shape == (7, 2) and (out == one).all()


def test_mmaction2_two_snippets_average_the_left_leaning_points_of_each_bin():
    # start 1e-4, end 1 - 1e-4, a = (0.9998)/2 = 0.4999; row j averages p_j, p_j + a/3,
    # p_j + 2a/3, whose mean is p_j + a/3 (not the bin's middle):
    # row 0: 1e-4 + 0.4999/3 = 0.16673333 -> 10 + 10*0.16673333 = 11.6673333
    # row 1: p = 0.5 -> 0.5 + 0.16663333 = 0.66663333 -> 16.6663333
    out = rescale_mmaction2(np.array([[10.0], [20.0]]), length=2)
    np.testing.assert_allclose(out, np.array([[11.6673333333], [16.6663333333]], "f4"), **EXACT)


def test_mmaction2_interpolates_within_each_segment():
    # 3 snippets, i**2 = 0, 1, 4; a = (2 - 2e-4)/2 = 0.9999
    # row 0: points 0.0001, 0.3334, 0.6667 on [0, 1] (y = u): mean 0.3334
    # row 1: points 1.0, 1.3333, 1.6666 on [1, 2] (y = 1 + 3(u - 1)): 1, 1.9999, 2.9998 -> 1.9999
    out = rescale_mmaction2(index_and_square(3), length=2)
    np.testing.assert_allclose(out, np.array([[0.3334, 0.3334], [1.3333, 1.9999]], "f4"), **EXACT)


def test_mmaction2_video_shorter_than_the_bins_has_no_zero_rows():
    # 2 snippets, 5 rows: a = 0.9998/5 = 0.19996; row j's mean index 1e-4 + (j + 1/3) a
    out = rescale_mmaction2(np.array([[0.0], [1.0]]), length=5)
    expected = [1e-4 + (j + 1 / 3) * 0.19996 for j in range(5)]
    # 0.06675333, 0.26671333, 0.46667333, 0.66663333, 0.86659333
    np.testing.assert_allclose(out[:, 0], np.array(expected, "f4"), rtol=1e-6)


@pytest.mark.parametrize("count", [1, 2, 7, 150])
@pytest.mark.parametrize("method", RESCALE_METHODS)
def test_pooling_each_stream_equals_pooling_their_concatenation(count, method):
    # interpolation and the mean work column by column, so the bits are the same
    rng = np.random.default_rng(count)
    rgb, flow = rng.normal(size=(count, 3)), rng.normal(size=(count, 2))
    kwargs = {"length": 100, "stride": 16, "num_frames": 16 * count + 3, "duration": count * 0.53}
    apart = np.concatenate([rescale(rgb, method, **kwargs), rescale(flow, method, **kwargs)], 1)
    together = rescale(np.concatenate([rgb, flow], axis=1), method, **kwargs)
    assert np.array_equal(apart, together)


def test_mmaction2_needs_no_frame_count_or_duration():
    features = index_and_square(9)
    plain = rescale(features, "mmaction2", length=4)
    assert np.array_equal(plain, rescale_mmaction2(features, 4))
    timed = rescale(features, "mmaction2", length=4, stride=16, num_frames=150, duration=6.006)
    assert np.array_equal(plain, timed)


def test_an_unknown_rescale_method_is_one_line_naming_the_methods():
    with pytest.raises(UsageError) as err:
        rescale(np.ones((3, 2)), "linear", length=10)
    assert "\n" not in str(err.value)
    assert all(name in str(err.value) for name in RESCALE_METHODS)


def test_bsn_without_a_duration_says_what_is_missing_and_the_way_out():
    with pytest.raises(DataError) as err:
        rescale(np.ones((3, 2)), "bsn", length=10, stride=16, num_frames=48)
    message = str(err.value)
    assert "\n" not in message and "duration" in message and "mmaction2" in message


@pytest.mark.parametrize("shape", [(0, 4), (5,)])
def test_features_without_snippets_or_dims_are_refused(shape):
    with pytest.raises(DataError, match="expected"):
        rescale_mmaction2(np.zeros(shape), length=10)


# ---- feature files -------------------------------------------------------------------------


def test_csv_has_the_header_and_four_decimals_and_reads_back(tmp_path):
    features = np.array([[0.12344, -1.5, 2.0], [1e-5, 10.25, -0.00004]], dtype=np.float32)
    path = write_features(tmp_path / "v_abc", features, "csv")
    assert path == tmp_path / "v_abc.csv"
    # MMAction2's writer: '\n' between lines and none after the last; -0.00004 rounds to -0.0000
    assert path.read_bytes() == b"f0,f1,f2\n0.1234,-1.5000,2.0000\n0.0000,10.2500,-0.0000"
    np.testing.assert_allclose(read_features(path), features, atol=5e-5)


@pytest.mark.parametrize("shape", [(1, 4), (4, 1), (1, 1)])
def test_csv_keeps_the_shape_of_one_row_or_one_column(tmp_path, shape):
    features = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    back = read_features(write_features(tmp_path / "v", features, "csv"))
    assert back.shape == shape and np.array_equal(back, features)


def test_npy_is_float32_and_reads_back_exactly(tmp_path):
    features = np.random.default_rng(0).normal(size=(7, 5))  # float64 in, float32 out
    path = write_features(tmp_path / "v_abc.npy", features, "npy")
    assert path == tmp_path / "v_abc.npy"
    saved = np.load(path)
    assert saved.dtype == np.float32 and np.array_equal(saved, features.astype(np.float32))
    assert np.array_equal(read_features(path), saved)


def test_pkl_is_the_array_itself_in_pickle_protocol_2(tmp_path):
    features = np.random.default_rng(1).normal(size=(100, 6)).astype(np.float32)
    path = write_features(tmp_path / "v_abc", features, "pkl")
    assert path.read_bytes()[:2] == b"\x80\x02"  # mmengine.dump's protocol
    with path.open("rb") as handle:
        loaded = pickle.load(handle)
    assert isinstance(loaded, np.ndarray) and np.array_equal(loaded, features)
    assert np.array_equal(read_features(path), features)


def test_writes_leave_only_the_finished_files(tmp_path):
    for fmt in FORMATS:
        write_features(tmp_path / "clip.v2", np.ones((3, 2)), fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        "clip.v2" + FORMAT_SUFFIX[fmt] for fmt in FORMATS
    )


def test_an_unknown_format_is_one_line_naming_the_formats(tmp_path):
    with pytest.raises(UsageError) as err:
        write_features(tmp_path / "v", np.ones((3, 2)), "h5")
    assert "\n" not in str(err.value) and all(fmt in str(err.value) for fmt in FORMATS)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="suffix"):
        read_features(tmp_path / "v.h5")


def test_a_damaged_csv_is_a_data_error_naming_the_file(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("f0,f1\n1.0,2.0\n3.0\n")
    with pytest.raises(DataError, match="v.csv"):
        read_features(path)
