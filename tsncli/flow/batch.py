"""`tsn flow` over many videos: find, check stems, shard, skip done ones, run the pool, report;
and `tsn flow --estimate` over the same videos.

Resume rule: an existing `OUT/<video_id>/` is done (it only appears by an atomic rename; with
`--format zip` it must hold every archive its `--modality` writes), except
while a `--force` run is unfinished: its marker (`layout.FORCE_MARKER`, written before the new
settings) makes every folder older than the marker count as not done, so a rerun finishes the
re-extraction instead of keeping folders made with the old settings.
Partial videos (decoding ended clearly short of the header's frame count or duration: a cut
download) are written, since their frames are real, and listed in OUT/partial.tsv; the list
keeps them on reruns that skip their folders, so the run goes on saying so until they are
replaced (and their folders deleted) or accepted (`tsn flow --allow-partial`).
Sharding: a video belongs to the shard that owns its video id (`tsncli.shards`), so N machines
given the same SRC split it exactly, without coordination or a shared listing.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tsncli.errors import TsnError, UsageError
from tsncli.flow.estimate import (
    ESTIMATE_SAMPLE,
    FILE_QUOTA,
    FlowEstimate,
    count_files,
    estimate_videos,
)
from tsncli.flow.job import (
    SETTING_KEYS,
    FlowConfig,
    VideoResult,
    VideoTask,
    load_flow_settings,
    remove_stale_temp_dirs,
    save_flow_settings,
    worker_threads,
)
from tsncli.flow.sinks import finished_archives, parts_written
from tsncli.fsutil import atomic_write_text, temp_prefix
from tsncli.layout import FORCE_MARKER
from tsncli.locks import hold_lock
from tsncli.parallel import ByName, run_pool
from tsncli.progress import ProgressFn, Tracker
from tsncli.shards import Shard, part_name, take_share
from tsncli.video.files import list_videos

log = logging.getLogger("tsncli.flow")


@dataclass
class FlowSummary:
    """The end-of-run report: counts, failures, videos that ended early, and throughput."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: list[VideoResult] = field(default_factory=list)
    frames: int = 0
    flows: int = 0
    seconds: float = 0.0
    failed_file: Path | None = None
    partial: list[VideoResult] = field(default_factory=list)  # done, but ended early
    partial_file: Path | None = None

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def plan_videos(src: str | Path, extensions: tuple[str, ...]) -> dict[str, Path]:
    """Map video_id (file stem) -> path for SRC; a clash of stems is an error, before any work."""
    videos = list_videos(src, extensions)
    if not videos:
        exts = ",".join(extensions)
        raise UsageError(f"no videos found under {src} with extensions {exts}; check SRC or --ext")
    by_id: dict[str, list[Path]] = {}
    for path in videos:
        by_id.setdefault(path.stem, []).append(path)
    clashes = {vid: paths for vid, paths in by_id.items() if len(paths) > 1}
    if clashes:
        shown = "; ".join(
            f"{vid}: {', '.join(str(p) for p in paths)}" for vid, paths in list(clashes.items())[:5]
        )
        raise UsageError(
            f"{len(clashes)} video id(s) are used by more than one file ({shown}); the video id "
            "is the file stem, so rename the files or extract them into separate OUT folders"
        )
    return {vid: paths[0] for vid, paths in sorted(by_id.items())}


def _check_settings(out: Path, config: FlowConfig, force: bool) -> None:
    old = load_flow_settings(out)
    if old is None or force:
        return
    new = config.settings()
    if old.get("format") != new.get("format"):
        raise UsageError(
            f"{out} holds frames in --format {old.get('format')}, but this run asks for "
            f"--format {new.get('format')}; rerun with --format {old.get('format')} to resume, "
            f"convert the tree with `tsn pack {out} --to {new.get('format')}`, or redo every "
            "video with --force"
        )
    diff = [k for k in SETTING_KEYS if old.get(k) != new.get(k)]
    if diff:
        was = ", ".join(f"{k}={old.get(k)}" for k in diff)
        now = ", ".join(f"{k}={new.get(k)}" for k in diff)
        raise UsageError(
            f"{out} was extracted with {was}, but this run asks for {now}; use the same settings "
            "to resume, a new OUT folder, or --force to redo every video"
        )


def lock_file_name(shard: Shard | None) -> str:
    """The lock a run holds in OUT: one per shard (`.tsn-flow.K-of-N.lock`), so the N shards of
    a job run side by side."""
    return part_name(".tsn-flow.lock", shard)


def failed_file_name(shard: Shard | None) -> str:
    """`failed.tsv`, or `failed.K-of-N.tsv` per shard so parallel shards never share a file."""
    return part_name("failed.tsv", shard)


def partial_file_name(shard: Shard | None) -> str:
    """`partial.tsv`, or `partial.K-of-N.tsv` per shard."""
    return part_name("partial.tsv", shard)


