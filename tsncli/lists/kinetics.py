"""Read the official Kinetics-400/600/700 annotation CSVs into train/val entries.

Columns `label,youtube_id,time_start,time_end,split` with a header row (extra columns such as
`is_cc` are ignored; labels may be quoted and hold commas). A clip's file is
`<youtube_id>_<start:06d>_<end:06d>.<ext>` (class folders or flat) or `<youtube_id>.<ext>`.
Class indices follow the sorted unique labels.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from tsncli.errors import DataError, UsageError
from tsncli.lists.annotated import AnnotatedEntry, Annotations
from tsncli.specs.datasets.kinetics import DEFAULT as DEFAULT_KINETICS

REQUIRED = ("label", "youtube_id", "time_start", "time_end")
# train.csv, val.csv, validate.csv (DeepMind), kinetics_train.csv (MMAction2), train.txt (K600 S3)
_NAME = re.compile(r"^(?:.*[_-])?(train|val|validate|validation)\.(csv|txt)$", re.IGNORECASE)
_SUBSET = {"train": "train", "val": "val", "validate": "val", "validation": "val"}


def find_kinetics_csvs(folder: str | Path, dataset: str = DEFAULT_KINETICS) -> dict[str, Path]:
    """{"train": path, "val": path} from `folder` or one of its subfolders (as unpacked)."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(
            f"annotation folder {root} does not exist; run `tsn fetch {dataset}` "
            "or pass --annotations DIR holding train.csv and validate.csv"
        )
    for candidate in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        found: dict[str, Path] = {}
        for path in sorted(candidate.iterdir()):
            m = _NAME.match(path.name)
            if m and path.is_file():
                found.setdefault(_SUBSET[m.group(1).lower()], path)
        if "train" in found and "val" in found:
            return found
    raise DataError(
        f"no Kinetics train and validation CSVs in {root} or its subfolders (looked for "
        f"train.csv and val.csv/validate.csv); run `tsn fetch {dataset}` or pass --annotations DIR"
    )


def _seconds(value: str, where: str) -> int:
    try:
        return int(float(value))
    except ValueError:
        raise DataError(f"{where}: time {value!r} is not a number of seconds") from None


def read_kinetics_csv(path: Path) -> list[tuple[str, str, int, int]]:
    """(label, youtube_id, start, end) per row of one annotation CSV."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        lacking = [c for c in REQUIRED if c not in header]
        if lacking:
            raise DataError(
                f"{path}: header lacks {', '.join(lacking)}; expected the official "
                "label,youtube_id,time_start,time_end,split columns"
            )
        label_at, id_at, start_at, end_at = (header.index(name) for name in REQUIRED)
        width = len(header)
        rows = []
        append = rows.append
        for row in reader:
            if len(row) < width:
                if not any(cell.strip() for cell in row):
                    continue  # a blank line
                where = f"{path}:{reader.line_num}"
                raise DataError(f"{where}: {len(row)} columns, the header has {width}")
            try:  # whole seconds as shipped; "14.0" takes the slow path
                start, end = int(row[start_at]), int(row[end_at])
            except ValueError:
                start = _seconds(row[start_at], f"{path}:{reader.line_num}")
                end = _seconds(row[end_at], f"{path}:{reader.line_num}")
            append((row[label_at].strip(), row[id_at].strip(), start, end))
    return rows


def clip_name(youtube_id: str, start: int, end: int) -> str:
    """`<youtube_id>_<start:06d>_<end:06d>`, the file stem of a trimmed clip."""
    return f"{youtube_id}_{start:06d}_{end:06d}"


def load_kinetics_annotations(folder: str | Path, dataset: str = DEFAULT_KINETICS) -> Annotations:
    """Train and val entries of the official CSVs; labels index the sorted class names."""
    files = find_kinetics_csvs(folder, dataset)
    rows = {subset: read_kinetics_csv(path) for subset, path in files.items()}
    classes = sorted({label for subset in rows.values() for label, *_ in subset if label})
    if not classes:
        raise DataError(f"{files['train']} has no labelled rows; use the train/validate CSVs")
    label_of = {name: i for i, name in enumerate(classes)}
    result = Annotations(classes)
    new = tuple.__new__  # AnnotatedEntry(...) without its Python-level __new__ (240k rows)
    for subset, subset_rows in rows.items():
        entries = []
        for label, youtube_id, start, end in subset_rows:
            if not label:
                continue  # unlabelled rows (test-style) cannot be trained or scored
            name = f"{youtube_id}_{start:06d}_{end:06d}"  # clip_name, inlined
            entries.append(new(AnnotatedEntry, (name, (name, youtube_id), label_of[label])))
        result.subsets[subset] = entries
    return result
