"""HMDB51 (6766 videos, 51 classes, 3 official splits) and its split-file format.

`<class>_test_split<k>.txt` with lines `<video>.avi <flag>` (1 = train, 2 = test, 0 = unused)
and trailing spaces; TSN's `class_list.txt` beside them, when present, fixes the label order.
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

NAME = "hmdb51"


def hmdb51_available_splits(folder: Path) -> list[int]:
    """Split numbers k with at least one `<class>_test_split<k>.txt`."""
    found = set()
    for path in folder.glob("*_test_split*.txt"):
        m = re.fullmatch(r".+_test_split(\d+)\.txt", path.name)
        if m:
            found.add(int(m.group(1)))
    return sorted(found)


def _splits_dir(folder: Path) -> Path:
    return resolve_splits_dir(folder, lambda p: bool(hmdb51_available_splits(p)), NAME)


def hmdb51_split_numbers(folder: Path) -> list[int]:
    """Split numbers k with at least one `<class>_test_split<k>.txt` in the split folder."""
    return hmdb51_available_splits(_splits_dir(folder))


def hmdb51_class_order(folder: Path, names: set[str]) -> list[str]:
    """Class order: `class_list.txt` beside the split files when present (TSN's order), else
    sorted names. Its names must be exactly the classes of the split files."""
    listed = folder / "class_list.txt"
    if not listed.is_file():
        return sorted(names)
    order = read_split_lines(listed)
    if set(order) != names or len(order) != len(names):
        extra, lacking = sorted(set(order) - names), sorted(names - set(order))
        raise DataError(
            f"{listed} does not match the split files (extra: {extra[:3]}, missing: "
            f"{lacking[:3]}); fix or delete it to use sorted class names"
        )
    return order


def parse_hmdb51_splits(folder: Path, wanted: list[int] | None = None) -> ParsedSplits:
    """Parse HMDB51-format split files (flag 1 train, 2 test -> val, 0 unused)."""
    folder = _splits_dir(folder)
    ks = pick_splits(hmdb51_available_splits(folder), wanted, folder)
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
    if not (folder / "class_list.txt").is_file():
        result.notes.append(
            f"no class_list.txt in {folder}: HMDB51 labels follow sorted class names; put TSN's "
            "class_list.txt there to use its label order (released TSN models expect it)"
        )
    for k in ks:
        subsets: dict[str, list[SplitEntry]] = {"1": [], "2": [], "0": result.unused}
        for class_name in classes:
            path = per_split[k][class_name]
            for number, line in enumerate(read_split_lines(path), start=1):
                video, _, flag = line.rpartition(" ")
                if flag not in subsets or not video.strip():
                    raise DataError(f"{path}:{number}: expected '<video>.avi <0|1|2>'")
                video = video.strip()
                entry = SplitEntry(video_id_of(video), label_of[class_name], file_name_of(video))
                subsets[flag].append(entry)
        result.splits[k] = {"train": subsets["1"], "val": subsets["2"]}
    return result


HMDB51_SPLITS = SplitFormat(NAME, hmdb51_split_numbers, parse_hmdb51_splits)

# The original host's folder; see the note on the download below.
_HOST = "serre-lab.clps.brown.edu/wp-content/uploads/2013/10"

SPECS = (
    DatasetSpec(
        NAME,
        "HMDB51, official 3 splits (<class>_test_split<k>.txt)",
        splits=HMDB51_SPLITS,
        # The Brown host is reported defunct (2025). No maintained loader publishes a checksum
        # for these RARs, and the copies other tools moved to (Google Drive folders, re-packed
        # ZIPs on the Hugging Face Hub) are different files, so only the original host's URLs
        # are listed; use --mirror or --from for a copy you trust.
        download=Download(
            "HMDB51: 6766 videos, 51 classes (RAR of 51 RARs + official splits RAR)",
            tuple(
                DownloadFile(
                    name,
                    f"https://{_HOST}/{name}",
                    approx_bytes=approx,
                    mirrors=(f"http://{_HOST}/{name}",),
                )
                for name, approx in (
                    ("hmdb51_org.rar", 2_100_000_000),
                    ("test_train_splits.rar", 200_000),
                )
            ),
        ),
        unpack=UnpackCounts(videos=6766, classes=51),
        presets=("hmdb51_rgb", "hmdb51_flow"),
        lists_examples=("data/hmdb51/frames --modality rgb --allow-missing",),
        # two classes, one split; trailing spaces as shipped
        example_files=(
            ("brush_hair_test_split1.txt", "brush_hair_1.avi 1 \nbrush_hair_2.avi 2 \n"),
            ("cartwheel_test_split1.txt", "cartwheel_1.avi 1 \ncartwheel_2.avi 2 \nc_3.avi 0 \n"),
        ),
    ),
)
