"""Where `tsn flow` puts one video's encoded frames: a JPEG file each in its folder (`dir`) or
dense_flow's three archives (`zip`), one registry entry per layout (`layout.FRAME_FORMATS`), with
what each costs in files and bytes (for `--estimate` and the file-count warning).

A sink takes the three streams of a video (`Part`: rgb, flow_x, flow_y) as numbered JPEG bytes,
in increasing order per stream. It imports neither OpenCV nor NumPy, so the parent of `tsn flow`
can read the registry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Protocol

from tsncli.errors import UsageError
from tsncli.framezip import ZipFrameWriter
from tsncli.layout import (
    FLOW_ENTRIES,
    FLOW_TEMPLATES,
    FLOW_ZIPS,
    FRAME_FORMATS,
    RGB_ENTRY,
    RGB_TEMPLATE,
    RGB_ZIP,
)


class Part(IntEnum):
    """The three streams of a video's frames, in dense_flow's order."""

    RGB = 0
    FLOW_X = 1
    FLOW_Y = 2


FLOW_PARTS = (Part.FLOW_X, Part.FLOW_Y)
# file names (`dir`), and archive + entry names (`zip`), by Part
FILE_NAMES = (RGB_TEMPLATE, *FLOW_TEMPLATES)
ARCHIVES = (RGB_ZIP, *FLOW_ZIPS)
ENTRY_NAMES = (RGB_ENTRY, *FLOW_ENTRIES)

# The bytes a STORED entry costs in a zip beside its data: the local header (30 + name) and
# the central directory header (46 + name), as Python's zipfile writes them (no extra fields
# below 4 GiB); and the end-of-central-directory record (22) once per archive.
_ZIP_ENTRY_BYTES = 30 + 46
_ZIP_END_BYTES = 22


class FrameSink(Protocol):
    """Takes a video's encoded frames; `add` per frame, in increasing `index` per `part`."""

    # True when `add` may be called from several threads at once (files: yes; a zip: no)
    concurrent: bool

    def add(self, part: Part, index: int, data: bytes) -> None: ...


def parts_written(rgb: bool, flow: bool) -> tuple[Part, ...]:
    """The streams a `--modality` writes: rgb, the two flow streams, or all three."""
    return ((Part.RGB,) if rgb else ()) + (FLOW_PARTS if flow else ())


class DirSink:
    """One JPEG file per frame in `folder`, under dense_flow's file names."""

    concurrent = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def add(self, part: Part, index: int, data: bytes) -> None:
        (self.folder / FILE_NAMES[part].format(index)).write_bytes(data)


class ZipSink:
    """dense_flow's archives in `folder` (img.zip, flow_x.zip, flow_y.zip, entries stored),
    each written by `framezip.ZipFrameWriter`: complete under its name or absent."""

    concurrent = False  # one zipfile.ZipFile per archive, appended in order

    def __init__(self, writers: dict[Part, ZipFrameWriter]) -> None:
        self.writers = writers

    def add(self, part: Part, index: int, data: bytes) -> None:
        self.writers[part].add(ENTRY_NAMES[part].format(index), data)


@contextlib.contextmanager
def _open_dir(folder: Path, parts: tuple[Part, ...]) -> Iterator[FrameSink]:
    yield DirSink(folder)


@contextlib.contextmanager
def _open_zip(folder: Path, parts: tuple[Part, ...]) -> Iterator[FrameSink]:
    # Each archive is renamed into place on a clean exit; an exception removes every temporary
    # archive, so a failed video leaves none of its zips.
    with contextlib.ExitStack() as stack:
        writers = {
            part: stack.enter_context(ZipFrameWriter(folder / ARCHIVES[part])) for part in parts
        }
        yield ZipSink(writers)


def _dir_files(entries: dict[Part, int]) -> int:
    return sum(entries.values())


def _dir_bytes(entries: dict[Part, int], data: dict[Part, int]) -> int:
    return sum(data.values())


def _zip_files(entries: dict[Part, int]) -> int:
    return sum(1 for count in entries.values() if count > 0)


def _zip_bytes(entries: dict[Part, int], data: dict[Part, int]) -> int:
    total = 0
    for part, count in entries.items():
        if count == 0:
            continue
        name = len(ENTRY_NAMES[part].format(1).encode())
        total += data.get(part, 0) + count * (_ZIP_ENTRY_BYTES + 2 * name) + _ZIP_END_BYTES
    return total


@dataclass(frozen=True)
class FrameFormat:
    """One way of storing a video's frames (`tsn flow --format NAME`)."""

    name: str
    help: str
    # `with open(folder, parts) as sink`: the frames of one video, under `folder`
    open: Callable[[Path, tuple[Part, ...]], contextlib.AbstractContextManager[FrameSink]]
    # files and bytes of ONE video holding `entries[part]` frames of `data[part]` JPEG bytes
    files: Callable[[dict[Part, int]], int]
    bytes: Callable[[dict[Part, int], dict[Part, int]], int]
    # the layout note in flow_config.yaml
    note: str


FORMATS: dict[str, FrameFormat] = {
    "dir": FrameFormat(
        "dir",
        "a JPEG file per frame (3N files per video)",
        _open_dir,
        _dir_files,
        _dir_bytes,
        "dense_flow: img_%05d.jpg, flow_x_%05d.jpg, flow_y_%05d.jpg (1-based)",
    ),
    "zip": FrameFormat(
        "zip",
        "img.zip, flow_x.zip, flow_y.zip per video (dense_flow's -o zip; 3 files)",
        _open_zip,
        _zip_files,
        _zip_bytes,
        "dense_flow zip: img.zip, flow_x.zip, flow_y.zip holding img_%05d.jpg, x_%05d.jpg, "
        "y_%05d.jpg (1-based, stored)",
    ),
}
assert tuple(FORMATS) == FRAME_FORMATS, "a frame format needs a sink here and a reader"


def frame_format(name: str) -> FrameFormat:
    """The registered format `name`; an unknown one lists the valid names."""
    try:
        return FORMATS[name]
    except KeyError:
        raise UsageError(
            f"unknown frame format {name!r}; use one of: {', '.join(FORMATS)}"
        ) from None


def describe_formats() -> str:
    """`--format`'s help: each name and what it writes."""
    return "; ".join(f"{f.name}: {f.help}" for f in FORMATS.values())


def finished_archives(folder: Path, parts: tuple[Part, ...]) -> bool:
    """Whether `folder` holds every archive of `parts` (a `zip` video is done only then)."""
    return all((folder / ARCHIVES[part]).is_file() for part in parts)
