"""`tsn unpack DATASET` core: archives -> `DEST/videos/<Class>/<video>.avi` + `DEST/splits/`.

Which datasets it knows, and how many videos and classes a complete copy holds, comes from the
dataset registry (`tsncli.specs.datasets`); the split files are read with the dataset's parser.
Archives are told apart by content (videos, inner RARs, or split .txt files), so renamed files
work. HMDB51's outer RAR is unpacked once, then each inner RAR is unpacked and deleted, so an
interrupted run resumes with the classes left. `videos/` and `splits/` appear only when complete.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tsncli.acquire.archives import extract_archive, list_member_names
from tsncli.acquire.catalog import get_entry
from tsncli.errors import DataError, TsnError, UsageError
from tsncli.progress import ProgressFn, Tracker
from tsncli.specs.datasets import DATASETS, unpackable_datasets

log = logging.getLogger("tsncli.unpack")

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".webm")
DONE_MARKER = ".tsn-unpacked"


@dataclass
class UnpackSummary:
    """What `unpack_dataset` found and did."""

    dataset: str
    dest: Path
    videos: int = 0
    classes: int = 0
    splits: int = 0
    skipped: list[str] = field(default_factory=list)  # "videos" / "splits" already complete
    warnings: list[str] = field(default_factory=list)


def default_archives(dataset: str, dest: Path) -> list[Path]:
    """The catalog's archive files for `dataset` found in `dest` (where `tsn fetch` puts them)."""
    found = [dest / f.filename for f in get_entry(dataset).files if (dest / f.filename).is_file()]
    if not found:
        raise DataError(
            f"no {dataset} archives in {dest}; run `tsn fetch {dataset}` first, "
            f"or pass the archive paths: `tsn unpack {dataset} ARCHIVE...`"
        )
    return found


def classify_archive(archive: Path) -> str:
    """`videos` (videos or inner RARs inside) or `splits` (.txt files inside)."""
    names = [n.lower() for n in list_member_names(archive)]
    if any(n.endswith(VIDEO_SUFFIXES) or n.endswith(".rar") for n in names):
        return "videos"
    if any(n.endswith(".txt") for n in names):
        return "splits"
    raise DataError(
        f"{archive} holds neither videos nor split .txt files; is it the right archive?"
    )


def _collect(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))


def _move_videos(root: Path, staging: Path) -> int:
    """Move every video under `root` to `staging/<its folder name>/<name>`."""
    moved = 0
    for video in _collect(root, VIDEO_SUFFIXES):
        if video.parent == root:
            raise DataError(f"video {video.name} is not inside a class folder in its archive")
        target = staging / video.parent.name / video.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(video, target)
        moved += 1
    return moved


