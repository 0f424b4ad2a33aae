"""Flow by algorithm, implementation and device: OpenCV per pair, or batched in PyTorch (the
algorithms whose registry entry names a torch builder) on CPU or CUDA. Both take and return
numpy arrays, so callers never care.

A batch flow function maps grey uint8 [B, H, W] pairs to float32 [B, H, W, 2] pixels. On CUDA
frames travel through pinned host buffers with non-blocking copies, and an out-of-memory error
halves the batch and retries instead of ending the run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np
import torch

from tsncli.errors import DataError, UsageError
from tsncli.flow.algorithms import (
    DEFAULT_BATCH_PAIRS,
    FlowFn,
    create_flow_fn,
    resolve_builder,
    resolve_implementation,
)
from tsncli.flow.tvl1_torch import TVL1Options, tvl1_flow
from tsncli.flow.warped import WarpedFlow
from tsncli.specs.flow_algorithms import FlowAlgorithm, get_flow_algorithm, torch_algorithms

log = logging.getLogger("tsncli.flow")


BatchFlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class TorchBatchFlow:
    """Batched flow on one torch device; call with grey uint8 [B, H, W] numpy pairs.

    The algorithm's registry entry names its torch builder; a warped one (`warp_of`) aligns
    each pair on the CPU first, then runs its base algorithm's builder.
    """

    def __init__(
        self,
        algo: str,
        device: str = "cpu",
        max_batch: int = DEFAULT_BATCH_PAIRS,
        weights: str | None = "cache",  # for algorithms with weights: see `create_raft`
    ) -> None:
        entry = get_flow_algorithm(algo)
        if "torch" not in entry.implementations:
            raise UsageError(f"no torch flow {algo!r}; use one of: {', '.join(torch_algorithms())}")
        self.device = torch.device(device)
        self.batch = max(1, max_batch)
        self.aligner = WarpedFlow(None) if entry.warp_of is not None else None
        base = get_flow_algorithm(entry.warp_of) if entry.warp_of is not None else entry
        self.compute: Callable = resolve_builder(base.batch)(base, self.device, weights)
        self._pinned: dict[str, torch.Tensor] = {}

    def _host(self, key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A reusable host buffer; page-locked on CUDA so copies can overlap with compute."""
        buf = self._pinned.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            pin = self.device.type == "cuda"
            buf = self._pinned[key] = torch.empty(shape, dtype=dtype, pin_memory=pin)
        return buf

    def _run(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """One chunk: host -> device, flow, device -> host."""
        frames = self._host("frames", (2, *prev.shape), torch.uint8)
        frames[0].numpy()[...] = prev
        frames[1].numpy()[...] = nxt
        on_device = frames.to(self.device, non_blocking=True)
        flow = self.compute(on_device[0], on_device[1])  # [B, H, W, 2]
        if self.device.type != "cuda":
            return flow.numpy().copy()
        out = self._host("flow", tuple(flow.shape), torch.float32)
        out.copy_(flow, non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return out.numpy().copy()

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        if prev.ndim != 3 or prev.shape != nxt.shape or prev.dtype != np.uint8:
            raise ValueError(f"batch flow needs grey uint8 [B, H, W] pairs, got {prev.shape}")
        if self.aligner is not None:  # homography on CPU, per pair
            nxt = np.stack([self.aligner.align(p, n) for p, n in zip(prev, nxt, strict=True)])
        parts, start = [], 0
        while start < len(prev):
            stop = start + self.batch
            try:
                parts.append(self._run(prev[start:stop], nxt[start:stop]))
            except torch.cuda.OutOfMemoryError:
                if self.batch == 1:
                    raise DataError(
                        f"one {prev.shape[1]}x{prev.shape[2]} pair does not fit in GPU memory; "
                        "use a smaller --size or --device cpu"
                    ) from None
                self._pinned.clear()
                torch.cuda.empty_cache()
                self.batch = max(1, self.batch // 2)
                log.warning("GPU out of memory: batches of %d pairs from now on", self.batch)
                continue
            start = stop
        return np.concatenate(parts)


def create_batch_flow_fn(
    algo: str, impl: str | None = None, device: str = "cpu", max_batch: int = DEFAULT_BATCH_PAIRS
) -> BatchFlowFn:
    """A batch flow function for `algo` (implementation resolved by `resolve_implementation`)."""
    if resolve_implementation(algo, impl, device) == "torch":
        return TorchBatchFlow(algo, device, max_batch)
    pair_fn = create_flow_fn(algo)

    def opencv_batch(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return np.stack([pair_fn(p, n) for p, n in zip(prev, nxt, strict=True)])

    return opencv_batch


def create_tvl1_batch(
    entry: FlowAlgorithm, device: torch.device, weights: str | None = None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The torch TV-L1 of `entry` (its OpenCV parameters), on grey [B, H, W] batches on
    `device`; TV-L1 has no weights."""
    options = TVL1Options.from_opencv_params(dict(entry.params))
    return lambda prev, nxt: tvl1_flow(prev, nxt, options)


def flow_device(impl: str, device: str) -> str:
    """Where `impl` runs when a model runs on `device`: torch follows it, OpenCV stays on CPU."""
    return device if impl == "torch" else "cpu"


def create_pair_flow_fn(algo: str, impl: str | None = None, device: str = "cpu") -> FlowFn:
    """A per-pair flow function ([H, W] uint8 twice -> [H, W, 2]) for any implementation."""
    if resolve_implementation(algo, impl, device) == "opencv":
        return create_flow_fn(algo)
    batch_fn = TorchBatchFlow(algo, device, max_batch=1)
    return lambda prev, nxt: batch_fn(prev[None], nxt[None])[0]


_SHARED: dict[tuple[str, str, str], FlowFn] = {}  # this process's torch flow functions
_SHARED_LOCK = threading.Lock()


def shared_pair_flow_fn(algo: str, impl: str | None = None, device: str = "cpu") -> FlowFn:
    """`create_pair_flow_fn`'s function built once per process and (algo, impl, device), so RAFT
    loads its weights once, not per clip; loader threads share it, one call at a time."""
    key = (algo, impl or "", device)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = _one_at_a_time(create_pair_flow_fn(algo, impl, device))
        return _SHARED[key]


def _one_at_a_time(flow_fn: FlowFn) -> FlowFn:
    """`flow_fn` behind a lock: its pinned buffers and model are not for two threads at once."""
    lock = threading.Lock()

    def serialised(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        with lock:
            return flow_fn(prev, nxt)

    return serialised
