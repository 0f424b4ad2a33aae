"""The optical-flow algorithm table: per name, how to build it per frame pair (OpenCV) and batched
(PyTorch), the implementations and devices it runs on, whether it is fast enough to compute while
loading (`--flow-on-the-fly`), its weights, its parameters and a one-line description. Adding an
OpenCV algorithm is one `add_flow_algorithm` here; `tsn flow --algo`, help texts, completion,
`tsn fetch weights` and the checks in flow/ and data/ all read this table.

Plain data: importing it loads neither OpenCV, NumPy nor torch. The OpenCV builders below import
cv2 when called, in the process that computes flow; torch builders live in `tsncli.flow` and are
named here as "module:attr".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tsncli.registry import Registry
from tsncli.specs.weights import TorchvisionWeights, WeightsSource

# "opencv": per pair on the CPU. "torch": batched, on the CPU or a CUDA device.
IMPLEMENTATIONS = ("opencv", "torch")

# A pair function maps two grey uint8 frames [H, W] to flow [H, W, 2] (float pixels).
PairBuilder = Callable[["FlowAlgorithm"], Callable[[Any, Any], Any]]


@dataclass(frozen=True, kw_only=True)
class FlowAlgorithm:
    """Everything about one flow algorithm name.

    `pair`: builds the per-pair function from this entry (OpenCV, lazy import), or
    "module:attr" of such a builder. `batch`: "module:attr" of the torch builder
    `(entry, device, weights) -> fn([B, H, W] uint8, same) -> [B, H, W, 2] float32` on `device`.
    `warp_of`: TSN's warped flow: camera motion is removed per pair (`tsncli.flow.warped`), then
    the named algorithm runs (its `pair` and `batch`). An algorithm without `pair` runs per pair
    through its torch builder on the CPU.
    """

    name: str
    description: str  # one line for help texts
    implementations: tuple[str, ...]  # of IMPLEMENTATIONS
    pair: PairBuilder | str | None = None
    batch: str | None = None
    warp_of: str | None = None
    on_the_fly: bool = False  # fast enough on the CPU to compute while loading (OpenCV)
    weights: WeightsSource | None = None  # `tsn fetch weights NAME` before it runs
    params: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.implementations) - set(IMPLEMENTATIONS)
        if not self.implementations or unknown:
            raise ValueError(f"flow {self.name!r}: implementations must be of {IMPLEMENTATIONS}")
        if "opencv" in self.implementations and self.pair is None and self.warp_of is None:
            raise ValueError(f"flow {self.name!r}: an OpenCV implementation needs `pair`")
        if "torch" in self.implementations and self.batch is None and self.warp_of is None:
            raise ValueError(f"flow {self.name!r}: a torch implementation needs `batch`")
        if self.on_the_fly and "opencv" not in self.implementations:
            raise ValueError(f"flow {self.name!r}: on the fly means OpenCV on the loader's CPU")
        for ref in (self.pair, self.batch):
            if isinstance(ref, str) and ":" not in ref:
                raise ValueError(f"flow {self.name!r}: {ref!r} is not 'module:attr'")

    @property
    def devices(self) -> tuple[str, ...]:
        """Where it runs: OpenCV on the CPU only, torch also on CUDA."""
        return ("cpu", "cuda") if "torch" in self.implementations else ("cpu",)


FLOW_ALGORITHMS: Registry[FlowAlgorithm] = Registry("flow algorithm")


def add_flow_algorithm(entry: FlowAlgorithm) -> None:
    """Register `entry`; a warped algorithm's base must be registered first."""
    if entry.warp_of is not None:
        base = get_flow_algorithm(entry.warp_of)
        if "torch" in entry.implementations and base.batch is None:
            raise ValueError(f"flow {entry.name!r}: its base {base.name!r} has no torch builder")
    FLOW_ALGORITHMS.add(entry.name, entry)


def get_flow_algorithm(name: str) -> FlowAlgorithm:
    """The entry of `name` (UsageError listing the valid names otherwise)."""
    return FLOW_ALGORITHMS.get(name)


def flow_algorithm_names() -> list[str]:
    """Every registered algorithm, in registration order."""
    return FLOW_ALGORITHMS.names()


