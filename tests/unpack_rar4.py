"""Write tiny RAR 4.x archives for tests (rarfile only reads RARs).

Stored (uncompressed) members by default, which `rarfile` reads without any unrar backend. A
member can also be flagged as compressed (method 0x33, bytes kept as-is) to exercise the
"needs a backend" path, or carry a Unix mode for symlinks and device files.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

MARKER = b"Rar!\x1a\x07\x00"
HOST_UNIX = 3
STORED, BEST = 0x30, 0x35
FLAG_LONG_BLOCK = 0x8000
FLAG_DIRECTORY = 0x00E0
DOS_TIME = ((2016 - 1980) << 25) | (1 << 21) | (1 << 16)  # 2016-01-01 00:00:00


@dataclass(frozen=True)
class Member:
    """One archive member: a file (default), a directory, or a Unix special file by `mode`."""

    name: str
    data: bytes = b""
    mode: int = 0o100644
    method: int = STORED
    directory: bool = False


def _block(head_type: int, flags: int, body: bytes) -> bytes:
    size = 7 + len(body)
    without_crc = struct.pack("<BHH", head_type, flags, size) + body
    return struct.pack("<H", zlib.crc32(without_crc) & 0xFFFF) + without_crc


def _file_block(member: Member) -> bytes:
    name = member.name.encode("utf-8")
    data = b"" if member.directory else member.data
    flags = FLAG_LONG_BLOCK | (FLAG_DIRECTORY if member.directory else 0)
    mode = 0o040755 if member.directory else member.mode
    fields = struct.pack(
        "<LLBLLBBHL",
        len(data),  # packed size (== ADD_SIZE)
        len(data),  # unpacked size
        HOST_UNIX,
        zlib.crc32(data),
        DOS_TIME,
        20,  # version needed to extract (2.0)
        member.method,
        len(name),
        mode,
    )
    return _block(0x74, flags, fields + name) + data


def rar4_bytes(members: list[Member]) -> bytes:
    """A RAR 4.x archive holding `members` in order."""
    out = [MARKER, _block(0x73, 0, b"\x00" * 6)]
    out += [_file_block(m) for m in members]
    out.append(_block(0x7B, 0x4000, b""))
    return b"".join(out)


def write_rar4(path: Path, members: list[Member]) -> Path:
    """Write a RAR 4.x archive to `path`; return `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rar4_bytes(members))
    return path


def files(mapping: dict[str, bytes]) -> list[Member]:
    """Stored members from a {name: data} mapping."""
    return [Member(name, data) for name, data in mapping.items()]
