"""THE score aggregation of one video: crop mean|max, then snippet mean, optional softmax.

Below both `scores` (legacy files are aggregated on load) and `fusion` (which fuses aggregated
scores), so neither has to import the other.
"""

from __future__ import annotations

import numpy as np

from tsncli.errors import UsageError

CROP_AGGREGATIONS = ("mean", "max")


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def aggregate_video(
    raw: np.ndarray, crop_agg: str = "mean", use_softmax: bool = False
) -> np.ndarray:
    """Video score [C] from raw [S, K, C]: crop mean|max, snippet mean, optional softmax.

    Exactly the original `default_aggregation_func` (float32 arithmetic as in numpy there).
    """
    if crop_agg not in CROP_AGGREGATIONS:
        raise UsageError(f"unknown crop aggregation {crop_agg!r}; use one of {CROP_AGGREGATIONS}")
    r = np.asarray(raw, dtype=np.float32)
    per_snippet = r.mean(axis=-2) if crop_agg == "mean" else r.max(axis=-2)  # [S, C]
    video = per_snippet.mean(axis=-2)  # [C]
    return softmax(video) if use_softmax else video


# --- untrimmed videos: snippet aggregation rules (`--snippet-agg`) -------------------------------
MTWI_SPANS = (1, 2, 4, 8, 16)  # window lengths in seconds (the 2016 challenge's)
MTWI_OVERLAP = 0.2  # windows start every ceil(span * (1 - overlap)) snippets
MTWI_MIN_TOP = 15  # per span, the mean of the max(15, windows // 4) best windows
DEFAULT_SNIPPETS_PER_SECOND = 1.0  # the original's fps default, for files that record none


def _top_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Per column, the mean of the k largest rows (all rows when fewer). [N, C] -> [C]."""
    return np.sort(x, axis=0)[-k:].mean(axis=0)


def top_k_aggregation(raw: np.ndarray, k: int, use_softmax: bool = True) -> np.ndarray:
    """The original `top_k_aggregation_func`: crop mean, then per class the mean of the k
    highest snippet scores (every snippet when there are fewer than k), then softmax. [S, K, C]
    -> [C]."""
    if k < 1:
        raise UsageError(f"top-k needs k >= 1, got {k}")
    per_snippet = np.asarray(raw, dtype=np.float32).mean(axis=-2)  # [S, C]
    video = _top_mean(per_snippet, k)
    return softmax(video) if use_softmax else video


def mtwi_aggregation(
    raw: np.ndarray, snippets_per_second: float = DEFAULT_SNIPPETS_PER_SECOND,
    use_softmax: bool = True,
) -> np.ndarray:  # fmt: skip
    """M-TWI, the original `sliding_window_aggregation_func` (ActivityNet 2016): per snippet the
    max over crops; per span t in 1, 2, 4, 8, 16 s, windows of t * rate snippets starting every
    ceil(t * rate * 0.8) snippets (the last ones shorter), each window's per-class max, then per
    class the mean of the max(15, windows // 4) best windows; the mean over spans; softmax.
    [S, K, C] -> [C]."""
    per_snippet = np.asarray(raw, dtype=np.float32).max(axis=-2)  # [S, C]
    n = per_snippet.shape[0]
    if n == 0:
        raise ValueError("M-TWI needs at least one snippet")
    span_scores = []
    for seconds in MTWI_SPANS:
        # the original multiplies an int span by an int fps; a fractional rate rounds, at least 1
        span = max(1, int(round(seconds * snippets_per_second)))
        step = int(np.ceil(span * (1 - MTWI_OVERLAP)))
        windows = np.stack([per_snippet[i : i + span].max(axis=0) for i in range(0, n, step)])
        k = max(MTWI_MIN_TOP, len(windows) // 4)
        span_scores.append(_top_mean(windows, k))
    video = np.mean(span_scores, axis=0)
    return softmax(video) if use_softmax else video


def parse_snippet_agg(text: str) -> tuple[str, int]:
    """`mean`, `top-k:K` or `mtwi` -> (rule, k); anything else is a UsageError naming them."""
    rule, _, k_text = text.partition(":")
    if rule == "top-k":
        try:
            k = int(k_text)
        except ValueError:
            k = 0
        if k < 1:
            raise UsageError(f"--snippet-agg {text!r}: write top-k:K with K >= 1, e.g. top-k:3")
        return rule, k
    if rule in ("mean", "mtwi") and not k_text:
        return rule, 0
    raise UsageError(f"unknown --snippet-agg {text!r}; use one of: mean, top-k:K, mtwi")


def aggregate_snippets(
    raw: np.ndarray, rule: str, k: int = 0,
    snippets_per_second: float = DEFAULT_SNIPPETS_PER_SECOND,
) -> np.ndarray:  # fmt: skip
    """A video's softmax score [C] from its raw snippet scores [S, K, C] by one of the original's
    three rules (`parse_snippet_agg` gives rule and k)."""
    if rule == "mean":
        return aggregate_video(raw, "mean", use_softmax=True)
    if rule == "top-k":
        return top_k_aggregation(raw, k)
    if rule == "mtwi":
        return mtwi_aggregation(raw, snippets_per_second)
    raise UsageError(f"unknown snippet aggregation {rule!r}; use one of: mean, top-k:K, mtwi")
