"""Safe RAR/ZIP extraction: nothing is written outside DEST, and a finished archive is a no-op.

Every member name is checked before anything is written (absolute paths, `..`, device files and
links pointing outside are refused, naming the member). Members are streamed into a temporary
folder inside DEST, moved into place when all are done (files DEST already holds unchanged are
skipped; a different one is refused without force), and a marker records the archive.
Stored RAR members are read by `rarfile` alone; compressed ones need an unrar-like tool.
"""

from __future__ import annotations

import filecmp
import json
import os
import posixpath
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import rarfile

from tsncli.errors import DataError
from tsncli.progress import ProgressFn, Tracker

ARCHIVE_SUFFIXES = (".rar", ".zip")
COPY_BYTES = 1 << 20
INSTALL_HINT = (
    "install a RAR tool and rerun: `apt-get install unar` (or unrar, 7zip, libarchive-tools "
    "for bsdtar; macOS: `brew install unar`)"
)


@dataclass(frozen=True)
class Member:
    """One archive member with a checked, relative POSIX name."""

    name: str
    kind: str  # "file" | "dir" | "symlink"
    size: int
    info: Any  # the RarInfo / ZipInfo


def safe_member_name(name: str, archive: Path) -> str:
    """`name` as a relative POSIX path, or DataError when it could escape the destination."""
    cleaned = name.replace("\\", "/")
    parts = [p for p in cleaned.split("/") if p not in ("", ".")]
    if (
        cleaned.startswith("/")
        or (len(cleaned) > 1 and cleaned[1] == ":")
        or ".." in parts
        or "\x00" in cleaned
    ):
        raise DataError(f"refusing member {name!r} of {archive}: its path leaves the destination")
    return "/".join(parts)


def _kind_from_mode(mode: int, is_dir: bool, name: str, archive: Path) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise DataError(f"refusing member {name!r} of {archive}: it is a device or special file")
    return "dir" if is_dir else "file"


class ArchiveReader:
    """A RAR or ZIP opened for listing and streaming members (use as a context manager)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        try:
            if suffix == ".zip" or (suffix != ".rar" and zipfile.is_zipfile(self.path)):
                self._zip: zipfile.ZipFile | None = zipfile.ZipFile(self.path)
                self._rar = None
            else:
                self._rar = rarfile.RarFile(str(self.path))
                self._zip = None
        except FileNotFoundError:
            raise DataError(f"archive {self.path} does not exist") from None
        except (rarfile.Error, zipfile.BadZipFile, OSError) as exc:
            raise DataError(
                f"{self.path} is not a readable RAR/ZIP ({exc}); a truncated download? "
                "download it again with `tsn fetch NAME --force` (without --force, fetch keeps "
                "the file it has)"
            ) from None
        self.members = self._list()

    def _list(self) -> list[Member]:
        out = []
        if self._zip is not None:
            for info in self._zip.infolist():
                mode = info.external_attr >> 16
                kind = _kind_from_mode(mode, info.is_dir(), info.filename, self.path)
                name = safe_member_name(info.filename, self.path)
                if name:
                    out.append(Member(name, kind, info.file_size, info))
            return out
        for info in self._rar.infolist():
            if info.needs_password():
                raise DataError(f"{self.path} member {info.filename!r} is encrypted; unsupported")
            is_dir, link = info.is_dir(), info.is_symlink()
            mode = info.mode if info.host_os == rarfile.RAR_OS_UNIX else 0
            kind = "symlink" if link else _kind_from_mode(mode, is_dir, info.filename, self.path)
            name = safe_member_name(info.filename, self.path)
            if name:
                out.append(Member(name, kind, info.file_size, info))
        return out

    @property
    def needs_backend(self) -> bool:
        """True for a RAR with compressed members (rarfile then needs unrar/unar/7z/bsdtar)."""
        if self._rar is None:
            return False
        return any(m.info.compress_type != rarfile.RAR_M0 for m in self.members if m.kind != "dir")

    def open(self, member: Member) -> IO[bytes]:
        """A binary stream of the member's bytes."""
        if self._zip is not None:
            return self._zip.open(member.info)
        return self._rar.open(member.info)

    def close(self) -> None:
        (self._zip or self._rar).close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_backend(reader: ArchiveReader) -> None:
    """Raise DataError naming the install command when a compressed RAR has no tool to read it."""
    if not reader.needs_backend:
        return
    try:
        rarfile.tool_setup()
    except rarfile.RarCannotExec:
        raise DataError(
            f"{reader.path} is a compressed RAR and no RAR tool was found; {INSTALL_HINT}"
        ) from None


def _inside(root: Path, path: Path) -> bool:
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)


