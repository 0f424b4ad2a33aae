"""`tsn lists activitynet`: training lists of trimmed instances (`path offset num_frames label`,
seconds turned into frames with each video's own rate, clamped to the video), multi-label
validation lists of whole untrimmed videos, and `--classes` label orders; from video files
(`--source videos`: the rate from the video index) or `tsn flow`'s frame folders (`--source
frames`: the rate is the folder's img_ count over the annotation's duration, as MMAction2's
`generate_rawframes_filelist.py` does). Matching, frame counting, the missing file and the
config are `tsncli.lists.annotated`'s.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsncli.config import resolve_config
from tsncli.errors import DataError, UsageError
from tsncli.lists.activitynet import (
    ActivityNet,
    AnetVideo,
    Instance,
    class_order_differences,
    find_annotation_file,
    load_activitynet,
    whole_video_annotations,
)
from tsncli.lists.annotated import (
    AnnotatedListsConfig,
    AnnotatedListsResult,
    LocatedVideos,
    finish_lists,
    locate_frames,
    locate_videos,
    video_records,
    write_subset_list,
)
from tsncli.lists.frame_index import FolderCounts
from tsncli.lists.fronts import ListsBuilder
from tsncli.lists.listfile import MULTILABEL_KEY, OFFSETS_KEY, UNTRIMMED_KEY, VideoRecord
from tsncli.modality import default_new_length, reads_flow
from tsncli.specs.datasets.activitynet import DEFAULT, VERSIONS

if TYPE_CHECKING:
    from tsncli.progress import ProgressFn

log = logging.getLogger("tsncli.lists")

UNITS = ("instances", "videos")  # what a training line is: one annotation, or a whole video
# How seconds become frames, by source (recorded in the list config): a video file's own average
# rate from the video index; a frame folder's img_ count over the annotation's `duration` (tsn
# flow records no rate per video). That duration is the YouTube upload's, so where a download
# differs in length, its instances are off by the difference.
FRAME_RATES = {"videos": "video", "frames": "annotation_duration"}
SOURCES = tuple(FRAME_RATES)
ORIGINAL_ORDER = "original"  # --classes value: anet_db.py's sorted leaves
_EPSILON = 1e-6  # seconds * fps that should be whole numbers come out as 30.000000000000004


@dataclass(frozen=True)
class ActivityNetListsConfig(AnnotatedListsConfig):
    """Options of `tsn lists activitynet` (and activitynet1.2)."""

    dataset: str = DEFAULT
    unit: str = "instances"  # instances: one training line per annotation; videos: per video
    classes: str | None = None  # class-order file (BSN's action_name.csv, ...); None: original
    frame_rate: str | None = None  # None: the source's policy (see FRAME_RATES)
    version: str | None = None  # the annotation file's version; recorded, checked when given
    frames: str | None = None  # --source frames: `tsn flow`'s folder (default data/<ds>/frames)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.unit not in UNITS:
            raise UsageError(f"--unit {self.unit!r}: use one of {', '.join(UNITS)}")
        policy = FRAME_RATES[self.source]
        if self.frame_rate in (None, ""):
            object.__setattr__(self, "frame_rate", policy)
        elif self.frame_rate != policy:
            raise UsageError(
                f"frame_rate {self.frame_rate!r}: --source {self.source} takes {policy} (see "
                "docs/activitynet.md); leave frame_rate out of the config"
            )

    def _check_source(self) -> None:
        if self.source not in SOURCES:
            raise UsageError(f"--source takes {' or '.join(SOURCES)}; got {self.source}")

    @property
    def frames_dir(self) -> Path:
        return Path(self.frames or Path("data") / self.dataset / "frames")

    def list_header(self) -> dict[str, str]:
        """Frame-folder lists say so (`kind=frames`); the frames' settings are the folder's
        flow_config.yaml, which train and eval read. Video lists: see the base class."""
        return {"kind": "frames"} if self.source == "frames" else super().list_header()


@dataclass
class ActivityNetListsResult(AnnotatedListsResult):
    """What `build_activitynet_lists` wrote, with the instance counts: how many spans were cut
    to their video, and how many per list were too short for one snippet and left out."""

    unit: str = "instances"
    instances: int = 0  # annotations of present training videos
    clamped: int = 0
    too_short: dict[str, int] = field(default_factory=dict)  # modality -> instances left out
    class_differences: list[str] = field(default_factory=list)  # vs the original order


def load_class_order(path: str | os.PathLike[str]) -> list[str]:
    """Class names in label order from `path`: a CSV (`.csv`, e.g. BSN's `action_name.csv`) by
    its `action` column, else its first, after the header row; a tsn classes file (`<index>
    <name>` lines) by its names; any other file one name per line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read the class order {p} ({exc}); pass an existing file") from None
    if p.suffix.lower() == ".csv":
        rows = [row for row in csv.reader(text.splitlines()) if row and any(c.strip() for c in row)]
        if not rows:
            raise DataError(f"{p} holds no classes; expected a header row and one row per class")
        header = [c.strip() for c in rows[0]]
        column = header.index("action") if "action" in header else 0
        names = [row[column].strip() for row in rows[1:] if len(row) > column]
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        numbered = [line.partition(" ") for line in lines]
        if lines and [n for n, _, _ in numbered] == [str(i) for i in range(len(lines))]:
            names = [name.strip() for _, _, name in numbered]  # `tsn lists`' classes file
        else:
            names = lines
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{p} names {', '.join(map(repr, repeated[:5]))} more than once")
    if not names:
        raise DataError(f"{p} holds no classes; expected one class name per line")
    return names


def resolve_class_order(db: ActivityNet, classes: str | None) -> tuple[list[str], list[str]]:
    """(class names in label order, how they differ from the original's): the original order
    unless `classes` names a file, which must hold every class of the annotation file."""
    if classes in (None, "", ORIGINAL_ORDER):
        return list(db.classes), []
    given = load_class_order(classes)
    absent = [c for c in db.classes if c not in set(given)]
    if absent:
        shown = ", ".join(map(repr, absent[:5])) + (" ..." if len(absent) > 5 else "")
        raise DataError(
            f"--classes {classes} lacks {len(absent)} class(es) of the annotation file "
            f"({shown}); name every class, or leave out --classes for the original order"
        )
    return given, class_order_differences(db.classes, given)


def instance_frames(instance: Instance, fps: float, num_frames: int) -> tuple[int, int, bool]:
    """(offset, frames, clamped): the frames k (0-based) shown inside the span, start <= k / fps
    < end, cut to the video's `num_frames`; `clamped` when the span reached outside it."""
    first = math.ceil(instance.start * fps - _EPSILON)
    stop = math.ceil(instance.end * fps - _EPSILON)
    clamped = first < 0 or stop > num_frames or first > num_frames
    first = min(max(first, 0), num_frames)
    stop = min(max(stop, first), num_frames)
    return first, stop - first, clamped


@dataclass(frozen=True)
class InstanceSpan:
    """One training instance placed in its video's frames."""

    path: str
    offset: int
    frames: int
    label: int
    counts: FolderCounts | None = None  # a frame folder's files (None: a video file)


def _frame_rates(located: LocatedVideos, videos: Sequence[AnetVideo]) -> dict[str, float]:
    """video id -> the frame rate of the present `videos`: what the index read from the file,
    or a frame folder's frames over the annotation's duration (frames `tsn flow --step S` kept
    are counted, so their rate is already the kept frames'); the ones without a usable rate
    join the missing (instances cannot be placed in them)."""
    rates = {}
    for video in videos:
        found = located.listed.get(video.video_id)
        if found is None:
            continue
        if located.index is None:
            fps = found[1] / video.duration if video.duration > 0 else 0.0
            reason = "no duration in the annotation file"
        else:
            fps = float(located.index.entries[found[0]].fps or 0.0)
            reason = "no frame rate in the video index"
        if math.isfinite(fps) and fps > 0:
            rates[video.video_id] = fps
        else:
            located.missing.append(("train", video.video_id, reason))
    return rates


def _instance_spans(
    located: LocatedVideos, videos: Sequence[AnetVideo], labels: dict[str, int]
) -> tuple[list[InstanceSpan], int]:
    """The instances of the present `videos` in frames, and how many were clamped."""
    rates = _frame_rates(located, videos)
    spans, clamped = [], 0
    for video in videos:
        if video.video_id not in rates:
            continue
        path, num_frames = located.listed[video.video_id]
        counts = None if located.counts is None else located.counts[video.video_id]
        for instance in video.instances:
            offset, frames, cut = instance_frames(instance, rates[video.video_id], num_frames)
            clamped += cut
            spans.append(InstanceSpan(path, offset, frames, labels[instance.label], counts))
    return spans, clamped


def instance_records(spans: Sequence[InstanceSpan], modality: str) -> tuple[list[VideoRecord], int]:
    """Offset lines of `spans` for `modality` (flow: one field fewer than frames, as for whole
    videos; a frame folder's span also ends at its last file of `modality`) and how many were
    left out for holding fewer frames than one snippet reads."""
    less = 1 if reads_flow(modality) else 0
    need = default_new_length(modality)
    records = []
    for s in spans:
        frames = s.frames - less
        if s.counts is not None:
            frames = min(frames, s.counts.frames(modality) - s.offset)
        if frames >= need:
            records.append(VideoRecord(s.path, frames, s.label, s.offset))
    return records, len(spans) - len(records)


def multilabel_records(
    located: LocatedVideos, videos: Sequence[AnetVideo], labels: dict[str, int], modality: str
) -> list[VideoRecord]:
    """One line per present annotated video with every distinct label, in annotation order."""
    records = []
    for video in videos:
        found = located.usable(video.video_id, modality)
        if found is None or not video.instances or found[1] < 1:
            continue
        ids = tuple(labels[name] for name in video.labels)
        records.append(VideoRecord(found[0], found[1], ids[0], 0, ids))
    return records


def build_activitynet_lists(
    config: ActivityNetListsConfig, on_progress: ProgressFn | None = None
) -> ActivityNetListsResult:
    """Read the annotation file, find and count the videos, and write the lists (see the module
    doc): train by `config.unit`, val multi-label and marked untrimmed."""
    version = VERSIONS.get(config.dataset, "1.3")
    db = load_activitynet(find_annotation_file(config.annotations_dir, version))
    if config.version not in (None, "", db.version):
        raise DataError(
            f"the lists config was made from {config.version!r} annotations, but "
            f"{config.annotations_dir} holds {db.version!r}; pass the matching --annotations"
        )
    classes, differences = resolve_class_order(db, config.classes)
    if differences:
        log.warning(
            "the class order of %s differs from the original (anet_db.py) in %d place(s); "
            "models trained on these lists use it",
            config.classes,
            len(differences),
        )
    labels = {c: i for i, c in enumerate(classes)}
    annotations = whole_video_annotations(db, classes)
    if config.source == "frames":
        located = locate_frames(config.frames_dir, annotations)
    else:
        located = locate_videos(config, annotations, on_progress)
    result = ActivityNetListsResult(
        config.prefix, len(classes), unit=config.unit, class_differences=differences
    )
    training = [v for v in db.subset_videos("training") if v.instances]
    validation = [v for v in db.subset_videos("validation") if v.instances]
    spans: list[InstanceSpan] = []
    if config.unit == "instances":
        spans, result.clamped = _instance_spans(located, training, labels)
        result.instances = len(spans)
        if config.shuffle:
            random.Random(f"{config.seed}:1:train").shuffle(spans)
    train_entries = list(annotations.subsets["train"])
    if config.shuffle:
        random.Random(f"{config.seed}:1:train").shuffle(train_entries)
    for modality in config.modality:
        if config.unit == "instances":
            records, result.too_short[modality.value] = instance_records(spans, modality)
            header = {OFFSETS_KEY: "1"}
        else:
            records, header = video_records(train_entries, located, modality), {}
        write_subset_list(config, located, result, "train", modality, records, header)
        val = multilabel_records(located, validation, labels, modality)
        if config.shuffle:
            random.Random(f"{config.seed}:1:val").shuffle(val)
        header = {UNTRIMMED_KEY: "1", MULTILABEL_KEY: "1"}
        write_subset_list(config, located, result, "val", modality, val, header)
    if result.clamped:
        log.warning(
            "%d of %d training instances reach outside their video and were cut to it",
            result.clamped,
            result.instances,
        )
    original = config.classes in (None, "", ORIGINAL_ORDER)
    order = ORIGINAL_ORDER if original else os.path.abspath(str(config.classes))
    where = {"frames": str(located.root)} if config.source == "frames" else {}
    finish_lists(config, classes, located, result, classes=order, version=db.version, **where)
    return result


def _resolve_activitynet_lists(
    overrides: dict[str, Any], config_file: Path | None
) -> ActivityNetListsConfig:
    overrides = dict(overrides)
    folder = overrides.pop("frames", None)  # video files, or frame folders: --source says
    cfg = resolve_config(
        ActivityNetListsConfig, section="lists", config_file=config_file, overrides=overrides
    )
    if folder is not None:
        where = "frames" if cfg.source == "frames" else "videos"
        cfg = dataclasses.replace(cfg, **{where: str(folder)})
    return cfg


# trimmed training instances and untrimmed, multi-label validation videos
ACTIVITYNET_LISTS = ListsBuilder(
    "ActivityNet",
    _resolve_activitynet_lists,
    build_activitynet_lists,
    options=("unit", "classes"),
)
