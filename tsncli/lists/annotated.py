"""Video lists for datasets shipped as annotation files (Kinetics CSVs, Something-Something JSON).

Writes `{ds}_{rgb|flow}_{train|val}_split_1.txt` (video lists, `# tsn-list: kind=videos`),
`{ds}_classes.txt`, `{ds}_missing.txt` (videos not found or unreadable: counted, not fatal),
`{ds}_video_index.json` (frame counts, reused by train/eval) and `{ds}_lists_config.yaml`.
Its steps (`locate_videos`, `write_subset_list`, `finish_lists`) also build ActivityNet's lists
(`tsncli.lists.activitynet_lists`), which may also name frame folders (`locate_frames`).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tsncli.config import resolve_config, save_config
from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import DEFAULT_SIZE, FrameSettings
from tsncli.fsutil import atomic_write_text, sweep_stale_temps
from tsncli.layout import check_frames_finished
from tsncli.lists.frame_index import FolderCounts, FrameIndex, layout_header
from tsncli.lists.fronts import ListsBuilder
from tsncli.lists.listfile import (
    VideoRecord,
    WrittenFile,
    classes_file_name,
    list_file_name,
    write_classes,
    write_list,
)
from tsncli.lists.video_tree import VideoTree
from tsncli.modality import LIST_MODALITIES, Modality, check_list_modalities, reads_flow
from tsncli.specs.datasets import DATASETS
from tsncli.specs.datasets.kinetics import DEFAULT as DEFAULT_KINETICS
from tsncli.video.files import check_size_options
from tsncli.video.index import VideoIndex

if TYPE_CHECKING:  # the progress protocol is only a type here
    from tsncli.progress import ProgressFn

log = logging.getLogger("tsncli.lists")

SUBSETS = ("train", "val")


class AnnotatedEntry(NamedTuple):  # a tuple: 240k of them are built per Kinetics read
    """One annotated video: an id for reports, the file stems it may have, its 0-based label."""

    video_id: str
    stems: tuple[str, ...]
    label: int


@dataclass
class Annotations:
    """Class names in label order and the train/val entries read from annotation files."""

    classes: list[str]
    subsets: dict[str, list[AnnotatedEntry]] = field(default_factory=dict)


@dataclass(frozen=True)
class AnnotatedListsConfig:
    """Options of `tsn lists DATASET` for datasets read from annotation files."""

    dataset: str = DEFAULT_KINETICS
    videos: str | None = None  # default data/<dataset>/videos
    annotations: str | None = None  # default data/<dataset>/annotations
    out: str = "data"
    name: str | None = None
    modality: tuple[Modality, ...] = LIST_MODALITIES  # names are coerced to members
    source: str = "videos"  # the only source: nobody extracts frames for 240k videos
    shuffle: bool = False
    seed: int = 0
    size: str | None = None  # frame size WxH the loader resizes to (default 340x256)
    short_side: int | None = None
    workers: int | None = None  # processes counting frames (default: CPUs, at most 8)
    ignore_rotation: bool = False  # keep rotated videos' stored orientation

    def __post_init__(self) -> None:
        modality = self.modality
        if isinstance(modality, str):
            modality = tuple(m.strip() for m in modality.split(",") if m.strip())
        object.__setattr__(self, "modality", check_list_modalities(tuple(modality)))
        self._check_source()
        check_size_options(self.size, self.short_side)

    def _check_source(self) -> None:
        """Only video files: nobody extracts frames for Kinetics' 240k videos."""
        if self.source != "videos":
            raise UsageError(
                f"{self.dataset} lists name video files (frames are decoded while training); "
                "leave out --source or pass --source videos"
            )

    @property
    def prefix(self) -> str:
        return self.name or self.dataset

    @property
    def videos_dir(self) -> Path:
        return Path(self.videos or Path("data") / self.dataset / "videos")

    @property
    def annotations_dir(self) -> Path:
        return Path(self.annotations or Path("data") / self.dataset / "annotations")

    def list_header(self) -> dict[str, str]:
        size = None if self.short_side is not None else (self.size or DEFAULT_SIZE)
        settings = FrameSettings(
            size=size,
            short_side=self.short_side,
            source="videos",
            ignore_rotation=self.ignore_rotation,
        )
        header = {"kind": "videos", "index": f"{self.prefix}_video_index.json"}
        return header | settings.header_fields()


