"""The per-video pipeline of `tsn flow`: decode -> resize -> write frames and encoded flow.

Output (dense_flow layout, 1-based): `OUT/<video_id>/img_%05d.jpg`, `flow_x_%05d.jpg`,
`flow_y_%05d.jpg`. A video of N decoded frames, with step s, keeps M = (N - 1) // s + 1 frames
(1, 1+s, 1+2s, ...) and writes M images and M - 1 flow pairs; with the default step 1 that is
N images and N - 1 flows. `flow_*_k` is the flow from kept frame k to kept frame k + 1, so it
starts at `img_k`. (dense_flow writes N - 1 images: the second frame of each pair, never frame 1;
TSN's list builders count images and flows separately, so both layouts load.)

Frames are streamed through `tsncli.flow.stream` (the loop `tsn predict` shares): at most one
decoded frame, one previous greyscale frame and one flow field are alive at a time, so memory
is flat in video length. Work goes to a hidden temporary folder
renamed onto `OUT/<video_id>` when complete (`fsutil.atomic_dir`), so that folder means done.
The job's settings, tasks and results are in `tsncli.flow.job`.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from pathlib import Path

import cv2
import numpy as np

from tsncli.errors import DataError
from tsncli.flow.algorithms import create_flow_fn
from tsncli.flow.job import VideoResult, VideoTask, remove_stale_temp_dirs
from tsncli.flow.stream import encode_jpeg, stream_flow
from tsncli.fsutil import atomic_dir
from tsncli.video.decode import iter_video_frames

log = logging.getLogger("tsncli.flow")

_INTERRUPTED = False  # set in a spawned worker after Ctrl-C


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    path.write_bytes(encode_jpeg(image))


def extract_video(task: VideoTask) -> VideoResult:
    """Extract one video into `out_root/video_id` atomically; never raises for bad input.

    Bad videos (unreadable, corrupt, zero frames) come back as `status="failed"` with a reason.
    """
    global _INTERRUPTED
    result = VideoResult(task.video_id, task.path, "done")
    if _INTERRUPTED:  # Ctrl-C reached this worker: drop the tasks already queued to it
        result.status = "cancelled"
        return result
    cv2.setNumThreads(1)  # one OpenCV thread per worker; parallelism is across videos
    cfg = task.config
    out_root = Path(task.out_root)
    start = time.perf_counter()
    try:
        if remove_stale_temp_dirs(out_root, task.video_id):
            log.info("%s: removed a half-written folder from an interrupted run", task.video_id)
        write_rgb = cfg.modality in ("rgb", "both")
        flow_fn = create_flow_fn(cfg.algo) if cfg.modality in ("flow", "both") else None
        with atomic_dir(out_root / task.video_id) as tmp:
            frames = iter_video_frames(
                task.path, size=cfg.frame_size, short_side=cfg.short_side, step=cfg.step
            )
            for step in stream_flow(frames, flow_fn, cfg.bound):
                result.frames = step.index
                for name, image in step.images(rgb=write_rgb):
                    _write_jpeg(tmp / name, image)
                result.images += int(write_rgb)
                result.flows += int(step.flow is not None)
            if flow_fn is not None and result.flows == 0:
                raise DataError(
                    f"{task.path} has {result.frames} usable frame(s) at step {cfg.step}; "
                    "flow needs at least 2"
                )
    except (DataError, cv2.error, OSError, ValueError) as exc:
        result.status = "failed"
        result.error = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, cv2.error):
            result.error = f"OpenCV could not process {task.path}: {result.error}"
        log.debug("%s failed", task.video_id, exc_info=True)
    except KeyboardInterrupt:
        # atomic_dir has removed the temporary folder. In a spawned worker, remember it so the
        # pool's queued tasks return at once and Ctrl-C stops the run promptly.
        if multiprocessing.parent_process() is not None:
            _INTERRUPTED = True
        raise
    result.seconds = time.perf_counter() - start
    return result
