"""Atomic file and folder writes: temporary name first, rename when complete (DESIGN rule 8);
walking a tree (links to folders followed, each real folder once) that reports what it could
not read and the folder loops it met.

Writes are durable as databases make them: the file's data is fsynced before the rename and the
folder after it, so after a power cut a name that exists holds its whole content (a rename alone
can leave an empty file under the final name). A folder written with `atomic_dir` has each of
its files fsynced unless the caller asks for the rename alone (`sync_files=False`, for many small
files whose loss a rerun repairs).

Temporary names are short (`.tsn-<hash of the target name>-<random>.tmp`, 28 characters) so
a target name near the 255-byte limit still works, and outputs get the usual umask modes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import secrets
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path

_log = logging.getLogger("tsncli.fsutil")


@functools.cache
def current_umask() -> int:
    """The process umask, read once (from /proc on Linux; setting it briefly elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_prefix(target: str | os.PathLike[str]) -> str:
    """The start of every temporary name used while writing `target` (14 characters)."""
    return f".tsn-{zlib.crc32(os.fsencode(Path(target).name)):08x}-"


def stale_temp_paths(target: str | os.PathLike[str]) -> list[Path]:
    """Temporary files or folders an interrupted write of `target` left beside it."""
    target = Path(target)
    return sorted(target.parent.glob(f"{temp_prefix(target)}*.tmp"))


def sweep_stale_temps(*targets: str | os.PathLike[str]) -> int:
    """Remove what interrupted writes of `targets` left beside them (a SIGKILL skips the
    cleanup `atomic_path` does); how many were removed. Call it holding the output's lock, or
    where no other process writes `targets`: a running write's temporary name looks the same."""
    removed = 0
    for target in targets:
        for stale in stale_temp_paths(target):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            removed += 1
    return removed


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file's or a folder's data and metadata to the disk (a folder: its entries)."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if Path(path).is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError:
        # some file systems (and folders on some platforms) cannot fsync; the rename still holds
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file path beside `path`; rename it onto `path` only on success.

    On any exception (Ctrl-C included) the temporary file is removed and `path` is untouched.
    The file gets mode 0666 less the umask, as `open()` would give it; it is fsynced before the
    rename and its folder after it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        for tmp in _new_temp(target):  # named first: Ctrl-C anywhere is cleaned up
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                break
            except FileExistsError:
                tmp = None  # someone else's: never ours to clean up
                continue
        assert tmp is not None
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~current_umask())
            fsync_path(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
            _name_target(exc, tmp, target)
        raise


def _new_temp(target: Path) -> Iterator[Path]:
    """Yield fresh temporary names beside `target` (`.tsn-<hash>-<8 random hex>.tmp`, the shape
    `stale_temp_paths` finds); the caller records each name before creating it, so an
    interrupt landing at any point leaves nothing its clean-up does not know about."""
    for _ in range(1000):
        yield target.parent / f"{temp_prefix(target)}{secrets.token_hex(4)}.tmp"
    raise FileExistsError(f"no free temporary name beside {target}")


def _name_target(exc: BaseException, tmp: Path, target: Path) -> None:
    """An OSError while writing the temporary file names the real output (a failed
    `handle.write` names no file at all), so the user's error line shows the path they chose."""
    if isinstance(exc, OSError) and exc.filename in (None, str(tmp)):
        exc.filename = str(target)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` atomically, in UTF-8; file names that are not UTF-8 (held by Python
    as lone surrogates) are written back as their original bytes."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", errors="surrogateescape")


def needs_bytes_path(path: str | os.PathLike[str]) -> bool:
    """True when `path` holds bytes that are not UTF-8 (decoded as lone surrogates): OpenCV
    crashes on such a str, so read or write the file's bytes in Python instead."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], sync_files: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; rename it onto `path` only when the block succeeds.

    An existing `path` is replaced. On failure the temporary folder is removed. The folder gets
    mode 0777 less the umask, as `mkdir` would give it. Its files (with `sync_files`), then the
    folder, are fsynced before the rename, and the parent folder after it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        for tmp in _new_temp(target):
            try:
                os.mkdir(tmp, 0o700)
                break
            except FileExistsError:
                tmp = None  # someone else's: never ours to clean up
                continue
        assert tmp is not None
        os.chmod(tmp, 0o777 & ~current_umask())
        yield tmp
        if sync_files:
            for entry in os.scandir(tmp):
                if entry.is_file(follow_symlinks=False):
                    fsync_path(entry.path)
        fsync_path(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        fsync_path(target.parent)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclasses.dataclass
class Walk:
    """What `walk_tree` found under a root."""

    files: list[str] = dataclasses.field(default_factory=list)  # sorted pre-order
    # the same files' entries: `entry.stat()` is the one stat a caller needs (it follows links)
    entries: list[os.DirEntry[str]] = dataclasses.field(default_factory=list)
    folders: list[str] = dataclasses.field(default_factory=list)  # walked, root left out
    # folders without permission and dangling links, with why a folder could not be listed
    unreadable: list[str] = dataclasses.field(default_factory=list)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    # (folder link, the folder already walked that it leads to): each real folder is walked once
    loops: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def warn(self, log: logging.Logger, root: str | os.PathLike[str]) -> None:
        """One warning line for what could not be read and one for the loops, when any."""
        if self.unreadable:
            log.warning("%s", unreadable_warning(root, self.unreadable))
        if self.loops:
            log.warning("%s", loop_warning(root, self.loops))


def walk_tree(root: str | os.PathLike[str], max_depth: int | None = None) -> Walk:
    """Every file under `root` in sorted pre-order (hidden names skipped). Links to folders are
    followed, and each real folder (st_dev, st_ino) is walked once: a link back to an ancestor,
    or a second link to one folder, is recorded in `loops` instead of walked again, so a loop
    neither hangs nor lists a video twice. `max_depth` 1 lists `root`'s own files, 2 those of
    its subfolders too, and so on."""
    walk = Walk()
    seen: dict[tuple[int, int], str] = {}

    def open_folder(path: str) -> Iterator[os.DirEntry[str]] | None:
        try:
            st = os.stat(path)
            key = (st.st_dev, st.st_ino)
            if key in seen:
                walk.loops.append((path, seen[key]))
                return None
            seen[key] = path
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            walk.unreadable.append(path)
            walk.errors[path] = exc.strerror or str(exc)
            return None
        return iter(entries)

    first = open_folder(os.fspath(root))
    stack = [(first, 1)] if first is not None else []
    while stack:
        entries, depth = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()  # follows links
        except OSError:  # a link to itself (ELOOP): dangling, below
            is_dir = False
        if is_dir:
            if max_depth is None or depth < max_depth:
                inner = open_folder(entry.path)
                if inner is not None:
                    walk.folders.append(entry.path)
                    stack.append((inner, depth + 1))
        elif entry.is_symlink() and not os.path.exists(entry.path):
            walk.unreadable.append(entry.path)
        elif entry.is_file():
            walk.files.append(entry.path)
            walk.entries.append(entry)
    return walk


def walk_files(root: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """(files, unreadable) under `root` as `walk_tree` finds them; the loops it met are warned
    about here (one line), so every caller reports them the same way."""
    walk = walk_tree(root)
    if walk.loops:
        _log.warning("%s", loop_warning(root, walk.loops))
    return walk.files, walk.unreadable


def loop_warning(root: str | os.PathLike[str], loops: list[tuple[str, str]], shown: int = 3) -> str:
    """One warning line for the folder links `walk_tree` did not walk again, naming a few."""
    names = ", ".join(f"{link} -> {target}" for link, target in loops[:shown]) + (
        f" and {len(loops) - shown} more" if len(loops) > shown else ""
    )
    return (
        f"skipped {len(loops)} folder link(s) under {root} leading to a folder already walked "
        f"(a loop or a second link to one folder): {names}"
    )


def unreadable_warning(root: str | os.PathLike[str], unreadable: list[str], shown: int = 3) -> str:
    """One warning line for what `walk_files` could not read, naming the first few."""
    names = ", ".join(unreadable[:shown]) + (
        f" and {len(unreadable) - shown} more" if len(unreadable) > shown else ""
    )
    return (
        f"skipped {len(unreadable)} unreadable item(s) under {root} (folders without "
        f"permission or dangling links): {names}"
    )
