"""The worker/GPU pool shared by flow, eval and other per-item jobs (spawned processes).

Workers are spawned (safe with CUDA and OpenCV threads), each holds one task at a time, and a
worker that dies (OOM killer, segfault) is replaced; its task is reported, the others finish.
Each worker may be pinned to one device; `current_device()` tells a task which one it got.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, TypeVar

from tsncli.errors import TsnError

T = TypeVar("T")
R = TypeVar("R")

_DEVICE: str = "cpu"
_EXIT_INTERRUPTED = 130  # a worker stopped by Ctrl-C exits with this code, quietly


class WorkerDiedError(TsnError):
    """A pool worker died (killed by a signal or crashed) while it held a task."""


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. under taskset or SLURM)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def current_device() -> str:
    """The device this worker was given ("cpu" or "cuda:K")."""
    return _DEVICE


@dataclass(frozen=True)
class ByName:
    """A task function named by module and name, imported where it is called: a parent that only
    plans (`tsn flow`'s) need not load what workers need (OpenCV, PyAV, NumPy: ~0.5 CPU s)."""

    module: str
    name: str

    def __call__(self, *args: Any) -> Any:
        return getattr(importlib.import_module(self.module), self.name)(*args)


def _init_worker(device: str, threads: int, user_init: Callable[[], None] | None) -> None:
    global _DEVICE
    _DEVICE = device
    if threads > 0:
        # torch reads these when it is first imported, so a worker that never needs torch does
        # not pay for importing it here (several seconds per worker on a small CPU).
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ["MKL_NUM_THREADS"] = str(threads)
        import cv2

        cv2.setNumThreads(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    if _DEVICE.startswith("cuda"):
        import torch

        torch.cuda.set_device(torch.device(_DEVICE))
    if user_init is not None:
        user_init()


def _send(conn: Any, index: int | None, ok: bool, value: Any) -> None:
    try:
        conn.send((index, ok, value))
    except Exception as exc:  # the result or the exception would not pickle
        conn.send((index, False, RuntimeError(f"{type(exc).__name__}: {exc}")))


def _worker_main(conn: Any, fn: Callable, device: str, threads: int, init: Any) -> None:
    """A spawned worker: initialise, then run one (index, task) at a time until told to stop."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # started ignored: see _Worker
    try:
        try:
            _init_worker(device, threads, init)
        except Exception as exc:
            _send(conn, None, False, exc)
            return
        while (message := conn.recv()) is not None:
            index, task = message
            try:
                outcome = (True, fn(task))
            except Exception as exc:
                outcome = (False, exc)
            _send(conn, index, *outcome)
    except KeyboardInterrupt:
        sys.exit(_EXIT_INTERRUPTED)
    except (EOFError, BrokenPipeError):  # the parent is gone
        return


def death_reason(exitcode: int | None) -> str:
    """'worker died (signal 9)' for a killed worker, 'worker exited with code N' otherwise."""
    if exitcode is not None and exitcode < 0:
        return f"worker died (signal {-exitcode})"
    return f"worker exited with code {exitcode}"


class _Worker:
    """One spawned process, its end of a pipe and the task it holds (index, task) or None."""

    def __init__(self, ctx: Any, fn: Callable, device: str, threads: int, init: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main, args=(child, fn, device, threads, init), name="tsn-worker"
        )
        with _ctrl_c_ignored():
            self.process.start()
        child.close()
        self.device = device
        self.held: tuple[int, Any] | None = None

    def signal_stop(self, interrupt: bool) -> None:
        """Tell an idle worker to exit; with `interrupt`, Ctrl-C a busy one too."""
        if not self.process.is_alive():
            return
        with contextlib.suppress(OSError):
            if self.held is None:
                self.conn.send(None)
            elif interrupt and self.process.pid is not None:
                os.kill(self.process.pid, signal.SIGINT)


def _join(pool: list[_Worker], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for worker in pool:
        worker.process.join(timeout=max(0.0, deadline - time.monotonic()))


def _shut_down(pool: list[_Worker], error: type[BaseException] | None) -> None:
    """Stop every worker: idle ones exit; after an error busy ones are interrupted; after
    Ctrl-C those that missed the terminal's signal (still starting) get one; stragglers are
    killed (their temporary outputs are cleaned up by the next run)."""
    ctrl_c = error is not None and issubclass(error, KeyboardInterrupt)
    for worker in pool:
        worker.signal_stop(interrupt=error is not None and not ctrl_c)
    if ctrl_c:
        _join(pool, 2)
        for worker in pool:
            worker.signal_stop(interrupt=True)
    _join(pool, 10)
    for worker in pool:
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()


@contextlib.contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    """Start workers with Ctrl-C ignored, so one still importing when it comes prints no
    traceback; `_worker_main` turns it back on around the tasks. Main thread only."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_pool(
    fn: Callable[[T], R],
    tasks: Iterable[T],
    *,
    workers: int = 1,
    devices: list[str] | None = None,
    threads_per_worker: int = 1,
    initializer: Callable[[], None] | None = None,
    max_pending: int | None = None,
    on_worker_death: Callable[[T, str], R] | None = None,
) -> Iterator[tuple[int, R]]:
    """Run `fn` over `tasks`, yielding `(task_index, result)` as each finishes.

    `devices`, when given, sets one worker per device (e.g. ["cuda:0", "cuda:1"]). `fn` must be a
    module-level function (it is pickled for spawned workers). Exceptions raised by `fn` propagate
    to the caller; remaining tasks are dropped. Each worker holds one task, so at most
    min(workers, `max_pending`) tasks are in flight and a huge task list is never materialised.
    A worker that dies is replaced: its task's result is `on_worker_death(task, reason)` (reason
    like "worker died (signal 9)"), or, without that callback, `WorkerDiedError` is raised.
    With one worker, tasks run in-process.
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

    # The stdlib's spawn context is torch.multiprocessing's; `import torch` registers torch's
    # tensor sharing on it, so only a caller that uses torch pays that import (~4 CPU s).
    ctx = multiprocessing.get_context("spawn")
    slots = devices or ["cpu"] * min(workers, max_pending or workers)

    def spawn(device: str) -> _Worker:
        return _Worker(ctx, fn, device, threads_per_worker, initializer)

    pool = [spawn(d) for d in slots]
    try:
        yield from _drive(pool, enumerate(tasks), spawn, on_worker_death)
    finally:
        _shut_down(pool, sys.exc_info()[0])


def _drive(
    pool: list[_Worker], iterator: Iterator[tuple[int, Any]], spawn: Callable, on_death: Any
) -> Iterator[tuple[int, Any]]:
    exhausted = False
    while True:
        for slot, worker in enumerate(pool):
            if worker.held is None and not exhausted:
                item = next(iterator, None)
                if item is None:
                    exhausted = True
                    break
                if not worker.process.is_alive():  # died after its last result
                    _shut_down([worker], None)
                    pool[slot] = worker = spawn(worker.device)
                worker.held = item
                try:
                    worker.conn.send(item)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # it died meanwhile; its sentinel fires below
        busy = [w for w in pool if w.held is not None]
        if not busy:
            return
        wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
        for slot, worker in enumerate(pool):
            if worker.held is None:
                continue
            if worker.conn.poll():
                try:
                    index, ok, value = worker.conn.recv()
                except (EOFError, ConnectionResetError):  # it is exiting: bury it below
                    worker.process.join()
                else:
                    worker.held = None
                    if not ok:
                        raise value
                    yield index, value
                    continue
            if worker.process.is_alive():
                continue
            yield _buried(worker, on_death)
            pool[slot] = spawn(worker.device)


def _buried(worker: _Worker, on_death: Any) -> tuple[int, Any]:
    """The result for the task a dead worker held; raises when the run should stop."""
    worker.process.join()
    code = worker.process.exitcode
    index, task = worker.held  # type: ignore[misc]
    worker.held = None
    worker.conn.close()
    if code == _EXIT_INTERRUPTED:
        raise KeyboardInterrupt
    reason = death_reason(code)
    if on_death is None:
        raise WorkerDiedError(f"a {reason} while running task {index + 1}; rerun to resume")
    return index, on_death(task, reason)
