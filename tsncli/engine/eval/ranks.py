"""`tsn eval` over the ranks of a launched job (srun tasks, SLURM array tasks, torchrun): which
shards a rank scores, rank 0 preparing the shard folder, and rank 0 waiting for every rank.

Every rank writes its shard files and then a `rank.K-of-N.json` marker (the videos it lost to
dead workers); rank 0 waits for all markers (a torch.distributed barrier first, when a process
group exists), then merges the shards in list order as a local run does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch.distributed as dist

from tsncli.fsutil import atomic_write_text
from tsncli.launch import LaunchInfo
from tsncli.layout import SHARD_RUN_FILE
from tsncli.shards import part_name, wait_for_parts

POLL_SECONDS = 2.0
MARKER = "rank.json"  # rank K of N marks its shards written in rank.K-of-N.json
WAIT_SECONDS = 24 * 3600.0  # how long rank 0 waits for the others (and they for rank 0)


def lock_name(out: Path, launch: LaunchInfo) -> Path:
    """One lock per rank and output: ranks of one job share OUT, two jobs still cannot."""
    return out.with_name(part_name(out.name + ".lock", launch.shard))


def _marker(shard_dir: Path, launch: LaunchInfo, index: int) -> Path:
    return shard_dir / part_name(MARKER, (index + 1, launch.shard_count))


def wait_for_shard_dir(
    shard_dir: Path, launch: LaunchInfo, fingerprint: dict[str, Any], timeout: float = WAIT_SECONDS
) -> None:
    """A rank other than the first: wait until the first has made `shard_dir` for this run."""
    run_file = shard_dir / SHARD_RUN_FILE

    def collect() -> tuple[None, list[int]]:
        try:
            if json.loads(run_file.read_text(encoding="utf-8")) == fingerprint:
                return None, []
        except (OSError, ValueError):
            pass
        return None, [1]

    wait_for_parts(
        collect,
        count=launch.shard_count,
        what="the shard folder",
        where=f"as {shard_dir}",
        hint="is `tsn eval` running as rank 1 (SLURM_PROCID=0 / array task 1) with the same "
        "options?",
        timeout=timeout,
        poll_seconds=POLL_SECONDS,
    )


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
    markers = [_marker(shard_dir, launch, i) for i in range(launch.shard_count)]

    def collect() -> tuple[None, list[int]]:
        return None, [i + 1 for i, path in enumerate(markers) if not path.is_file()]

    wait_for_parts(
        collect,
        count=launch.shard_count,
        what="eval shards",
        where=f"in {shard_dir}",
        hint="rerun those ranks, then rank 1 again to merge (finished shards are kept)",
        timeout=timeout,
        poll_seconds=POLL_SECONDS,
    )
    lost: list[tuple[str, str]] = []
    for path in markers:
        lost += [tuple(item) for item in json.loads(path.read_text(encoding="utf-8"))["lost"]]
    return lost
