"""The core of `tsn lists`: match split entries to frame folders, count frames, write the lists.

Writes `{ds}_{rgb|flow}_{train|val}_split_{k}.txt` (absolute frame folders, 0-based labels),
`{ds}_classes.txt` and the resolved config `{ds}_lists_config.yaml` into the output folder.
With `source="videos"` the lists name video files instead (first line `# tsn-list: kind=videos`,
frame counts from `{ds}_video_index.json`, which `tsn train`/`eval` reuse for keyframes).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsncli.config import resolve_config, save_config
from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import DEFAULT_SIZE, FrameSettings
from tsncli.fsutil import sweep_stale_temps
from tsncli.layout import check_frames_finished
from tsncli.lists.custom_split import read_split_csv, scan_video_root, stratified_split
from tsncli.lists.frame_index import FrameIndex, layout_header
from tsncli.lists.fronts import ListsBuilder
from tsncli.lists.listfile import (
    VideoRecord,
    WrittenFile,
    classes_file_name,
    list_file_name,
    write_classes,
    write_list,
)
from tsncli.lists.matching import match_folders, usable_counts
from tsncli.lists.video_lists import VideoFileFinder
from tsncli.modality import LIST_MODALITIES, Modality, check_list_modalities
from tsncli.progress import ProgressFn
from tsncli.specs.datasets import DATASETS, ucf101
from tsncli.specs.datasets.splitfiles import ParsedSplits
from tsncli.video.files import check_size_options

log = logging.getLogger("tsncli.lists")

SUBSETS = ("train", "val")
SOURCES = ("frames", "videos")


def _as_tuple(value: Any, kind: type) -> tuple | None:
    """`"1,2"`, `[1, 2]`, `1` or None -> a tuple of `kind` (None stays None)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    items = items if isinstance(items, (list, tuple)) else [items]
    return tuple(kind(str(x).strip()) for x in items if str(x).strip())


@dataclass(frozen=True)
class ListsConfig:
    """Options of `tsn lists`; empty paths mean the defaults under `data/<dataset>/`."""

    dataset: str = ucf101.NAME
    frames: str | None = None  # default data/<dataset>/frames
    splits: str | None = None  # default data/<dataset>/splits (where `tsn unpack` puts them)
    out: str = "data"
    split: tuple[int, ...] | None = None  # None = every split the split folder holds
    modality: tuple[Modality, ...] = LIST_MODALITIES  # names are coerced to members
    shuffle: bool = False
    seed: int = 0
    allow_missing: bool = False
    videos: str | None = None  # custom: VIDEO_ROOT/<Class>/<video>
    val_ratio: float = 0.2  # custom, with --videos and no --split-file
    split_file: str | None = None  # custom: CSV video,label,subset
    name: str | None = None  # output file prefix; default the dataset name
    source: str = "frames"  # frames: frame folders (`tsn flow` output); videos: video files
    size: str | None = None  # videos: frame size WxH the loader resizes to (default 340x256)
    short_side: int | None = None  # videos: resize the short side to this instead
    workers: int | None = None  # videos: processes counting frames (default: CPUs, at most 8)
    ignore_rotation: bool = False  # videos: keep rotated videos' stored orientation

    def __post_init__(self) -> None:
        DATASETS.get(self.dataset)  # unknown dataset -> UsageError listing the valid ones
        split = _as_tuple(self.split, int)
        modality = _as_tuple(self.modality, str) or ()
        object.__setattr__(self, "split", split)
        object.__setattr__(self, "modality", check_list_modalities(modality))
        if split is not None and (not split or any(k < 1 for k in split)):
            raise UsageError("--split takes split numbers like 1 or 1,2,3")
        if self.source not in SOURCES:
            raise UsageError(f"--source takes frames or videos; got {self.source}")
        check_size_options(self.size, self.short_side)

    @property
    def prefix(self) -> str:
        return self.name or self.dataset

    @property
    def frames_dir(self) -> Path:
        """Frame folders, or with --source videos the video root (default data/<ds>/videos)."""
        if self.source == "videos":
            return Path(self.frames or self.videos or Path("data") / self.dataset / "videos")
        return Path(self.frames or Path("data") / self.dataset / "frames")

    def list_header(self) -> dict[str, str] | None:
        """The `# tsn-list:` settings of video lists (None for frame lists)."""
        if self.source != "videos":
            return None
        header = {"kind": "videos", "index": f"{self.prefix}_video_index.json"}
        return header | self.frame_settings().header_fields()

    def frame_settings(self) -> FrameSettings:
        """How the loader decodes a video list's videos (size or short side; all frames)."""
        size = None if self.short_side is not None else (self.size or DEFAULT_SIZE)
        return FrameSettings(
            size=size,
            short_side=self.short_side,
            source=self.source,
            ignore_rotation=self.ignore_rotation,
        )

    @property
    def splits_dir(self) -> Path:
        return Path(self.splits or Path("data") / self.dataset / "splits")


@dataclass
class ListsResult:
    """What was written, plus the quirks met on the way."""

    dataset: str
    num_classes: int
    files: list[WrittenFile] = field(default_factory=list)
    dropped: int = 0
    case_matches: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_official_splits(
    dataset: str, folder: str | os.PathLike[str], wanted: list[int] | None = None
) -> ParsedSplits:
    """Parse the split files of a registered dataset (`wanted` None = every split present)."""
    spec = DATASETS.get(dataset)
    if spec.splits is None:
        if spec.annotations is not None:
            raise UsageError(
                f"{dataset} is read from annotation files: `tsn lists {dataset} VIDEOS`"
            )
        raise UsageError(f"{dataset} has no official split files; use `tsn lists custom`")
    parsed = spec.splits.parse(Path(folder), wanted)
    for note in parsed.notes:
        log.info("%s", note)
    return parsed


