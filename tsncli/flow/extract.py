"""The per-video work of `tsn flow`: decode -> resize -> encode frames and flow as JPEG -> a sink
(`tsncli.flow.sinks`: files or dense_flow's zips), per pair (OpenCV) or batched (torch TV-L1 or
RAFT, on CPU or a GPU), behind one wrapper that owns the temporary folder, the atomic rename,
Ctrl-C and the failure messages of both; and the same work measured in memory on a video's first
frames, for `tsn flow --estimate`.

Output (dense_flow layout, 1-based, names from `tsncli.layout`): `OUT/<video_id>/img_%05d.jpg`,
`flow_x_%05d.jpg`, `flow_y_%05d.jpg`, or with `--format zip` the same JPEG bytes as entries
`img_%05d.jpg`, `x_%05d.jpg`, `y_%05d.jpg` of `img.zip`, `flow_x.zip`, `flow_y.zip`. A video of
N decoded frames, with step s, keeps M = (N - 1) // s + 1 frames (1, 1+s, 1+2s, ...) and writes
M images and M - 1 flow pairs; with the default step 1 that is N images and N - 1 flows.
`flow_*_k` is the flow from kept frame k to kept frame k + 1, so it starts at `img_k`.
(dense_flow writes N - 1 images: the second frame of each pair, never frame 1; TSN's list
builders count images and flows separately, so both layouts load.)

Per pair, frames stream through `tsncli.flow.stream` (the loop `tsn predict` shares): at most
one decoded frame, one previous greyscale frame and one flow field are alive at a time. Batched,
a decoder thread reads frames, the device gets `batch_pairs` consecutive pairs per call, and a
thread pool encodes the JPEGs (and writes them, for files) while it computes; memory holds one
batch. Either way memory is flat in video length: zip entries go into their archive as they
are made, and only its central directory (~400 bytes an entry, which a zip writes at its end:
~22 MB for a 10-minute 30 fps video's three archives) grows with it. Work goes to a hidden
temporary folder renamed onto `OUT/<video_id>` when complete (`fsutil.atomic_dir`), so that
folder means done. The job's settings, tasks and results are in `tsncli.flow.job`.
"""

from __future__ import annotations

import itertools
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
from tsncli.flow.job import (
    SampleRequest,
    SampleResult,
    VideoResult,
    VideoTask,
    remove_stale_temp_dirs,
)
from tsncli.flow.sinks import FLOW_PARTS, FrameSink, Part, frame_format, parts_written
from tsncli.flow.stream import encode_jpeg, stream_flow
from tsncli.fsutil import atomic_dir
from tsncli.parallel import current_device
from tsncli.video.backend import AV_ERRORS
from tsncli.video.decode import iter_video_frames, probe_video
from tsncli.video.extent import DecodeEnd, read_extent

if TYPE_CHECKING:
    from tsncli.flow.backends import BatchFlowFn

log = logging.getLogger("tsncli.flow")

_INTERRUPTED = False  # set in a spawned worker after Ctrl-C
_FLOW_FNS: dict[tuple[str, str | None, str, int], BatchFlowFn] = {}  # one model per worker
_END = object()

# fills a sink with a video's frames (the first `limit` kept ones when given); the DecodeEnd
# records where decoding stopped
FrameWriter = Callable[[VideoTask, FrameSink, VideoResult, DecodeEnd, "int | None"], None]


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
    write_frames = _frame_writer(task)
    layout = frame_format(cfg.format)
    out_root = Path(task.out_root)
    start = time.perf_counter()
    end = DecodeEnd()  # filled by the decoder: frames and timestamps, the header's claims
    try:
        if remove_stale_temp_dirs(out_root, task.video_id):
            log.info("%s: removed a half-written folder from an interrupted run", task.video_id)
        # the rename marks the video done; fsyncing each of its small JPEGs too would cost about
        # 2 s per 181-frame video here (docs/benchmarks.md), so only the folders are fsynced
        # (a zip is fsynced by its own writer before its rename)
        parts = parts_written(cfg.writes_rgb, cfg.writes_flow)
        with atomic_dir(out_root / task.video_id, sync_files=False) as tmp:
            with layout.open(tmp, parts) as sink:
                write_frames(task, sink, result, end, None)
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


def _frame_writer(task: VideoTask) -> FrameWriter:
    """The batched torch writer when `task.config.batched`, else the per-pair one."""
    return _write_batched if task.config.batched else _write_pairs


def _frames(task: VideoTask, end: DecodeEnd, limit: int | None = None) -> Iterator[np.ndarray]:
    cfg = task.config
    frames = iter_video_frames(
        task.path,
        size=cfg.frame_size,
        short_side=cfg.short_side,
        step=cfg.step,
        end=end,
        ignore_rotation=cfg.ignore_rotation,
    )
    # stops decoding after `limit` kept frames (the generator closes its file when dropped)
    return frames if limit is None else itertools.islice(frames, limit)


# --- per pair (OpenCV): the frame loop `tsn predict` shares ---