def _write_member(reader: ArchiveReader, member: Member, root: Path) -> None:
    target = root / member.name
    if not _inside(root, target.parent):  # a link created earlier must not redirect us
        raise DataError(f"refusing member {member.name!r} of {reader.path}: it goes through a link")
    if member.kind == "dir":
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with reader.open(member) as src:
            if member.kind == "symlink":
                link = src.read().decode("utf-8", "replace")
                where = posixpath.normpath(posixpath.join(posixpath.dirname(member.name), link))
                if posixpath.isabs(link) or where.split("/")[0] == "..":
                    raise DataError(
                        f"refusing member {member.name!r} of {reader.path}: "
                        f"a link to {link!r} outside the destination"
                    )
                os.symlink(link, target)
                if not _inside(root, target):
                    target.unlink()
                    raise DataError(f"refusing member {member.name!r}: it resolves outside")
                return
            with open(target, "wb") as out:
                shutil.copyfileobj(src, out, COPY_BYTES)
    except rarfile.RarCannotExec:
        raise DataError(f"{reader.path} needs a RAR tool to extract; {INSTALL_HINT}") from None
    except (rarfile.Error, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{reader.path}: member {member.name!r} is corrupt ({exc})") from None


def _marker(dest: Path, archive: Path) -> Path:
    return dest / f".tsn-unpacked-{archive.name}.json"


def _fingerprint(archive: Path) -> dict:
    info = archive.stat()
    return {"archive": archive.name, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def is_unpacked(archive: Path, dest: Path) -> bool:
    """True when `archive` was fully extracted into `dest` by an earlier run."""
    try:
        recorded = json.loads(_marker(dest, archive).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return archive.exists() is False or recorded == _fingerprint(archive)


def _merge_move(src: Path, dst: Path) -> None:
    """Move `src` onto `dst`; folders merge, files replace."""
    if src.is_dir() and not src.is_symlink() and dst.is_dir() and not dst.is_symlink():
        for child in src.iterdir():
            _merge_move(child, dst / child.name)
        src.rmdir()
    else:
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        os.replace(src, dst)


def _same(new: Path, old: Path) -> bool:
    """True when `old` already holds exactly what `new` would put there."""
    if new.is_symlink() or old.is_symlink():
        return new.is_symlink() and old.is_symlink() and os.readlink(new) == os.readlink(old)
    if not old.is_file() or new.stat().st_size != old.stat().st_size:
        return False
    return filecmp.cmp(new, old, shallow=False)


def _drop_unchanged(tmp: Path, dest: Path, archive: Path, force: bool) -> None:
    """Remove extracted files `dest` already holds; refuse (unless `force`) to replace a file
    whose content differs, naming it, before anything is moved."""
    changed = []
    for new in sorted(tmp.rglob("*")):
        old = dest / new.relative_to(tmp)
        if not (old.exists() or old.is_symlink()):
            continue
        if new.is_dir() and not new.is_symlink():
            if not old.is_dir() or old.is_symlink():
                changed.append(old)  # a folder in the archive where DEST has a file
            continue
        if _same(new, old):
            new.unlink()
        else:
            changed.append(old)
    if changed and not force:
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        raise DataError(
            f"unpacking {archive.name} would replace {changed[0]}{more}, which differ from the "
            "archive; move them away, or pass --force to overwrite them"
        )


def extract_archive(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    force: bool = False,
    on_progress: ProgressFn | None = None,
) -> str:
    """Safely extract a RAR or ZIP into `dest`; return `extracted` or `skipped` (done before).

    All members are checked first; extraction goes to a temporary folder inside `dest`, which
    is merged into `dest` only when every member is written. Progress counts members, under
    the archive's name.
    """
    archive, dest = Path(archive), Path(dest)
    if not force and is_unpacked(archive, dest):
        return "skipped"
    with ArchiveReader(archive) as reader:
        if not reader.members:  # a truncated RAR lists nothing rather than failing
            raise DataError(
                f"{archive} holds no files; a truncated download? download it again with "
                "`tsn fetch NAME --force` (without --force, fetch keeps the file it has)"
            )
        check_backend(reader)
        dest.mkdir(parents=True, exist_ok=True)
        tmp = dest / f".tsn-unpack-{archive.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            tracker = Tracker(on_progress, archive.name, len(reader.members))
            for done, member in enumerate(reader.members, 1):
                _write_member(reader, member, tmp)
                tracker.update(done)
            _drop_unchanged(tmp, dest, archive, force)
            for child in list(tmp.iterdir()):
                _merge_move(child, dest / child.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    _marker(dest, archive).write_text(json.dumps(_fingerprint(archive)) + "\n", encoding="utf-8")
    return "extracted"


def list_member_names(archive: str | os.PathLike[str]) -> list[str]:
    """The checked names of every file member (for telling videos from split archives)."""
    with ArchiveReader(Path(archive)) as reader:
        return [m.name for m in reader.members if m.kind == "file"]