def torch_algorithms() -> list[str]:
    """The algorithms with a batched torch implementation (`--impl torch`, `--gpus`)."""
    return [n for n in FLOW_ALGORITHMS if "torch" in FLOW_ALGORITHMS.get(n).implementations]


def on_the_fly_algorithms() -> list[str]:
    """The algorithms `--flow-on-the-fly` accepts."""
    return [n for n in FLOW_ALGORITHMS if FLOW_ALGORITHMS.get(n).on_the_fly]


def on_the_fly_choices() -> str:
    """The on-the-fly algorithms for messages, the first registered one recommended: e.g.
    `dis (or farneback)`."""
    first, *rest = on_the_fly_algorithms()
    return f"{first} (or {', '.join(rest)})" if rest else first


def describe_algorithms() -> str:
    """`name (description), ...` of every algorithm, for help texts."""
    return ", ".join(f"{n} ({FLOW_ALGORITHMS.get(n).description})" for n in FLOW_ALGORITHMS)


# The documented DualTVL1 parameters (OpenCV's and dense_flow's defaults; its CUDA TV-L1 had the
# same), set explicitly so a future OpenCV default change cannot silently change the flow. The
# keys are DualTVL1OpticalFlow_create's keyword names; the torch TV-L1 reads the same ones.
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


def _opencv_tvl1(entry: FlowAlgorithm) -> Callable[[Any, Any], Any]:
    import cv2

    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(**entry.params)
    return lambda a, b: tvl1.calc(a, b, None)


def _opencv_farneback(entry: FlowAlgorithm) -> Callable[[Any, Any], Any]:
    import cv2

    p = entry.params
    return lambda a, b: cv2.calcOpticalFlowFarneback(
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


def _opencv_dis(entry: FlowAlgorithm) -> Callable[[Any, Any], Any]:
    import cv2

    dis = cv2.DISOpticalFlow_create(
        getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{entry.params['preset']}")
    )
    return lambda a, b: dis.calc(a, b, None)


_TORCH_TVL1 = "tsncli.flow.backends:create_tvl1_batch"
_TORCH_RAFT = "tsncli.flow.raft:create_raft_batch"  # torchvision.models.optical_flow.<name>

# Speed per 340x256 pair on one core of a 2-core CPU (TSN-FACTS): tvl1 ~1.8 s, farneback ~25 ms,
# dis ~7 ms. Registration order is the order help texts and completion list them (and the first
# on-the-fly algorithm is the one messages recommend).
add_flow_algorithm(
    FlowAlgorithm(
        name="tvl1",
        description="as TSN",
        implementations=("opencv", "torch"),
        pair=_opencv_tvl1,  # needs opencv-contrib (cv2.optflow)
        batch=_TORCH_TVL1,
        params=TVL1_PARAMS,
    )
)
add_flow_algorithm(
    FlowAlgorithm(
        name="dis",
        description="100-1000x faster, somewhat worse flow",
        implementations=("opencv",),
        pair=_opencv_dis,
        on_the_fly=True,
        params={"preset": "MEDIUM"},  # with variational refinement
    )
)
add_flow_algorithm(
    FlowAlgorithm(
        name="farneback",
        description="fast",
        implementations=("opencv",),
        pair=_opencv_farneback,
        on_the_fly=True,
        params=FARNEBACK_PARAMS,
    )
)
add_flow_algorithm(
    FlowAlgorithm(
        name="warp_tvl1",
        description="TSN's warped flow: camera motion removed",
        implementations=("opencv", "torch"),
        warp_of="tvl1",
    )
)
add_flow_algorithm(
    FlowAlgorithm(
        name="warp_dis",
        description="camera motion removed",
        implementations=("opencv",),
        warp_of="dis",
    )
)
for _name, _enum, _size in (
    ("raft_small", "Raft_Small_Weights", "small"),
    ("raft_large", "Raft_Large_Weights", "large"),
):
    add_flow_algorithm(
        FlowAlgorithm(
            name=_name,
            description=f"RAFT {_size}, torch only, after `tsn fetch weights {_name}`",
            implementations=("torch",),
            batch=_TORCH_RAFT,
            # FlyingChairs + FlyingThings; RAFT flow is not TV-L1 flow: train and test on one
            weights=TorchvisionWeights(
                _enum, "C_T_V2", module="models.optical_flow", what="optical-flow weights"
            ),
        )
    )
