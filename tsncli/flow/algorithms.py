"""Build an optical-flow function from its entry in `tsncli.specs.flow_algorithms` (the registry:
builders, implementations, weights, parameters): `create_flow_fn`, and the implementation checks
(`resolve_implementation`, `require_cached_weights`).

A flow function maps two greyscale uint8 frames [H, W] to float32 flow [H, W, 2] in pixels,
(x, y) = where each pixel of the first frame moved to in the second (rightward motion: x > 0).
Warped algorithms (`warp_of`) remove camera motion first, see `flow/warped.py`; the batched torch
path is `flow/backends.py`.

Names, `resolve_implementation` and `require_cached_weights` need neither OpenCV nor NumPy: they
load when a flow function is built, in the process that computes flow (`tsn flow`'s parent only
plans).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsncli.errors import UsageError
from tsncli.frame_settings import DEFAULT_ALGORITHM
from tsncli.specs.flow_algorithms import (
    IMPLEMENTATIONS,
    FlowAlgorithm,
    get_flow_algorithm,
    torch_algorithms,
)

if TYPE_CHECKING:
    import numpy as np

FlowFn = Callable[["np.ndarray", "np.ndarray"], "np.ndarray"]

# consecutive pairs per torch call (`tsn flow --batch-pairs`): TV-L1 at 340x256 needs ~30 MB of
# GPU memory per pair, so 32 pairs take about 1 GB; out-of-memory halves it and retries
DEFAULT_BATCH_PAIRS = 32


def resolve_builder(ref: Any) -> Any:
    """A registry entry's builder: itself, or the object a "module:attr" string names."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def create_flow_fn(name: str = DEFAULT_ALGORITHM) -> FlowFn:
    """Build the flow function registered as `name` (unknown names list the valid ones).

    The returned callable keeps its OpenCV objects, so build one per worker and reuse it:
    `flow = create_flow_fn("dis")(prev_gray_u8, next_gray_u8)  # float32 [H, W, 2]`.
    """
    return _checked(_pair_fn(get_flow_algorithm(name)))


def _pair_fn(entry: FlowAlgorithm) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    if entry.warp_of is not None:
        from tsncli.flow.warped import WarpedFlow

        return WarpedFlow(_pair_fn(get_flow_algorithm(entry.warp_of)))
    if entry.pair is not None:
        return resolve_builder(entry.pair)(entry)
    return _torch_pair_fn(entry)


def _torch_pair_fn(entry: FlowAlgorithm) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A torch-only algorithm (RAFT) per pair, on the CPU, through its batch builder."""
    # torch loads only when such an algorithm is asked for (worker start-up stays light)
    import numpy as np
    import torch

    compute = resolve_builder(entry.batch)(entry, torch.device("cpu"))

    def flow(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        pair = torch.from_numpy(np.stack([prev, nxt]))  # [2, H, W]
        return compute(pair[:1], pair[1:])[0].numpy()

    return flow


def resolve_implementation(algo: str, impl: str | None, device: str = "cpu") -> str:
    """The implementation `algo` runs with: `impl` if given, else torch for torch-only
    algorithms and on CUDA, OpenCV otherwise. Combinations that do not exist are a UsageError
    naming the fix."""
    entry = get_flow_algorithm(algo)
    if impl is None:
        torch_only = "opencv" not in entry.implementations
        impl = "torch" if torch_only or device.startswith("cuda") else "opencv"
    if impl not in IMPLEMENTATIONS:
        raise UsageError(
            f"unknown flow implementation {impl!r}; use one of: {', '.join(IMPLEMENTATIONS)}"
        )
    if impl == "torch" and "torch" not in entry.implementations:
        raise UsageError(
            f"--algo {algo} has no torch implementation; use --impl opencv (on CPU) or one of: "
            f"{', '.join(torch_algorithms())}"
        )
    if impl == "opencv" and "opencv" not in entry.implementations:
        raise UsageError(f"--algo {algo} runs in torch only; use --impl torch")
    if impl == "opencv" and device != "cpu":
        raise UsageError("OpenCV flow runs on CPU only; use --impl torch with --device cuda")
    return impl


def require_cached_weights(algo: str) -> Path | None:
    """The cached weights file of `algo` (None when it has no weights); a DataError naming
    `tsn fetch weights ALGO` when they are missing, so a run fails once, before any work."""
    if get_flow_algorithm(algo).weights is None:
        return None
    # here, not at the top: OpenCV flow workers import this module and never need the catalog
    from tsncli.acquire.catalog import cached_weights_path

    return cached_weights_path(algo, f"{algo} weights")


def _checked(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> FlowFn:
    import numpy as np

    def flow_fn(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        if prev.ndim != 2 or prev.shape != nxt.shape or prev.dtype != np.uint8:
            raise ValueError(
                f"flow needs two greyscale uint8 frames of one shape, got "
                f"{prev.shape}/{prev.dtype} and {nxt.shape}/{nxt.dtype}"
            )
        return np.asarray(fn(prev, nxt), dtype=np.float32)  # [H, W, 2]

    return flow_fn
