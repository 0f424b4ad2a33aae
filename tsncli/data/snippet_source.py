"""Where a dataset's snippet frames come from, chosen by the list's kind: frame folders
(`tsn flow` output) or video files decoded sparsely (`# tsn-list: kind=videos`).

A source (`SnippetSource`) reads the frames `indices` [S, L] (1-based) of a `VideoRecord` as
uint8 (H, W, C) arrays and validates a list's entries up front. Train, eval and predict all
load through one (`tsncli.data.memory_source` serves predict on a video file).
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
from torch.utils.data import default_collate

from tsncli.data import frames
from tsncli.data.video_source import VideoFileSource, _neighbour, report_once
from tsncli.errors import DataError, UsageError
from tsncli.flow.algorithms import require_cached_weights
from tsncli.frame_settings import DEFAULT_ALGORITHM, FrameSettings
from tsncli.lists.listfile import VideoRecord, read_list_header
from tsncli.modality import reads_flow
from tsncli.specs.flow_algorithms import (
    get_flow_algorithm,
    on_the_fly_algorithms,
    on_the_fly_choices,
)
from tsncli.video.index import VideoIndex

log = logging.getLogger("tsncli.data.snippet_source")
T = TypeVar("T")

DEFAULT_INDEX_NAME = "video_index.json"


def collate_present(batch: list[tuple]) -> Any:
    """Collate the items whose clip is not None: a video skipped as undecodable leaves its
    batch one clip smaller (it is never replaced by another video)."""
    kept = [item for item in batch if item[0] is not None]
    if not kept:
        raise DataError(
            "every video of a batch failed to decode (see the warnings above); "
            "re-encode or remove them, or use a larger --batch-size"
        )
    return default_collate(kept)


class SnippetSource(Protocol):
    """What `TSNDataset` reads frames through. A source may also have `report(error)`: its
    undecodable videos then become skipped items instead of errors (see `TSNDataset`)."""

    kind: str

    def read_frames(
        self, record: VideoRecord, indices: np.ndarray, modality: str
    ) -> list[np.ndarray]: ...

    def validate(
        self, records: Sequence[VideoRecord], modality: str, list_file: Any = ""
    ) -> None: ...


def retry_on_neighbour(read: Callable[[np.ndarray], T], record: VideoRecord, indices: Any) -> T:
    """`read(indices)` ([S, L], 1-based) of a frame folder's `record`; when a frame is corrupt
    (`CorruptFrameError`), once more with the snippets touching it moved to a neighbouring
    frame inside the entry, as for videos. Every reader of frame folders retries so."""
    indices = np.asarray(indices, dtype=np.int64)
    try:
        return read(indices)
    except frames.CorruptFrameError as first:
        moved = _neighbour(
            indices, first.index - 1, record.num_frames, flow=False, offset=record.offset
        )
        if moved is None:
            raise
        return read(moved)


@dataclass(frozen=True)
class FrameFolderSource:
    """Snippets from dense_flow frame folders (`img_%05d.jpg`, `flow_x/y_%05d.jpg`) or zips
    (`img.zip`, `flow_x.zip`, `flow_y.zip`), told apart per video by `frames.read_frames`.

    `failure_log` (a training run's `skipped_videos.txt`) names each skipped folder once across
    loader workers and epochs; without it each process warns once."""

    kind: ClassVar[str] = "frames"
    failure_log: str | None = None

    def read_frames(
        self, record: VideoRecord, indices: np.ndarray, modality: str
    ) -> list[np.ndarray]:
        """One uint8 (H, W, C) array per frame of `indices` [S, L] (1-based). A corrupt frame
        is retried once with its snippets moved to a neighbouring frame, as for videos."""
        return retry_on_neighbour(
            lambda chosen: frames.read_frames(record.path, chosen, modality), record, indices
        )

    def report(self, error: Exception) -> None:
        """A folder with a frame that is missing, unreadable or corrupt twice is skipped with one
        warning, as evaluation skips it; other errors (frames of different sizes) are raised."""
        if not isinstance(error, frames.UnreadableFrameError):
            raise error
        report_once(os.path.dirname(error.path), str(error), self.failure_log)

    def skipped_videos(self) -> list[str]:
        """The folders reported as skipped so far (by any loader worker of this source)."""
        if not self.failure_log or not os.path.isfile(self.failure_log):
            return []
        with open(self.failure_log, encoding="utf-8") as f:
            return sorted({line.split("\t", 1)[0] for line in f if line.strip()})

    def validate(self, records: Sequence[VideoRecord], modality: str, list_file: Any = "") -> None:
        """Every entry's first and last frame exist (DataError naming the fix otherwise)."""
        frames.validate_records(records, modality, list_file)


FRAME_FOLDERS = FrameFolderSource()  # stateless: the one every frame list shares


def check_flow_on_the_fly(name: str | None) -> str | None:
    """None, or a valid on-the-fly flow algorithm name (UsageError listing them otherwise)."""
    if name in (None, "", "none"):
        return None
    if name not in on_the_fly_algorithms():
        raise UsageError(
            f"--flow-on-the-fly {name!r} is not one of: {', '.join(on_the_fly_algorithms())} "
            f"(fast CPU algorithms; extract {DEFAULT_ALGORITHM} flow with `tsn flow` instead)"
        )
    return name


def _on_the_fly(
    list_file: Any, modality: str, algo: str | None, trained: FrameSettings | None
) -> tuple[str | None, str]:
    """The flow algorithm and implementation a video list decodes with: `algo` (OpenCV), else
    the checkpoint's (`trained`). OpenCV's TV-L1 is too slow to compute on the fly; a torch one
    (TV-L1, warped TV-L1, RAFT) runs on each eval worker's device: a GPU with --gpus N, else
    the CPU (slow, but the flow the model was trained on)."""
    if not reads_flow(modality) or algo is not None:
        return algo, "opencv"
    if trained is None:
        raise UsageError(
            f"{list_file} is a video list: a flow model needs --flow-on-the-fly "
            f"{on_the_fly_choices()}"
        )
    algo = trained.flow_algorithm or DEFAULT_ALGORITHM
    entry = get_flow_algorithm(algo)
    torch_only = "opencv" not in entry.implementations
    impl = "torch" if torch_only else trained.flow_implementation
    if entry.on_the_fly or impl == "torch":
        require_cached_weights(algo)  # missing weights: fail now, naming `tsn fetch weights`
        if impl == "torch":
            log.info("computing %s flow on the fly in torch (slow on CPU; --gpus N)", algo)
        return algo, impl
    raise UsageError(
        f"{list_file} lists videos, but this flow model was trained on {algo} flow, too slow "
        f"to compute on the fly with OpenCV; extract frames with `tsn flow --algo {algo}` and "
        "evaluate on a frames list (models trained on --impl torch flow compute it on the fly)"
    )


def create_snippet_source(
    list_file: str | os.PathLike[str],
    records: Sequence[VideoRecord],
    modality: str,
    flow_on_the_fly: str | None = None,
    workers: int = 1,
    trained: FrameSettings | None = None,
) -> SnippetSource:
    """The source for `list_file`'s kind. For video lists, the video index beside the list is
    brought up to date (in parallel) and its keyframes handed to the source; a flow model
    without `flow_on_the_fly` uses the algorithm of its `trained` frame settings (eval)."""
    header = read_list_header(list_file)
    algo = check_flow_on_the_fly(flow_on_the_fly)
    kind = header.get("kind", "frames")
    if kind == "frames":
        if algo is not None:
            raise UsageError(
                f"--flow-on-the-fly needs a video list; {list_file} lists frame folders "
                "(build one with `tsn lists --source videos`)"
            )
        return FRAME_FOLDERS
    if kind != "videos":
        raise DataError(f"{list_file}: unknown list kind {kind!r}; rebuild it with `tsn lists`")
    algo, impl = _on_the_fly(list_file, modality, algo, trained)
    decoding = ("size", "short_side", "ignore_rotation")
    frames = FrameSettings.from_dict({k: header[k] for k in decoding if k in header})
    index = VideoIndex(Path(list_file).parent / header.get("index", DEFAULT_INDEX_NAME))
    entries, _errors = index.ensure([r.path for r in records], workers=workers)
    keyframes = {path: entry.keyframes for path, entry in entries.items()}
    timelines = {path: entry.timeline for path, entry in entries.items()}  # for exact seeks
    # loader workers share this file so each undecodable video is reported once per run
    skipped = Path(tempfile.gettempdir()) / f"tsn-skipped-{os.getpid()}-{uuid.uuid4().hex[:8]}.txt"
    return VideoFileSource(
        frames.size, frames.short_side, algo, keyframes=keyframes, failure_log=str(skipped),
        timelines=timelines, flow_impl=impl, ignore_rotation=frames.ignore_rotation,
    )  # fmt: skip