@dataclass
class AnnotatedListsResult:
    """What was written and how many annotated videos were left out (and why, in the file)."""

    dataset: str
    num_classes: int
    files: list[WrittenFile] = field(default_factory=list)
    dropped: int = 0
    missing_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _workers(config: AnnotatedListsConfig) -> int:
    if config.workers is not None:
        return max(1, config.workers)
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, min(8, os.cpu_count() or 1))


def match_videos(
    annotations: Annotations, tree: VideoTree
) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """video id -> path for the entries found, and (subset, video id, reason) for the rest."""
    found: dict[str, str] = {}
    missing: list[tuple[str, str, str]] = []
    paths = tree.paths
    for subset in SUBSETS:
        for video_id, stems, _label in annotations.subsets.get(subset, []):
            for stem in stems:  # tree.find(*stems), inlined: one call per row adds up
                path = paths.get(stem)
                if path is not None:
                    found[video_id] = path
                    break
            else:
                missing.append((subset, video_id, "no video file"))
    return found, missing


def _count_frames(
    found: dict[str, str], tree: VideoTree, index: VideoIndex, workers: int,
    on_progress: ProgressFn | None,
) -> tuple[dict[str, tuple[str, int]], dict[str, str]]:  # fmt: skip
    """video id -> (path, frames) for readable videos; video id -> error for unreadable ones."""
    paths = list(found.values())  # the scan's stat says whether an index entry is fresh
    _paths, errors = index.update(paths, workers, on_progress, stats=tree.stats)
    frames = index.frame_counts(paths)  # no entry decoded: only the counts are listed
    listed: dict[str, tuple[str, int]] = {}
    failed: dict[str, str] = {}
    for video_id, path, n in zip(found, paths, frames, strict=True):
        if n is not None:
            listed[video_id] = (path, n)
        else:
            failed[video_id] = errors.get(path, "unreadable")
    return listed, failed


def _write_missing(path: Path, missing: list[tuple[str, str, str]]) -> Path:
    """`# <n> annotated videos left out` then `<subset> <video id> <reason>` per line."""
    lines = [f"# {len(missing)} annotated videos left out (not found or unreadable)\n"]
    lines += [
        f"{subset} {video_id} {' '.join(reason.split())}\n" for subset, video_id, reason in missing
    ]
    atomic_write_text(path, "".join(lines))
    return path


@dataclass
class LocatedVideos:
    """The annotated videos found under the video folder and counted by the video index (or,
    from `locate_frames`, their frame folders and counts), and the ones left out:
    `(subset, video id, reason)`, not found or unreadable."""

    root: Path
    index: VideoIndex | None  # None for frame folders
    listed: dict[str, tuple[str, int]]  # video id -> (path, decodable or img_ frames)
    missing: list[tuple[str, str, str]]
    annotated: int  # entries read from the annotation files
    counts: dict[str, FolderCounts] | None = None  # frame folders: video id -> their counts

    def usable(self, video_id: str, modality: str) -> tuple[str, int] | None:
        """(path, frames a `modality` list counts) for a listed video: a video of N frames is
        N rgb frames and N - 1 flow fields (computed on the fly); a frame folder holds its
        img_ and flow_x_ files (as the split-file lists count them). None when not listed."""
        found = self.listed.get(video_id)
        if found is None:
            return None
        if self.counts is not None:
            return found[0], self.counts[video_id].frames(modality)
        return found[0], found[1] - (1 if reads_flow(modality) else 0)


def video_records(
    entries: list[AnnotatedEntry], located: LocatedVideos, modality: str
) -> list[VideoRecord]:
    """A whole-video line per listed entry holding at least one frame of `modality`."""
    records = []
    for video_id, _stems, label in entries:
        found = located.usable(video_id, modality)
        if found is not None and found[1] >= 1:
            records.append(VideoRecord(found[0], found[1], label))
    return records


