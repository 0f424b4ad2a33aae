"""A per-dataset cache of frame counts, keyframe positions and frame timestamps (JSON).

Built once, in parallel on the worker pool, and reused; an entry is rebuilt when its video's
size or mtime changes. Counts come from demuxing and are checked cheaply (the last GOP decodes
to exactly the listed frames, the header agrees); only a container that lies gets a full
decode pass, and then its keyframes are dropped (seeking by its timestamps is not trusted).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2

from tsncli.errors import DataError
from tsncli.fsutil import atomic_write_text
from tsncli.launch import resolve_launch
from tsncli.parallel import run_pool
from tsncli.progress import ProgressFn, Tracker
from tsncli.video.backend import AV_ERRORS
from tsncli.video.check import count_decoded_frames, ends_as_listed
from tsncli.video.fallback import probe_opencv, use_opencv_instead
from tsncli.video.index_shards import exchange_shares, rank_share
from tsncli.video.timeline import Timeline, keyframe_at_or_before, scan_layout

log = logging.getLogger("tsncli.video.index")

INDEX_VERSION = 2  # 2: frame timestamps (PyAV), keyframes from the demuxer


@dataclass(frozen=True)
class VideoEntry:
    """What the index knows about one video file (positions are 0-based, display order)."""

    path: str
    size: int
    mtime_ns: int
    num_frames: int  # decodable frames
    container_frames: int  # what the container's header claimed
    keyframes: tuple[int, ...] | None  # None: unknown, decode forward instead of seeking
    counted: bool  # True when the container lied and a decode pass gave num_frames
    width: int
    height: int
    fps: float
    timeline: Timeline | None = None  # frame timestamps; None: number frames by decoding

    def keyframe_at_or_before(self, frame: int) -> int:
        """The last keyframe at or before `frame` (0 when keyframes are unknown)."""
        return keyframe_at_or_before(self.keyframes, frame)


def _stat(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _current(path: str, data: dict[str, Any]) -> bool:
    """An entry's JSON still describes the file (same size and mtime)."""
    try:
        return (data["size"], data["mtime_ns"]) == _stat(path)
    except (OSError, KeyError):
        return False


def index_video(path: str | os.PathLike[str]) -> VideoEntry:
    """Probe one video: size, fps, checked frame count, keyframes and frame timestamps (from
    demuxing, no decoding, then one GOP decoded as a check). DataError if unreadable."""
    path = os.path.abspath(path)
    size, mtime_ns = _stat(path)
    try:
        layout = scan_layout(path)
    except DataError as exc:
        if not use_opencv_instead(path, exc):
            raise
        log.warning("%s: PyAV cannot read it (%s); indexing with OpenCV", path, exc)
        return _opencv_entry(path, size, mtime_ns)
    timeline, keys = layout.timeline, layout.keyframes
    claimed = layout.container_frames or layout.packets
    honest = (
        timeline is not None
        and keys[:1] == (0,)
        and layout.packets == claimed
        and ends_as_listed(path, timeline, keys)
    )
    num_frames = layout.packets
    if not honest:
        num_frames = count_decoded_frames(path)
        timeline, keys = None, ()
        log.info("%s: container says %d frames, decoding gives %d", path, claimed, num_frames)
    if num_frames < 1:
        raise DataError(f"no frames could be decoded from {path} (empty or corrupt video)")
    w, h, fps = layout.width, layout.height, layout.fps
    return VideoEntry(
        path, size, mtime_ns, num_frames, claimed, keys or None, not honest, w, h, fps, timeline
    )


def _opencv_entry(path: str, size: int, mtime_ns: int) -> VideoEntry:
    info = probe_opencv(path)
    num_frames = count_decoded_frames(path)
    if num_frames < 1:
        raise DataError(f"no frames could be decoded from {path} (empty or corrupt video)")
    return VideoEntry(
        path, size, mtime_ns, num_frames, info.frame_count, None, True,
        info.width, info.height, info.fps,
    )  # fmt: skip


