"""Building one video index with the tasks of a launched job (srun, torchrun): each rank indexes
its hash share of the stale videos, writes it to INDEX.part-K-of-N, and reads the others' parts.

Only a process group shares the work (its tasks run together); SLURM array tasks, which may
run one after another, each index on their own.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tsncli.errors import DataError
from tsncli.fsutil import atomic_write_text
from tsncli.launch import LaunchInfo

POLL_SECONDS = 1.0
WAIT_SECONDS = 6 * 3600.0


def rank_share(paths: Sequence[str], launch: LaunchInfo) -> list[str]:
    """The paths this rank indexes (spread by a hash of the path)."""
    return [p for p in paths if _owner(p, launch.world_size) == launch.rank]


def _owner(path: str, world: int) -> int:
    digest = hashlib.blake2b(path.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % world


def part_path(index_path: Path, rank: int, world: int) -> Path:
    return index_path.with_name(f"{index_path.name}.part-{rank + 1}-of-{world}")


def _read_part(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not written yet (parts are written atomically)


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
    deadline = time.monotonic() + timeout
    while True:
        all_videos: dict[str, dict[str, Any]] = {}
        all_errors: dict[str, str] = {}
        for rank in range(world):
            part = _read_part(part_path(index_path, rank, world)) or {}
            videos_in_part = part.get("videos", {}).items()
            all_videos.update((p, v) for p, v in videos_in_part if is_current(p, v))
            all_errors.update(part.get("errors", {}))
        missing = [p for p in wanted if p not in all_videos and p not in all_errors]
        if not missing:
            return all_videos, all_errors
        if time.monotonic() > deadline:
            ranks = sorted({_owner(p, world) + 1 for p in missing})
            raise DataError(
                f"the video index parts of rank(s) {', '.join(map(str, ranks))} of {world} "
                f"(1-based) did not arrive beside {index_path} within {timeout:.0f} s "
                f"({len(missing)} videos, e.g. {missing[0]}); did every task start?"
            )
        time.sleep(POLL_SECONDS)
