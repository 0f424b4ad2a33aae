"""Snippet frames straight from video files: the decode planner seeks to keyframes and decodes
forward, never the whole video (`tsncli.video.sparse`, PyAV, frame-exact by timestamp). Frames
are resized by `tsncli.video.decode.resize_frame`, so they equal what `tsn flow` writes before
JPEG encoding; flow is computed on the fly with `tsn flow`'s functions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from tsncli.errors import DataError
from tsncli.flow.encoding import encode_flow
from tsncli.frame_settings import DEFAULT_BOUND, FrameSettings
from tsncli.lists.listfile import VideoRecord
from tsncli.modality import reads_flow
from tsncli.parallel import current_device
from tsncli.specs.flow_algorithms import on_the_fly_choices
from tsncli.video.backend import VideoDecodeError
from tsncli.video.decode import resize_frame
from tsncli.video.sparse import SparseReader
from tsncli.video.timeline import Timeline, scan_layout

log = logging.getLogger("tsncli.data.video_source")

_REPORTED: set[str] = set()  # videos this process already reported as undecodable
_SCANNED: dict[str, tuple[Timeline | None, tuple[int, ...]]] = {}  # per worker, when not indexed


class SparseVideoReader(SparseReader):
    """Decode chosen frames of one video (planned keyframe seeks), turned and resized like
    `tsn flow`."""

    def __init__(
        self,
        path: str,
        keyframes: Sequence[int] | None = None,
        size: tuple[int, int] | None = None,
        short_side: int | None = None,
        timeline: Timeline | None = None,
        threads: int | None = None,
        *,
        ignore_rotation: bool = False,
    ) -> None:
        if timeline is None and keyframes:
            timeline, keyframes = _scanned(path)
        super().__init__(path, keyframes, timeline, threads, ignore_rotation=ignore_rotation)
        self.size, self.short_side = size, short_side

    def read(self, positions: Iterable[int]) -> dict[int, np.ndarray]:
        """{position: BGR uint8 [H, W, 3] resized like `tsn flow`} for 0-based `positions`."""
        frames = super().read(positions)
        return {
            p: resize_frame(f, size=self.size, short_side=self.short_side)
            for p, f in frames.items()
        }


def _scanned(path: str) -> tuple[Timeline | None, tuple[int, ...]]:
    """Timestamps and keyframes of a video the index gave no timeline for (demuxed once)."""
    if path not in _SCANNED:
        try:
            layout = scan_layout(path)
            _SCANNED[path] = (layout.timeline, layout.keyframes)
        except DataError:
            _SCANNED[path] = (None, ())
    return _SCANNED[path]


def report_once(path: str, reason: str, failure_log: str | None = None) -> bool:
    """Log an undecodable video once per process (and once per `failure_log` file, shared by
    loader workers); True when this call reported it."""
    if path in _REPORTED:
        return False
    _REPORTED.add(path)
    if failure_log:
        import fcntl

        with open(failure_log, "a+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            if any(line.split("\t", 1)[0] == path for line in f.read().splitlines()):
                return False
            f.write(f"{path}\t{reason}\n")
    log.warning("skipping %s: %s", path, reason)
    return True


def _neighbour(
    indices: np.ndarray, frame: int, num_frames: int, flow: bool, offset: int = 0
) -> np.ndarray | None:
    """`indices` [S, L] (1-based) with each snippet touching 0-based video frame `frame` moved
    one frame away from it (later if it fits, else earlier) without leaving the entry's frames
    `offset + 1 .. offset + num_frames`; None when nothing can move."""
    touched = (indices - 1 == frame) | ((indices == frame) if flow else False)
    rows = np.flatnonzero(touched.any(axis=1))
    if rows.size == 0:
        return None
    moved = indices.copy()
    for r in rows:
        shift = 1 if moved[r].max() + 1 <= offset + num_frames else -1
        if moved[r].min() + shift < offset + 1:
            return None
        moved[r] += shift
    return moved


@dataclass
class VideoFileSource:
    """Snippets from video lists (`# tsn-list: videos`): RGB frames or on-the-fly flow.

    `keyframes` maps absolute video paths to their keyframes (from the video index). A flow
    list's `num_frames` counts flow fields (frames - 1), like a frame list's flow_x count.
    """

    size: tuple[int, int] | None = (340, 256)
    short_side: int | None = None
    flow_algo: str | None = None
    bound: float = DEFAULT_BOUND
    keyframes: dict[str, tuple[int, ...] | None] = field(default_factory=dict)
    failure_log: str | None = None
    kind: str = "videos"
    # frame timestamps from the video index (a video missing here is demuxed once per worker)
    timelines: dict[str, Timeline | None] = field(default_factory=dict)
    threads: int | None = None  # decoder threads per video (None: $TSN_DECODE_THREADS or 1)
    flow_impl: str = "opencv"  # the recorded flow implementation (opencv | torch)
    # where a torch flow runs: predict's --device, or None for the pool worker's device
    # (`current_device()`, looked up in the worker, so `tsn eval --gpus N` computes it on GPUs)
    flow_device: str | None = None
    ignore_rotation: bool = False  # keep rotated videos' stored orientation (FrameSettings)

    @classmethod
    def from_settings(cls, settings: FrameSettings | dict[str, Any] | None) -> VideoFileSource:
        """The source recorded frame settings describe (a checkpoint's, for eval and predict);
        the flow algorithm is used only when the record says the frames came from videos."""
        if not isinstance(settings, FrameSettings):
            settings = FrameSettings.from_dict(settings)
        algo = settings.flow_algorithm if settings.source == "videos" else None
        source = cls(settings.size, settings.short_side, algo, settings.bound)
        source.flow_impl = settings.flow_implementation
        source.ignore_rotation = settings.ignore_rotation
        return source

    def reader(self, path: str) -> SparseVideoReader:
        """A reader for one video with its indexed keyframes and timestamps."""
        full = os.path.abspath(path)
        keys, timeline = self.keyframes.get(full), self.timelines.get(full)
        return SparseVideoReader(
            path, keys, self.size, self.short_side, timeline, self.threads,
            ignore_rotation=self.ignore_rotation,
        )  # fmt: skip

    def read_frames(
        self, record: VideoRecord, indices: np.ndarray, modality: str
    ) -> list[np.ndarray]:
        """uint8 frames for `indices` [S, L] (1-based): RGB (H, W, 3) or flow (H, W, 2).

        A decode failure is retried once with the failing snippets moved to a neighbouring
        frame; a second failure raises VideoDecodeError (never another video's frames).
        """
        indices = np.asarray(indices, dtype=np.int64)
        try:
            return self._read(record.path, indices, modality)
        except VideoDecodeError as first:
            flow = reads_flow(modality)
            moved = _neighbour(indices, first.frame, record.num_frames, flow, record.offset)
            if moved is None:
                raise
            log.info("%s: retrying next to frame %d", record.path, first.frame + 1)
            return self._read(record.path, moved, modality)

    def _read(self, path: str, indices: np.ndarray, modality: str) -> list[np.ndarray]:
        flat = indices.reshape(-1).tolist()
        reader = self.reader(path)
        if not reads_flow(modality):
            decoded = reader.read(i - 1 for i in flat)
            rgb = {p: cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for p, f in decoded.items()}
            return [rgb[i - 1] for i in flat]
        if self.flow_algo is None:
            raise DataError(
                "a flow model on a video list needs flow computed on the fly; "
                f"pass --flow-on-the-fly {on_the_fly_choices()}"
            )
        flow_fn = self._flow_fn(self.flow_algo)
        # flow k (1-based) goes from video frame k to k + 1, like `tsn flow`'s flow_x_k
        decoded = reader.read(p for i in flat for p in (i - 1, i))
        grey = {p: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for p, f in decoded.items()}
        stacks: dict[int, np.ndarray] = {}
        for i in dict.fromkeys(flat):
            field_ = flow_fn(grey[i - 1], grey[i])  # [H, W, 2] float32 pixels
            stacks[i] = encode_flow(field_, self.bound)  # [H, W, 2] uint8, x then y
        return [stacks[i] for i in flat]

    def _flow_fn(self, algo: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """The pair flow function for one read, built where the source was unpickled."""
        from tsncli.flow.backends import create_pair_flow_fn, flow_device, shared_pair_flow_fn

        device = flow_device(self.flow_impl, self.flow_device or current_device())
        if self.flow_impl == "torch":  # stateless: built once per process (RAFT's weights)
            return shared_pair_flow_fn(algo, self.flow_impl, device)
        # a fresh OpenCV function per read: DIS keeps state between calls, so sharing one
        # would make a clip's flow depend on which clips this worker loaded before
        return create_pair_flow_fn(algo, self.flow_impl, device)

    def report(self, error: Exception) -> None:
        """Report a video skipped after failing twice (once per video, across workers); other
        errors (a missing --flow-on-the-fly, ...) are not about one video and are raised."""
        if not isinstance(error, VideoDecodeError):
            raise error
        report_once(error.path, str(error), self.failure_log)

    def skipped_videos(self) -> list[str]:
        """The videos reported as undecodable so far (by any loader worker of this source)."""
        if not self.failure_log:
            return sorted(_REPORTED)
        if not os.path.isfile(self.failure_log):
            return []  # nothing reported yet (other sources' reports are not this source's)
        with open(self.failure_log, encoding="utf-8") as f:
            return sorted({line.split("\t", 1)[0] for line in f if line.strip()})

    def validate(self, records: Sequence[VideoRecord], modality: str, list_file: Any = "") -> None:
        """Every listed video file exists (DataError naming up to 5 that do not)."""
        missing = [r.path for r in records if not os.path.isfile(r.path)]
        if missing:
            where = f" in {list_file}" if list_file else ""
            raise DataError(
                f"{len(missing)} of {len(records)} videos{where} do not exist "
                f"({', '.join(missing[:5])}); fix the paths or rebuild the list with "
                "`tsn lists --source videos`"
            )

    @property
    def frame_settings(self) -> FrameSettings:
        """This source's decoding as the typed record."""
        return FrameSettings(
            size=self.size,
            short_side=self.short_side,
            flow_algorithm=self.flow_algo,
            flow_implementation=self.flow_impl,
            bound=self.bound,
            source="videos",
            ignore_rotation=self.ignore_rotation,
        )
