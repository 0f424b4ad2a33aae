"""What the video index knows about one video (`VideoEntry`) and how the index file stores it:
the compact layout (version 3), one JSON object of columns, a row per video, paths split into
shared folder prefixes and names; entries to and from rows (and the version-2 JSON objects,
still read); and the mapping that decodes rows on demand.

A Kinetics-sized index (240k videos) loads as a dozen flat lists instead of 240k nested objects;
only the rows a caller reads become entries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import asdict, dataclass
from itertools import accumulate
from typing import Any, Generic, TypeVar

from tsncli.video.timeline import Timeline, keyframe_at_or_before

STORE_VERSION = 3  # 2: one object per video, with frame timestamps (still read); 3: columns
# (`partial` was added to version 3 later: a file without it still loads, its videos not marked,
# since its rows cannot tell a cut file from an AVI's dropped frames or an mp4's edit list)
# the row of one video, in this order (keyframes and timeline are compact text, see entry_to_row);
# VideoIndex.frame_counts reads num_frames by its position
COLUMNS = (
    "size", "mtime_ns", "num_frames", "container_frames", "keyframes", "counted",
    "width", "height", "fps", "timeline", "partial",
)  # fmt: skip

Row = tuple[Any, ...]
V = TypeVar("V")


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
    partial: str | None = None  # why it ends early (a cut download), see `tsncli.video.extent`

    def keyframe_at_or_before(self, frame: int) -> int:
        """The last keyframe at or before `frame` (0 when keyframes are unknown)."""
        return keyframe_at_or_before(self.keyframes, frame)


def load_rows(data: dict[str, Any]) -> dict[str, Row]:
    """{absolute path: row} from a parsed version-3 index; ValueError if it is malformed."""
    folders, names = data["folders"], data["names"]
    if "partial" not in data:  # written before the column existed
        data = dict(data, partial=[None] * len(names))
    columns = [data[name] for name in COLUMNS]
    if any(len(c) != len(names) for c in [data["folder"], *columns]):
        raise ValueError("video index columns differ in length")
    paths = [folders[f] + n for f, n in zip(data["folder"], names, strict=True)]
    return dict(zip(paths, zip(*columns, strict=True), strict=True))


def dump_rows(rows: Iterable[tuple[str, Row]]) -> dict[str, Any]:
    """The version-3 JSON object of (absolute path, row) pairs (in the order given)."""
    folder_of: dict[str, int] = {}
    folder: list[int] = []
    names: list[str] = []
    columns: list[list[Any]] = [[] for _ in COLUMNS]
    for path, row in rows:
        head, sep, name = path.rpartition(os.sep)
        folder.append(folder_of.setdefault(head + sep, len(folder_of)))
        names.append(name)
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    data: dict[str, Any] = {"version": STORE_VERSION, "folders": list(folder_of)}
    data |= {"folder": folder, "names": names}
    return data | dict(zip(COLUMNS, columns, strict=True))


def entry_to_json(entry: VideoEntry) -> dict[str, Any]:
    """One entry as a JSON object (the parts a launched job's ranks exchange)."""
    data = asdict(entry)
    keys = entry.keyframes
    if keys is not None:
        # every frame a keyframe (MJPG, intra-only codecs): one word, not N numbers
        data["keyframes"] = "all" if len(keys) == entry.num_frames else list(keys)
    data["timeline"] = entry.timeline.to_json() if entry.timeline is not None else None
    return data


def entry_from_json(data: dict[str, Any]) -> VideoEntry:
    """An entry from `entry_to_json`'s object (also each video of a version-2 index file)."""
    keys = data.get("keyframes")
    if keys == "all":
        keys = range(int(data["num_frames"]))
    values = dict(data, keyframes=tuple(int(k) for k in keys) if keys is not None else None)
    timeline = data.get("timeline")
    values["timeline"] = Timeline.from_json(timeline) if timeline is not None else None
    return VideoEntry(**values)


def _deltas(values: Sequence[int]) -> str:
    """Sorted integers as the text of their differences (`0 12 12 12`): short, and cheap to
    load, since only the entries a caller reads are decoded."""
    return " ".join(map(str, (b - a for a, b in zip((0, *values[:-1]), values, strict=True))))


def _undelta(text: str) -> tuple[int, ...]:
    return tuple(accumulate(map(int, text.split())))


def entry_to_row(entry: VideoEntry) -> Row:
    """An entry as a row of the version-3 file (columns in index_store.COLUMNS order)."""
    keys, timeline = entry.keyframes, entry.timeline
    if keys is not None:  # every frame a keyframe (MJPG, intra-only codecs): one word
        keys = "all" if len(keys) == entry.num_frames else _deltas(keys)
    if timeline is not None:  # constant rate: `count start step`; else `* ` + pts deltas
        pts = timeline.pts
        tl = f"{timeline.count} {timeline.start} {timeline.step}"
        timeline = tl if pts is None else "* " + _deltas(pts)
    e = entry
    return (e.size, e.mtime_ns, e.num_frames, e.container_frames, keys, int(e.counted),
            e.width, e.height, e.fps, timeline, e.partial)  # fmt: skip


def entry_from_row(path: str, row: Row) -> VideoEntry:
    size, mtime_ns, frames, claimed, keys, counted, width, height, fps, timeline, partial = row
    if keys is not None:
        keys = tuple(range(frames)) if keys == "all" else _undelta(keys)
    if timeline is not None:
        head, _, rest = timeline.partition(" ")
        if head == "*":
            pts = _undelta(rest)
            timeline = Timeline(len(pts), pts=pts)
        else:
            timeline = Timeline(*map(int, timeline.split()))
    return VideoEntry(
        path, size, mtime_ns, frames, claimed, keys, bool(counted), width, height, fps, timeline,
        partial,
    )  # fmt: skip


def size_and_mtime(item: VideoEntry | Row | None) -> tuple[int, int] | None:
    if item is None:
        return None
    if type(item) is tuple:
        return item[:2]
    return item.size, item.mtime_ns


class LazyEntries(MutableMapping[str, V], Generic[V]):
    """path -> entry, where loaded rows become entries (through `decode`) when first read."""

    def __init__(self, decode: Callable[[str, Row], V], items: dict[str, Any] | None = None):
        self._decode = decode
        self._items: dict[str, Any] = items if items is not None else {}

    def __getitem__(self, path: str) -> V:
        item = self._items[path]
        if type(item) is tuple:
            item = self._items[path] = self._decode(path, item)
        return item

    def __setitem__(self, path: str, entry: V) -> None:
        self._items[path] = entry

    def __delitem__(self, path: str) -> None:
        del self._items[path]

    def __contains__(self, path: object) -> bool:
        return path in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def stored(self) -> dict[str, Any]:
        """path -> row or entry as held (rows not decoded); for fast reads, not to be changed."""
        return self._items

    def subset(self, paths: Iterable[str]) -> LazyEntries[V]:
        """A new mapping of the `paths` present (in that order), rows still undecoded."""
        items = self._items
        return LazyEntries(self._decode, {p: items[p] for p in paths if p in items})
