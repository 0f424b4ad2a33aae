"""dense_flow's zip frames (`img.zip`, `flow_x.zip`, `flow_y.zip` per video): writing one
archive atomically with its entries stored, reading entries by offset from a central directory
parsed once, and a per-process cache of open archives for loader workers.

The reader is its own small parser instead of `zipfile` because a loader reads a few entries of
many archives: `zipfile` re-reads each entry's local header through a buffered file object and
a lock, while here one `os.pread` fetches header and data together. Entries may be STORED (what
`tsn` writes: JPEG does not deflate) or DEFLATED (dense_flow's libzip default); Zip64 archives
(more than 65,535 entries or 4 GiB) are read too.
"""

from __future__ import annotations

import collections
import contextlib
import os
import struct
import threading
import zipfile
import zlib
from pathlib import Path
from types import TracebackType

from tsncli.errors import DataError
from tsncli.fsutil import atomic_path

# Entries get one fixed timestamp so packing the same frames twice gives the same archive bytes.
_ENTRY_TIME = (1980, 1, 1, 0, 0, 0)
_FIX = "re-extract this video with `tsn flow` (or rebuild it from frame folders with `tsn pack`)"


class ZipFrameWriter:
    """Write one frames archive: entries are STORED and streamed to a temporary file beside
    `final_path` (the `fsutil` temporary-name shape, so `sweep_stale_temps(final_path)` finds
    what a killed run left); a clean exit closes, fsyncs and renames it onto `final_path`, an
    exception removes it and leaves `final_path` as it was. Memory holds one entry at a time
    (plus the central directory's few dozen bytes per entry)."""

    def __init__(self, final_path: str | os.PathLike[str]) -> None:
        self.final_path = Path(final_path)
        self._stack = contextlib.ExitStack()
        self._zip: zipfile.ZipFile | None = None
        self._names: set[str] = set()

    def __enter__(self) -> ZipFrameWriter:
        tmp = self._stack.enter_context(atomic_path(self.final_path))
        self._zip = zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED)
        return self

    def add(self, entry: str, data: bytes) -> None:
        """Append `entry` holding `data` (stored, not compressed)."""
        if self._zip is None:
            raise RuntimeError("ZipFrameWriter.add outside its `with` block")
        if entry in self._names:  # zipfile would only warn and write a second copy
            raise ValueError(f"entry {entry} added twice to {self.final_path}")
        self._names.add(entry)
        info = zipfile.ZipInfo(entry, date_time=_ENTRY_TIME)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16  # a regular file, rw-r--r--, when unzipped
        self._zip.writestr(info, data)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        archive, self._zip = self._zip, None
        if archive is not None and exc is None:
            try:
                archive.close()  # writes the central directory; atomic_path fsyncs and renames
            except BaseException as failed:  # a full disk: the temporary file goes too
                self._stack.__exit__(type(failed), failed, failed.__traceback__)
                raise
        elif archive is not None:
            with contextlib.suppress(Exception):  # only to release the file; it is removed next
                archive.close()
        return bool(self._stack.__exit__(exc_type, exc, traceback))


# --- reading ---------------------------------------------------------------------------------
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record (22 bytes)
_EOCD64_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes, just before the EOCD
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # 56 bytes
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header (46 bytes)
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # local file header (30 bytes)
_MAX_COMMENT = 0xFFFF
_STORED, _DEFLATED = 0, 8
_EXTRA_SLACK = 64
_FIRST_TAIL = 8192  # bytes read from an archive's end first: ~130 entries' central directory


