"""UCF101 (13320 videos, 101 classes, 3 official splits) and its split-file format.

`classInd.txt` (`1 ApplyEyeMakeup`), `trainlist0k.txt` (`Class/v_X.avi 1`), `testlist0k.txt`
(`Class/v_X.avi`), CRLF endings. The toy dataset writes the same format.
"""

from __future__ import annotations

import re
from pathlib import Path

from tsncli.errors import DataError
from tsncli.specs.datasets import DatasetSpec, Download, DownloadFile, UnpackCounts
from tsncli.specs.datasets.splitfiles import (
    ParsedSplits,
    SplitEntry,
    SplitFormat,
    file_name_of,
    pick_splits,
    read_split_lines,
    resolve_splits_dir,
    video_id_of,
)

NAME = "ucf101"


def _has_class_index(folder: Path) -> bool:
    return (folder / "classInd.txt").is_file()


def _split_files(folder: Path) -> dict[int, tuple[Path, Path]]:
    """k -> (`trainlist0k.txt`, `testlist0k.txt`) for every k with both files present."""
    found: dict[int, tuple[Path, Path]] = {}
    for train in folder.glob("trainlist*.txt"):
        m = re.fullmatch(r"trainlist(\d+)\.txt", train.name)
        test = folder / f"testlist{m.group(1)}.txt" if m else None
        if m and test is not None and test.is_file():
            found[int(m.group(1))] = (train, test)
    return dict(sorted(found.items()))


def ucf101_split_numbers(folder: Path) -> list[int]:
    """Split numbers k with both `trainlist0k.txt` and `testlist0k.txt`."""
    return list(_split_files(resolve_splits_dir(folder, _has_class_index, NAME)))


def parse_ucf101_splits(folder: Path, wanted: list[int] | None = None) -> ParsedSplits:
    """Parse UCF101-format split files; labels come from `classInd.txt` (1-based -> 0-based)."""
    folder = resolve_splits_dir(folder, _has_class_index, NAME)
    index: dict[int, str] = {}
    for number, line in enumerate(read_split_lines(folder / "classInd.txt"), start=1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(f"{folder / 'classInd.txt'}:{number}: expected '<index> <ClassName>'")
        index[int(parts[0])] = parts[1]
    if sorted(index) != list(range(1, len(index) + 1)):
        raise DataError(f"{folder / 'classInd.txt'}: class indices must be 1..{len(index)}")
    classes = [index[i] for i in range(1, len(index) + 1)]
    by_name = {c: i for i, c in enumerate(classes)}
    by_lower = {c.lower(): i for i, c in enumerate(classes)}
    files = _split_files(folder)
    result = ParsedSplits(classes)
    for k in pick_splits(list(files), wanted, folder):
        result.splits[k] = {}
        for subset, path in zip(("train", "val"), files[k], strict=True):
            result.splits[k][subset] = [
                _entry(line, by_name, by_lower, f"{path}:{number}")
                for number, line in enumerate(read_split_lines(path), start=1)
            ]
    return result


def _entry(line: str, by_name: dict, by_lower: dict, where: str) -> SplitEntry:
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
    return SplitEntry(video_id_of(video), label, file_name_of(video))


UCF101_SPLITS = SplitFormat(NAME, ucf101_split_numbers, parse_ucf101_splits)

# Two classes, one split, CRLF as shipped.
EXAMPLE_FILES = (
    ("classInd.txt", "1 ApplyEyeMakeup\r\n2 YoYo\r\n"),
    (
        "trainlist01.txt",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nYoYo/v_YoYo_g08_c01.avi 2\r\n",
    ),
    (
        "testlist01.txt",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\nYoYo/v_YoYo_g01_c01.avi\r\n",
    ),
)

_SITE = "https://www.crcv.ucf.edu"
# TensorFlow Datasets' published size and sha256 of the UCF101 split ZIP (the URL is theirs):
# github.com/tensorflow/datasets, tensorflow_datasets/url_checksums/ucf101.txt
_TFDS_UCF101 = "TensorFlow Datasets url_checksums/ucf101.txt"

SPECS = (
    DatasetSpec(
        NAME,
        "UCF101, official 3 splits (classInd.txt, trainlist0k.txt)",
        splits=UCF101_SPLITS,
        download=Download(
            "UCF101: 13320 videos, 101 classes (videos RAR + official splits ZIP)",
            (
                DownloadFile(
                    "UCF101.rar",
                    f"{_SITE}/data/UCF101/UCF101.rar",
                    approx_bytes=6_500_000_000,
                    # the path FiftyOne's UCF101 downloader uses since the site moved
                    mirrors=(f"{_SITE}/datasets/human-actions/ucf101/UCF101.rar",),
                ),
                DownloadFile(
                    "UCF101TrainTestSplits-RecognitionTask.zip",
                    f"{_SITE}/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip",
                    size=113_943,
                    sha256="5c0d1a53b8ed364a2ac830a73f405e51bece7d98ce1254fd19ed4a36b224bd27",
                    checksum_source=_TFDS_UCF101,
                    mirrors=(
                        f"{_SITE}/wp-content/uploads/2019/03/"
                        "UCF101TrainTestSplits-RecognitionTask.zip",
                    ),
                ),
            ),
        ),
        unpack=UnpackCounts(videos=13320, classes=101),
        presets=("ucf101_rgb", "ucf101_flow", "ucf101_rgbdiff"),
        lists_examples=(
            "data/ucf101/frames --split 1,2,3",
            "data/ucf101/videos --source videos --out data/ucf101/video_lists",
        ),
        example_files=EXAMPLE_FILES,
    ),
)
