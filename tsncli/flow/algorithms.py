"""Optical-flow algorithms by name (`FLOW_ALGORITHMS`) and `create_flow_fn`, which builds one.

A flow function maps two greyscale uint8 frames [H, W] to float32 flow [H, W, 2] in pixels,
(x, y) = where each pixel of the first frame moved to in the second (rightward motion: x > 0).

Algorithms (speed per 340x256 pair on one core of this 2-core CPU, measured in TSN-FACTS):
- `tvl1`: OpenCV contrib DualTVL1 with OpenCV's defaults, as dense_flow used them (its CUDA
  TV-L1 had the same defaults): tau 0.25, lambda 0.15, theta 0.3, 5 scales, scale step 0.8,
  5 warps, epsilon 0.01, 30 inner / 10 outer iterations, median filtering 5, gamma 0. ~1.8 s.
- `farneback`: pyramid scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5, sigma 1.2. ~25 ms.
- `dis`: DIS optical flow, MEDIUM preset (with variational refinement). ~7 ms.
- `warp_tvl1`, `warp_dis`: TSN's warped flow (camera motion removed), see `flow/warped.py`.
- `raft_small`, `raft_large`: torchvision's RAFT (`tsn fetch weights NAME`), torch only.
`tvl1` and `warp_tvl1` also run in PyTorch, batched, on CPU or CUDA (`flow/backends.py`).

Names, parameters and `resolve_implementation` need neither OpenCV nor NumPy: they load when a
flow function is built, in the process that computes flow (`tsn flow`'s parent only plans).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tsncli.errors import UsageError
from tsncli.registry import Registry

if TYPE_CHECKING:
    import numpy as np

FlowFn = Callable[["np.ndarray", "np.ndarray"], "np.ndarray"]

FLOW_ALGORITHMS: Registry[Callable[[], FlowFn]] = Registry("flow algorithm")

DEFAULT_ALGORITHM = "tvl1"
IMPLEMENTATIONS = ("opencv", "torch")
RAFT_ALGORITHMS = ("raft_small", "raft_large")
TORCH_ALGORITHMS = ("tvl1", "warp_tvl1", *RAFT_ALGORITHMS)  # batched in flow/backends.py
# consecutive pairs per torch call (`tsn flow --batch-pairs`): TV-L1 at 340x256 needs ~30 MB of
# GPU memory per pair, so 32 pairs take about 1 GB; out-of-memory halves it and retries
DEFAULT_BATCH_PAIRS = 32

# The documented DualTVL1 parameters (OpenCV's and dense_flow's defaults), set explicitly so a
# future OpenCV default change cannot silently change the flow.
TVL1_PARAMS: dict[str, Any] = {
    "tau": 0.25,
    "lambda_": 0.15,
    "theta": 0.3,
    "nscales": 5,
    "warps": 5,
    "epsilon": 0.01,
    "innnerIterations": 30,
    "outerIterations": 10,
    "scaleStep": 0.8,
    "gamma": 0.0,
    "medianFiltering": 5,
    "useInitialFlow": False,
}

FARNEBACK_PARAMS: dict[str, Any] = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
    "flags": 0,
}


def create_flow_fn(name: str = DEFAULT_ALGORITHM) -> FlowFn:
    """Build the flow function registered as `name` (unknown names list the valid ones).

    The returned callable keeps its OpenCV objects, so build one per worker and reuse it:
    `flow = create_flow_fn("dis")(prev_gray_u8, next_gray_u8)  # float32 [H, W, 2]`.
    """
    return FLOW_ALGORITHMS.get(name)()


def resolve_implementation(algo: str, impl: str | None, device: str = "cpu") -> str:
    """The implementation `algo` runs with: `impl` if given, else torch for RAFT and on CUDA,
    OpenCV otherwise. Combinations that do not exist are a UsageError naming the fix."""
    FLOW_ALGORITHMS.get(algo)
    if impl is None:
        impl = "torch" if algo in RAFT_ALGORITHMS or device.startswith("cuda") else "opencv"
    if impl not in IMPLEMENTATIONS:
        raise UsageError(f"unknown flow implementation {impl!r}; use one of: opencv, torch")
    if impl == "torch" and algo not in TORCH_ALGORITHMS:
        raise UsageError(
            f"--algo {algo} has no torch implementation; use --impl opencv (on CPU) or one of: "
            f"{', '.join(TORCH_ALGORITHMS)}"
        )
    if impl == "opencv" and algo in RAFT_ALGORITHMS:
        raise UsageError(f"--algo {algo} runs in torch only; use --impl torch")
    if impl == "opencv" and device != "cpu":
        raise UsageError("OpenCV flow runs on CPU only; use --impl torch with --device cuda")
    return impl


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


@FLOW_ALGORITHMS.register("tvl1")
def _create_tvl1() -> FlowFn:
    import cv2

    # TVL1_PARAMS are named as DualTVL1OpticalFlow_create's keyword arguments
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(**TVL1_PARAMS)
    return _checked(lambda a, b: tvl1.calc(a, b, None))


@FLOW_ALGORITHMS.register("farneback")
def _create_farneback() -> FlowFn:
    import cv2

    p = FARNEBACK_PARAMS
    return _checked(
        lambda a, b: cv2.calcOpticalFlowFarneback(
            a,
            b,
            None,
            p["pyr_scale"],
            p["levels"],
            p["winsize"],
            p["iterations"],
            p["poly_n"],
            p["poly_sigma"],
            p["flags"],
        )
    )


@FLOW_ALGORITHMS.register("dis")
def _create_dis() -> FlowFn:
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return _checked(lambda a, b: dis.calc(a, b, None))


@FLOW_ALGORITHMS.register("warp_tvl1")
def _create_warp_tvl1() -> FlowFn:
    from tsncli.flow.warped import WarpedFlow

    return _checked(WarpedFlow(_create_tvl1()))


@FLOW_ALGORITHMS.register("warp_dis")
def _create_warp_dis() -> FlowFn:
    from tsncli.flow.warped import WarpedFlow

    return _checked(WarpedFlow(_create_dis()))


def _create_raft(name: str) -> FlowFn:
    # torch and torchvision load only when RAFT is asked for (worker start-up stays light)
    import numpy as np
    import torch

    from tsncli.flow.raft import create_raft, raft_flow

    model = create_raft(name)

    def flow(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        pair = torch.from_numpy(np.stack([prev, nxt]))  # [2, H, W]
        return raft_flow(model, pair[:1], pair[1:])[0].numpy()

    return _checked(flow)


for _name in RAFT_ALGORITHMS:
    FLOW_ALGORITHMS.add(_name, lambda n=_name: _create_raft(n))
