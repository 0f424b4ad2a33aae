"""What `tsn features` reads: the videos of its INPUT (a list file, a folder of videos or a folder
of frame folders) and, per checkpoint, the record and source one stream reads a video through.

Frame folders and video files are opened as `tsn predict` opens them (`predict.load_test_input`: a
frames-trained model gets a video extracted like `tsn flow` in memory, flow computed with the
algorithm its checkpoint records); a video list is decoded as `tsn eval` decodes it
(`create_snippet_source`). A frame folder's frames are counted per stream, so one list of folders
serves an RGB and a flow checkpoint alike.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tsncli.data.memory_source import MemoryFrameSource, read_extracted_frames
from tsncli.data.snippet_source import DEFAULT_INDEX_NAME, SnippetSource, create_snippet_source
from tsncli.engine.eval.dense import FPS_KEY
from tsncli.engine.eval.inference import Scorer
from tsncli.engine.predict import load_test_input
from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import read_settings_file, resolve_frame_settings
from tsncli.layout import FLOW_CONFIG_FILE
from tsncli.lists.frame_index import count_frames
from tsncli.lists.listfile import VideoRecord, read_list, read_list_header
from tsncli.modality import reads_flow
from tsncli.specs.datasets.splitfiles import VIDEO_EXTENSIONS
from tsncli.video.index import VideoIndex

_SOURCES: dict[tuple[str, int], SnippetSource] = {}  # per process: (list, scorer)


@dataclass(frozen=True)
class FeatureVideo:
    """One video to featurise: its output name (file stem or frame folder name, so ActivityNet's
    `v_<id>` stays `v_<id>`), its path, and the video list it came from (None: opened as
    `tsn predict` opens a path)."""

    name: str
    path: str
    list_file: str | None = None


@dataclass(frozen=True)
class StreamInput:
    """How one checkpoint reads one video: the whole-video record (frames of its modality),
    the source, the decode step (every step-th frame) and the frame rate (None: unknown)."""

    record: VideoRecord
    source: Any  # a SnippetSource (read_frames)
    step: int
    fps: float | None


def video_name(path: str | os.PathLike[str]) -> str:
    """The output name of a video: a frame folder's name, a video file's stem."""
    p = Path(path)
    if p.is_dir():
        return p.name
    stem, dot, ext = p.name.rpartition(".")
    return stem if dot and ext.lower() in VIDEO_EXTENSIONS else p.name


def find_videos(source: str | os.PathLike[str]) -> list[FeatureVideo]:
    """The videos of INPUT in a stable order: a list file's distinct paths (in list order), or
    a folder's video files and frame folders (sorted by name). Two videos with one name would
    write one file: a UsageError names them."""
    src = Path(source)
    if src.is_file():
        header = read_list_header(src)
        records = read_list(src)
        seen: dict[str, None] = dict.fromkeys(r.path for r in records)
        video_list = str(src) if header.get("kind") == "videos" else None
        videos = [FeatureVideo(video_name(p), p, video_list) for p in seen]
    elif src.is_dir():
        videos = []
        for entry in sorted(os.scandir(src), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                counts = count_frames(entry.path)
                if counts.img or counts.flow_x:
                    videos.append(FeatureVideo(entry.name, entry.path))
            elif entry.name.rpartition(".")[2].lower() in VIDEO_EXTENSIONS:
                videos.append(FeatureVideo(video_name(entry.path), entry.path))
    else:
        raise UsageError(f"{source} does not exist; give a list file or a folder of videos")
    if not videos:
        raise DataError(
            f"{source} holds no videos or frame folders (img_*.jpg / flow_x_*.jpg); "
            f"extract frames with `tsn flow` or point at a folder of video files"
        )
    names: dict[str, str] = {}
    for video in videos:
        if video.name in names:
            raise UsageError(
                f"{names[video.name]} and {video.path} would both write {video.name}; "
                "rename one or featurise them into different --out folders"
            )
        names[video.name] = video.path
    return videos


def open_stream(video: FeatureVideo, scorer: Scorer) -> StreamInput:
    """How `scorer`'s stream reads `video` (DataError when it cannot)."""
    if not os.path.exists(video.path):
        raise DataError(f"{video.path} does not exist")
    if video.list_file is not None:
        return _open_listed(video, scorer)
    record, source, step = load_test_input(video.path, scorer)
    if Path(video.path).is_dir():
        recorded = read_settings_file(Path(video.path).parent / FLOW_CONFIG_FILE) or {}
        fps = _positive(recorded.get(FPS_KEY))
    else:
        from tsncli.video.decode import probe_video

        rate = _positive(probe_video(video.path).fps)
        fps = None if rate is None else rate / step
    return StreamInput(record, source, step, fps)


def _open_listed(video: FeatureVideo, scorer: Scorer) -> StreamInput:
    """A video of a video list, decoded as `tsn eval` decodes it (the list's size, the index's
    keyframes, the checkpoint's flow algorithm on the fly)."""
    list_file = str(video.list_file)
    header = read_list_header(list_file)
    index = VideoIndex(Path(list_file).parent / header.get("index", DEFAULT_INDEX_NAME))
    entries, errors = index.ensure([video.path])
    entry = entries.get(os.path.abspath(video.path))
    if entry is None:
        raise DataError(f"{video.path}: {errors[0] if errors else 'cannot be indexed'}")
    available = entry.num_frames - (1 if reads_flow(scorer.modality) else 0)
    if available < 1:
        raise DataError(f"{video.path} has {entry.num_frames} frame(s); flow needs at least 2")
    record = VideoRecord(video.path, available, 0)
    key = (list_file, id(scorer))  # scorers are cached per process: one source each
    if key not in _SOURCES:
        trained = resolve_frame_settings(scorer.meta.get("frames"))
        source = create_snippet_source(list_file, [record], scorer.modality, None, 1, trained)
        if hasattr(source, "flow_device"):
            source.flow_device = str(scorer.device)
        _SOURCES[key] = source
    source = _SOURCES[key]
    for path in {entry.path, video.path}:  # the index's absolute path and the list's
        source.keyframes[path] = entry.keyframes
        source.timelines[path] = entry.timeline
    return StreamInput(record, source, 1, _positive(entry.fps))


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class ExtractedVideo:
    """A video file's snippet frames extracted once, as `tsn flow` would write them (JPEG bytes
    of only the frames the snippets read), then read chunk by chunk: `MemoryFrameSource` alone
    decodes the whole video at every call, which chunking would repeat for every chunk."""

    kind = "frames"

    def __init__(self, source: MemoryFrameSource, record: VideoRecord, indices: np.ndarray,
                 modality: str) -> None:  # fmt: skip
        self.files = source.extract(record.path, indices, modality)

    def read_frames(
        self, record: VideoRecord, indices: np.ndarray, modality: str
    ) -> list[np.ndarray]:
        """uint8 frames for `indices` [S, L] (1-based), as `MemoryFrameSource.read_frames`."""
        return read_extracted_frames(self.files, record, indices, modality)

    def jpeg_bytes(self, path: str) -> np.ndarray:
        """The JPEG file `path` as uint8 bytes, for decoding on a GPU (`--decode-device`)."""
        data = self.files.get(path)
        if data is None:
            raise DataError(f"{os.path.dirname(path)} has no frame {os.path.basename(path)}")
        return np.frombuffer(data, np.uint8)

    def validate(self, records: Sequence[VideoRecord], modality: str, list_file: Any = "") -> None:
        """Nothing to check: the frames were extracted from the file already."""
