"""`tsn pack`: convert a frames tree between dense_flow's two layouts, one JPEG file per frame
(`dir`) or img.zip, flow_x.zip, flow_y.zip per video (`zip`), video by video, the same bytes.

In place (no OUT), the new form is written beside the old one and read back entry by entry
before the old one is removed; each archive is complete under its name or absent, and while
an archive exists readers take it, so a killed run leaves every video readable and a rerun
finishes it. Into OUT, each video is built in a temporary folder and renamed when verified.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tsncli.errors import DataError, TsnError, UsageError
from tsncli.flow.batch import STORAGE_ERRNOS, OutOfSpaceError, lock_file_name
from tsncli.flow.sinks import frame_format
from tsncli.frame_settings import FrameSettings, read_settings_file, save_frame_settings
from tsncli.framezip import ZipFrameReader, ZipFrameWriter
from tsncli.fsutil import atomic_dir, atomic_write_text, fsync_path, sweep_stale_temps
from tsncli.layout import (
    FLOW_CONFIG_FILE,
    FLOW_X_PREFIX,
    FLOW_Y_PREFIX,
    FLOW_ZIPS,
    FRAME_FORMATS,
    PACK_FAILED_FILE,
    RGB_PREFIX,
    RGB_ZIP,
    ZIP_ENTRY_PREFIXES,
    frame_file,
    zip_entry,
)
from tsncli.locks import hold_lock
from tsncli.parallel import ByName, run_pool
from tsncli.progress import ProgressFn, Tracker

log = logging.getLogger("tsncli.flow.pack")

# A video's frames in two groups, each (file prefix, archive) in writing order. flow_x.zip is
# what marks a video's flow as zipped (`layout.is_zipped`), so flow_y.zip is written before
# it and removed after it: readers never see flow_x.zip without flow_y.zip.
_Group = tuple[tuple[str, str], ...]
_GROUPS: tuple[_Group, ...] = (
    ((RGB_PREFIX, RGB_ZIP),),
    ((FLOW_Y_PREFIX, FLOW_ZIPS[1]), (FLOW_X_PREFIX, FLOW_ZIPS[0])),
)
_FIX = "re-extract that video with `tsn flow`"


@dataclass(frozen=True)
class PackTask:
    """One video to convert (picklable, sent to a worker): `source` folder into `target`
    (the same folder in place) in format `to`."""

    video_id: str
    source: str
    target: str
    to: str


@dataclass
class PackResult:
    """What a worker did with one video: "done", "skipped" (already in the format, or no
    frames) or "failed" (`error` says why); the frame files and bytes before and after."""

    video_id: str
    path: str
    status: str
    files_before: int = 0
    bytes_before: int = 0
    files_after: int = 0
    bytes_after: int = 0
    error: str = ""
    errno: int | None = None  # of the OSError a failure came from (a full disk stops the run)


@dataclass
class PackSummary:
    """A whole `tsn pack` run; files and bytes count the frames of the videos it converted."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: list[PackResult] = field(default_factory=list)
    files_before: int = 0
    bytes_before: int = 0
    files_after: int = 0
    bytes_after: int = 0
    seconds: float = 0.0
    failed_file: Path | None = None
    settings_file: Path | None = None


@dataclass
class _Scan:
    """A video folder's frame files and archives (name -> size in bytes), and its other files."""

    files: dict[str, int]
    archives: dict[str, int]
    others: list[str]

    @property
    def count(self) -> tuple[int, int]:
        found = {**self.files, **self.archives}
        return len(found), sum(found.values())


def _scan(folder: str) -> _Scan:
    files: dict[str, int] = {}
    archives: dict[str, int] = {}
    others: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file():
                continue  # temporary names and subfolders are not frames
            if entry.name in ZIP_ENTRY_PREFIXES:
                archives[entry.name] = entry.stat().st_size
            elif zip_entry(entry.name) is not None:
                files[entry.name] = entry.stat().st_size
            else:
                others.append(entry.name)
    return _Scan(files, archives, others)


# one frame of a group: (file name, archive, entry, a function returning its bytes)
_Frame = tuple[str, str, str, Callable[[], bytes]]


