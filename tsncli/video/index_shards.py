"""Building one video index with the tasks of a launched job (srun, torchrun): each rank indexes
its share of the stale videos (`tsncli.shards` ownership of the path), writes it to the part
`INDEX.K-of-N.json` beside the index, and reads the others' parts.

Only a process group shares the work (its tasks run together); SLURM array tasks, which may
run one after another, each index on their own. Parts are rewritten by every build and only
read by the build that wrote them, so nothing on disk depends on which rank owned a video.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tsncli.fsutil import atomic_write_text
from tsncli.launch import LaunchInfo
from tsncli.shards import owners, part_name, take_share, wait_for_parts

WAIT_SECONDS = 6 * 3600.0
# what the parts hold so far: entries, errors, and the wanted paths in neither
Merged = tuple[dict[str, dict[str, Any]], dict[str, str], list[str]]


def rank_share(paths: Sequence[str], launch: LaunchInfo) -> list[str]:
    """The paths this rank indexes."""
    return take_share(paths, (launch.rank + 1, launch.world_size))


def part_path(index_path: Path, rank: int, world: int) -> Path:
    """The part of the 0-based `rank` of `world`, beside the index file."""
    return index_path.with_name(part_name(index_path.name, (rank + 1, world)))


def _read_part(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # not written yet (parts are written atomically)


def exchange_shares(
    index_path: Path,
    launch: LaunchInfo,
    videos: dict[str, dict[str, Any]],
    errors: dict[str, str],
    wanted: Sequence[str],
    is_current: Callable[[str, dict[str, Any]], bool],
    timeout: float = WAIT_SECONDS,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Publish this rank's `videos` (path: entry JSON) and `errors`, then wait until the parts
    of all ranks cover every `wanted` path; return the union of entries and of errors.
    `is_current(path, entry)` drops entries a part kept from an earlier build."""
    world = launch.world_size
    mine = part_path(index_path, launch.rank, world)
    atomic_write_text(mine, json.dumps({"videos": videos, "errors": errors}) + "\n")
    parts = [part_path(index_path, rank, world) for rank in range(world)]
    owner = owners(wanted, world)  # every rank shares `wanted`, so each took its share of it

    def collect() -> tuple[Merged, set[int]]:
        all_videos: dict[str, dict[str, Any]] = {}
        all_errors: dict[str, str] = {}
        for path in parts:
            part = _read_part(path)
            videos_in_part = part.get("videos", {}).items()
            all_videos.update((p, v) for p, v in videos_in_part if is_current(p, v))
            all_errors.update(part.get("errors", {}))
        missing = [p for p in wanted if p not in all_videos and p not in all_errors]
        return (all_videos, all_errors, missing), {owner[p] + 1 for p in missing}

    def hint(merged: Merged) -> str:
        missing = merged[2]
        return f"{len(missing)} videos missing, e.g. {missing[0]}; did every task start?"

    all_videos, all_errors, _ = wait_for_parts(
        collect,
        count=world,
        what="the video index parts",
        where=f"beside {index_path}",
        hint=hint,
        timeout=timeout,
    )
    return all_videos, all_errors
