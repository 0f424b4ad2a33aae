"""List files (`<frame_dir> <num_frames> <label>` per line) and class files (`<index> <name>`).

This is the original TSN list format. `tsn lists` writes absolute frame folders; readers also
accept relative ones, and `frames_root` remaps every entry to `frames_root/<folder name>`.
Video lists (`<video file> <num_frames> <label>`) start with `# tsn-list: kind=videos ...`.

Two more line shapes, each announced by a key of that first-line header, because a line alone
cannot tell them apart (`path 0 120 5` is an offset line or a two-label line):

- `offsets=1`: `<path> <offset> <num_frames> <label>` (MMAction2's `with_offset` lists): the
  entry is frames `offset .. offset + num_frames - 1` (0-based) of the video or folder, e.g. one
  trimmed ActivityNet instance; loaders sample inside that range.
- `multilabel=1`: `<path> <num_frames> <label> [<label> ...]` (MMAction2's multi-label lists):
  every label of an untrimmed video; the first is `label`, the one accuracy uses. The path is
  the text before the trailing run of integers, so in these lists a path must not end in a
  space and a number (tsn writes video files, which end in an extension).

Both keys may appear together (`<path> <offset> <num_frames> <label> ...`). Without them a line
is read as the original three fields, split from the right so paths may hold spaces.
`untrimmed=1` marks lists of whole untrimmed videos (ActivityNet validation) for `tsn eval`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tsncli.errors import DataError
from tsncli.fsutil import atomic_write_text
from tsncli.textio import read_text_lines

LIST_HEADER = "# tsn-list:"  # first-line comment of lists that are not plain frame lists
OFFSETS_KEY = "offsets"  # header key: lines carry an offset before num_frames
MULTILABEL_KEY = "multilabel"  # header key: lines may carry several labels
UNTRIMMED_KEY = "untrimmed"  # header key: entries are whole untrimmed videos


@dataclass(frozen=True)
class WrittenFile:
    """One file `tsn lists` wrote: its path, entries and size."""

    path: str
    entries: int
    size_bytes: int


@dataclass(frozen=True)
class VideoRecord:
    """One line of a list file: frames `offset .. offset + num_frames - 1` (0-based) of `path`,
    labelled `label` (the first of `labels`, which is `(label,)` unless the line has more)."""

    path: str  # frame folder (or, for video lists, the video file)
    num_frames: int
    label: int
    offset: int = 0  # first frame of the entry in its video (trimmed instances)
    labels: tuple[int, ...] = ()  # every label; filled with (label,) when not given

    def __post_init__(self) -> None:
        if not self.labels:
            object.__setattr__(self, "labels", (self.label,))
        elif self.labels[0] != self.label:
            raise ValueError(f"labels {self.labels} must start with label {self.label}")

    @property
    def video_id(self) -> str:
        return Path(self.path).stem if Path(self.path).suffix else Path(self.path).name


def read_list(
    path: str | os.PathLike[str], frames_root: str | os.PathLike[str] | None = None
) -> list[VideoRecord]:
    """Parse a list file; blank lines and `#` comments are skipped. Its header says whether lines
    carry offsets or several labels (see the module doc). Errors name the line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"list file {p} does not exist; create it with `tsn lists`")
    header = read_list_header(p)
    offsets = header.get(OFFSETS_KEY) == "1"
    multilabel = header.get(MULTILABEL_KEY) == "1"
    numbers = 3 if offsets else 2  # integer fields of a line with one label
    shape = f"<frame_dir> {'<offset> ' if offsets else ''}<num_frames> <label>"
    if multilabel:
        shape += " [<label> ...]"
    records: list[VideoRecord] = []
    # raw_names: folder names that are not UTF-8 come back as the bytes tsn lists wrote
    for number, raw in enumerate(read_text_lines(p, "list file", raw_names=True), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        offset, labels = 0, ()
        try:
            if multilabel:
                parts = line.split()
                first = len(parts)
                while first > 1 and _is_integer(parts[first - 1]):
                    first -= 1
                if len(parts) - first < numbers:
                    raise DataError(f"{p}:{number}: expected '{shape}'")
                folder, *fields = line.rsplit(maxsplit=len(parts) - first)
                values = [int(v) for v in fields]
                offset = values.pop(0) if offsets else 0
                n, labels = values[0], tuple(values[1:])
                y = labels[0]
            else:  # one label: the common case, 240k lines for Kinetics, kept lean
                parts = line.rsplit(maxsplit=numbers)
                if len(parts) != numbers + 1:
                    raise DataError(f"{p}:{number}: expected '{shape}'")
                if offsets:
                    folder, start, count, label = parts
                    offset = int(start)
                else:
                    folder, count, label = parts
                n, y = int(count), int(label)
        except ValueError:
            what = "offset, num_frames and label" if offsets else "num_frames and label"
            raise DataError(f"{p}:{number}: {what} must be integers") from None
        if offset < 0:
            raise DataError(f"{p}:{number}: the offset must be 0 or more, got {offset}")
        if frames_root is not None:
            folder = str(Path(frames_root) / Path(folder).name)
        records.append(VideoRecord(folder, n, y, offset, labels))
    if not records:
        raise DataError(f"list file {p} holds no entries; regenerate it with `tsn lists`")
    return records


def _is_integer(token: str) -> bool:
    return token.isdigit() or (token[:1] == "-" and token[1:].isdigit())


def write_list(
    path: str | os.PathLike[str], records: list[VideoRecord], header: dict[str, str] | None = None
) -> Path:
    """Write a list file atomically; `header` (e.g. {"kind": "videos"}) becomes a first-line
    `# tsn-list: kind=videos ...` comment that `read_list_header` reads back. Records with an
    offset or several labels add `offsets=1` or `multilabel=1` to it (see the module doc)."""
    header = dict(header or {})
    if any(r.offset for r in records):
        header[OFFSETS_KEY] = "1"
    if any(len(r.labels) > 1 for r in records):
        header[MULTILABEL_KEY] = "1"
    offsets = header.get(OFFSETS_KEY) == "1"
    if offsets:
        lines = (f"{r.path} {r.offset} {r.num_frames} {_labels(r)}\n" for r in records)
    else:
        lines = (f"{r.path} {r.num_frames} {_labels(r)}\n" for r in records)
    text = "".join(lines)
    if header:
        fields = " ".join(f"{k}={v}" for k, v in header.items())
        text = f"{LIST_HEADER} {fields}\n{text}"
    atomic_write_text(path, text)
    return Path(path)


def _labels(record: VideoRecord) -> str | int:
    return record.label if len(record.labels) == 1 else " ".join(map(str, record.labels))


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
