"""The video index file's compact layout (version 3): one JSON object of columns, a row per video,
paths split into shared folder prefixes and names; and the mapping that decodes rows on demand.

A Kinetics-sized index (240k videos) loads as a dozen flat lists instead of 240k nested objects;
only the rows a caller reads become entries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar

STORE_VERSION = 3
# the row of one video, in this order (keyframes and timeline are compact text, see index.py);
# VideoIndex.frame_counts reads num_frames by its position
COLUMNS = (
    "size", "mtime_ns", "num_frames", "container_frames", "keyframes", "counted",
    "width", "height", "fps", "timeline",
)  # fmt: skip

Row = tuple[Any, ...]
V = TypeVar("V")


def load_rows(data: dict[str, Any]) -> dict[str, Row]:
    """{absolute path: row} from a parsed version-3 index; ValueError if it is malformed."""
    folders, names = data["folders"], data["names"]
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
