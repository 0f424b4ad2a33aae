"""The worker/GPU pool shared by flow, eval and other per-item jobs (torch.multiprocessing).

Workers are spawned (safe with CUDA and OpenCV threads). Each worker may be pinned to one device;
`current_device()` tells a task which one it got. With one worker, tasks run in-process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_DEVICE: str = "cpu"


def current_device() -> str:
    """The device this worker was given ("cpu" or "cuda:K")."""
    return _DEVICE


def _init_worker(device_queue: Any, threads: int, user_init: Callable[[], None] | None) -> None:
    global _DEVICE
    _DEVICE = device_queue.get() if device_queue is not None else "cpu"
    if threads > 0:
        # torch reads these when it is first imported, so a worker that never needs torch does
        # not pay for importing it here (several seconds per worker on a small CPU).
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ["MKL_NUM_THREADS"] = str(threads)
        try:
            import cv2

            cv2.setNumThreads(threads)
        except ImportError:  # pragma: no cover - opencv is a dependency
            pass
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    if _DEVICE.startswith("cuda"):
        import torch

        torch.cuda.set_device(torch.device(_DEVICE))
    if user_init is not None:
        user_init()


def run_pool(
    fn: Callable[[T], R],
    tasks: Iterable[T],
    *,
    workers: int = 1,
    devices: list[str] | None = None,
    threads_per_worker: int = 1,
    initializer: Callable[[], None] | None = None,
    max_pending: int | None = None,
) -> Iterator[tuple[int, R]]:
    """Run `fn` over `tasks`, yielding `(task_index, result)` as each finishes.

    `devices`, when given, sets one worker per device (e.g. ["cuda:0", "cuda:1"]). `fn` must be a
    module-level function (it is pickled for spawned workers). Exceptions raised by `fn` propagate
    to the caller; remaining tasks are cancelled. At most `max_pending` tasks are in flight, so a
    huge task list is never materialised in the workers' queues.
    """
    global _DEVICE
    if devices:
        workers = len(devices)
    workers = max(1, workers)
    if workers == 1:
        previous = _DEVICE
        _DEVICE = devices[0] if devices else "cpu"
        try:
            if initializer is not None:
                initializer()
            for index, task in enumerate(tasks):
                yield index, fn(task)
        finally:
            _DEVICE = previous
        return

    import torch.multiprocessing as tmp

    ctx = tmp.get_context("spawn")
    queue = None
    if devices:
        queue = ctx.Manager().Queue()
        for d in devices:
            queue.put(d)
    limit = max_pending or workers * 2
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(queue, threads_per_worker, initializer),
    )
    pending: dict[Future, int] = {}
    iterator = enumerate(tasks)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < limit:
                try:
                    index, task = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                pending[executor.submit(fn, task)] = index
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                yield index, future.result()
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)


def resolve_devices(gpus: int | None) -> list[str] | None:
    """Turn `--gpus N` into a device list; None means CPU workers. Errors name the fix."""
    if not gpus:
        return None
    import torch

    from tsncli.errors import UsageError

    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if available == 0:
        raise UsageError(f"--gpus {gpus} asked for GPUs but CUDA sees none; use --workers on CPU")
    if gpus > available:
        raise UsageError(f"--gpus {gpus} asked for more GPUs than the {available} CUDA sees")
    return [f"cuda:{i}" for i in range(gpus)]