def locate_videos(
    config: AnnotatedListsConfig,
    annotations: Annotations,
    on_progress: ProgressFn | None = None,
) -> LocatedVideos:
    """Match `annotations` to the video tree and count frames with the video index (built in
    parallel, reused when fresh); DataError when none of the videos is there."""
    tree = VideoTree(config.videos_dir)
    found, missing = match_videos(annotations, tree)
    if not found:
        raise DataError(
            f"none of the {len(missing)} annotated videos is under {tree.root} (first: "
            f"{missing[0][1] if missing else '-'}); pass the folder holding the videos"
        )
    index_path = Path(config.out) / f"{config.prefix}_video_index.json"
    sweep_stale_temps(index_path)  # what a killed run left (every lists file is written atomically)
    index = VideoIndex(index_path)
    listed, failed = _count_frames(found, tree, index, _workers(config), on_progress)
    for subset in SUBSETS:
        missing += [
            (subset, e.video_id, failed[e.video_id])
            for e in annotations.subsets.get(subset, [])
            if e.video_id in failed
        ]
    annotated = sum(len(v) for v in annotations.subsets.values())
    return LocatedVideos(tree.root, index, listed, missing, annotated)


def locate_frames(root: str | os.PathLike[str], annotations: Annotations) -> LocatedVideos:
    """Match `annotations` to the frame folders `root/<stem>/` that `tsn flow` wrote (a stem
    exactly: YouTube ids differ by case) and count their img_ and flow_x_ files; DataError
    when none is there, or when an interrupted `tsn flow --force` left the tree half redone."""
    check_frames_finished(root)
    index = FrameIndex(root)
    listed: dict[str, tuple[str, int]] = {}
    counts: dict[str, FolderCounts] = {}
    missing: list[tuple[str, str, str]] = []
    for subset in SUBSETS:
        for video_id, stems, _label in annotations.subsets.get(subset, []):
            name = next((stem for stem in stems if index.find(stem) == stem), None)
            if name is None:
                missing.append((subset, video_id, "no frame folder"))
                continue
            found = index.counts(name)
            # the frames read: img_ files, else (a flow-only tree) one more than the fields
            frames = found.img or (found.flow_x + 1 if found.flow_x else 0)
            if frames == 0:
                missing.append((subset, video_id, f"no img_ or flow_x_ files in {name}"))
                continue
            listed[video_id] = (index.path(name), frames)
            counts[video_id] = found
    if not listed:
        raise DataError(
            f"none of the {len(missing)} annotated videos has a frame folder under "
            f"{index.root} (first: {missing[0][1] if missing else '-'}); pass the folder "
            "`tsn flow` wrote"
        )
    annotated = sum(len(v) for v in annotations.subsets.values())
    return LocatedVideos(index.root, None, listed, missing, annotated, counts)


def write_subset_list(
    config: AnnotatedListsConfig,
    located: LocatedVideos,
    result: AnnotatedListsResult,
    subset: str,
    modality: str,
    records: list[VideoRecord],
    header: dict[str, str] | None = None,
) -> Path:
    """Write one `{prefix}_{modality}_{subset}_split_1.txt` (config.list_header() plus `header`)
    and add it to `result`; DataError naming the missing file when `records` is empty."""
    out = Path(config.out)
    if not records:
        raise DataError(
            f"no readable {subset} video of {config.dataset} under {located.root}; "
            f"see {out / (config.prefix + '_missing.txt')}"
        )
    path = out / list_file_name(config.prefix, modality, subset, 1)
    sweep_stale_temps(path)
    full = config.list_header() | (header or {})
    if located.counts is not None:  # frame folders (ActivityNet's): record dense_flow zips
        counted = {path: located.counts[v] for v, (path, _) in located.listed.items()}
        full |= layout_header((counted[r.path] for r in records), modality) or {}
    path = write_list(path, records, header=full)
    result.files.append(WrittenFile(str(path), len(records), path.stat().st_size))
    return path


