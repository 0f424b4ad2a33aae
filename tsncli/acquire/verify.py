"""Verifying files on disk: size and sha256 checks, the `.verified` record, adopting user files.

A hidden `.<name>.verified` record (size, mtime, sha256) beside a finished file lets later runs
and `tsn fetch --list` trust it without hashing it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tsncli.errors import DownloadError
from tsncli.progress import ProgressFn, Tracker

CHUNK_BYTES = 1 << 20
REMEDY = "use --mirror BASE_URL (or TSN_MIRROR), or download it yourself and pass --from PATH"


@dataclass(frozen=True)
class Target:
    """A file to put on disk and what is known to verify it."""

    path: Path
    size: int | None = None
    sha256: str | None = None
    hash_prefix: str | None = None


def part_path(path: Path) -> Path:
    """The in-progress name of `path`."""
    return path.with_name(path.name + ".part")


def record_path(path: Path) -> Path:
    """The hidden record saying `path` was verified (size, mtime, sha256)."""
    return path.with_name(f".{path.name}.verified")


def local_status(target: Target) -> str:
    """`verified`, `unverified` (present, not checked), `partial` (a .part) or `missing`."""
    if target.path.is_file():
        return "verified" if _record_matches(target.path) else "unverified"
    return "partial" if part_path(target.path).is_file() else "missing"


def _record_matches(path: Path) -> bool:
    try:
        record = json.loads(record_path(path).read_text(encoding="utf-8"))
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns


def write_record(path: Path, sha256: str | None) -> None:
    stat = path.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    record_path(path).write_text(json.dumps(record) + "\n", encoding="utf-8")


def check_target(
    target: Target,
    size: int,
    digest: str | None,
    source: str,
    fix: str = "the bad file was removed",
) -> None:
    """Raise DownloadError when size or checksum disagree with what the target expects."""
    name = target.path.name
    if target.size is not None and size != target.size:
        raise DownloadError(
            f"size mismatch for {name} from {source}: expected {target.size} bytes, got {size}; "
            f"{fix}; {REMEDY}"
        )
    expected = target.sha256 or target.hash_prefix
    if expected and not (digest or "").startswith(expected.lower()):
        got = (digest or "")[: max(len(expected), 16)]
        raise DownloadError(
            f"checksum mismatch for {name} from {source}: expected sha256 {expected}, "
            f"got {got}; {fix}; {REMEDY}"
        )


def hash_file(
    path: Path,
    on_progress: ProgressFn | None = None,
    limit: int | None = None,
    task: str | None = None,
):
    """A sha256 object over the first `limit` bytes of `path` (all when None), read in chunks.

    Progress is reported in bytes under `task` (default: the file's name).
    """
    hasher = hashlib.sha256()
    total = path.stat().st_size if limit is None else limit
    tracker = Tracker(on_progress, task or path.name, total, "bytes")
    done = 0
    with open(path, "rb") as f:
        while done < total:
            block = f.read(min(CHUNK_BYTES, total - done))
            if not block:
                break
            hasher.update(block)
            done += len(block)
            tracker.update(done)
    return hasher


def verify_existing(target: Target, on_progress: ProgressFn | None = None) -> bool:
    """True when the finished file exists and passes every known check (recording the result)."""
    path = target.path
    if not path.is_file():
        return False
    if _record_matches(path):
        return True
    fix = "delete it or rerun with --force to download it again"
    if not (target.sha256 or target.hash_prefix):
        check_target(target, path.stat().st_size, None, str(path), fix)
        return True  # nothing else to check against: a complete file is accepted as is
    digest = hash_file(path, on_progress).hexdigest()
    check_target(target, path.stat().st_size, digest, str(path), fix)
    write_record(path, digest)
    return True


def adopt_file(source: Path, target: Target, on_progress: ProgressFn | None = None) -> str:
    """Verify a file the user downloaded, then hard-link (or copy) it into place: `adopted`."""
    source = Path(source)
    if not source.is_file():
        raise DownloadError(f"--from {source}: no such file")
    expects_hash = bool(target.sha256 or target.hash_prefix)
    digest = (
        hash_file(source, on_progress, task=target.path.name).hexdigest() if expects_hash else None
    )
    check_target(target, source.stat().st_size, digest, str(source), "it was left where it is")
    path = target.path
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path.exists() and os.path.samefile(source, path)):
        part = part_path(path)
        part.unlink(missing_ok=True)
        try:
            os.link(source, part)  # no second copy of a multi-GB file when on the same disk
        except OSError:
            shutil.copyfile(source, part)
        os.replace(part, path)
    write_record(path, digest)
    return "adopted"
