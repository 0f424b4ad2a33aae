"""The on-disk layout every step shares: frame file names (dense_flow's), the frames folder's
settings file, a training run's files and evaluation's score and shard files.

A step never re-types another step's file names; it imports them from here.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from tsncli.errors import DataError

NAME_MAX = 255  # bytes in one file name on Linux file systems


def derived_path(base: str | os.PathLike[str], suffix: str) -> Path:
    """`base` with `suffix` added to its name (`OUT.npz` -> `OUT.npz.shards`), or, when that name
    would pass NAME_MAX bytes (a 252-byte output), its first 200 bytes and a hash of the whole
    derived name before `suffix`: the same output always maps to the same file."""
    base = Path(base)
    name = os.fsencode(base.name + suffix)
    if len(name) <= NAME_MAX:
        return base.with_name(os.fsdecode(name))
    digest = hashlib.sha256(name).hexdigest()[:16]
    return base.with_name(f"{os.fsdecode(name[:200])}-{digest}{suffix}")


# --- frame folders: OUT/<video_id>/ (dense_flow's names, 1-based) ---
RGB_PREFIX = "img_"
FLOW_X_PREFIX = "flow_x_"
FLOW_Y_PREFIX = "flow_y_"
RGB_TEMPLATE = RGB_PREFIX + "{:05d}.jpg"
FLOW_TEMPLATES = (FLOW_X_PREFIX + "{:05d}.jpg", FLOW_Y_PREFIX + "{:05d}.jpg")
# what a list counts per video: rgb images, or flow_x images (one per flow pair)
COUNTED_PREFIX = {"rgb": RGB_PREFIX, "flow": FLOW_X_PREFIX}
LAYOUT_NOTE = "dense_flow: img_%05d.jpg, flow_x_%05d.jpg, flow_y_%05d.jpg (1-based)"
# --- the same frames as dense_flow's zips (its `-o zip`): OUT/<video_id>/img.zip, flow_x.zip,
# flow_y.zip, entries 1-based; readers take either layout, detected per video ---
RGB_ZIP = "img.zip"
FLOW_ZIPS = ("flow_x.zip", "flow_y.zip")
RGB_ENTRY = "img_{:05d}.jpg"
FLOW_ENTRIES = ("x_{:05d}.jpg", "y_{:05d}.jpg")
FRAME_FORMATS = ("dir", "zip")
# a frame file's name prefix in a folder -> (its archive, its entry's prefix there)
_ZIPPED = {
    RGB_PREFIX: (RGB_ZIP, "img_"),
    FLOW_X_PREFIX: (FLOW_ZIPS[0], "x_"),
    FLOW_Y_PREFIX: (FLOW_ZIPS[1], "y_"),
}
ZIP_ENTRY_PREFIXES = {zip_name: entry for zip_name, entry in _ZIPPED.values()}


def zip_entry(frame_file: str) -> tuple[str, str] | None:
    """Where a frame folder's file lives in the zip layout: `img_00005.jpg` -> ("img.zip",
    "img_00005.jpg"), `flow_x_00005.jpg` -> ("flow_x.zip", "x_00005.jpg"); None for a name
    that is not a frame."""
    for prefix, (zip_name, entry_prefix) in _ZIPPED.items():
        if frame_file.startswith(prefix):
            return zip_name, entry_prefix + frame_file[len(prefix) :]
    return None


def frame_file(zip_name: str, entry: str) -> str | None:
    """The inverse of `zip_entry`: ("flow_y.zip", "y_00005.jpg") -> `flow_y_00005.jpg`; None for
    an entry that is not a frame of that archive."""
    for prefix, (name, entry_prefix) in _ZIPPED.items():
        if name == zip_name and entry.startswith(entry_prefix):
            return prefix + entry[len(entry_prefix) :]
    return None


# the archive whose presence marks a modality's frames as zipped: flow_x.zip for flow, so a
# writer renames flow_y.zip before it (and removes it after it)
_MARKER_ZIPS = {"rgb": RGB_ZIP, "flow": FLOW_ZIPS[0]}


def is_zipped(video_dir: str | os.PathLike[str], modality: str) -> bool:
    """Whether one video's `modality` ("rgb" or "flow", as `COUNTED_PREFIX` keys) frames are
    read from its zips: img.zip, or flow_x.zip, is there (one stat)."""
    return os.path.isfile(os.path.join(video_dir, _MARKER_ZIPS[modality]))


def frames_format(video_dir: str | os.PathLike[str], modality: str | None = None) -> str | None:
    """How one video's frames are stored: "zip" when img.zip or flow_x.zip is there, "dir" when
    img_00001.jpg or flow_x_00001.jpg is, else None. With `modality` ("rgb" or "flow") only that
    modality's files are looked at: each archive is written atomically on its own, so a video
    whose img.zip is done while flow_x.zip is not yet (an interrupted `tsn pack`) reads RGB from
    the zip and flow from its files. A zip wins over files: it is complete once it exists,
    while files beside it may be half written."""
    kinds = ("rgb", "flow") if modality is None else (modality,)
    if any(is_zipped(video_dir, kind) for kind in kinds):
        return "zip"
    firsts = {"rgb": RGB_TEMPLATE.format(1), "flow": FLOW_TEMPLATES[0].format(1)}
    if any(os.path.isfile(os.path.join(video_dir, firsts[kind])) for kind in kinds):
        return "dir"
    return None


PACK_FAILED_FILE = "pack_failed.tsv"  # the videos `tsn pack` could not convert, and why
FLOW_CONFIG_FILE = "flow_config.yaml"  # how the frames under OUT were made (FrameSettings)
# `tsn flow --force` writes this (one per shard: `.tsn-flow-force.K-of-N`) before it rewrites
# flow_config.yaml and removes it when every video of the shard was redone; while it exists,
# folders older than it were made with other settings, and readers refuse the tree.
FORCE_MARKER = ".tsn-flow-force"


def force_markers(frames_dir: Path) -> list[Path]:
    """The unfinished `tsn flow --force` markers in a frames folder (any shard)."""
    return sorted(Path(frames_dir).glob(FORCE_MARKER + "*"))


def check_frames_finished(frames_dir: str | Path) -> None:
    """A DataError when an interrupted `tsn flow --force` left `frames_dir` half re-extracted
    (its folders made with two settings): lists, train, eval and predict refuse such a tree."""
    markers = force_markers(Path(frames_dir))
    if markers:
        started = min(m.stat().st_mtime for m in markers)
        with os.scandir(frames_dir) as entries:  # folders older than the --force: old settings
            old = sorted(
                e.name
                for e in entries
                if e.is_dir() and not e.name.startswith(".") and e.stat().st_mtime < started
            )
        which = f"{len(old)} folder(s) still hold the old settings (e.g. {', '.join(old[:3])})"
        raise DataError(
            f"{frames_dir} is half re-extracted: a `tsn flow --force` was interrupted "
            f"({markers[0].name}); {which if old else 'its folders may mix two settings'}; "
            "rerun that `tsn flow` command (without --force) to finish"
        )


# --- a training run's folder ---
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
RUN_CONFIG = "config.yaml"
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
_EPOCH_CHECKPOINT = re.compile(r"epoch_(\d+)\.pt")


def last_checkpoint(run_dir: Path) -> Path:
    """RUN/last.pt: written every epoch, what `--resume` reads."""
    return Path(run_dir) / LAST_CHECKPOINT


def best_checkpoint(run_dir: Path) -> Path:
    """RUN/best.pt: a copy of last.pt from the epoch with the best monitored metric."""
    return Path(run_dir) / BEST_CHECKPOINT


def epoch_checkpoint(run_dir: Path, epoch: int) -> Path:
    """RUN/epoch_XXX.pt (1-based epoch, at least 3 digits): kept with `--keep-last N`."""
    return Path(run_dir) / f"epoch_{epoch:03d}.pt"


def epoch_checkpoints(run_dir: Path) -> list[Path]:
    """The epoch_XXX.pt files in RUN, oldest epoch first."""
    found = [p for p in Path(run_dir).glob("epoch_*.pt") if _EPOCH_CHECKPOINT.fullmatch(p.name)]
    return sorted(found, key=epoch_of_checkpoint)


def epoch_of_checkpoint(path: Path) -> int:
    """The epoch in an epoch_XXX.pt name."""
    match = _EPOCH_CHECKPOINT.fullmatch(Path(path).name)
    if match is None:
        raise ValueError(f"{path} is not named epoch_XXX.pt")
    return int(match.group(1))


# --- evaluation: sharded score files ---
SHARD_RUN_FILE = "run.json"  # the fingerprint of the run a shard folder belongs to


def score_shard_dir(out: str | os.PathLike[str]) -> Path:
    """The folder of `tsn eval --save-scores OUT`'s shards: `OUT.shards`, hashed short when
    that name would not fit."""
    return derived_path(out, ".shards")


def score_shard(shard_dir: Path, start: int) -> Path:
    """One shard's scores: the videos of a list from index `start` on."""
    return Path(shard_dir) / f"shard_{start:07d}.npz"


def score_shards(shard_dir: Path) -> list[Path]:
    """Every shard score file in `shard_dir`, in list order."""
    return sorted(Path(shard_dir).glob("shard_*.npz"))
