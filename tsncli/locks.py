"""Advisory locks that keep two tsn runs off the same output (fcntl.flock on a pid file).

The lock is released when its holder exits, killed or not, so a stale file never blocks a run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from tsncli.errors import TsnError, UsageError
from tsncli.layout import NAME_MAX, derived_path


class RunLockedError(TsnError):
    """Another tsn process holds the lock on the output this run would write."""


def _fitting(lock: Path) -> Path:
    """`lock`, or when its name passes NAME_MAX (a 252-byte output plus `.lock`), the name cut
    short with a hash of the whole name, by the one rule for derived names
    (`layout.derived_path`): the same output always maps to the same lock."""
    if len(os.fsencode(lock.name)) <= NAME_MAX:
        return lock
    suffix = ".lock" if lock.name.endswith(".lock") else ""
    return derived_path(lock.with_name(lock.name[: len(lock.name) - len(suffix)]), suffix)


def _holder(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return f"pid {text}" if text.isdigit() else "pid unknown"


def _acquire(lock: Path, what: str) -> int:
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise UsageError(f"cannot create the lock file {lock} ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunLockedError(
                f"{what} is in use by another tsn run ({holder}, lock {lock}); "
                "wait for it to finish or write elsewhere"
            ) from None
        # The last holder unlinks the file on release: lock only the file still at that path.
        try:
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def hold_lock(lock: str | os.PathLike[str], what: str) -> Iterator[Path]:
    """Hold an exclusive lock on the file `lock` (created, holding our pid) for the block.

    Fails at once with `RunLockedError` naming the holder's pid when another process has it.
    `what` names the output in that message ("scores.npz", "frames folder OUT").
    """
    path = _fitting(Path(lock))
    try:  # the output's folder may not exist yet (`--save-scores scores/rgb.npz`)
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the folder of {path} ({exc.strerror})") from None
    fd = _acquire(path, what)
    try:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:  # a full disk: fd-level calls carry no path, so give it
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