def _finish(staging: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    (final.parent / f"{DONE_MARKER}-{final.name}").write_text("complete\n", encoding="utf-8")


def _is_done(dest: Path, part: str) -> bool:
    return (dest / part).is_dir() and (dest / f"{DONE_MARKER}-{part}").is_file()


def _unpack_videos(
    archives: list[Path], dest: Path, work: Path, on_progress: ProgressFn | None
) -> None:
    staging = dest / ".videos.partial"
    staging.mkdir(parents=True, exist_ok=True)
    for archive in archives:
        outer = work / archive.name
        extract_archive(archive, outer, on_progress=on_progress)
        inner = _collect(outer, (".rar",))  # HMDB51: one RAR per class
        tracker = Tracker(on_progress, "inner archives", len(inner))
        for i, rar in enumerate(inner, 1):
            into = work / "inner" / rar.stem
            extract_archive(rar, into)
            _move_videos(into, staging)
            rar.unlink()  # the inner RARs are not kept; a rerun continues with the rest
            shutil.rmtree(into)
            tracker.update(i)
        _move_videos(outer, staging)
    _finish(staging, dest / "videos")


def _unpack_splits(archives: list[Path], dest: Path, work: Path) -> None:
    staging = dest / ".splits.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for archive in archives:
        into = work / archive.name
        extract_archive(archive, into)
        for text in _collect(into, (".txt",)):
            os.replace(text, staging / text.name)  # flattened: the official names are unique
    _finish(staging, dest / "splits")


def split_video_paths(dataset: str, splits: Path) -> set[str]:
    """Every video the official split files name, as lower-case `<Class>/<video>` paths.

    Each split is parsed on its own, so split files that disagree on their classes (a partial
    extra archive) still name their videos.
    """
    split_format = DATASETS.get(dataset).splits
    assert split_format is not None  # unpackable datasets have official split files
    named = set()
    for k in split_format.split_numbers(splits):
        parsed = split_format.parse(splits, [k])
        for entry in parsed.named_entries():
            named.add(f"{parsed.classes[entry.label]}/{entry.file_name}".lower())
    return named


def check_unpacked(dataset: str, dest: Path) -> UnpackSummary:
    """Count videos and classes under `dest/videos` and compare with the official numbers."""
    summary = UnpackSummary(dataset, dest)
    videos = dest / "videos"
    classes = [d for d in videos.iterdir() if d.is_dir()] if videos.is_dir() else []
    summary.classes = len(classes)
    summary.videos = sum(len(_collect(d, VIDEO_SUFFIXES)) for d in classes)
    splits = dest / "splits"
    summary.splits = len(list(splits.glob("*.txt"))) if splits.is_dir() else 0
    if videos.is_dir() and summary.splits:
        on_disk = {f"{d.name}/{v.name}".lower() for d in classes for v in d.iterdir()}
        try:
            missing = sorted(split_video_paths(dataset, splits) - on_disk)
        except TsnError as exc:  # unreadable split files: the count check below still runs
            missing = []
            summary.warnings.append(f"cannot read the split files in {splits}: {exc}")
        if missing:
            summary.warnings.append(
                f"{len(missing)} videos named in {splits} are not under {videos} "
                f"(first: {missing[0]}); unpack the complete video archive"
            )
    counts = DATASETS.get(dataset).unpack
    assert counts is not None  # checked by unpack_dataset
    want_videos, want_classes = counts.videos, counts.classes
    if (summary.videos, summary.classes) != (want_videos, want_classes):
        summary.warnings.append(
            f"found {summary.videos} videos in {summary.classes} classes under {videos}; "
            f"official {dataset} has {want_videos} in {want_classes} (incomplete archive?)"
        )
    return summary


def unpack_dataset(
    dataset: str,
    archives: Sequence[str | os.PathLike[str]] | None = None,
    dest: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    on_progress: ProgressFn | None = None,
) -> UnpackSummary:
    """Unpack a dataset's archives into `dest` (default `data/<dataset>`) and check counts.

    Finished parts (`videos/`, `splits/`) are skipped unless `force`. Progress: one task per
    video archive (members), then `inner archives` (HMDB51's per-class RARs).
    """
    known = unpackable_datasets()
    if dataset not in known:
        raise UsageError(f"unknown dataset {dataset!r}; use one of: {', '.join(known)}")
    dest = Path(dest) if dest is not None else Path("data") / dataset
    paths = [Path(a) for a in archives] if archives else default_archives(dataset, dest)
    groups: dict[str, list[Path]] = {"videos": [], "splits": []}
    for path in paths:
        groups[classify_archive(path)].append(path)
    work = dest / ".unpack-work"
    skipped = []
    for part, unpack in (("videos", _unpack_videos), ("splits", _unpack_splits)):
        if not groups[part]:
            continue
        if _is_done(dest, part) and not force:
            skipped.append(part)
            continue
        if (dest / part).exists() and not force:  # not made by tsn unpack: never replace it
            raise DataError(
                f"{dest / part} exists and was not made by `tsn unpack`; move it away, or pass "
                "--force to replace it"
            )
        if force:
            shutil.rmtree(work / "inner", ignore_errors=True)
            for archive in groups[part]:
                shutil.rmtree(work / archive.name, ignore_errors=True)
        args = (groups[part], dest, work) + ((on_progress,) if part == "videos" else ())
        unpack(*args)
    shutil.rmtree(work, ignore_errors=True)
    summary = check_unpacked(dataset, dest)
    summary.skipped = skipped
    for warning in summary.warnings:
        log.warning("%s", warning)
    return summary
