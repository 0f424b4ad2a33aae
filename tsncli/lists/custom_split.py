"""Splits for custom datasets: class folders under a video root (stratified, seeded) or a CSV.

Both produce the same `ParsedSplits` as the official parsers (one split, number 1), so the list
files look exactly like UCF101's and train/eval need no special cases.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import random
from pathlib import Path

from tsncli.errors import DataError, UsageError
from tsncli.fsutil import unreadable_warning, walk_tree
from tsncli.specs.datasets.splitfiles import (
    VIDEO_EXTENSIONS,
    ParsedSplits,
    SplitEntry,
    video_id_of,
)
from tsncli.textio import read_text

log = logging.getLogger(__name__)

SUBSETS = {"train": "train", "val": "val", "test": "val", "validation": "val"}


def scan_video_root(video_root: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Class name -> sorted video ids, from `VIDEO_ROOT/<Class>/<video>.<ext>`."""
    root = Path(video_root)
    if not root.is_dir():
        raise UsageError(f"video folder {root} does not exist; pass --videos VIDEO_ROOT")
    # the walker flow and probe use: a class folder that is a link is followed, as flow follows it
    walk = walk_tree(root, max_depth=2)
    top = os.fspath(root)
    for link, target in walk.loops:
        if os.path.dirname(link) == top:  # a class left out would change every split
            raise DataError(
                f"class folder {link} is the folder {target} again (a link to it); "
                f"remove the link from {root}"
            )
    for path in walk.unreadable:
        if path in walk.errors and os.path.dirname(path) == top:
            raise DataError(
                f"class folder {path} cannot be read ({walk.errors[path]}); fix its permissions "
                f"or move it out of {root}"
            )
    videos: dict[str, list[str]] = {folder: [] for folder in walk.folders}
    for path in walk.files:
        folder, name = os.path.split(path)
        if folder in videos and Path(name).suffix[1:].lower() in VIDEO_EXTENSIONS:
            videos[folder].append(video_id_of(name))
    classes: dict[str, list[str]] = {}
    for folder, ids in videos.items():
        if not ids:
            raise DataError(f"class folder {folder} holds no videos; add videos or remove it")
        classes[os.path.basename(folder)] = sorted(ids)
    dangling = [p for p in walk.unreadable if p not in walk.errors]
    if dangling:
        log.warning("%s", unreadable_warning(root, dangling))
    if not classes:
        raise DataError(f"no class folders under {root}; lay videos out as {root}/<Class>/<video>")
    _check_unique_ids(classes)
    return classes


def _check_unique_ids(classes: dict[str, list[str]]) -> None:
    seen: dict[str, str] = {}
    for name, ids in classes.items():
        for video_id in ids:
            if video_id in seen and seen[video_id] != name:
                raise DataError(
                    f"video id {video_id!r} is in classes {seen[video_id]!r} and {name!r}; "
                    "frame folders are named by video id, so rename one of the videos"
                )
            seen[video_id] = name


def stratified_split(classes: dict[str, list[str]], val_ratio: float, seed: int) -> ParsedSplits:
    """Per class, a seeded shuffle puts round(n * val_ratio) videos in val (at least 1 when the
    class has 2+ videos, and never all of them). Same inputs, same split, on any machine."""
    if not 0.0 < val_ratio < 1.0:
        raise UsageError(f"--val-ratio must be between 0 and 1 (exclusive), got {val_ratio}")
    names = list(classes)
    train: list[SplitEntry] = []
    val: list[SplitEntry] = []
    for label, name in enumerate(names):
        ids = sorted(classes[name])
        random.Random(f"{seed}:{name}").shuffle(ids)  # str seeds are hashed stably (sha512)
        n_val = round(len(ids) * val_ratio)
        if len(ids) >= 2:
            n_val = min(max(n_val, 1), len(ids) - 1)
        else:
            n_val = 0
        val += [SplitEntry(v, label) for v in sorted(ids[:n_val])]
        train += [SplitEntry(v, label) for v in sorted(ids[n_val:])]
    return ParsedSplits(names, {1: {"train": train, "val": val}})


def _sorted_labels(labels: set[str]) -> list[str]:
    if all(x.isdigit() for x in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def _drop_duplicates(
    path: Path, rows: list[tuple[str, str, str, int]]
) -> list[tuple[str, str, str, int]]:
    """One row per video id: a repeated row is dropped with a warning; a repeat with another
    label or subset (one video in train and val, or in two classes) is an error."""
    first: dict[str, tuple[str, str, str, int]] = {}
    kept = []
    for row in rows:
        video_id = video_id_of(row[0])
        seen = first.setdefault(video_id, row)
        if seen is row:
            kept.append(row)
        elif (SUBSETS.get(seen[2], seen[2]), seen[1]) != (SUBSETS.get(row[2], row[2]), row[1]):
            raise DataError(
                f"{path}:{row[3]}: video {video_id!r} is already on line {seen[3]} as "
                f"{seen[1]},{seen[2]}; give each video one label and one subset"
            )
        else:
            log.warning(
                "%s:%d: video %r repeats line %d; the repeat is ignored",
                path,
                row[3],
                video_id,
                seen[3],
            )
    return kept


def read_split_csv(
    path: str | os.PathLike[str], class_names: list[str] | None = None
) -> ParsedSplits:
    """Read `video,label,subset` rows (header optional; subset train, val or test). Classes are
    `class_names` when given (class folders), else the sorted labels of the file."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"split file {p} does not exist; pass --split-file CSV")
    rows: list[tuple[str, str, str, int]] = []
    text = read_text(p, "split file")  # UTF-8 (BOM dropped); other bytes: file, line, offset
    for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == 1 and [c.lower() for c in cells] == ["video", "label", "subset"]:
            continue
        if len(cells) != 3 or not all(cells):
            raise DataError(f"{p}:{number}: expected 'video,label,subset'")
        rows.append((cells[0], cells[1], cells[2].lower(), number))
    rows = _drop_duplicates(p, rows)
    if not rows:
        raise DataError(f"{p} holds no rows; write one 'video,label,subset' line per video")
    names = class_names if class_names is not None else _sorted_labels({r[1] for r in rows})
    label_of = {n: i for i, n in enumerate(names)}
    out: dict[str, list[SplitEntry]] = {"train": [], "val": []}
    for video, label, subset, number in rows:
        if subset not in SUBSETS:
            raise DataError(f"{p}:{number}: subset {subset!r} must be train, val or test")
        if label not in label_of:
            raise DataError(f"{p}:{number}: label {label!r} is not a class folder under --videos")
        out[SUBSETS[subset]].append(SplitEntry(video_id_of(video), label_of[label]))
    for subset, entries in out.items():
        if not entries:
            raise DataError(f"{p} has no {subset} rows; every list needs at least one video")
    return ParsedSplits(names, {1: out})