def load_parsed_splits(config: ListsConfig) -> ParsedSplits:
    """Official splits from the split folder, or a custom dataset's class folders / CSV."""
    if DATASETS.get(config.dataset).official:
        return load_official_splits(config.dataset, config.splits_dir, _list(config.split))
    if config.split not in (None, (1,)):
        raise UsageError("a custom dataset has one split; leave out --split")
    names = list(scan_video_root(config.videos)) if config.videos else None
    if config.split_file:
        return read_split_csv(config.split_file, names)
    if not config.videos:
        raise UsageError("`tsn lists custom` needs --videos VIDEO_ROOT or --split-file CSV")
    return stratified_split(scan_video_root(config.videos), config.val_ratio, config.seed)


def _list(value: tuple[int, ...] | None) -> list[int] | None:
    return None if value is None else list(value)


def _ordered(entries: list, config: ListsConfig, split: int, subset: str) -> list:
    """The official order, or a seeded shuffle shared by the rgb and flow lists."""
    if not config.shuffle:
        return entries
    shuffled = list(entries)
    random.Random(f"{config.seed}:{split}:{subset}").shuffle(shuffled)  # stable str seeding
    return shuffled


def _index_workers(config: ListsConfig) -> int:
    if config.workers is not None:
        return max(1, config.workers)
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, min(8, os.cpu_count() or 1))


def _empty_subset(config: ListsConfig, subset: str, split: int) -> str:
    """Why split `split` has no `subset` videos, by where the split came from."""
    if DATASETS.get(config.dataset).official:
        return (
            f"the split files under {config.splits_dir} list no {subset} videos for split "
            f"{split}; regenerate them or pick another split with --split"
        )
    if config.split_file:
        return f"{config.split_file} lists no {subset} videos; add some to it"
    return (
        f"splitting {config.videos} leaves no {subset} videos: a class with one video keeps it "
        "for training; give each class 2 or more videos, or pass a --split-file"
    )


def build_lists(config: ListsConfig, on_progress: ProgressFn | None = None) -> ListsResult:
    """Write the list files, the classes file and the resolved config; return what was written."""
    parsed = load_parsed_splits(config)
    out = Path(config.out)
    index: FrameIndex | VideoFileFinder
    config_path = out / f"{config.prefix}_lists_config.yaml"
    index_path = out / f"{config.prefix}_video_index.json"
    # what a killed run left beside the files written here (each is written atomically)
    sweep_stale_temps(index_path, config_path, out / classes_file_name(config.prefix))
    if config.source == "videos":
        index = VideoFileFinder(config.frames_dir, index_path)
        ids = [e.video_id for s in parsed.splits.values() for es in s.values() for e in es]
        index.count_all(ids, _index_workers(config), on_progress)
        on_progress = None
    else:
        check_frames_finished(config.frames_dir)
        index = FrameIndex(config.frames_dir)
    found, dropped, case_matches = match_folders(
        parsed, index, config.allow_missing, config.source, on_progress
    )
    frames = {m: usable_counts(m, found, index, config.allow_missing) for m in config.modality}
    lists: dict[Path, list[VideoRecord]] = {}
    layouts: dict[Path, dict[str, str] | None] = {}  # frame lists: dense_flow zips recorded
    for k, subsets in parsed.splits.items():
        for subset in SUBSETS:
            if not subsets[subset]:
                raise DataError(_empty_subset(config, subset, k))
            entries = _ordered(subsets[subset], config, k, subset)
            for modality in config.modality:
                counts = frames[modality]
                records = [
                    VideoRecord(index.path(found[e.video_id]), counts[e.video_id], e.label)
                    for e in entries
                    if e.video_id in counts
                ]
                if not records:
                    raise DataError(f"split {k} {subset} has no videos with {modality} frames")
                path = out / list_file_name(config.prefix, modality, subset, k)
                lists[path] = records
                if isinstance(index, FrameIndex):
                    listed = [found[e.video_id] for e in entries if e.video_id in counts]
                    layouts[path] = layout_header(map(index.counts, listed), modality)
    result = ListsResult(config.prefix, len(parsed.classes), [], dropped, case_matches)
    sweep_stale_temps(*lists)
    for path, records in lists.items():
        header = config.list_header() or layouts.get(path)  # frames: None, a plain TSN list
        write_list(path, records, header=header)
        result.files.append(WrittenFile(str(path), len(records), path.stat().st_size))
    classes = write_classes(out / classes_file_name(config.prefix), parsed.classes)
    result.files.append(WrittenFile(str(classes), len(parsed.classes), classes.stat().st_size))
    if isinstance(index, VideoFileFinder):
        saved_index = index.index.path
        count = len(index.index.entries)
        result.files.append(WrittenFile(str(saved_index), count, saved_index.stat().st_size))
    official = DATASETS.get(config.dataset).official
    resolved = dataclasses.replace(
        config,
        frames=str(index.root),
        splits=os.path.abspath(config.splits_dir) if official else config.splits,
        split=tuple(parsed.splits),
    )
    saved = save_config(resolved, config_path)
    result.files.append(WrittenFile(str(saved), 0, saved.stat().st_size))
    return result


def _resolve_split_lists(overrides: dict[str, Any], config_file: Path | None) -> ListsConfig:
    return resolve_config(
        ListsConfig, section="lists", config_file=config_file, overrides=overrides
    )


# official split files (UCF101, HMDB51, ...) or the user's own videos
SPLIT_LISTS = ListsBuilder("split", _resolve_split_lists, build_lists)