def _group_frames(
    folder: str, scan: _Scan, group: _Group, readers: list[ZipFrameReader]
) -> list[_Frame]:
    """The frames of one group as the readers see them: from the archives when the group's
    last archive (img.zip, flow_x.zip) is there, else from the files. The archives opened are
    appended to `readers`, for the caller to close."""
    frames: list[_Frame] = []
    if group[-1][1] in scan.archives:
        for _, archive in group:
            reader = ZipFrameReader(os.path.join(folder, archive))
            readers.append(reader)
            for entry in reader.names():
                name = frame_file(archive, entry)
                if name is None:
                    raise DataError(
                        f"{reader.path} holds {entry}, which is not a frame of it; remove that "
                        f"entry or {_FIX}"
                    )
                frames.append((name, archive, entry, lambda r=reader, e=entry: r.read(e)))
        return frames
    for prefix, archive in group:
        for name in sorted(n for n in scan.files if n.startswith(prefix)):
            mapped = zip_entry(name)
            assert mapped is not None  # _scan keeps frame names only
            entry, path = mapped[1], os.path.join(folder, name)
            frames.append((name, archive, entry, lambda p=path: _read_file(p)))
    return frames


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _checksum(data: bytes) -> tuple[int, int]:
    return zlib.crc32(data), len(data)


def _write_zips(folder: str, group: _Group, frames: list[_Frame]) -> None:
    """Write the group's archives in `folder` (in group order), then read every entry back and
    compare it with what was written (DataError if any differs)."""
    written: dict[str, dict[str, tuple[int, int]]] = {}
    for _, archive in group:
        mine = [f for f in frames if f[1] == archive]
        if not mine:
            continue
        sums = written[archive] = {}
        with ZipFrameWriter(os.path.join(folder, archive)) as writer:
            for _, _, entry, load in mine:
                data = load()
                writer.add(entry, data)
                sums[entry] = _checksum(data)
    for archive, sums in written.items():
        with ZipFrameReader(os.path.join(folder, archive)) as reader:
            if set(reader.names()) != set(sums) or any(
                _checksum(reader.read(entry)) != sums[entry] for entry in sums
            ):
                raise DataError(f"{reader.path} does not read back as written; check the disk")


def _write_files(folder: str, frames: list[_Frame]) -> None:
    """Write the frames as files in `folder`, then read each back, compare it with what was
    written and fsync it (the archives they come from may be removed next)."""
    sums: dict[str, tuple[int, int]] = {}
    for name, _, _, load in frames:
        data = load()
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        sums[name] = _checksum(data)
    for name, expected in sums.items():
        path = os.path.join(folder, name)
        if _checksum(_read_file(path)) != expected:
            raise DataError(f"{path} does not read back as written; check the disk")
        fsync_path(path)


def _check_leftovers(folder: str, scan: _Scan, group: _Group, frames: list[_Frame]) -> list[str]:
    """The group's files still beside its archives (what an interrupted run left), after
    checking each holds the bytes of its entry; DataError naming the first that does not."""
    prefixes = tuple(prefix for prefix, _ in group)
    left = [name for name in scan.files if name.startswith(prefixes)]
    by_name = {name: load for name, _, _, load in frames}
    for name in left:
        load = by_name.get(name)
        if load is None or load() != _read_file(os.path.join(folder, name)):
            what = "has no entry" if load is None else "differs from its entry"
            raise DataError(
                f"{os.path.join(folder, name)} {what} in the archive beside it; keep the one "
                f"that is right (delete the other) and rerun `tsn pack`, or {_FIX}"
            )
    return left


def _check_stray(folder: str, archive: str) -> None:
    """flow_y.zip without flow_x.zip is what a run killed between writing (or removing) the two
    leaves; its frames' files are all there then. DataError unless each entry's file holds it."""
    with ZipFrameReader(os.path.join(folder, archive)) as reader:
        for entry in reader.names():
            name = frame_file(archive, entry)
            path = os.path.join(folder, name or entry)
            if name is None or not os.path.isfile(path) or _read_file(path) != reader.read(entry):
                raise DataError(
                    f"{reader.path} is there without {FLOW_ZIPS[0]} and its entry {entry} has no "
                    f"equal file {path}; delete the one that is wrong and rerun, or {_FIX}"
                )


