"""Parse the official split files as shipped (UCF101 and HMDB51 formats) and the dataset registry.

UCF101: `classInd.txt` (`1 ApplyEyeMakeup`), `trainlist0k.txt` (`Class/v_X.avi 1`),
`testlist0k.txt` (`Class/v_X.avi`), CRLF endings. HMDB51: `<class>_test_split<k>.txt` with lines
`<video>.avi <flag>` (1 = train, 2 = test, 0 = unused) and trailing spaces.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tsncli.errors import DataError, UsageError
from tsncli.registry import Registry
from tsncli.textio import read_text_lines

log = logging.getLogger("tsncli.lists")


@dataclass(frozen=True)
class SplitEntry:
    """One video of a split: its id (the frame folder name) and its 0-based label."""

    video_id: str
    label: int


@dataclass
class ParsedSplits:
    """Class names in label order and, per split number, the train and val entries."""

    classes: list[str]
    splits: dict[int, dict[str, list[SplitEntry]]] = field(default_factory=dict)


SplitParser = Callable[[Path, "list[int] | None"], ParsedSplits]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset `tsn lists` knows: its split format (None for custom), a one-line help, and
    whether its classes survive a horizontal flip (False: training never mirrors its clips)."""

    name: str
    split_format: str | None
    help: str
    flip: bool = True


DATASETS: Registry[DatasetSpec] = Registry("dataset")
for _spec in (
    DatasetSpec("ucf101", "ucf101", "UCF101, official 3 splits (classInd.txt, trainlist0k.txt)"),
    DatasetSpec("hmdb51", "hmdb51", "HMDB51, official 3 splits (<class>_test_split<k>.txt)"),
    DatasetSpec("toy", "ucf101", "the synthetic toy dataset from tsn fetch toy (UCF101 format)"),
    DatasetSpec("custom", None, "your own videos: class folders or a video,label,subset CSV"),
    DatasetSpec("kinetics400", "kinetics", "Kinetics-400: train/validate CSVs, video lists"),
    DatasetSpec("kinetics600", "kinetics", "Kinetics-600: train/validate CSVs, video lists"),
    DatasetSpec("kinetics700", "kinetics", "Kinetics-700: train/validate CSVs, video lists"),
    # "pushing something from left to right" mirrored is another class: no flip for sthv2
    DatasetSpec("sthv2", "sthv2", "Something-Something V2: labels/train/validation JSON", False),
):
    DATASETS.add(_spec.name, _spec)


def flip_policy(dataset: str) -> bool:
    """Whether training may mirror clips of `dataset` (True for datasets not registered)."""
    return DATASETS.get(dataset).flip if dataset in DATASETS else True


def _read_lines(path: Path) -> list[str]:
    """Lines without CR/LF or surrounding spaces (a BOM is dropped); blank lines skipped."""
    return [line.strip() for line in read_text_lines(path, "split file") if line.strip()]


# Extensions stripped from split entries to get the frame folder name (video stem).
VIDEO_EXTENSIONS = {"avi", "mp4", "mkv", "webm", "mov", "mpg", "mpeg", "m4v", "flv", "wmv", "3gp"}


def video_id_of(entry: str) -> str:
    """`Class/v_Class_g01_c01.avi` -> `v_Class_g01_c01` (the frame folder name)."""
    name = entry.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return stem if dot and ext.lower() in VIDEO_EXTENSIONS else name


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


def _pick_splits(found: list[int], wanted: list[int] | None, where: Path) -> list[int]:
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


def _ucf101_split_files(folder: Path) -> dict[int, tuple[Path, Path]]:
    """k -> (`trainlist0k.txt`, `testlist0k.txt`) for every k with both files present."""
    found: dict[int, tuple[Path, Path]] = {}
    for train in folder.glob("trainlist*.txt"):
        m = re.fullmatch(r"trainlist(\d+)\.txt", train.name)
        test = folder / f"testlist{m.group(1)}.txt" if m else None
        if m and test is not None and test.is_file():
            found[int(m.group(1))] = (train, test)
    return dict(sorted(found.items()))


