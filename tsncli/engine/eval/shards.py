"""The shard folder of a `tsn eval` run (`OUT.npz.shards/`): the run's fingerprint, which
shards and score files are finished, and starting over when another run left its shards."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from tsncli.engine.scores import ScoreFile, load_scores
from tsncli.errors import DataError
from tsncli.fsutil import sweep_stale_temps
from tsncli.launch import LaunchInfo
from tsncli.layout import SHARD_RUN_FILE, score_shard
from tsncli.progress import Tracker
from tsncli.shards import take_share

log = logging.getLogger("tsncli.engine.evaluate")

T = TypeVar("T")  # a shard task: a dataclass with start, records and path


def run_fingerprint(
    checkpoint: Path, list_file: Path, frames_root: Any, segments: int, crops: int, keep_raw: bool,
    dense: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What makes two eval runs the same: checkpoint (path, size, mtime), list contents,
    frames root and test settings (`dense`: the stride settings of dense testing, absent from
    segment runs so their fingerprints stay as they were)."""
    stat = checkpoint.stat()
    extra = {"dense": dense} if dense is not None else {}
    return {
        "checkpoint": str(checkpoint.resolve()),
        "checkpoint_size": stat.st_size,
        "checkpoint_mtime_ns": stat.st_mtime_ns,
        "list_sha256": hashlib.sha256(list_file.read_bytes()).hexdigest(),
        "frames_root": None if frames_root is None else str(Path(frames_root).resolve()),
        "segments": segments,
        "crops": crops,
        "keep_raw": keep_raw,
        **extra,
    }


def prepare_shard_dir(shard_dir: Path, fingerprint: dict[str, Any]) -> None:
    """Keep `shard_dir` when the same run made it; otherwise start it over for this run."""
    run_file = shard_dir / SHARD_RUN_FILE
    if shard_dir.is_dir():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if previous == fingerprint:
            return
        log.info("%s holds shards of a different run; starting over", shard_dir)
        shutil.rmtree(shard_dir)
    shard_dir.mkdir(parents=True)
    run_file.write_text(json.dumps(fingerprint, indent=2), encoding="utf-8")


def finished_output(out: Path, fingerprint: dict[str, Any]) -> ScoreFile | None:
    """The existing score file when the same run wrote it completely, else None."""
    try:
        sf = load_scores(out) if out.is_file() else None
    except DataError:
        return None
    if sf is None or sf.meta.get("run") != fingerprint or sf.meta.get("failed_videos"):
        return None
    return sf


def shard_finished(path: Path) -> bool:
    """A shard file exists, loads, and recorded no failures (those are retried)."""
    try:
        return path.is_file() and not load_scores(path).meta.get("failures")
    except DataError:
        return False


def shard_tasks(
    records: Sequence[Any], size: int, shard_dir: Path, launch: LaunchInfo, job: T,
    tracker: Tracker,
) -> tuple[list[T], int]:  # fmt: skip
    """This rank's unfinished shards of `size` videos (as `job` with its slice and path), and
    how many of its shards were already finished (their videos advance `tracker`)."""
    tasks: list[T] = []
    resumed = 0
    # every rank plans the same chunks (the shard size is part of the run's fingerprint), so the
    # chunk files are one listing for `tsncli.shards`' rule: exactly balanced over the ranks
    chunks = {score_shard(shard_dir, start).name: start for start in range(0, len(records), size)}
    for name in take_share(list(chunks), launch.shard):
        start = chunks[name]
        path = score_shard(shard_dir, start)
        sweep_stale_temps(path)  # a kill left it; only this rank writes this shard
        if shard_finished(path):
            resumed += 1
            tracker.advance(len(records[start : start + size]))
            continue
        chunk = tuple(records[start : start + size])
        tasks.append(replace(job, start=start, records=chunk, path=str(path)))
    return tasks, resumed
