"""Keyframe positions read from the container's own index: AVI `idx1`/OpenDML `ix##` keyframe
flags and the MP4/MOV `stss` sync-sample box (ordered by presentation time via `stts`/`ctts`).

OpenCV does not expose keyframes, so these small parsers read them. Positions are 0-based frame
numbers in display order. `None` means "unknown" (other container, no index, a file this parser
does not understand); callers then decode forward from a known position instead of seeking.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

AVI_KEYFRAME = 0x10  # AVIIF_KEYFRAME in idx1 flags
ODML_DELTA = 0x80000000  # bit 31 of an ix## entry's size: not a keyframe
MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


def read_keyframes(path: str | os.PathLike[str]) -> tuple[list[int] | None, int | None]:
    """(keyframe positions, frames the index lists) of a video; (None, None) when unknown."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            f.seek(0)
            if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
                return parse_avi(f)
            if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
                return parse_mp4(f)
    except (OSError, struct.error, ValueError, IndexError):
        pass
    return None, None


# ---- AVI --------------------------------------------------------------------------------------


def _chunks(f: BinaryIO, start: int, end: int):
    """Yield (fourcc, data offset, size, list type or None) of the RIFF chunks in [start, end)."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        header = f.read(12)
        if len(header) < 8:
            return
        fourcc, size = header[:4], struct.unpack("<I", header[4:8])[0]
        kind = header[8:12] if fourcc in (b"LIST", b"RIFF") else None
        yield fourcc, pos + 8, size, kind
        pos += 8 + size + (size & 1)


def parse_avi(f: BinaryIO) -> tuple[list[int] | None, int | None]:
    """Keyframes of the first video stream from OpenDML `ix##` indexes, else `idx1`."""
    f.seek(0, os.SEEK_END)
    file_end = f.tell()
    stream, movi_start, idx1 = None, None, None
    odml: list[tuple[int, int]] = []  # (offset, size) of the video stream's ix## chunks
    riffs = [(off, size) for cc, off, size, _ in _chunks(f, 0, file_end) if cc == b"RIFF"]
    for riff_off, riff_size in riffs:
        for cc, off, size, kind in _chunks(f, riff_off + 4, min(riff_off + riff_size, file_end)):
            if kind == b"hdrl":
                stream, odml = _avi_header(f, off + 4, off + size)
            elif kind == b"movi" and movi_start is None:
                movi_start = off  # idx1 offsets count from the 'movi' fourcc
            elif cc == b"idx1":
                idx1 = (off, size)
    if stream is None:
        return None, None
    if odml:
        flags: list[bool] = []
        for off, _size in odml:
            flags += _odml_flags(f, off)
        if flags:
            return [i for i, key in enumerate(flags) if key], len(flags)
    if idx1 is None or movi_start is None:
        return None, None
    f.seek(idx1[0])
    data = f.read(idx1[1])
    tag = f"{stream:02d}".encode()
    keys: list[bool] = []
    for ckid, flag, _off, _size in struct.iter_unpack("<4sIII", data[: len(data) // 16 * 16]):
        if ckid[:2] == tag and ckid[2:4] in (b"dc", b"db"):
            keys.append(bool(flag & AVI_KEYFRAME))
    return ([i for i, key in enumerate(keys) if key], len(keys)) if keys else (None, None)


def _avi_header(f: BinaryIO, start: int, end: int) -> tuple[int | None, list[tuple[int, int]]]:
    """(number of the first video stream, its OpenDML standard index chunks) from 'hdrl'."""
    number = 0
    for _cc, off, size, kind in list(_chunks(f, start, end)):
        if kind != b"strl":
            continue
        is_video, indexes = False, []
        for cc, sub_off, sub_size, _ in list(_chunks(f, off + 4, off + size)):
            if cc == b"strh":
                f.seek(sub_off)
                is_video = f.read(4) == b"vids"
            elif cc == b"indx":
                indexes = _odml_super_index(f, sub_off, sub_size)
        if is_video:
            return number, indexes
        number += 1
    return None, []


def _odml_super_index(f: BinaryIO, off: int, size: int) -> list[tuple[int, int]]:
    f.seek(off)
    data = f.read(size)
    _per, sub_type, index_type, entries = struct.unpack("<HBBI", data[:8])
    if index_type != 0 or sub_type != 0:  # AVI_INDEX_OF_INDEXES only
        return []
    table = data[24 : 24 + 16 * entries]
    return [(o, s) for o, s, _dur in struct.iter_unpack("<QII", table)]


def _odml_flags(f: BinaryIO, off: int) -> list[bool]:
    f.seek(off + 8)  # skip the ix## fourcc and size
    head = f.read(24)
    _per, _sub, index_type, entries = struct.unpack("<HBBI", head[:8])
    if index_type != 1:  # AVI_INDEX_OF_CHUNKS
        return []
    data = f.read(8 * entries)
    return [not (size & ODML_DELTA) for _o, size in struct.iter_unpack("<II", data)]


# ---- MP4 / MOV --------------------------------------------------------------------------------


def _boxes(f: BinaryIO, start: int, end: int):
    """Yield (type, payload offset, payload size) of the ISO-BMFF boxes in [start, end)."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        size, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", f.read(8))[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, size - header
        pos += size


def _video_tables(f: BinaryIO, start: int, end: int, found: dict) -> None:
    for kind, off, size in _boxes(f, start, end):
        if kind == b"trak":
            track: dict = {}
            _video_tables(f, off, off + size, track)
            if track.get("handler") == b"vide" and "video" not in found:
                found["video"] = track
        elif kind in MP4_CONTAINERS:
            _video_tables(f, off, off + size, found)
        elif kind == b"hdlr":
            f.seek(off + 8)
            found["handler"] = f.read(4)
        elif kind in (b"stss", b"stts", b"ctts", b"stsz", b"elst"):
            f.seek(off)
            found[kind.decode()] = f.read(size)


def _runs(data: bytes, fmt: str) -> list[tuple[int, int]]:
    count = struct.unpack(">I", data[4:8])[0]
    return list(struct.iter_unpack(fmt, data[8 : 8 + 8 * count]))


def parse_mp4(f: BinaryIO) -> tuple[list[int] | None, int | None]:
    """Keyframes of the first video track: `stss` sync samples mapped to display order."""
    f.seek(0, os.SEEK_END)
    found: dict = {}
    _video_tables(f, 0, f.tell(), found)
    track = found.get("video")
    if not track or "stsz" not in track or "stts" not in track:
        return None, None
    stsz = track["stsz"]
    count = struct.unpack(">I", stsz[8:12])[0]
    if "stss" not in track:  # no stss box: every sample is a sync sample
        return list(range(count)), count
    sync = [n - 1 for (n,) in struct.iter_unpack(">I", track["stss"][8:])][
        : struct.unpack(">I", track["stss"][4:8])[0]
    ]
    if "ctts" not in track:  # decode order is display order
        return sorted(s for s in sync if s < count), count
    dts: list[int] = []
    t = 0
    for n, delta in _runs(track["stts"], ">II"):
        for _ in range(n):
            dts.append(t)
            t += delta
    signed = track["ctts"][0] == 1
    offsets: list[int] = []
    for n, offset in _runs(track["ctts"], ">Ii" if signed else ">II"):
        offsets += [offset] * n
    if len(dts) < count or len(offsets) < count:
        return None, None
    pts = [dts[i] + offsets[i] for i in range(count)]
    display = {s: r for r, s in enumerate(sorted(range(count), key=lambda i: (pts[i], i)))}
    return sorted(display[s] for s in sync if s < count), count
