"""Tiny generated videos (MJPG/XVID .avi, mp4v .mp4) and container bytes for video-source tests."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import cv2
import numpy as np
from flow_helpers import shifted_frames

CODECS = {"mjpg": ("MJPG", "avi"), "xvid": ("XVID", "avi"), "mp4v": ("mp4v", "mp4")}


def make_video(
    folder: Path, name: str, codec: str = "mjpg", n: int = 40, size: tuple[int, int] = (64, 48)
) -> Path:
    """A video of a texture moving right 2 px per frame (so XVID/mp4v write P-frames)."""
    fourcc, ext = CODECS[codec]
    path = folder / f"{name}.{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} here"
    seed = sum(map(ord, name)) % 1000
    for frame in shifted_frames(n, width, height, 2, 1, seed=seed, channels=3):
        writer.write(frame)
    writer.release()
    return path


def decode_all(path: Path) -> list[np.ndarray]:
    """Every frame of a video, decoded from the start with plain PyAV (the reference): BGR."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def box(kind: bytes, payload: bytes) -> bytes:
    """One ISO-BMFF box."""
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, body: bytes, version: int = 0) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + body)


def mp4_bytes(samples: int, sync: list[int] | None, ctts: list[int] | None = None) -> bytes:
    """A skeleton MP4 whose video track has `samples` samples, 1-based `sync` samples (no stss
    box when None) and per-sample composition offsets `ctts`; enough for the keyframe parser."""
    stbl = full_box(b"stsz", struct.pack(">II", 0, samples))
    stbl += full_box(b"stts", struct.pack(">III", 1, samples, 100))
    if sync is not None:
        stbl += full_box(b"stss", struct.pack(f">I{len(sync)}I", len(sync), *sync))
    if ctts is not None:
        runs = b"".join(struct.pack(">Ii", 1, c) for c in ctts)
        stbl += full_box(b"ctts", struct.pack(">I", len(ctts)) + runs, version=1)
    sound = box(b"trak", box(b"mdia", full_box(b"hdlr", b"\0" * 4 + b"soun" + b"\0" * 13)))
    video = box(
        b"trak",
        box(
            b"mdia",
            full_box(b"hdlr", b"\0" * 4 + b"vide" + b"\0" * 13) + box(b"minf", box(b"stbl", stbl)),
        ),
    )
    return box(b"ftyp", b"isom\0\0\0\0") + box(b"moov", sound + video) + box(b"mdat", b"")


def chunk(fourcc: bytes, data: bytes) -> bytes:
    return struct.pack("<4sI", fourcc, len(data)) + data + (b"\0" if len(data) & 1 else b"")


def riff_list(kind: bytes, body: bytes, outer: bytes = b"LIST") -> bytes:
    return struct.pack("<4sI4s", outer, len(body) + 4, kind) + body


def avi_bytes(keys: list[bool], odml: bool = False) -> bytes:
    """A skeleton AVI with an audio stream 0 and a video stream 1 whose frames are keyframes
    where `keys` says: an idx1 index, or (odml) an OpenDML `indx` super index and `ix01`."""
    audio = riff_list(b"strl", chunk(b"strh", b"auds" + b"\0" * 52))
    video_header = chunk(b"strh", b"vids" + b"\0" * 52)
    frames = b"".join(chunk(b"01dc" if i % 2 == 0 else b"01dc", b"x" * 4) for i in range(len(keys)))
    movi = riff_list(b"movi", chunk(b"00wb", b"aa") + frames)
    hdrl_without_indx = riff_list(b"hdrl", chunk(b"avih", b"\0" * 56) + audio)
    if not odml:
        video = riff_list(b"strl", video_header)
        hdrl = riff_list(b"hdrl", chunk(b"avih", b"\0" * 56) + audio + video)
        entries = [struct.pack("<4sIII", b"00wb", 0x10, 4, 2)]
        entries += [struct.pack("<4sIII", b"01dc", 0x10 if k else 0, 4, 4) for k in keys]
        body = hdrl + movi + chunk(b"idx1", b"".join(entries))
        return riff_list(b"AVI ", body, outer=b"RIFF")
    # the super index points at an ix01 chunk placed after movi; compute its offset
    ix_entries = b"".join(struct.pack("<II", 0, 4 | (0 if k else 0x80000000)) for k in keys)
    ix01 = chunk(b"ix01", struct.pack("<HBBI4sQI", 2, 0, 1, len(keys), b"01dc", 0, 0) + ix_entries)
    indx_len = 24 + 16
    video = riff_list(b"strl", video_header + chunk(b"indx", b"\0" * indx_len))
    hdrl = riff_list(b"hdrl", chunk(b"avih", b"\0" * 56) + audio + video)
    ix_offset = 12 + len(hdrl) + len(movi)
    indx = struct.pack("<HBBI4sIII", 4, 0, 0, 1, b"01dc", 0, 0, 0)
    indx += struct.pack("<QII", ix_offset, len(ix01), len(keys))
    video = riff_list(b"strl", video_header + chunk(b"indx", indx))
    hdrl = riff_list(b"hdrl", chunk(b"avih", b"\0" * 56) + audio + video)
    assert len(hdrl_without_indx) < len(hdrl)
    return riff_list(b"AVI ", hdrl + movi + ix01, outer=b"RIFF")
