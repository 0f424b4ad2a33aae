"""A per-dataset cache of frame counts and keyframe positions of video files (JSON).

Built once, in parallel on the worker pool, and reused; an entry is rebuilt when its video's
size or mtime changes. Counts come from the container and are checked cheaply (the last frame
decodes, nothing follows it, the AVI/MP4 index agrees); only a container that lies gets a full
decode pass, and then its keyframes are dropped (seeking by its timestamps is not trusted).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2

from tsncli.errors import DataError
from tsncli.fsutil import atomic_write_text
from tsncli.parallel import run_pool
from tsncli.video.decode import open_video
from tsncli.video.keyframes import read_keyframes

log = logging.getLogger("tsncli.video.index")

INDEX_VERSION = 1


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

    def keyframe_at_or_before(self, frame: int) -> int:
        """The last keyframe at or before `frame` (0 when keyframes are unknown)."""
        return keyframe_at_or_before(self.keyframes, frame)


def keyframe_at_or_before(keyframes: Sequence[int] | None, frame: int) -> int:
    """The last of the sorted `keyframes` that is <= `frame`; 0 when none is or they are unknown."""
    if not keyframes:
        return 0
    from bisect import bisect_right

    i = bisect_right(keyframes, frame)
    return int(keyframes[i - 1]) if i else 0


def _stat(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _decode_count(path: str) -> int:
    capture = open_video(path)
    try:
        n = 0
        while capture.grab():
            n += 1
        return n
    finally:
        capture.release()


def _container_is_honest(capture: cv2.VideoCapture, claimed: int) -> bool:
    """The claimed last frame decodes and no frame follows it (a seek plus two decodes)."""
    if claimed < 1:
        return False
    if claimed > 1 and not capture.set(cv2.CAP_PROP_POS_FRAMES, claimed - 1):
        return False
    ok, _ = capture.read()
    return bool(ok) and not capture.grab()


def index_video(path: str | os.PathLike[str]) -> VideoEntry:
    """Probe one video: size, fps, checked frame count and keyframes. DataError if unreadable."""
    path = os.path.abspath(path)
    size, mtime_ns = _stat(path)
    keyframes, listed = read_keyframes(path)
    capture = open_video(path)
    try:
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        claimed = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
        honest = (listed is None or listed == claimed) and _container_is_honest(capture, claimed)
    finally:
        capture.release()
    num_frames = claimed
    if not honest:
        num_frames = _decode_count(path)
        keyframes = None
        log.info("%s: container says %d frames, decoding gives %d", path, claimed, num_frames)
    if num_frames < 1:
        raise DataError(f"no frames could be decoded from {path} (empty or corrupt video)")
    keys = tuple(k for k in keyframes if k < num_frames) if keyframes else None
    if keys and keys[0] != 0:
        keys = None  # no keyframe at the start: this parser's view of the file is off
    return VideoEntry(
        path, size, mtime_ns, num_frames, claimed, keys, not honest, width, height, fps
    )


def _index_task(path: str) -> tuple[dict[str, Any] | None, str | None]:
    cv2.setNumThreads(1)
    try:
        return _to_json(index_video(path)), None
    except (DataError, OSError, cv2.error) as exc:
        return None, " ".join(str(exc).split()) or type(exc).__name__


def _to_json(entry: VideoEntry) -> dict[str, Any]:
    data = asdict(entry)
    keys = entry.keyframes
    if keys is not None:
        # every frame a keyframe (MJPG, intra-only codecs): one word, not N numbers
        data["keyframes"] = "all" if len(keys) == entry.num_frames else list(keys)
    return data


def _from_json(data: dict[str, Any]) -> VideoEntry:
    keys = data.get("keyframes")
    if keys == "all":
        keys = range(int(data["num_frames"]))
    values = dict(data, keyframes=tuple(int(k) for k in keys) if keys is not None else None)
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
        on_progress: Callable[[int, int], None] | None = None,
    ) -> tuple[dict[str, VideoEntry], dict[str, str]]:
        """Index the missing or changed `videos` (in parallel), save, and return
        ({absolute path: entry}, {absolute path: error} for videos that cannot be read)."""
        paths = list(dict.fromkeys(os.path.abspath(v) for v in videos))
        stale = [p for p in paths if not self.is_fresh(p)]
        errors: dict[str, str] = {}
        done = len(paths) - len(stale)
        if on_progress is not None and done:
            on_progress(done, len(paths))
        jobs = max(1, min(workers, len(stale)))
        for i, (data, error) in run_pool(_index_task, stale, workers=jobs, max_pending=jobs * 4):
            if data is None:
                errors[stale[i]] = error or "unreadable"
                self.entries.pop(stale[i], None)
            else:
                self.entries[stale[i]] = _from_json(data)
            done += 1
            if on_progress is not None:
                on_progress(done, len(paths))
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
