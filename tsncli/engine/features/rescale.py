"""Rescaling a video's snippet features to a fixed number of rows, by BSN's rule or MMAction2's.

Both rules follow their project's own code, edge cases included (`rescale_bsn`: BSN's `poolData`
in `data/activitynet_feature_cuhk/data_process.py`; `rescale_mmaction2`: MMAction2's
`pool_feature` in `tools/data/activitynet/activitynet_feature_postprocessing.py`). Both compute
with the originals' dtypes (the input's, promoted to float64 where scipy promotes) and the
operations in their order, so the results agree with theirs bit for bit and a CSV written from
them is MMAction2's to the last digit (`benchmarks/features_rescale_crosscheck.py` checks both
against their code); npy and pkl files store float32.
"""

from __future__ import annotations

import numpy as np

from tsncli.errors import DataError, UsageError

RESCALE_METHODS = ("bsn", "mmaction2")

# Both originals sample 3 points per output row and average them (their `num_sample_bin(s)=3`).
_POINTS_PER_ROW = 3
# Both keep the sampled points this far inside the first and last snippet.
_EPS = 1e-4


def rescale_bsn(
    features: np.ndarray, *, stride: int, num_frames: int, duration: float, length: int = 100
) -> np.ndarray:
    """Rescale `features` (T, D) to (length, D) in seconds, as BSN's `poolData` does.

    Snippet i sits at `st/2 + i*st` seconds, `st = stride/fps`, `fps = num_frames/duration`
    (BSN's formula; for an odd stride it is half a frame past the centre frame
    `stride//2 + i*stride` that the extractor uses). The span `(stride*T / num_frames) * duration`
    is cut into `length` equal bins; bin j, clamped to [first snippet + 1e-4, last snippet - 1e-4],
    averages 3 evenly spaced points from its clamped start to its clamped end, each linearly
    interpolated between the snippets around it. A bin that ends before the first snippet or
    starts after the last one is a row of zeros: BSN keeps them, and models trained on its
    features expect them (they occur at both ends when T < length/2). A single snippet is
    repeated `length` times.
    """
    data = _as_snippets(features)
    _check_length(length)
    if num_frames <= 0 or not duration > 0:
        raise DataError(
            f"BSN rescaling needs a positive frame count and duration, got {num_frames} frames "
            f"and {duration} s; check the video, or use --rescale-method mmaction2"
        )
    count = len(data)
    if count == 1:
        return np.repeat(data, length, axis=0)
    # Each line is BSN's expression in BSN's order, so the float64 results are the same bits.
    corrected_second = float(count * stride) / num_frames * duration
    fps = float(num_frames) / duration
    st = stride / fps
    x = st / 2 + np.arange(count) * st  # (T,) snippet times in seconds
    anchor_min = 1.0 / length * np.arange(length)
    anchor_max = 1.0 / length * np.arange(1, length + 1)
    xmin = np.maximum(x[0] + _EPS, anchor_min * corrected_second)  # (L,)
    xmax = np.minimum(x[-1] - _EPS, anchor_max * corrected_second)
    outside = (xmax < x[0]) | (xmin > x[-1])
    plen = (xmax - xmin) / (_POINTS_PER_ROW - 1)
    points = xmin[:, None] + plen[:, None] * np.arange(_POINTS_PER_ROW)  # (L, 3)
    values = _interpolate(x, data, points.ravel()).reshape(length, _POINTS_PER_ROW, -1)
    pooled = _mean_of_points(values)
    pooled[outside] = 0.0
    return pooled