def parse_ucf101_splits(folder: Path, wanted: list[int] | None = None) -> ParsedSplits:
    """Parse UCF101-format split files; labels come from `classInd.txt` (1-based -> 0-based)."""
    folder = resolve_splits_dir(folder, lambda p: (p / "classInd.txt").is_file(), "ucf101")
    index: dict[int, str] = {}
    for number, line in enumerate(_read_lines(folder / "classInd.txt"), start=1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(f"{folder / 'classInd.txt'}:{number}: expected '<index> <ClassName>'")
        index[int(parts[0])] = parts[1]
    if sorted(index) != list(range(1, len(index) + 1)):
        raise DataError(f"{folder / 'classInd.txt'}: class indices must be 1..{len(index)}")
    classes = [index[i] for i in range(1, len(index) + 1)]
    by_name = {c: i for i, c in enumerate(classes)}
    by_lower = {c.lower(): i for i, c in enumerate(classes)}
    files = _ucf101_split_files(folder)
    result = ParsedSplits(classes)
    for k in _pick_splits(list(files), wanted, folder):
        result.splits[k] = {}
        for subset, path in zip(("train", "val"), files[k], strict=True):
            result.splits[k][subset] = [
                _ucf_entry(line, by_name, by_lower, f"{path}:{number}")
                for number, line in enumerate(_read_lines(path), start=1)
            ]
    return result


def _ucf_entry(line: str, by_name: dict, by_lower: dict, where: str) -> SplitEntry:
    """`Class/v_X.avi [1-based label]` -> entry; the class folder decides the label."""
    video, given = line, ""
    head, _, tail = line.rpartition(" ")
    if head and tail.isdigit():
        video, given = head.strip(), tail
    path = video.replace("\\", "/")
    if "/" in path:
        class_name = path.split("/", 1)[0]
    else:  # no class folder: `v_<Class>_gXX_cYY.avi`
        m = re.fullmatch(r"v_(.+)_g\d+_c\d+(\.\w+)?", path)
        class_name = m.group(1) if m else ""
    label = by_name.get(class_name, by_lower.get(class_name.lower()))
    if label is None and given:
        label = int(given) - 1
    if label is None or not 0 <= label < len(by_name):
        raise DataError(f"{where}: cannot tell the class of {video!r} from classInd.txt")
    if given and int(given) != label + 1:
        raise DataError(f"{where}: label {given} disagrees with classInd.txt ({label + 1})")
    return SplitEntry(video_id_of(video), label)


def hmdb51_available_splits(folder: Path) -> list[int]:
    """Split numbers k with at least one `<class>_test_split<k>.txt`."""
    found = set()
    for path in folder.glob("*_test_split*.txt"):
        m = re.fullmatch(r".+_test_split(\d+)\.txt", path.name)
        if m:
            found.add(int(m.group(1)))
    return sorted(found)


def hmdb51_class_order(folder: Path, names: set[str]) -> list[str]:
    """Class order: `class_list.txt` beside the split files when present (TSN's order), else
    sorted names. Its names must be exactly the classes of the split files."""
    listed = folder / "class_list.txt"
    if not listed.is_file():
        log.info(
            "no class_list.txt in %s: HMDB51 labels follow sorted class names; put TSN's "
            "class_list.txt there to use its label order (released TSN models expect it)",
            folder,
        )
        return sorted(names)
    order = _read_lines(listed)
    if set(order) != names or len(order) != len(names):
        extra, lacking = sorted(set(order) - names), sorted(names - set(order))
        raise DataError(
            f"{listed} does not match the split files (extra: {extra[:3]}, missing: "
            f"{lacking[:3]}); fix or delete it to use sorted class names"
        )
    return order


def parse_hmdb51_splits(folder: Path, wanted: list[int] | None = None) -> ParsedSplits:
    """Parse HMDB51-format split files (flag 1 train, 2 test -> val, 0 unused)."""
    folder = resolve_splits_dir(folder, lambda p: bool(hmdb51_available_splits(p)), "hmdb51")
    ks = _pick_splits(hmdb51_available_splits(folder), wanted, folder)
    per_split: dict[int, dict[str, Path]] = {}
    for k in ks:
        files = sorted(folder.glob(f"*_test_split{k}.txt"))
        per_split[k] = {p.name[: -len(f"_test_split{k}.txt")]: p for p in files}
    names = set(per_split[ks[0]])
    for k in ks:
        if set(per_split[k]) != names:
            raise DataError(f"{folder}: split {k} has different classes than split {ks[0]}")
    classes = hmdb51_class_order(folder, names)
    label_of = {c: i for i, c in enumerate(classes)}
    result = ParsedSplits(classes)
    for k in ks:
        train: list[SplitEntry] = []
        val: list[SplitEntry] = []
        for class_name in classes:
            path = per_split[k][class_name]
            for number, line in enumerate(_read_lines(path), start=1):
                video, _, flag = line.rpartition(" ")
                if flag not in ("0", "1", "2") or not video.strip():
                    raise DataError(f"{path}:{number}: expected '<video>.avi <0|1|2>'")
                entry = SplitEntry(video_id_of(video.strip()), label_of[class_name])
                if flag == "1":
                    train.append(entry)
                elif flag == "2":
                    val.append(entry)
        result.splits[k] = {"train": train, "val": val}
    return result


SPLIT_PARSERS: dict[str, SplitParser] = {
    "ucf101": parse_ucf101_splits,
    "hmdb51": parse_hmdb51_splits,
}


def load_official_splits(
    dataset: str, folder: str | os.PathLike[str], wanted: list[int] | None = None
) -> ParsedSplits:
    """Parse the split files of a registered dataset (`wanted` None = every split present)."""
    spec = DATASETS.get(dataset)
    if spec.split_format is None:
        raise UsageError(f"{dataset} has no official split files; use `tsn lists custom`")
    if spec.split_format not in SPLIT_PARSERS:
        raise UsageError(f"{dataset} is read from annotation files: `tsn lists {dataset} VIDEOS`")
    return SPLIT_PARSERS[spec.split_format](Path(folder), wanted)
