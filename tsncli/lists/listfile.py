"""List files (`<frame_dir> <num_frames> <label>` per line) and class files (`<index> <name>`).

This is the original TSN list format. `tsn lists` writes absolute frame folders; readers also
accept relative ones, and `frames_root` remaps every entry to `frames_root/<folder name>`.
Video lists (`<video file> <num_frames> <label>`) start with `# tsn-list: kind=videos ...`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tsncli.errors import DataError
from tsncli.fsutil import atomic_write_text
from tsncli.textio import read_text_lines

LIST_HEADER = "# tsn-list:"  # first-line comment of lists that are not plain frame lists


@dataclass(frozen=True)
class WrittenFile:
    """One file `tsn lists` wrote: its path, entries and size."""

    path: str
    entries: int
    size_bytes: int


@dataclass(frozen=True)
class VideoRecord:
    """One line of a list file."""

    path: str  # frame folder (or, for video lists, the video file)
    num_frames: int
    label: int

    @property
    def video_id(self) -> str:
        return Path(self.path).stem if Path(self.path).suffix else Path(self.path).name


def read_list(
    path: str | os.PathLike[str], frames_root: str | os.PathLike[str] | None = None
) -> list[VideoRecord]:
    """Parse a list file; blank lines and `#` comments are skipped. Errors name the line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"list file {p} does not exist; create it with `tsn lists`")
    records: list[VideoRecord] = []
    # raw_names: folder names that are not UTF-8 come back as the bytes tsn lists wrote
    for number, raw in enumerate(read_text_lines(p, "list file", raw_names=True), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(maxsplit=2)
        if len(parts) != 3:
            raise DataError(f"{p}:{number}: expected '<frame_dir> <num_frames> <label>'")
        folder, count, label = parts
        try:
            n, y = int(count), int(label)
        except ValueError:
            raise DataError(f"{p}:{number}: num_frames and label must be integers") from None
        if frames_root is not None:
            folder = str(Path(frames_root) / Path(folder).name)
        records.append(VideoRecord(folder, n, y))
    if not records:
        raise DataError(f"list file {p} holds no entries; regenerate it with `tsn lists`")
    return records


def write_list(
    path: str | os.PathLike[str], records: list[VideoRecord], header: dict[str, str] | None = None
) -> Path:
    """Write a list file atomically; `header` (e.g. {"kind": "videos"}) becomes a first-line
    `# tsn-list: kind=videos ...` comment that `read_list_header` reads back."""
    text = "".join(f"{r.path} {r.num_frames} {r.label}\n" for r in records)
    if header:
        fields = " ".join(f"{k}={v}" for k, v in header.items())
        text = f"{LIST_HEADER} {fields}\n{text}"
    atomic_write_text(path, text)
    return Path(path)


def read_list_header(path: str | os.PathLike[str]) -> dict[str, str]:
    """The `# tsn-list: key=value ...` settings of a list's first line; {"kind": "frames"} when
    it has none (plain TSN lists of frame folders)."""
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as f:
        first = f.readline().strip()
    header = {"kind": "frames"}
    if first.startswith(LIST_HEADER):
        for item in first[len(LIST_HEADER) :].split():
            key, eq, value = item.partition("=")
            header.update({key: value} if eq else {"kind": key})  # `# tsn-list: videos` too
    return header


def read_classes(path: str | os.PathLike[str]) -> list[str]:
    """Read a classes file (`<0-based index> <name>` per line) into names in label order."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"classes file {p} does not exist; create it with `tsn lists`")
    names: dict[int, str] = {}
    for number, raw in enumerate(read_text_lines(p, "classes file"), start=1):
        line = raw.strip()
        if not line:
            continue
        index, _, name = line.partition(" ")
        if not index.isdigit() or not name.strip():
            raise DataError(f"{p}:{number}: expected '<index> <class name>'")
        names[int(index)] = name.strip()
    if sorted(names) != list(range(len(names))):
        raise DataError(f"{p}: class indices must be 0..{len(names) - 1} without gaps")
    return [names[i] for i in range(len(names))]


def write_classes(path: str | os.PathLike[str], names: list[str]) -> Path:
    """Write a classes file atomically (0-based indices, the labels used in list files)."""
    atomic_write_text(path, "".join(f"{i} {n}\n" for i, n in enumerate(names)))
    return Path(path)


def list_file_name(dataset: str, modality: str, subset: str, split: int) -> str:
    """`{ds}_{rgb|flow}_{train|val}_split_{k}.txt`, the names `tsn lists` writes."""
    return f"{dataset}_{modality}_{subset}_split_{split}.txt"


def classes_file_name(dataset: str) -> str:
    """`{ds}_classes.txt`."""
    return f"{dataset}_classes.txt"
