"""Read the Something-Something V2 annotations into train/val entries.

`labels.json` maps each template ("Pushing something from left to right") to its index as a
string; `train.json`/`validation.json` list `{id, label, template, placeholders}` whose template
carries brackets ("Pushing [something] from left to right"). Videos are `<id>.webm`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tsncli.errors import DataError, UsageError
from tsncli.lists.annotated import AnnotatedEntry, Annotations
from tsncli.specs.datasets.sthv2 import NAME as STHV2

FILES = {"labels": "labels.json", "train": "train.json", "val": "validation.json"}


def _names(kind: str) -> tuple[str, ...]:
    """`labels.json` as unzipped, or `something-something-v2-labels.json` as some copies name it."""
    return (FILES[kind], f"something-something-v2-{FILES[kind]}")


def find_sthv2_files(folder: str | Path, dataset: str = STHV2) -> dict[str, Path]:
    """{"labels", "train", "val"} -> path, from `folder` or one of its subfolders (`labels/`)."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(
            f"annotation folder {root} does not exist; run `tsn fetch {dataset}`, unzip it, "
            "or pass --annotations DIR holding labels.json, train.json and validation.json"
        )
    for candidate in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        found = {}
        for kind in FILES:
            path = next((candidate / n for n in _names(kind) if (candidate / n).is_file()), None)
            if path is not None:
                found[kind] = path
        if len(found) == len(FILES):
            return found
    raise DataError(
        f"no labels.json, train.json and validation.json in {root} or its subfolders; "
        "unzip the Something-Something V2 label package there or pass --annotations DIR"
    )


def normalize_template(template: str) -> str:
    """ "Pushing [something] from left to right" -> "Pushing something from left to right"."""
    return " ".join(template.replace("[", "").replace("]", "").split())


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); download it again") from None


def load_sthv2_classes(path: Path) -> list[str]:
    """Class names in index order from `labels.json` (template -> "index")."""
    data = _load_json(path)
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected a mapping of template -> index")
    try:
        by_index = {int(index): normalize_template(name) for name, index in data.items()}
    except (TypeError, ValueError):
        raise DataError(f"{path}: every index must be an integer (as a string)") from None
    if sorted(by_index) != list(range(len(by_index))):
        raise DataError(f"{path}: class indices must be 0..{len(by_index) - 1} without gaps")
    return [by_index[i] for i in range(len(by_index))]


def load_sthv2_annotations(folder: str | Path, dataset: str = STHV2) -> Annotations:
    """Train and val entries; each template (brackets stripped) picks its class index."""
    files = find_sthv2_files(folder, dataset)
    classes = load_sthv2_classes(files["labels"])
    label_of = {name: i for i, name in enumerate(classes)}
    lower = {name.lower(): i for i, name in enumerate(classes)}
    result = Annotations(classes)
    for subset in ("train", "val"):
        items = _load_json(files[subset])
        if not isinstance(items, list):
            raise DataError(f"{files[subset]}: expected a list of {{id, template, ...}} objects")
        entries = []
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict) or "id" not in item or "template" not in item:
                raise DataError(f"{files[subset]}: item {number} lacks an id or a template")
            name = normalize_template(str(item["template"]))
            label = label_of.get(name, lower.get(name.lower()))
            if label is None:
                raise DataError(
                    f"{files[subset]}: item {number} (id {item['id']}) has template {name!r}, "
                    f"which {files['labels'].name} does not list; use the matching label package"
                )
            video_id = str(item["id"])
            entries.append(AnnotatedEntry(video_id, (video_id,), label))
        result.subsets[subset] = entries
    return result