def _pack_in_place(task: PackTask, scan: _Scan) -> bool:
    """Convert `task.source` where it is, group by group; False when nothing was to do."""
    folder = task.source
    changed = False
    for group in _GROUPS:
        archives = [archive for _, archive in group]
        present = [archive for archive in archives if archive in scan.archives]
        zipped = archives[-1] in scan.archives  # as readers decide (`layout.is_zipped`)
        prefixes = tuple(prefix for prefix, _ in group)
        has_files = any(name.startswith(prefixes) for name in scan.files)
        if (task.to == "zip" and not has_files) or (task.to == "dir" and not present):
            continue  # already in the format asked for (or without frames of this group)
        readers: list[ZipFrameReader] = []
        try:
            frames = _group_frames(folder, scan, group, readers)
            if task.to == "zip" and zipped:
                # an interrupted pack's leftovers: removed once they equal their entries
                remove = _check_leftovers(folder, scan, group, frames)
                for reader in readers:
                    for entry in reader.names():
                        reader.read(entry)  # every entry reads and passes its CRC
            elif task.to == "zip":
                sweep_stale_temps(*(os.path.join(folder, archive) for archive in archives))
                _write_zips(folder, group, frames)
                remove = [name for name, _, _, _ in frames]
            elif zipped:
                _write_files(folder, frames)
                remove = present[::-1]  # flow_x.zip first: without it readers take the files
            else:
                for archive in present:
                    _check_stray(folder, archive)
                remove = present
        finally:
            for reader in readers:
                reader.close()
        for name in remove:
            os.unlink(os.path.join(folder, name))
        fsync_path(folder)
        changed = True
    return changed


def _pack_into(task: PackTask, scan: _Scan) -> bool:
    """Build `task.target` from `task.source` in a temporary folder, renamed when verified;
    False when the target is already there (done by an earlier run)."""
    if os.path.isdir(task.target):
        return False
    sweep_stale_temps(task.target)  # a killed run's half-built folder (we hold the lock)
    with atomic_dir(task.target) as tmp:
        for group in _GROUPS:
            readers: list[ZipFrameReader] = []
            try:
                frames = _group_frames(task.source, scan, group, readers)
                if task.to == "zip":
                    _write_zips(str(tmp), group, frames)
                else:
                    _write_files(str(tmp), frames)
            finally:
                for reader in readers:
                    reader.close()
        for name in scan.others:  # anything else the folder held travels with it
            shutil.copy2(os.path.join(task.source, name), tmp / name)
    return True


def pack_video(task: PackTask) -> PackResult:
    """Convert one video (what each worker runs); a failure is returned, never raised."""
    result = PackResult(task.video_id, task.source, "skipped")
    try:
        before = _scan(task.source)
        result.files_before, result.bytes_before = before.count
        in_place = os.path.abspath(task.source) == os.path.abspath(task.target)
        converted = (_pack_in_place if in_place else _pack_into)(task, before)
        after = _scan(task.target)
        result.files_after, result.bytes_after = after.count
        result.status = "done" if converted else "skipped"
    except (TsnError, OSError) as exc:
        result.status, result.error = "failed", _one_line(exc)
        if isinstance(exc, OSError):
            result.errno = exc.errno
    return result


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")
    return " ".join(str(exc).split())


def _worker_died(task: PackTask, reason: str) -> PackResult:
    """The video a dead worker held (OOM kill, crash): failed; its temporary files are swept
    by the next run (each archive and folder is complete or absent)."""
    return PackResult(task.video_id, task.source, "failed", error=reason)


def list_video_folders(frames: Path) -> list[str]:
    """The video folders directly under `frames` (names, sorted; hidden ones left out)."""
    with os.scandir(frames) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


