"""ActivityNet's annotation file, read as the original `anet_db.py` reads it: classes are the
taxonomy's leaf nodes in plain `sorted()` order, instances are `<video id>_<index>` spans of
training/validation videos, and the official submission file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsncli.errors import DataError
from tsncli.fsutil import atomic_write_text

if TYPE_CHECKING:
    from tsncli.lists.annotated import Annotations

SUBSETS = ("training", "validation", "testing")
VERSIONS = ("1.2", "1.3")


@dataclass(frozen=True)
class Instance:
    """One annotation of a video: `name` is `<video id>_<index in the annotation list>`."""

    video_id: str
    index: int
    start: float  # seconds
    end: float
    label: str

    @property
    def name(self) -> str:
        return f"{self.video_id}_{self.index}"


@dataclass(frozen=True)
class AnetVideo:
    video_id: str  # the YouTube id, without `v_`
    subset: str
    duration: float  # seconds, of the YouTube upload (a download can differ slightly)
    instances: tuple[Instance, ...]

    @property
    def labels(self) -> list[str]:
        """The video's distinct labels, in annotation order."""
        return list(dict.fromkeys(i.label for i in self.instances))


@dataclass(frozen=True)
class ActivityNet:
    version: str  # as the file says, e.g. "VERSION 1.3"
    classes: tuple[str, ...]  # leaf nodes, sorted() order: index = label
    videos: dict[str, AnetVideo]

    def subset_videos(self, subset: str) -> list[AnetVideo]:
        """The videos of `subset`, by id."""
        _check_subset(subset)
        return [v for _, v in sorted(self.videos.items()) if v.subset == subset]

    def subset_instances(self, subset: str) -> list[Instance]:
        """Every annotation of the videos of `subset`, by video id then annotation order."""
        return [i for v in self.subset_videos(subset) for i in v.instances]

    def ground_truth(self, subset: str = "validation") -> dict[str, set[str]]:
        """Each annotated video of `subset` -> its distinct labels (the official evaluation's)."""
        return {v.video_id: set(v.labels) for v in self.subset_videos(subset) if v.instances}


def _check_subset(subset: str) -> None:
    if subset not in SUBSETS:
        raise DataError(f"unknown ActivityNet subset {subset!r}; use one of: {', '.join(SUBSETS)}")


def leaf_classes(taxonomy: list[dict[str, Any]]) -> tuple[str, ...]:
    """The taxonomy's leaves (names that are nobody's parent), in plain `sorted()` order, which is
    case-sensitive ("BMX" before "Baking cookies"), as `anet_db.py`."""
    names = {node["nodeName"] for node in taxonomy}
    parents = {node.get("parentName") for node in taxonomy}
    return tuple(sorted(names - parents))


def parse_activitynet(data: dict[str, Any], where: str = "annotations") -> ActivityNet:
    """The database of an ActivityNet JSON document (see TSN-FACTS: version, taxonomy, database)."""
    try:
        classes = leaf_classes(data["taxonomy"])
        videos = {}
        for video_id, info in data["database"].items():
            instances = tuple(
                Instance(video_id, k, float(a["segment"][0]), float(a["segment"][1]), a["label"])
                for k, a in enumerate(info.get("annotations") or [])
            )
            videos[video_id] = AnetVideo(
                video_id, info["subset"], float(info.get("duration") or 0.0), instances
            )
        version = str(data.get("version", ""))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DataError(
            f"{where} is not an ActivityNet annotation file ({type(exc).__name__}: {exc}); "
            "use activity_net.v1-3.min.json from `tsn fetch activitynet`"
        ) from None
    known = set(classes)
    for video in videos.values():
        for inst in video.instances:
            if inst.label not in known:
                raise DataError(
                    f"{where}: video {video.video_id} is labelled {inst.label!r}, which is no leaf "
                    "of the taxonomy"
                )
    return ActivityNet(version, classes, videos)