class ZipFrameReader:
    """Read entries of one archive by offset. The central directory is parsed once into
    `{name: (local header offset, compressed size, size, method, crc)}`; a read is one `os.pread`
    of the local header and data together. Every failure (a missing entry, a bad header, a CRC
    mismatch, a truncated archive) is one DataError naming the archive and the entry."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd = -1  # set first: __del__ runs even when opening fails
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            raise DataError(f"frames archive {self.path} is missing; {_FIX}") from None
        except OSError as exc:
            raise DataError(
                f"frames archive {self.path} cannot be opened ({exc.strerror}); check its "
                "permissions"
            ) from None
        try:
            self._entries = self._read_central_directory()
        except BaseException:
            self.close()  # marks it closed, so __del__ never closes a reused descriptor number
            raise
        # data offsets found so far (a local header's own extra field can differ from the
        # central one, so the data start is confirmed on the first read of each entry)
        self._data_offsets: dict[str, int] = {}

    def _bad(self, problem: str, entry: str = "") -> DataError:
        what = f"{self.path} (entry {entry})" if entry else self.path
        return DataError(f"frames archive {what} {problem}; {_FIX}")

    def _pread(self, size: int, offset: int) -> bytes:
        try:
            return os.pread(self._fd, size, offset)
        except OSError as exc:
            raise self._bad(f"cannot be read ({exc.strerror})") from None

    def _read_central_directory(self) -> dict[str, tuple[int, int, int, int, int]]:
        size = os.fstat(self._fd).st_size
        if size < _EOCD.size:
            raise self._bad(f"is truncated or not a zip ({size} bytes)")
        # one read of the last few KiB usually holds the end record and the whole central
        # directory (about 60 bytes per frame); a long archive comment needs the longer read
        tail_start = max(0, size - _FIRST_TAIL)
        tail = self._pread(size - tail_start, tail_start)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 and tail_start > 0:
            tail_start = max(0, size - (_EOCD.size + _MAX_COMMENT + _EOCD64_LOCATOR.size))
            tail = self._pread(size - tail_start, tail_start)
            at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + _EOCD.size > len(tail):
            raise self._bad("is truncated or not a zip (no end of central directory)")
        _, disk, _, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
        if disk != 0:
            raise self._bad("is a multi-part archive, which is not supported")
        locator = at - _EOCD64_LOCATOR.size
        if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
            eocd64_offset = _EOCD64_LOCATOR.unpack_from(tail, locator)[2]
            record = self._pread(_EOCD64.size, eocd64_offset)
            if len(record) < _EOCD64.size or record[:4] != b"PK\x06\x06":
                raise self._bad("has a corrupt Zip64 end of central directory")
            count, cd_size, cd_offset = _EOCD64.unpack(record)[7:10]
        if cd_offset + cd_size > size:
            raise self._bad("is truncated (its central directory lies past the end)")
        if cd_offset >= tail_start:
            directory = tail[cd_offset - tail_start : cd_offset - tail_start + cd_size]
        else:
            directory = self._pread(cd_size, cd_offset)
        try:
            return self._parse_central_directory(directory, count)
        except (struct.error, StopIteration, UnicodeDecodeError):
            raise self._bad("has a corrupt central directory") from None

    def _parse_central_directory(
        self, directory: bytes, count: int
    ) -> dict[str, tuple[int, int, int, int, int]]:
        # a loader opens an archive per video it samples: this loop is the cost of an open
        entries: dict[str, tuple[int, int, int, int, int]] = {}
        unpack, header, end, pos = _CENTRAL.unpack_from, _CENTRAL.size, len(directory), 0
        for _ in range(count):
            if pos + header > end:
                raise self._bad("has a corrupt central directory (it ends early)")
            (sig, _, _, _, _, flags, method, _, _, crc, compressed, plain, name_len, extra_len,
             comment_len, _, _, _, offset) = unpack(directory, pos)  # fmt: skip
            if sig != b"PK\x01\x02":
                raise self._bad("has a corrupt central directory (bad entry signature)")
            start = pos + header
            raw = directory[start : start + name_len]
            # UTF-8 when flagged; else cp437, which ASCII names (all of dense_flow's) equal
            name = raw.decode("utf-8" if flags & 0x800 or raw.isascii() else "cp437")
            start += name_len
            if compressed == 0xFFFFFFFF or plain == 0xFFFFFFFF or offset == 0xFFFFFFFF:
                plain, compressed, offset = _zip64_sizes(
                    directory[start : start + extra_len], plain, compressed, offset
                )
            if flags & 0x1:
                raise self._bad("is encrypted, which is not supported", name)
            entries[name] = (offset, compressed, plain, method, crc)
            pos = start + extra_len + comment_len
        return entries

    def names(self) -> list[str]:
        """The entry names, in archive order."""
        return list(self._entries)

    def __contains__(self, entry: object) -> bool:
        return entry in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def read(self, entry: str) -> bytes:
        """The bytes of `entry`, decompressed and CRC-checked."""
        found = self._entries.get(entry)
        if found is None:
            raise self._bad("is missing", entry)
        header_offset, compressed, plain, method, crc = found
        data_offset = self._data_offsets.get(entry)
        if data_offset is None:
            # header and data in one pread, guessing the local extra field (none from zipfile, a
            # timestamp from some tools) fits in _EXTRA_SLACK bytes; a longer one costs a second
            name = entry.encode("utf-8")
            block = self._pread(_LOCAL.size + len(name) + _EXTRA_SLACK + compressed, header_offset)
            if len(block) < _LOCAL.size:
                raise self._bad("is truncated (a local header lies past the end)", entry)
            fields = _LOCAL.unpack_from(block)
            if fields[0] != b"PK\x03\x04":
                raise self._bad("has a corrupt local header", entry)
            name_len, extra_len = fields[10], fields[11]
            data_offset = header_offset + _LOCAL.size + name_len + extra_len
            self._data_offsets[entry] = data_offset
            start = _LOCAL.size + name_len + extra_len
            data = block[start : start + compressed]
            if len(data) != compressed:
                data = self._pread(compressed, data_offset)
        else:
            data = self._pread(compressed, data_offset)
        if len(data) != compressed:
            raise self._bad("is truncated (its data ends early)", entry)
        if method == _DEFLATED:
            try:
                data = zlib.decompress(data, -15)
            except zlib.error:
                raise self._bad("does not inflate (corrupt deflate data)", entry) from None
        elif method != _STORED:
            raise self._bad(f"uses compression method {method}; only stored and deflate", entry)
        if len(data) != plain or zlib.crc32(data) != crc:
            raise self._bad("fails its CRC check (corrupt data)", entry)
        return data

    def close(self) -> None:
        """Close the archive's file descriptor (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ZipFrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _zip64_sizes(extra: bytes, plain: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """The Zip64 extra field's sizes and offset, for those the central header gave as 0xFFFFFFFF
    (the field holds only those, in this order)."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<2H", extra, pos)
        if tag == 0x0001:
            values = iter(struct.unpack_from(f"<{size // 8}Q", extra, pos + 4))
            if plain == 0xFFFFFFFF:
                plain = next(values)
            if compressed == 0xFFFFFFFF:
                compressed = next(values)
            if offset == 0xFFFFFFFF:
                offset = next(values)
            break
        pos += 4 + size
    return plain, compressed, offset