def rescale_mmaction2(features: np.ndarray, length: int = 100) -> np.ndarray:
    """Rescale `features` (T, D) to (length, D) in snippet index, as MMAction2's `pool_feature`.

    The index range [1e-4, T - 1 - 1e-4] is cut into `length` bins of width a; row j averages the
    values linearly interpolated at `p_j`, `p_j + a/3` and `p_j + 2a/3`, where `p_j` is the bin's
    start (so the points lean to the bin's left; `p_j` accumulates `+= a` as MMAction2's does).
    There are no zero rows. A single snippet is repeated `length` times.

    MMAction2 pools RGB and flow separately, then concatenates. Interpolation and the mean work
    column by column, so for streams with the same T, pooling each and concatenating gives the
    same bits as pooling the concatenation (tests/test_engine_features_rescale.py proves it).
    Streams with different T (flow has one snippet fewer when the last centre has no next frame)
    are not the same thing: MMAction2 pools each over its own length, without truncating to the
    shorter as BSN does; pool each stream separately to follow it.
    """
    data = _as_snippets(features)
    _check_length(length)
    count = len(data)
    if count == 1:
        return np.repeat(data, length, axis=0)
    start, end = _EPS, count - 1 - _EPS
    anchor_size = (end - start) / length
    # MMAction2 accumulates `ptr += anchor_size`; a sequential cumsum adds in the same order.
    ptr = np.cumsum(np.r_[start, np.full(length - 1, anchor_size)])  # (L,)
    offsets = np.arange(_POINTS_PER_ROW) / _POINTS_PER_ROW * anchor_size  # i / 3 * a
    points = ptr[:, None] + offsets[None, :]  # (L, 3) in snippet index
    index = np.arange(count, dtype=np.float64)
    values = _interpolate(index, data, points.ravel()).reshape(length, _POINTS_PER_ROW, -1)
    return _mean_of_points(values)


def rescale(
    features: np.ndarray,
    method: str,
    *,
    length: int,
    stride: int | None = None,
    num_frames: int | None = None,
    duration: float | None = None,
) -> np.ndarray:
    """Rescale `features` (T, D) to (length, D) with `method`, one of RESCALE_METHODS.

    `bsn` needs `stride`, and the video's `num_frames` and `duration` (seconds); `mmaction2`
    needs neither and ignores them.
    """
    if method == "mmaction2":
        return rescale_mmaction2(features, length)
    if method == "bsn":
        given = {"stride": stride, "frame count": num_frames, "duration": duration}
        missing = [name for name, value in given.items() if value is None]
        if missing:
            raise DataError(
                f"--rescale-method bsn needs the video's stride, frame count and duration "
                f"(missing: {', '.join(missing)}); use --rescale-method mmaction2, which works "
                "in snippet index and needs none of them"
            )
        assert stride is not None and num_frames is not None and duration is not None
        return rescale_bsn(
            features, stride=stride, num_frames=num_frames, duration=duration, length=length
        )
    raise UsageError(f"unknown rescale method {method!r}; use one of: {', '.join(RESCALE_METHODS)}")


def _as_snippets(features: np.ndarray) -> np.ndarray:
    """The features (T, D), T >= 1, in their own float dtype (other dtypes become float64), as
    the originals take them: BSN reads float64 from CSV, MMAction2 float32 from its extractor's
    pickles, and scipy's interpolation subtracts neighbouring snippets in that dtype before the
    float64 slope, so casting float32 up front would change the last bits."""
    data = np.asarray(features)
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float64)
    if data.ndim != 2 or len(data) == 0:
        raise DataError(
            f"cannot rescale features of shape {data.shape}: expected (snippets, dims) with at "
            "least one snippet"
        )
    return data


def _check_length(length: int) -> None:
    if length < 1:
        raise UsageError(f"--rescale must be at least 1, got {length}")


def _interpolate(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """`scipy.interpolate.interp1d(x, y, axis=0)(x_new)` for sorted x and 2-D y, as scipy's
    `_call_linear` computes it (same operations, same order, so the same bits): the segment
    from `searchsorted`, clipped to the first and last, then `slope * (x_new - x_lo) + y_lo`.
    x (T,) with T >= 2, y (T, D), x_new (P,) -> (P, D). Points outside x extrapolate the end
    segments, where scipy would raise; neither rule produces such points."""
    hi = np.clip(np.searchsorted(x, x_new), 1, len(x) - 1)
    lo = hi - 1
    slope = (y[hi] - y[lo]) / (x[hi] - x[lo])[:, None]
    return slope * (x_new - x[lo])[:, None] + y[lo]


def _mean_of_points(values: np.ndarray) -> np.ndarray:
    """(L, 3, D) -> (L, D): `np.mean(axis=0)` over each row's 3 points, as both originals take it
    (for 3 values numpy adds them in order, then divides by the count)."""
    total = values[:, 0]
    for i in range(1, values.shape[1]):
        total = total + values[:, i]
    return total / values.shape[1]
