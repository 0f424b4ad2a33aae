"""The per-video work of `tsn flow`: decode -> resize -> write frames and encoded flow, per pair
(OpenCV) or batched (torch TV-L1 or RAFT, on CPU or a GPU), behind one wrapper that owns the
temporary folder, the atomic rename, Ctrl-C and the failure messages of both.

Output (dense_flow layout, 1-based, names from `tsncli.layout`): `OUT/<video_id>/img_%05d.jpg`,
`flow_x_%05d.jpg`, `flow_y_%05d.jpg`. A video of N decoded frames, with step s, keeps
M = (N - 1) // s + 1 frames (1, 1+s, 1+2s, ...) and writes M images and M - 1 flow pairs; with
the default step 1 that is N images and N - 1 flows. `flow_*_k` is the flow from kept frame k to
kept frame k + 1, so it starts at `img_k`. (dense_flow writes N - 1 images: the second frame of
each pair, never frame 1; TSN's list builders count images and flows separately, so both
layouts load.)

Per pair, frames stream through `tsncli.flow.stream` (the loop `tsn predict` shares): at most
one decoded frame, one previous greyscale frame and one flow field are alive at a time. Batched,
a decoder thread reads frames, the device gets `batch_pairs` consecutive pairs per call, and a
thread pool encodes and writes the JPEGs while it computes; memory holds one batch. Either way
memory is flat in video length, and work goes to a hidden temporary folder renamed onto
`OUT/<video_id>` when complete (`fsutil.atomic_dir`), so that folder means done. The job's
settings, tasks and results are in `tsncli.flow.job`.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from tsncli.errors import DataError
from tsncli.flow.algorithms import create_flow_fn
from tsncli.flow.encoding import encode_flow
from tsncli.flow.job import VideoResult, VideoTask, remove_stale_temp_dirs
from tsncli.flow.stream import encode_jpeg, stream_flow
from tsncli.fsutil import atomic_dir
from tsncli.layout import FLOW_TEMPLATES, RGB_TEMPLATE
from tsncli.parallel import current_device
from tsncli.video.decode import iter_video_frames
from tsncli.video.extent import DecodeEnd

if TYPE_CHECKING:
    from tsncli.flow.backends import BatchFlowFn

log = logging.getLogger("tsncli.flow")

_INTERRUPTED = False  # set in a spawned worker after Ctrl-C
_FLOW_FNS: dict[tuple[str, str | None, str, int], BatchFlowFn] = {}  # one model per worker
_END = object()

# fills the temporary folder; the DecodeEnd records where decoding stopped
FrameWriter = Callable[[VideoTask, Path, VideoResult, DecodeEnd], None]


def extract_video(task: VideoTask) -> VideoResult:
    """Extract one video into `out_root/video_id` atomically; never raises for bad input.

        Bad videos (unreadable, corrupt, zero frames) come back as `status="failed"` with a reason;
    one that ends early is written (its frames are real) and comes back done with `partial` set.
        `task.config.batched` picks the batched torch writer, else frames and flow go per pair.
    """
    global _INTERRUPTED
    result = VideoResult(task.video_id, task.path, "done")
    if _INTERRUPTED:  # Ctrl-C reached this worker: drop the tasks already queued to it
        result.status = "cancelled"
        return result
    cfg = task.config
    write_frames: FrameWriter = _write_batched if cfg.batched else _write_pairs
    out_root = Path(task.out_root)
    start = time.perf_counter()
    end = DecodeEnd()  # filled by the decoder: frames and timestamps, the header's claims
    try:
        if remove_stale_temp_dirs(out_root, task.video_id):
            log.info("%s: removed a half-written folder from an interrupted run", task.video_id)
        # the rename marks the video done; fsyncing each of its small JPEGs too would cost about
        # 2 s per 181-frame video here (docs/benchmarks.md), so only the folders are fsynced
        with atomic_dir(out_root / task.video_id, sync_files=False) as tmp:
            write_frames(task, tmp, result, end)
            if cfg.writes_flow and result.flows == 0:
                raise DataError(
                    f"{task.path} has {result.frames} usable frame(s) at step {cfg.step}; "
                    "flow needs at least 2"
                )
        result.partial = end.shortfall()
    except (DataError, cv2.error, OSError, ValueError) as exc:
        result.status = "failed"
        result.error = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, cv2.error):
            result.error = f"OpenCV could not process {task.path}: {result.error}"
        if isinstance(exc, OSError) and exc.errno is not None:  # a full disk stops the run
            result.extra.update(errno=exc.errno, filename=exc.filename)
        log.debug("%s failed", task.video_id, exc_info=True)
    except KeyboardInterrupt:
        # atomic_dir has removed the temporary folder. In a spawned worker, remember it so the
        # pool's queued tasks return at once and Ctrl-C stops the run promptly.
        if multiprocessing.parent_process() is not None:
            _INTERRUPTED = True
        raise
    result.seconds = time.perf_counter() - start
    return result


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    path.write_bytes(encode_jpeg(image))


def _frames(task: VideoTask, end: DecodeEnd) -> Iterator[np.ndarray]:
    cfg = task.config
    return iter_video_frames(
        task.path,
        size=cfg.frame_size,
        short_side=cfg.short_side,
        step=cfg.step,
        end=end,
        ignore_rotation=cfg.ignore_rotation,
    )


# --- per pair (OpenCV): the frame loop `tsn predict` shares ---


def _write_pairs(task: VideoTask, tmp: Path, result: VideoResult, end: DecodeEnd) -> None:
    cv2.setNumThreads(1)  # one OpenCV thread per worker; parallelism is across videos
    cfg = task.config
    write_rgb = cfg.writes_rgb
    flow_fn = create_flow_fn(cfg.algo) if cfg.writes_flow else None
    for step in stream_flow(_frames(task, end), flow_fn, cfg.bound):
        result.frames = step.index
        for name, image in step.images(rgb=write_rgb):
            _write_jpeg(tmp / name, image)
        result.images += int(write_rgb)
        result.flows += int(step.flow is not None)


# --- batched (torch): decode ahead on a thread, flow per batch, JPEGs on a thread pool ---


def _batch_flow_fn(algo: str, impl: str | None, device: str, batch: int) -> BatchFlowFn:
    key = (algo, impl, device, batch)
    if key not in _FLOW_FNS:
        # imported here: an OpenCV worker never loads torch (~2-6 s per spawned worker)
        from tsncli.flow.backends import create_batch_flow_fn

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
        self.pending.append(self.pool.submit(_write_jpeg, self.folder / name, image))
        while len(self.pending) > self.limit:
            self.pending.popleft().result()

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


def _write_batched(task: VideoTask, tmp: Path, result: VideoResult, end: DecodeEnd) -> None:
    import torch  # loaded with the flow model (see _batch_flow_fn)

    cfg = task.config
    write_rgb = cfg.writes_rgb
    want_flow = cfg.writes_flow
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
        for index, frame in enumerate(
            _prefetched(_frames(task, end), 2 * cfg.batch_pairs), start=1
        ):
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
