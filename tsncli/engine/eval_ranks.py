"""`tsn eval` over the ranks of a launched job (srun tasks, SLURM array tasks, torchrun): which
shards a rank scores, rank 0 preparing the shard folder, and rank 0 waiting for every rank.

Every rank writes its shard files and then a `rank_K-of-N.json` marker (the videos it lost to
dead workers); rank 0 waits for all markers (a torch.distributed barrier first, when a process
group exists), then merges the shards in list order as a local run does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch.distributed as dist

from tsncli.engine.eval_shards import RUN_FILE
from tsncli.errors import DataError
from tsncli.fsutil import atomic_write_text
from tsncli.launch import LaunchInfo

POLL_SECONDS = 2.0
WAIT_SECONDS = 24 * 3600.0  # how long rank 0 waits for the others (and they for rank 0)


def lock_name(out: Path, launch: LaunchInfo) -> Path:
    """One lock per rank and output: ranks of one job share OUT, two jobs still cannot."""
    if launch.shard is None:
        return out.with_name(out.name + ".lock")
    k, n = launch.shard
    return out.with_name(f"{out.name}.{k}-of-{n}.lock")


def _marker(shard_dir: Path, launch: LaunchInfo, index: int) -> Path:
    return shard_dir / f"rank_{index + 1}-of-{launch.shard_count}.json"


def wait_for_shard_dir(
    shard_dir: Path, fingerprint: dict[str, Any], timeout: float = WAIT_SECONDS
) -> None:
    """A rank other than 0: wait until rank 0 has made `shard_dir` for this run."""
    deadline = time.monotonic() + timeout
    run_file = shard_dir / RUN_FILE
    while True:
        try:
            if json.loads(run_file.read_text(encoding="utf-8")) == fingerprint:
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise DataError(
                f"rank 0 did not prepare {shard_dir} within {timeout:.0f} s; is `tsn eval` "
                "running as rank 0 (SLURM_PROCID=0 / array task 1) with the same options?"
            )
        time.sleep(POLL_SECONDS)


def clear_mark(shard_dir: Path, launch: LaunchInfo) -> None:
    """Forget this rank's marker of an earlier attempt, before scoring again."""
    if launch.shard is not None:
        _marker(shard_dir, launch, launch.shard_index).unlink(missing_ok=True)


def mark_done(shard_dir: Path, launch: LaunchInfo, lost: list[tuple[str, str]]) -> None:
    """This rank's shards are written; `lost`: its videos whose worker died."""
    data = {"rank": launch.shard_index, "lost": [list(item) for item in lost]}
    atomic_write_text(_marker(shard_dir, launch, launch.shard_index), json.dumps(data) + "\n")


def wait_for_ranks(
    shard_dir: Path, launch: LaunchInfo, timeout: float = WAIT_SECONDS
) -> list[tuple[str, str]]:
    """Rank 0: wait until every rank has marked its shards done; the videos they lost."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
    deadline = time.monotonic() + timeout
    markers = [_marker(shard_dir, launch, i) for i in range(launch.shard_count)]
    while True:
        missing = [i + 1 for i, path in enumerate(markers) if not path.is_file()]
        if not missing:
            break
        if time.monotonic() > deadline:
            ranks = ", ".join(map(str, missing))
            raise DataError(
                f"eval shards of rank(s) {ranks} of {launch.shard_count} (1-based) did not "
                f"arrive in {shard_dir} within {timeout:.0f} s; rerun those ranks, then rank 1 "
                "again to merge (finished shards are kept)"
            )
        time.sleep(POLL_SECONDS)
    lost: list[tuple[str, str]] = []
    for path in markers:
        lost += [tuple(item) for item in json.loads(path.read_text(encoding="utf-8"))["lost"]]
    return lost