def finish_lists(
    config: AnnotatedListsConfig,
    class_names: list[str],
    located: LocatedVideos,
    result: AnnotatedListsResult,
    **resolved: Any,
) -> AnnotatedListsResult:
    """Write the classes file, the missing file, the video index (if any, and not saved yet)
    and the resolved config (`config` with the folders made absolute and the `resolved`
    fields; frame folders' root is the caller's to resolve)."""
    out = Path(config.out)
    missing = located.missing
    sweep_stale_temps(
        *(out / f"{config.prefix}_{name}" for name in ("missing.txt", "lists_config.yaml")),
        out / classes_file_name(config.prefix),
    )
    written = write_classes(out / classes_file_name(config.prefix), class_names)
    result.files.append(WrittenFile(str(written), len(class_names), written.stat().st_size))
    missing_path = _write_missing(out / f"{config.prefix}_missing.txt", missing)
    result.files.append(WrittenFile(str(missing_path), len(missing), missing_path.stat().st_size))
    result.missing_file = str(missing_path)
    result.dropped = len(missing)
    if missing:
        log.warning(
            "%d of %d annotated videos left out (not found or unreadable); listed in %s",
            len(missing),
            located.annotated,
            missing_path,
        )
    index = located.index
    if index is not None:
        if not index.path.is_file():
            index.save()
        size = index.path.stat().st_size
        result.files.append(WrittenFile(str(index.path), len(index.entries), size))
        resolved = {"videos": str(located.root), **resolved}
    full = dataclasses.replace(
        config, annotations=os.path.abspath(config.annotations_dir), **resolved
    )
    saved = save_config(full, out / f"{config.prefix}_lists_config.yaml")
    result.files.append(WrittenFile(str(saved), 0, saved.stat().st_size))
    return result


def build_annotated_lists(
    config: AnnotatedListsConfig,
    annotations: Annotations,
    on_progress: ProgressFn | None = None,
) -> AnnotatedListsResult:
    """Match `annotations` to the video tree, count frames, write lists; see the module doc."""
    located = locate_videos(config, annotations, on_progress)
    result = AnnotatedListsResult(config.prefix, len(annotations.classes))
    for subset in SUBSETS:
        entries = annotations.subsets.get(subset, [])
        if config.shuffle:
            entries = list(entries)
            random.Random(f"{config.seed}:1:{subset}").shuffle(entries)
        for modality in config.modality:
            records = video_records(entries, located, modality)
            write_subset_list(config, located, result, subset, modality, records)
    return finish_lists(config, annotations.classes, located, result)


def is_annotated(dataset: str) -> bool:
    """True for registered datasets read from annotation files rather than split files."""
    return dataset in DATASETS and DATASETS.get(dataset).annotations is not None


def load_annotations(dataset: str, folder: str | os.PathLike[str]) -> Annotations:
    """Read a dataset's annotation files with the reader its spec names ("module:function")."""
    reference = DATASETS.get(dataset).annotations
    if reference is None:
        raise UsageError(f"{dataset} has no annotation files; `tsn lists {dataset}` reads splits")
    module, _, function = reference.partition(":")
    read = getattr(importlib.import_module(module), function)
    return read(Path(folder), dataset)


def build_lists_from_annotations(
    config: AnnotatedListsConfig, on_progress: ProgressFn | None = None
) -> AnnotatedListsResult:
    """Read the dataset's annotation files, then write its video lists (see the module doc)."""
    annotations = load_annotations(config.dataset, config.annotations_dir)
    return build_annotated_lists(config, annotations, on_progress)


def _resolve_annotated_lists(
    overrides: dict[str, Any], config_file: Path | None
) -> AnnotatedListsConfig:
    overrides = dict(overrides)
    if "frames" in overrides:  # FRAMES names the folder of video files here
        overrides["videos"] = overrides.pop("frames")
    return resolve_config(
        AnnotatedListsConfig, section="lists", config_file=config_file, overrides=overrides
    )


# Kinetics, Something-Something V2: video lists from the annotation files
ANNOTATED_LISTS = ListsBuilder("annotation", _resolve_annotated_lists, build_lists_from_annotations)