def load_activitynet(path: str | os.PathLike[str]) -> ActivityNet:
    """Read an ActivityNet annotation file (`activity_net.v1-3.min.json`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"no annotation file {path}; run `tsn fetch activitynet` first") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} as JSON ({exc})") from None
    return parse_activitynet(data, str(path))


def video_id_of(name: str) -> str:
    """The ActivityNet id of a file or folder name: `v_<id>.mp4`, `<id>.mkv`, `v_<id>` -> `<id>`.
    YouTube ids may themselves start with `-` or contain `.`-free text only, so one suffix goes."""
    stem = Path(name).name
    if "." in stem and len(stem.rsplit(".", 1)[1]) <= 4:
        stem = stem.rsplit(".", 1)[0]
    return stem[2:] if stem.startswith("v_") else stem


def class_order_differences(original: tuple[str, ...], given: list[str]) -> list[str]:
    """How `given` (e.g. BSN's `action_name.csv`) differs from the original order: one line per
    moved, missing or extra class; empty when they agree."""
    lines = []
    if set(given) != set(original):
        lines += [f"missing: {c}" for c in original if c not in set(given)]
        lines += [f"extra: {c}" for c in given if c not in set(original)]
    pos = {c: i for i, c in enumerate(original)}
    lines += [
        f"{c}: label {i} (the original's {pos[c]})"
        for i, c in enumerate(given)
        if c in pos and pos[c] != i
    ]
    return lines


def write_submission(
    path: str | os.PathLike[str],
    version: str,
    results: dict[str, list[tuple[str, float]]],
    external_data: tuple[bool, str] = (False, ""),
) -> Path:
    """The official classification submission, atomically: `results` maps video ids (a `v_` is
    dropped) to (label, score) rows, best first."""
    doc = {
        "version": version,
        "results": {
            video_id_of(v): [{"label": label, "score": float(score)} for label, score in rows]
            for v, rows in results.items()
        },
        "external_data": {"used": bool(external_data[0]), "details": external_data[1]},
    }
    atomic_write_text(path, json.dumps(doc) + "\n")
    return Path(path)


def load_submission(path: str | os.PathLike[str]) -> dict[str, list[tuple[str, float]]]:
    """A submission's results as `write_submission` takes them (order kept)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return {
            v: [(row["label"], float(row["score"])) for row in rows]
            for v, rows in doc["results"].items()
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not an ActivityNet submission ({exc})") from None


def find_annotation_file(folder: str | os.PathLike[str], version: str) -> Path:
    """`activity_net.v1-3.min.json` (for "1.3") in `folder`, or `folder` itself when it is a file;
    a DataError naming `tsn fetch` when it is not there."""
    path = Path(folder)
    if path.is_file():
        return path
    name = f"activity_net.v{version.replace('.', '-')}.min.json"
    for candidate in (path / name, path / "annotations" / name):
        if candidate.is_file():
            return candidate
    from tsncli.specs.datasets.activitynet import VERSIONS

    fetch = " or ".join(f"`tsn fetch {n}`" for n, v in VERSIONS.items() if v == version)
    raise DataError(f"no {name} in {path}; run {fetch or '`tsn fetch`'} or pass --annotations FILE")


def load_activitynet_annotations(folder: str | os.PathLike[str], dataset: str) -> Annotations:
    """Whole-video lists for `tsn lists activitynet`: training videos as train, validation videos
    as val, each labelled with its first annotation's class (the original's label order). A video
    file is `v_<id>.<ext>` or `<id>.<ext>`; videos without annotations are left out. The official
    metrics (`tsn fuse --annotations`) read every label of a video from the JSON itself."""
    from tsncli.specs.datasets.activitynet import VERSIONS

    db = load_activitynet(find_annotation_file(folder, VERSIONS.get(dataset, "1.3")))
    return whole_video_annotations(db, db.classes)


def whole_video_annotations(db: ActivityNet, classes: Sequence[str]) -> Annotations:
    """The annotated training (train) and validation (val) videos of `db` as list entries, each
    labelled with its first annotation's index in `classes`, found as `v_<id>` or `<id>`."""
    from tsncli.lists.annotated import AnnotatedEntry, Annotations

    index = {c: i for i, c in enumerate(classes)}
    subsets = {}
    for subset, ours in (("training", "train"), ("validation", "val")):
        subsets[ours] = [
            AnnotatedEntry(v.video_id, (f"v_{v.video_id}", v.video_id), index[v.labels[0]])
            for v in db.subset_videos(subset)
            if v.instances
        ]
    return Annotations(list(classes), subsets)
