"""Dense testing of untrimmed videos (`tsn eval --stride N | --stride-seconds T`): a snippet
every N frames (`tsncli.data.sampling.dense_frame_indices`), loaded and scored in chunks of a
bounded number of snippets, so memory stays flat however long the video; each video's stride and
the score file's snippets-per-second rate come from the videos' frame rates.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsncli.data import transforms
from tsncli.data.frames import stack_frames
from tsncli.data.sampling import dense_frame_indices
from tsncli.data.snippet_source import DEFAULT_INDEX_NAME, SnippetSource
from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import read_settings_file
from tsncli.layout import FLOW_CONFIG_FILE
from tsncli.lists.listfile import VideoRecord, read_list_header

log = logging.getLogger("tsncli.engine.evaluate")

# Snippets loaded and scored at once (times --batch): as many as one video of the 25-snippet
# segment test, so dense testing peaks at the memory `tsn eval --segments 25` does.
SNIPPETS_PER_CHUNK = 25
FPS_KEY = "fps"  # flow_config.yaml: the frame rate of the written frames, when recorded


@dataclass(frozen=True)
class DensePlan:
    """Each record's stride in frames and the score file's snippets-per-second rate (None when
    the frame rate is unknown: M-TWI then assumes 1 per second, as the original)."""

    strides: tuple[int, ...]
    snippets_per_second: float | None


@dataclass(frozen=True)
class DenseChunk:
    """Snippets `start:stop` of the video at position `video` of a shard; `last` ends it."""

    video: int
    start: int
    stop: int
    last: bool


class DenseClips:
    """The dense test clips of some videos, chunk by chunk: item i is uint8
    (N, s, C*L, crop, crop) for `chunks[i]`, read through `source` and cropped as every test
    clip is (`transforms.test_clip`)."""

    def __init__(
        self,
        records: Sequence[VideoRecord],
        strides: Sequence[int],
        source: SnippetSource,
        modality: str,
        frames_per_snippet: int,
        crop_size: int,
        crops: int,
        per_chunk: int = SNIPPETS_PER_CHUNK,
    ) -> None:
        self.records = list(records)
        self.source, self.modality = source, modality
        self.crop_size, self.crops = crop_size, crops
        # [S_v, L] 1-based frame numbers per video: a few ints per snippet, never frames;
        # a record with an offset (a trimmed instance) is sampled inside its own span
        self.indices = [
            dense_frame_indices(r.num_frames, stride, frames_per_snippet) + r.offset
            for r, stride in zip(self.records, strides, strict=True)
        ]
        self.chunks: list[DenseChunk] = []
        for v, frames in enumerate(self.indices):
            starts = range(0, len(frames), per_chunk)
            for start in starts:
                stop = min(start + per_chunk, len(frames))
                self.chunks.append(DenseChunk(v, start, stop, stop == len(frames)))

    def __len__(self) -> int:
        return len(self.chunks)

    def load_clip(self, index: int) -> np.ndarray:
        """The crops of one chunk's snippets, uint8 (N, s, C*L, crop, crop)."""
        chunk = self.chunks[index]
        indices = self.indices[chunk.video][chunk.start : chunk.stop]
        frames = self.source.read_frames(self.records[chunk.video], indices, self.modality)
        group = stack_frames(frames)  # (H, W, s*L*C)
        return transforms.test_clip(group, self.crop_size, self.crops, self.modality, len(indices))


def plan_dense(
    list_file: Path,
    records: Sequence[VideoRecord],
    stride: int | None,
    stride_seconds: float | None,
    workers: int = 1,
) -> DensePlan:
    """Strides for `--stride N` (N for every video) or `--stride-seconds T` (T times each
    video's frame rate, rounded half up, at least 1), and the rate to record."""
    rates = frame_rates(list_file, records, workers)
    if stride is not None:
        if stride < 1:
            raise UsageError(f"--stride must be at least 1 frame, got {stride}")
        strides = (stride,) * len(records)
        return DensePlan(strides, None if rates is None else _common_rate(rates) / stride)
    if stride_seconds is None or not stride_seconds > 0:
        raise UsageError(f"--stride-seconds must be positive, got {stride_seconds}")
    if rates is None:
        raise UsageError(
            f"--stride-seconds needs the videos' frame rate, and {list_file} lists frame folders "
            f"whose {FLOW_CONFIG_FILE} records no {FPS_KEY}; use --stride N (frames) instead"
        )
    strides = tuple(max(1, math.floor(stride_seconds * fps + 0.5)) for fps in rates)
    return DensePlan(strides, 1.0 / stride_seconds)


def frame_rates(
    list_file: Path, records: Sequence[VideoRecord], workers: int = 1
) -> list[float] | None:
    """Each record's frames per second: from the video index of a video list (a video it
    cannot read gets the median, and fails when scored), or the `fps` a frames folder's
    flow_config.yaml records; None when unknown."""
    header = read_list_header(list_file)
    if header.get("kind") == "videos":
        from tsncli.video.index import VideoIndex

        index = VideoIndex(Path(list_file).parent / header.get("index", DEFAULT_INDEX_NAME))
        entries, _errors = index.ensure([r.path for r in records], workers=workers)
        found: list[float | None] = []
        for r in records:
            entry = entries.get(os.path.abspath(r.path))
            found.append(float(entry.fps) if entry is not None and entry.fps > 0 else None)
        known = [f for f in found if f is not None]
        if not known:
            return None
        median = float(np.median(known))
        return [median if f is None else f for f in found]
    recorded = read_settings_file(Path(records[0].path).parent / FLOW_CONFIG_FILE) or {}
    fps = recorded.get(FPS_KEY)
    if fps is None:
        return None
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise DataError(f"{FLOW_CONFIG_FILE}: {FPS_KEY} {fps!r} is not a number") from None
    return [value] * len(records) if value > 0 else None


def _common_rate(rates: Sequence[float]) -> float:
    """One frame rate for the score file: the videos' own when they share it, else the median
    (M-TWI's windows are then approximate for the others; --stride-seconds is exact)."""
    low, high = min(rates), max(rates)
    median = float(np.median(rates))
    if high - low > 1e-3 * high:
        log.info(
            "the videos run at %.3g to %.3g frames per second; the score file records the "
            "median's snippet rate (--stride-seconds gives every video the same rate)",
            low, high,
        )  # fmt: skip
    return median
