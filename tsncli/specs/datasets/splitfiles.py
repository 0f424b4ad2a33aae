"""What an official split-file parser returns, and the text helpers every split format shares:
entries, parsed splits, video ids from file names, finding the split folder, picking splits."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tsncli.errors import DataError, UsageError
from tsncli.textio import read_text_lines


@dataclass(frozen=True)
class SplitEntry:
    """One video of a split: its id (the frame folder name) and its 0-based label."""

    video_id: str
    label: int
    # the file name as the split file writes it (`v_X.avi`): `tsn unpack` names missing files
    file_name: str = field(default="", compare=False)


@dataclass
class ParsedSplits:
    """Class names in label order and, per split number, the train and val entries."""

    classes: list[str]
    splits: dict[int, dict[str, list[SplitEntry]]] = field(default_factory=dict)
    # videos the split files name but leave out of every subset (HMDB51's flag 0)
    unused: list[SplitEntry] = field(default_factory=list)
    # what the reader should know (parsers do not log; `tsn lists` logs these)
    notes: list[str] = field(default_factory=list)

    def named_entries(self) -> list[SplitEntry]:
        """Every entry the parsed split files name: train, val and unused."""
        return [e for s in self.splits.values() for es in s.values() for e in es] + self.unused


SplitParser = Callable[[Path, "list[int] | None"], ParsedSplits]


@dataclass(frozen=True)
class SplitFormat:
    """An official split-file format: its name, the split numbers a folder holds (in it or in
    one subfolder, as unpacked), and the parser (`wanted` None = every split present)."""

    name: str
    split_numbers: Callable[[Path], list[int]]
    parse: SplitParser


# Extensions stripped from split entries to get the frame folder name (video stem).
VIDEO_EXTENSIONS = {"avi", "mp4", "mkv", "webm", "mov", "mpg", "mpeg", "m4v", "flv", "wmv", "3gp"}


def file_name_of(entry: str) -> str:
    """`Class\\v_X.avi` or `Class/v_X.avi` -> `v_X.avi`."""
    return entry.replace("\\", "/").rsplit("/", 1)[-1]


def video_id_of(entry: str) -> str:
    """`Class/v_Class_g01_c01.avi` -> `v_Class_g01_c01` (the frame folder name)."""
    name = file_name_of(entry)
    stem, dot, ext = name.rpartition(".")
    return stem if dot and ext.lower() in VIDEO_EXTENSIONS else name


def read_split_lines(path: Path) -> list[str]:
    """Lines without CR/LF or surrounding spaces (a BOM is dropped); blank lines skipped."""
    return [line.strip() for line in read_text_lines(path, "split file") if line.strip()]


def resolve_splits_dir(
    folder: str | os.PathLike[str], has_splits: Callable[[Path], bool], dataset: str
) -> Path:
    """The folder holding the split files: `folder` itself or one subfolder (as an archive
    unpacks, e.g. `ucfTrainTestlist/`). Errors say how to get the files."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(
            f"split folder {root} does not exist; run `tsn unpack {dataset}` "
            "or pass --splits DIR holding the official split files"
        )
    if has_splits(root):
        return root
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if has_splits(sub):
            return sub
    raise DataError(
        f"no {dataset}-format split files in {root} or its subfolders; "
        f"run `tsn unpack {dataset}` or pass --splits DIR"
    )


def pick_splits(found: list[int], wanted: list[int] | None, where: Path) -> list[int]:
    """`wanted` (None: every split `found`); an error naming the splits present if one lacks."""
    if not found:
        raise DataError(f"no split files found in {where}")
    if wanted is None:
        return found
    missing = [k for k in wanted if k not in found]
    if missing:
        have = ",".join(map(str, found))
        absent = ",".join(map(str, missing))
        raise UsageError(f"split {absent} not in {where} (it has {have}); pass --split {have}")
    return list(wanted)