def _index_task(path: str) -> tuple[dict[str, Any] | None, str | None]:
    cv2.setNumThreads(1)
    try:
        return _to_json(index_video(path)), None
    except (DataError, OSError, cv2.error, *AV_ERRORS) as exc:
        return None, " ".join(str(exc).split()) or type(exc).__name__


def _to_json(entry: VideoEntry) -> dict[str, Any]:
    data = asdict(entry)
    keys = entry.keyframes
    if keys is not None:
        # every frame a keyframe (MJPG, intra-only codecs): one word, not N numbers
        data["keyframes"] = "all" if len(keys) == entry.num_frames else list(keys)
    data["timeline"] = entry.timeline.to_json() if entry.timeline is not None else None
    return data


def _from_json(data: dict[str, Any]) -> VideoEntry:
    keys = data.get("keyframes")
    if keys == "all":
        keys = range(int(data["num_frames"]))
    values = dict(data, keyframes=tuple(int(k) for k in keys) if keys is not None else None)
    timeline = data.get("timeline")
    values["timeline"] = Timeline.from_json(timeline) if timeline is not None else None
    return VideoEntry(**values)


class VideoIndex:
    """The index file at `path` (loaded if present); `ensure` fills in missing or stale videos."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.entries: dict[str, VideoEntry] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("version") == INDEX_VERSION:
                    self.entries = {k: _from_json(v) for k, v in data["videos"].items()}
            except (ValueError, KeyError, TypeError):
                log.warning("%s is not a readable video index; rebuilding it", self.path)

    def is_fresh(self, path: str) -> bool:
        """The entry for `path` exists and the file's size and mtime still match it."""
        entry = self.entries.get(path)
        try:
            return entry is not None and (entry.size, entry.mtime_ns) == _stat(path)
        except OSError:
            return False

    def ensure(
        self,
        videos: Sequence[str | os.PathLike[str]],
        workers: int = 1,
        on_progress: ProgressFn | None = None,
    ) -> tuple[dict[str, VideoEntry], dict[str, str]]:
        """Index the missing or changed `videos` (in parallel), save, and return
        ({absolute path: entry}, {absolute path: error} for videos that cannot be read).
        Progress: the task `indexing videos`; cached videos arrive in one jump."""
        paths = list(dict.fromkeys(os.path.abspath(v) for v in videos))
        stale = [p for p in paths if not self.is_fresh(p)]
        errors: dict[str, str] = {}
        done = len(paths) - len(stale)
        tracker = Tracker(on_progress, "indexing videos", len(paths))
        if done:
            tracker.update(done)
        launch = resolve_launch()  # srun/torchrun tasks each index a share, then swap parts
        share = rank_share(stale, launch) if launch.distributed else stale
        jobs = max(1, min(workers, len(share)))
        for i, (data, error) in run_pool(_index_task, share, workers=jobs, max_pending=jobs * 4):
            if data is None:
                errors[share[i]] = error or "unreadable"
                self.entries.pop(share[i], None)
            else:
                self.entries[share[i]] = _from_json(data)
            done += 1
            tracker.update(done)
        if launch.distributed and stale:
            mine = {p: _to_json(self.entries[p]) for p in share if p in self.entries}
            shared, errors = exchange_shares(self.path, launch, mine, errors, stale, _current)
            self.entries.update((p, _from_json(data)) for p, data in shared.items())
            for path in errors:  # unreadable now, whatever an older entry said
                self.entries.pop(path, None)
            tracker.update(len(paths))
        if stale:
            self.save()
        return {p: self.entries[p] for p in paths if p in self.entries}, errors

    def save(self) -> Path:
        """Write the index atomically (sorted, one JSON object)."""
        videos = {k: _to_json(self.entries[k]) for k in sorted(self.entries)}
        text = json.dumps({"version": INDEX_VERSION, "videos": videos}, separators=(",", ":"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, text + "\n")
        return self.path
