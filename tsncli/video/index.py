"""A per-dataset cache of frame counts, keyframe positions and frame timestamps (JSON).

Built once, in parallel on the worker pool, and reused; an entry is rebuilt when its video's
size or mtime changes. Counts come from demuxing and are checked cheaply (the last GOP decodes
to exactly the listed frames, the header agrees); only a container that lies gets a full
decode pass, and then its keyframes are dropped (seeking by its timestamps is not trusted).
A video that ends clearly short of its header's frame count or duration (a cut download) is
recorded as partial (`VideoEntry.partial`, see `tsncli.video.extent`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
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
from tsncli.video.extent import read_extent, shortfall
from tsncli.video.fallback import probe_opencv, use_opencv_instead
from tsncli.video.index_shards import exchange_shares, rank_share
from tsncli.video.index_store import (
    STORE_VERSION,
    LazyEntries,
    Row,
    VideoEntry,
    dump_rows,
    entry_from_json,
    entry_from_row,
    entry_to_json,
    entry_to_row,
    load_rows,
    size_and_mtime,
)
from tsncli.video.timeline import scan_layout

log = logging.getLogger("tsncli.video.index")


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
    # the listed packets' timestamps (at least the decoded frames' span, so never over-flags)
    listed = layout.timeline
    span = None
    if listed is not None and listed.count > 0:
        span = float((listed.pts_of(listed.count - 1) - listed.pts_of(0)) * layout.time_base)
    partial = shortfall(read_extent(path), num_frames, span)
    return VideoEntry(
        path, size, mtime_ns, num_frames, claimed, keys or None, not honest, w, h, fps, timeline,
        partial,
    )  # fmt: skip


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
        return entry_to_json(index_video(path)), None
    except (DataError, OSError, cv2.error, *AV_ERRORS) as exc:
        return None, " ".join(str(exc).split()) or type(exc).__name__


def _load(path: Path) -> tuple[LazyEntries[VideoEntry], bool]:
    """The entries of the index file at `path` and whether it is in an older layout (version 2:
    one object per video) that should be rewritten; no entries if it is absent or unreadable."""
    entries: LazyEntries[VideoEntry] = LazyEntries(entry_from_row)
    if not path.is_file():
        return entries, False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = data.get("version")
        if version == STORE_VERSION:
            return LazyEntries(entry_from_row, load_rows(data)), False
        if version == 2:
            entries.update((k, entry_from_json(v)) for k, v in data["videos"].items())
            return entries, True
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("%s is not a readable video index; rebuilding it", path)
    return entries, False


class VideoIndex:
    """The index file at `path` (loaded if present); `ensure` fills in missing or stale videos."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.entries, self._outdated = _load(self.path)

    def is_fresh(self, path: str, stat: tuple[int, int] | None = None) -> bool:
        """The entry for `path` exists and the file's size and mtime still match it (`stat`:
        (size, mtime_ns) already read, e.g. by a folder scan; else the file is stat'ed)."""
        known = size_and_mtime(self.entries.stored().get(path))
        if known is None:
            return False
        try:
            return known == (stat if stat is not None else _stat(path))
        except OSError:
            return False

    def _stale(self, paths: list[str], stats: Mapping[str, tuple[int, int]]) -> list[str]:
        """The `paths` without a fresh entry (is_fresh for each, inlined: 240k calls add up)."""
        stored, stale = self.entries.stored(), []
        for path in paths:
            item = stored.get(path)
            if item is None:
                stale.append(path)
                continue
            known = item[:2] if type(item) is tuple else (item.size, item.mtime_ns)
            now = stats.get(path)
            if now is None:
                try:
                    now = _stat(path)
                except OSError:
                    now = None
            if known != now:
                stale.append(path)
        return stale

    def frame_counts(self, paths: Iterable[str]) -> list[int | None]:
        """Decodable frames of each of `paths` (None: not in the index), no entry decoded."""
        stored = self.entries.stored()
        counts: list[int | None] = []
        for item in map(stored.get, paths):
            if item is None:
                counts.append(None)
            else:  # a row (num_frames is its third column) or a decoded entry
                counts.append(item[2] if type(item) is tuple else item.num_frames)
        return counts

    def ensure(
        self,
        videos: Sequence[str | os.PathLike[str]],
        workers: int = 1,
        on_progress: ProgressFn | None = None,
        stats: Mapping[str, tuple[int, int]] | None = None,
    ) -> tuple[Mapping[str, VideoEntry], dict[str, str]]:
        """Index the missing or changed `videos` (in parallel), save, and return
        ({absolute path: entry}, {absolute path: error} for videos that cannot be read).
        Entries are decoded when read; `stats` as for `update`."""
        paths, errors = self.update(videos, workers, on_progress, stats)
        return self.entries.subset(paths), errors

    def update(
        self,
        videos: Sequence[str | os.PathLike[str]],
        workers: int = 1,
        on_progress: ProgressFn | None = None,
        stats: Mapping[str, tuple[int, int]] | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        """`ensure` without building its mapping: (the absolute paths of `videos`, repeats
        dropped; {absolute path: error}). `stats`: {absolute path: (size, mtime_ns)} a folder
        scan already read, so those videos are checked for changes without a second stat.
        Progress: the task `indexing videos`; cached videos arrive in one jump."""
        known = stats or {}
        named = (v if v in known else os.path.abspath(v) for v in map(os.fspath, videos))
        paths = list(dict.fromkeys(named))
        stale = self._stale(paths, known)
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
                self.entries[share[i]] = entry_from_json(data)
            done += 1
            tracker.update(done)
        if launch.distributed and stale:
            mine = {p: entry_to_json(self.entries[p]) for p in share if p in self.entries}
            shared, errors = exchange_shares(self.path, launch, mine, errors, stale, _current)
            self.entries.update((p, entry_from_json(data)) for p, data in shared.items())
            for path in errors:  # unreadable now, whatever an older entry said
                self.entries.pop(path, None)
            tracker.update(len(paths))
        if stale or self._outdated:
            self.save()
        return paths, errors

    def save(self) -> Path:
        """Write the index atomically (sorted by path, version 3 columns, see index_store)."""
        stored = self.entries.stored()
        rows = ((p, _row_of(stored[p])) for p in sorted(stored))
        text = json.dumps(dump_rows(rows), separators=(",", ":"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, text + "\n")
        self._outdated = False
        return self.path


def _row_of(item: VideoEntry | Row) -> Row:
    return item if type(item) is tuple else entry_to_row(item)
