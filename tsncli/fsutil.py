"""Atomic file and folder writes: temporary name first, rename when complete (DESIGN rule 8);
walking a tree that reports what it could not read.

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
import functools
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path


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
    fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~current_umask())
            fsync_path(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        _name_target(exc, tmp, target)
        raise


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
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent))
    try:
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
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def walk_files(root: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """(files, unreadable) under `root`: files in sorted walk order (hidden names skipped, links
    to folders not followed), and what could not be read: folders without permission and
    dangling links, for one warning instead of a silent skip."""
    files: list[str] = []
    unreadable: list[str] = []
    stack = [os.fspath(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            unreadable.append(folder)
            continue
        folders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
            elif entry.is_symlink() and not os.path.exists(entry.path):
                unreadable.append(entry.path)
            elif entry.is_file():
                files.append(entry.path)
        stack.extend(reversed(folders))
    return files, unreadable


def unreadable_warning(root: str | os.PathLike[str], unreadable: list[str], shown: int = 3) -> str:
    """One warning line for what `walk_files` could not read, naming the first few."""
    names = ", ".join(unreadable[:shown]) + (
        f" and {len(unreadable) - shown} more" if len(unreadable) > shown else ""
    )
    return (
        f"skipped {len(unreadable)} unreadable item(s) under {root} (folders without "
        f"permission or dangling links): {names}"
    )