# --- a per-process cache of open archives ----------------------------------------------------
_CACHE_SIZE = 64  # archives held open per process (about 21 videos' three zips)
_cache: collections.OrderedDict[tuple[str, int, int], ZipFrameReader] = collections.OrderedDict()
_cache_pid = os.getpid()
_cache_lock = threading.Lock()


def open_frame_zip(path: str | os.PathLike[str]) -> ZipFrameReader:
    """A reader for `path` from this process's cache, opened and parsed on the first use. Keyed
    by path, mtime and size, so a rewritten archive is reopened; past 64 archives the least
    recently used is dropped (and closed); a forked worker starts its own cache, so it never
    shares the parent's file descriptors."""
    global _cache_pid
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"frames archive {path} is missing; {_FIX}") from None
    key = (path, st.st_mtime_ns, st.st_size)
    with _cache_lock:
        if _cache_pid != os.getpid():
            _cache.clear()  # the parent's readers: closing them closes only this copy's fds
            _cache_pid = os.getpid()
        reader = _cache.get(key)
        if reader is not None:
            _cache.move_to_end(key)
            return reader
    reader = ZipFrameReader(path)
    with _cache_lock:
        _cache[key] = reader
        while len(_cache) > _CACHE_SIZE:
            # dropped, not closed: the last reference going closes it (CPython, at once), and a
            # thread still reading the evicted archive keeps a working fd until it is done
            _cache.popitem(last=False)
    return reader


def clear_frame_zip_cache() -> None:
    """Close every cached reader of this process."""
    with _cache_lock:
        while _cache:
            _cache.popitem()[1].close()