def _write_pairs(
    task: VideoTask, sink: FrameSink, result: VideoResult, end: DecodeEnd, limit: int | None
) -> None:
    cv2.setNumThreads(1)  # one OpenCV thread per worker; parallelism is across videos
    cfg = task.config
    write_rgb = cfg.writes_rgb
    flow_fn = create_flow_fn(cfg.algo) if cfg.writes_flow else None
    for step in stream_flow(_frames(task, end, limit), flow_fn, cfg.bound):
        result.frames = step.index
        for part, number, image in step.parts(rgb=write_rgb):
            sink.add(part, number, encode_jpeg(image))
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


def _encode_into(sink: FrameSink, part: Part, index: int, image: np.ndarray) -> None:
    sink.add(part, index, encode_jpeg(image))


class _Writer:
    """Encode JPEGs on a thread pool, with a bounded number in flight, into `sink`: from the
    pool's threads when the sink takes concurrent adds (files), else from this thread in the
    order they were given (a zip's entries are appended one at a time, in order)."""

    def __init__(self, sink: FrameSink, threads: int) -> None:
        self.sink = sink
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tsn-jpeg")
        self.pending: deque[tuple[Part, int, Future]] = deque()
        self.limit = 8 * threads

    def write(self, part: Part, index: int, image: np.ndarray) -> None:
        if self.sink.concurrent:
            job = self.pool.submit(_encode_into, self.sink, part, index, image)
        else:
            job = self.pool.submit(encode_jpeg, image)
        self.pending.append((part, index, job))
        while len(self.pending) > self.limit:
            self._finish_oldest()

    def _finish_oldest(self) -> None:
        part, index, job = self.pending.popleft()
        data = job.result()
        if not self.sink.concurrent:
            self.sink.add(part, index, data)

    def close(self) -> None:
        """Wait for every write; the first failure is raised."""
        try:
            while self.pending:
                self._finish_oldest()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _device_for(requested: str) -> str:
    """The pool pins GPU workers to `cuda:K`; `cuda` alone outside a pool means cuda:0."""
    if requested == "cpu":
        return "cpu"
    given = current_device()
    return given if given.startswith("cuda") else "cuda:0"


def _write_batched(
    task: VideoTask, sink: FrameSink, result: VideoResult, end: DecodeEnd, limit: int | None
) -> None:
    import torch  # loaded with the flow model (see _batch_flow_fn)

    cfg = task.config
    write_rgb = cfg.writes_rgb
    want_flow = cfg.writes_flow
    flow_fn = _batch_flow_fn(cfg.algo, cfg.impl, _device_for(cfg.device), cfg.batch_pairs)
    # the pool gave this worker its share of the cores (torch's thread count)
    writer = _Writer(sink, threads=max(2, torch.get_num_threads()))
    greys: list[np.ndarray] = []  # greys[0]: the last frame of the previous batch
    first = 1  # the frame number of greys[0]

    def flush() -> None:
        nonlocal greys, first
        flows = flow_fn(np.stack(greys[:-1]), np.stack(greys[1:]))  # [n, H, W, 2] px
        for j, flow in enumerate(flows):
            encoded = encode_flow(flow, cfg.bound)  # [H, W, 2] uint8
            for axis, part in enumerate(FLOW_PARTS):
                writer.write(part, first + j, np.ascontiguousarray(encoded[..., axis]))
        result.flows += len(flows)
        first += len(flows)
        greys = greys[-1:]

    try:
        for index, frame in enumerate(
            _prefetched(_frames(task, end, limit), 2 * cfg.batch_pairs), start=1
        ):
            result.frames = index
            if write_rgb:
                writer.write(Part.RGB, index, frame)
                result.images += 1
            if want_flow:
                greys.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
                if len(greys) == cfg.batch_pairs + 1:
                    flush()
        if len(greys) > 1:
            flush()
    finally:
        writer.close()


# --- measured in memory, for `tsn flow --estimate` ---


class _MeasureSink:
    """Counts the JPEGs and bytes each stream would get; keeps none of them."""

    concurrent = False

    def __init__(self) -> None:
        self.entries: dict[int, int] = {}
        self.data: dict[int, int] = {}

    def add(self, part: Part, index: int, data: bytes) -> None:
        self.entries[part] = self.entries.get(part, 0) + 1
        self.data[part] = self.data.get(part, 0) + len(data)


def measure_video(request: SampleRequest) -> SampleResult:
    """Extract `request.task`'s first `request.frames` kept frames in memory, with its settings
    and through the writer `tsn flow` uses, and count what each stream's JPEGs take; writes
    nothing, never raises for bad input (the reason is in `error`)."""
    task = request.task
    sink = _MeasureSink()
    result = VideoResult(task.video_id, task.path, "done")
    try:
        _frame_writer(task)(task, sink, result, DecodeEnd(), request.frames)
    except (DataError, cv2.error, OSError, ValueError) as exc:
        return SampleResult(task.video_id, error=" ".join(str(exc).split()) or type(exc).__name__)
    return SampleResult(task.video_id, result.frames, sink.entries, sink.data)


def count_header_frames(path: str) -> tuple[int, str | None]:
    """The frame count `path`'s container states, without decoding: the stream's count, else
    its duration times its rate; 0 when it states neither. (0, reason) when it cannot be opened."""
    try:
        count = probe_video(path).frame_count
        if count <= 0:
            extent = read_extent(path)
            count = round(extent.seconds * extent.fps)
    except (DataError, *AV_ERRORS) as exc:
        return 0, " ".join(str(exc).split()) or type(exc).__name__
    return max(0, int(count)), None