def run_flow_extraction(
    src: str | Path,
    out: str | Path,
    config: FlowConfig,
    *,
    workers: int = 1,
    devices: list[str] | None = None,
    shard: Shard | None = None,
    force: bool = False,
    on_progress: ProgressFn | None = None,
) -> FlowSummary:
    """Extract frames and flow for every video of SRC (in this shard) into OUT.

    `devices` (e.g. ["cuda:0", "cuda:1"]): one worker per GPU instead of `workers` CPU workers.

    Done videos are skipped unless `force`; failures are collected, written to OUT/failed.tsv
    (tab-separated video_id, path, reason) and returned, never raised. Videos that ended early
    are done, and listed in OUT/partial.tsv (same columns; earlier rows kept for folders this
    run skipped). Progress: the task
    `videos` of this shard, one step per finished, skipped or failed video, noting the frames.
    """
    out_root = Path(out)
    planned = plan_videos(src, config.ext)
    mine = {vid: planned[vid] for vid in take_share(list(planned), shard)}
    if out_root.exists() and not out_root.is_dir():
        raise UsageError(f"OUT {out_root} is a file; pass a folder")
    out_root.mkdir(parents=True, exist_ok=True)
    # A second run on the same OUT (and shard) would delete this run's live temporary folders.
    with hold_lock(out_root / lock_file_name(shard), f"frames folder {out_root}"):
        _check_settings(out_root, config, force)
        marker = out_root / part_name(FORCE_MARKER, shard)
        if force:  # before the new settings are saved, so an interruption leaves it behind
            atomic_write_text(marker, f"tsn flow --force started; settings: {config.settings()}\n")
        redo_before = marker.stat().st_mtime if marker.exists() else None
        if redo_before is not None and not force:
            log.info("finishing an interrupted `tsn flow --force`: redoing folders older than it")
        save_flow_settings(out_root, config)
        summary = _extract_all(
            mine,
            out_root,
            config,
            (workers, devices),
            shard,
            force,
            on_progress,
            redo_before,
            planned,
        )
        marker.unlink(missing_ok=True)  # every video of this shard is redone or removed
        return summary


def estimate_flow_extraction(
    src: str | Path,
    config: FlowConfig,
    *,
    workers: int = 1,
    devices: list[str] | None = None,
    shard: Shard | None = None,
    sample: int = ESTIMATE_SAMPLE,
    on_progress: ProgressFn | None = None,
) -> FlowEstimate:
    """What `run_flow_extraction` would make of SRC (this shard's videos) with `config`: videos,
    frames, and files and bytes per layout (`tsncli.flow.estimate`); writes nothing."""
    planned = plan_videos(src, config.ext)
    mine = {vid: planned[vid] for vid in take_share(list(planned), shard)}
    return estimate_videos(
        mine, config, workers=workers, devices=devices, sample=sample, on_progress=on_progress
    )


def _warn_past_file_quota(videos: dict[str, Path], config: FlowConfig, workers: int) -> None:
    """One warning line before a `dir` extraction of `videos` whose file count would pass
    `FILE_QUOTA` (every shard's videos: a quota counts the whole tree)."""
    files, read = count_files(videos, config, workers)
    if files <= FILE_QUOTA:
        return
    how = "" if read == len(videos) else f", scaled from {read} videos' headers"
    log.warning(
        "this --format dir run writes about %s files for %d videos%s, past the %s-file quota "
        "many clusters set; --format zip writes 3 per video (`tsn pack` converts a tree)",
        f"{files:,}",
        len(videos),
        how,
        f"{FILE_QUOTA:,}",
    )


def _is_done(folder: Path, redo_before: float | None, config: FlowConfig) -> bool:
    """A video's folder counts as done unless an unfinished --force started after it was made
    (the folder's mtime is its last write; both times come from the file system's clock); a
    zip video's folder, only when it holds every archive of the modality."""
    try:
        made = folder.stat().st_mtime
    except FileNotFoundError:
        return False
    if not folder.is_dir() or (redo_before is not None and made < redo_before):
        return False
    if config.format == "zip":
        return finished_archives(folder, parts_written(config.writes_rgb, config.writes_flow))
    return True


