"""`tsn flow` with batched torch flow (TV-L1 or RAFT, on CPU or a GPU): a decoder thread reads
frames, the device gets `batch_pairs` consecutive pairs per call, and a thread pool encodes and
writes the JPEGs while it computes. Same files, folder, atomic rename and failures as
`extract.extract_video`; memory holds one batch of frames and flows, whatever the video length.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

from tsncli.errors import DataError
from tsncli.flow.backends import BatchFlowFn, create_batch_flow_fn
from tsncli.flow.encoding import encode_flow
from tsncli.flow.job import VideoResult, VideoTask, remove_stale_temp_dirs
from tsncli.flow.stream import FLOW_TEMPLATES, RGB_TEMPLATE, encode_jpeg
from tsncli.fsutil import atomic_dir
from tsncli.parallel import current_device
from tsncli.video.decode import iter_video_frames

_FLOW_FNS: dict[tuple[str, str | None, str, int], BatchFlowFn] = {}  # one model per worker
_END = object()


def _batch_flow_fn(algo: str, impl: str | None, device: str, batch: int) -> BatchFlowFn:
    key = (algo, impl, device, batch)
    if key not in _FLOW_FNS:
        _FLOW_FNS[key] = create_batch_flow_fn(algo, impl, device, batch)
    return _FLOW_FNS[key]


def _prefetched(frames: Iterable[np.ndarray], depth: int) -> Iterator[np.ndarray]:
    """Iterate `frames` from a thread that decodes up to `depth` frames ahead."""
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def decode() -> None:
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        ahead.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            ahead.put(exc)

    thread = threading.Thread(target=decode, daemon=True, name="tsn-decode")
    thread.start()
    try:
        while (item := ahead.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class _Writer:
    """Encode and write JPEGs on a thread pool, with a bounded number in flight."""

    def __init__(self, folder: Path, threads: int) -> None:
        self.folder = folder
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tsn-jpeg")
        self.pending: deque[Future] = deque()
        self.limit = 8 * threads

    def write(self, name: str, image: np.ndarray) -> None:
        self.pending.append(self.pool.submit(self._write, self.folder / name, image))
        while len(self.pending) > self.limit:
            self.pending.popleft().result()

    @staticmethod
    def _write(path: Path, image: np.ndarray) -> None:
        path.write_bytes(encode_jpeg(image))

    def close(self) -> None:
        """Wait for every write; the first failure is raised."""
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _device_for(requested: str) -> str:
    """The pool pins GPU workers to `cuda:K`; `cuda` alone outside a pool means cuda:0."""
    if requested == "cpu":
        return "cpu"
    given = current_device()
    return given if given.startswith("cuda") else "cuda:0"


def _extract_frames(task: VideoTask, tmp: Path, result: VideoResult) -> None:
    cfg = task.config
    write_rgb = cfg.modality in ("rgb", "both")
    want_flow = cfg.modality in ("flow", "both")
    flow_fn = _batch_flow_fn(cfg.algo, cfg.impl, _device_for(cfg.device), cfg.batch_pairs)
    # the pool gave this worker its share of the cores (torch's thread count)
    writer = _Writer(tmp, threads=max(2, torch.get_num_threads()))
    greys: list[np.ndarray] = []  # greys[0]: the last frame of the previous batch
    first = 1  # the frame number of greys[0]

    def flush() -> None:
        nonlocal greys, first
        flows = flow_fn(np.stack(greys[:-1]), np.stack(greys[1:]))  # [n, H, W, 2] px
        for j, flow in enumerate(flows):
            encoded = encode_flow(flow, cfg.bound)  # [H, W, 2] uint8
            for axis, template in enumerate(FLOW_TEMPLATES):
                writer.write(template.format(first + j), np.ascontiguousarray(encoded[..., axis]))
        result.flows += len(flows)
        first += len(flows)
        greys = greys[-1:]

    try:
        frames = iter_video_frames(
            task.path, size=cfg.frame_size, short_side=cfg.short_side, step=cfg.step
        )
        for index, frame in enumerate(_prefetched(frames, 2 * cfg.batch_pairs), start=1):
            result.frames = index
            if write_rgb:
                writer.write(RGB_TEMPLATE.format(index), frame)
                result.images += 1
            if want_flow:
                greys.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
                if len(greys) == cfg.batch_pairs + 1:
                    flush()
        if len(greys) > 1:
            flush()
    finally:
        writer.close()
    if want_flow and result.flows == 0:
        raise DataError(
            f"{task.path} has {result.frames} usable frame(s) at step {cfg.step}; "
            "flow needs at least 2"
        )


def extract_video_batched(task: VideoTask) -> VideoResult:
    """Extract one video into `out_root/video_id` atomically with batched flow; bad videos
    come back as `status="failed"` with a reason, never raised."""
    result = VideoResult(task.video_id, task.path, "done")
    out_root = Path(task.out_root)
    start = time.perf_counter()
    try:
        remove_stale_temp_dirs(out_root, task.video_id)
        with atomic_dir(out_root / task.video_id) as tmp:
            _extract_frames(task, tmp, result)
    except (DataError, cv2.error, OSError, ValueError) as exc:
        result.status = "failed"
        result.error = " ".join(str(exc).split()) or type(exc).__name__
    result.seconds = time.perf_counter() - start
    return result