def run_pack(
    frames: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    to: str = "zip",
    *,
    workers: int = 1,
    on_progress: ProgressFn | None = None,
) -> PackSummary:
    """Convert every video folder under `frames` to format `to`, in place or into `out`.

    Videos already in `to` (in place), or already under `out`, are skipped, so a rerun resumes.
    Failures are collected, written to `pack_failed.tsv` (video_id, path, reason) in the tree
    written, and returned, never raised. flow_config.yaml is copied to `out`, or rewritten in
    place once every video is converted, recording the new format. Progress: the task
    `videos`, one step per video.
    """
    if to not in FRAME_FORMATS:
        raise UsageError(f"--to {to!r} is not one of: {', '.join(FRAME_FORMATS)}")
    source_root = Path(frames)
    if not source_root.is_dir():
        raise UsageError(
            f"frames folder {source_root} does not exist; pass the OUT folder of `tsn flow`"
        )
    target_root = Path(out) if out is not None else source_root
    if out is not None:
        if target_root.exists() and not target_root.is_dir():
            raise UsageError(f"OUT {target_root} is a file; pass a folder")
        if target_root.resolve() == source_root.resolve():
            raise UsageError("OUT is FRAMES itself; leave OUT out to convert in place")
        if source_root.resolve() in target_root.resolve().parents:  # it would list itself
            raise UsageError(f"OUT {target_root} is inside FRAMES; choose a folder outside it")
        target_root.mkdir(parents=True, exist_ok=True)
    names = list_video_folders(source_root)
    if not names:
        raise DataError(f"no video folders under {source_root}; pass the OUT folder of `tsn flow`")
    tasks = [PackTask(name, str(source_root / name), str(target_root / name), to) for name in names]
    summary = PackSummary(total=len(tasks))
    tracker = Tracker(on_progress, "videos", len(tasks))
    # the lock an unsharded `tsn flow` holds on this tree: the two never write it at once
    with hold_lock(target_root / lock_file_name(None), f"frames folder {target_root}"):
        tracker.start()
        start = time.perf_counter()
        pool = run_pool(
            ByName("tsncli.flow.pack", "pack_video"),
            tasks,
            workers=workers,
            on_worker_death=_worker_died,
        )
        try:
            for _, result in pool:
                _stop_if_out_of_space(result, summary, target_root)
                _count(summary, result)
                tracker.advance(message=f"{summary.files_before} -> {summary.files_after} files")
        except OutOfSpaceError:
            pool.close()  # the workers stop; what they held is complete or absent
            raise
        summary.seconds = time.perf_counter() - start
        summary.failed_file = _write_failures(target_root / PACK_FAILED_FILE, summary.failed)
        summary.settings_file = _record_format(source_root, target_root, to, summary)
    return summary


def _stop_if_out_of_space(result: PackResult, summary: PackSummary, target_root: Path) -> None:
    """Raise `OutOfSpaceError` for a video that failed on a storage errno (full, over quota,
    read-only, at the file-size limit): every video left would fail the same way, so the run
    stops at the first, as `tsn flow` does. Videos converted so far are kept."""
    if result.status != "failed" or result.errno not in STORAGE_ERRNOS:
        return
    left = summary.total - summary.done - summary.skipped - len(summary.failed)
    raise OutOfSpaceError(
        f"cannot write {target_root / result.video_id}: {os.strerror(result.errno)}; stopped "
        f"with {left} video(s) not converted; free "
        "some space or write elsewhere and rerun (converted videos are kept)"
    )


def _count(summary: PackSummary, result: PackResult) -> None:
    if result.status == "failed":
        summary.failed.append(result)
        log.warning("%s failed: %s", result.video_id, result.error)
        return
    if result.status == "skipped":
        summary.skipped += 1
        return
    summary.done += 1
    summary.files_before += result.files_before
    summary.bytes_before += result.bytes_before
    summary.files_after += result.files_after
    summary.bytes_after += result.bytes_after


def _write_failures(path: Path, failed: list[PackResult]) -> Path | None:
    """This run's failures as TSV (video_id, path, reason); a stale file goes when none."""
    if not failed:
        path.unlink(missing_ok=True)
        return None
    rows = [f"{r.video_id}\t{r.path}\t{r.error}" for r in sorted(failed, key=lambda r: r.video_id)]
    atomic_write_text(path, "\n".join(["video_id\tpath\treason", *rows]) + "\n")
    return path


def _record_format(source: Path, target: Path, to: str, summary: PackSummary) -> Path | None:
    """flow_config.yaml in `target` recording format `to` (its other keys kept); in place only
    when no video failed (a tree of both layouts keeps its old record, which `tsn flow` resumes
    by). None when `source` has no flow_config.yaml, or it was left as it was."""
    data = read_settings_file(source / FLOW_CONFIG_FILE)
    if data is None or (target == source and summary.failed):
        return None
    settings = FrameSettings.from_dict({**data, "format": to})
    known = settings.to_dict()
    extra = {key: value for key, value in data.items() if key not in known}
    extra["layout"] = frame_format(to).note
    return save_frame_settings(target / FLOW_CONFIG_FILE, settings, extra)