def _extract_all(
    mine: dict[str, Path],
    out_root: Path,
    config: FlowConfig,
    pool_size: tuple[int, list[str] | None],
    shard: Shard | None,
    force: bool,
    on_progress: ProgressFn | None,
    redo_before: float | None = None,
    planned: dict[str, Path] | None = None,
) -> FlowSummary:
    """Extract this shard's videos (under the lock on OUT); see `run_flow_extraction`.
    `planned` (every shard's videos) is what the file-count warning counts."""
    summary = FlowSummary(total=len(mine))
    tracker = Tracker(on_progress, "videos", len(mine))
    todo: list[VideoTask] = []
    skipped: set[str] = set()
    for vid, path in mine.items():
        if not force and _is_done(out_root / vid, redo_before, config):
            summary.skipped += 1
            skipped.add(vid)
        else:
            todo.append(VideoTask(vid, str(path), str(out_root), config))
    # Longest (largest) first, so the last busy worker is not stuck on a big video alone.
    todo.sort(key=lambda t: -Path(t.path).stat().st_size)
    log.info(
        "%d video(s) in %s: %d to do, %d already done",
        len(mine),
        "this shard" if shard else "total",
        len(todo),
        summary.skipped,
    )
    workers, devices = pool_size
    if todo and config.format == "dir":
        _warn_past_file_quota(planned or mine, config, workers)
    tracker.update(summary.skipped, message="0 frames")
    start = time.perf_counter()
    fn, threads = _worker_function(config, len(devices) if devices else workers)
    pool = run_pool(
        fn,
        todo,
        workers=workers,
        devices=devices,
        threads_per_worker=threads,
        on_worker_death=_worker_died,
    )
    try:
        for _, result in pool:
            _stop_if_out_of_space(result, out_root, len(todo) - summary.done - len(summary.failed))
            _count(summary, result)
            if result.status == "failed" and redo_before is not None:
                # its folder from before the --force holds other settings: gone, not kept as done
                stale = out_root / result.video_id
                if stale.is_dir() and not _is_done(stale, redo_before, config):
                    shutil.rmtree(stale, ignore_errors=True)
            tracker.advance(message=f"{summary.frames} frames")
    except (KeyboardInterrupt, OutOfSpaceError):
        pool.close()  # the workers stop first (a no-op when the pool has stopped them)
        _remove_temp_dirs(out_root, todo)  # of workers stopped before they could clean up
        raise
    summary.seconds = time.perf_counter() - start
    summary.failed_file = _write_failures(out_root / failed_file_name(shard), summary.failed)
    partial_path = out_root / partial_file_name(shard)
    summary.partial += _earlier_partial(partial_path, skipped)
    summary.partial_file = _write_failures(partial_path, summary.partial)
    return summary


class OutOfSpaceError(TsnError):
    """OUT cannot take more writes (full, over quota, read-only, at the file-size limit): every
    remaining video would fail the same way, so the run stops at the first."""


# errno values that no other video of the run would escape
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


def _stop_if_out_of_space(result: VideoResult, out_root: Path, left: int) -> None:
    """Raise `OutOfSpaceError` for a video that failed on a storage errno; `left` counts this
    video and the ones after it (in flight or not started), none of which will be extracted."""
    code = result.extra.get("errno")
    if result.status != "failed" or code not in STORAGE_ERRNOS:
        return
    path = result.extra.get("filename") or out_root / result.video_id
    fixes = {errno.EROFS: "choose a writable OUT", errno.EFBIG: "raise the file-size limit"}
    fix = fixes.get(code, "free some space or choose another OUT")
    raise OutOfSpaceError(
        f"cannot write {path}: {os.strerror(code)}; stopped with {left} video(s) not "
        f"extracted; {fix} and rerun (finished videos are kept)"
    )


def _count(summary: FlowSummary, result: VideoResult) -> None:
    if result.status == "failed":
        summary.failed.append(result)
        log.warning("%s failed: %s", result.video_id, result.error)
    elif result.status == "done":
        if result.partial is not None:
            summary.partial.append(result)
            log.warning("%s ends early: %s", result.video_id, result.partial)
        summary.done += 1
        summary.frames += result.frames
        summary.flows += result.flows


def _remove_temp_dirs(out_root: Path, tasks: list[VideoTask]) -> None:
    """Remove the temporary folders of this run's videos (one listing of OUT, not one each)."""
    prefixes = {temp_prefix(out_root / t.video_id) for t in tasks}
    with os.scandir(out_root) as entries:
        stale = [e.path for e in entries if e.name[:14] in prefixes and e.name.endswith(".tmp")]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)


def _worker_function(config: FlowConfig, workers: int) -> tuple[Callable, int]:
    """What each worker runs, and the threads it gets (0: the pool leaves threads alone)."""
    # Named, so that this process (which only plans) never imports OpenCV and PyAV, nor the
    # flow code (nor torch on CPU; `--gpus` imported it to count the GPUs); each worker does.
    # extract_video runs per pair or batched as `config.batched` says.
    return ByName("tsncli.flow.extract", "extract_video"), worker_threads(config, workers)


def _worker_died(task: VideoTask, reason: str) -> VideoResult:
    """The video a dead worker held (OOM kill, crash) is a failure like any other."""
    remove_stale_temp_dirs(Path(task.out_root), task.video_id)  # its half-written folder
    return VideoResult(task.video_id, task.path, "failed", error=reason)


def _earlier_partial(path: Path, skipped: set[str]) -> list[VideoResult]:
    """The rows of an earlier partial.tsv whose folders this run skipped (still the same)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
    except (FileNotFoundError, UnicodeDecodeError):
        return []
    rows = (line.split("\t", 2) for line in lines)
    return [
        VideoResult(row[0], row[1], "done", partial=row[2])
        for row in rows
        if len(row) == 3 and row[0] in skipped
    ]


def _write_failures(path: Path, failed: list[VideoResult]) -> Path | None:
    """Rewrite the failure (or partial) list of this run; remove a stale one when empty."""
    if not failed:
        path.unlink(missing_ok=True)
        return None
    lines = ["video_id\tpath\treason"]
    lines += [
        f"{r.video_id}\t{r.path}\t{r.error or r.partial}"
        for r in sorted(failed, key=lambda r: r.video_id)
    ]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
