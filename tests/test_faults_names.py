"""File names that are not UTF-8 (bytes Python holds as lone surrogates) work end to end, or
fail for that one video with a reason; OpenCV never sees them (it segfaults). Issue 16, #1.

Steps that crashed the interpreter run in a subprocess, so a regression fails one test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from flow_helpers import moving_video

from tsncli.fsutil import needs_bytes_path
from tsncli.lists.listfile import read_list

BAD = b"bad\xff"  # not UTF-8


def _tsn(*args: str | bytes | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tsncli", *map(os.fsencode, args)],
        cwd=cwd,
        capture_output=True,
        timeout=600,
    )


def _videos(root: Path) -> Path:
    for cls in ("Run", "Walk"):
        for i in range(2):
            moving_video(root / cls / f"{cls.lower()}{i}.avi", n=3)
    os.rename(
        root / "Walk" / "walk0.avi", os.fsdecode(os.fsencode(root / "Walk") + b"/" + BAD + b".avi")
    )
    (root / "Run" / os.fsdecode(b"fake\xfe.avi")).write_bytes(b"not a video")
    return root


def test_names_that_are_not_utf8_are_recognised():
    assert needs_bytes_path(os.fsdecode(BAD + b".avi"))
    assert not needs_bytes_path("caf\u00e9.avi")


def test_flow_extracts_a_video_named_in_bytes_and_reports_a_bad_one_with_a_reason(tmp_path):
    src = _videos(tmp_path / "videos")
    done = _tsn(
        "flow", src, "frames", "--algo", "dis", "--size", "64x48", "--workers", "1", cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr.decode(errors="replace")[-2000:]  # 1 video failed
    assert b"done 4, skipped 0, failed 1 of 5" in done.stderr
    frames = tmp_path / "frames"
    assert sorted(os.listdir(os.fsencode(frames))) == sorted(
        [BAD, b"failed.tsv", b"flow_config.yaml", b"run0", b"run1", b"walk1"]
    )
    failed = (frames / "failed.tsv").read_bytes().splitlines()
    assert failed[1].startswith(b"fake\xfe\t") and b"cannot open video" in failed[1]


def test_lists_round_trip_folder_names_in_bytes(tmp_path):
    frames = tmp_path / "frames"
    for name in (b"run0", b"run1", b"walk1", BAD):
        folder = os.fsencode(frames) + b"/" + name
        os.makedirs(folder)
        with open(folder + b"/img_00001.jpg", "wb") as f:
            f.write(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    videos = tmp_path / "videos"
    for cls, name in (("Run", b"run0"), ("Run", b"run1"), ("Walk", b"walk1"), ("Walk", BAD)):
        os.makedirs(os.fsencode(videos / cls), exist_ok=True)
        open(os.fsencode(videos / cls) + b"/" + name + b".avi", "wb").close()
    result = _tsn(
        "lists",
        "custom",
        frames,
        "--videos",
        videos,
        "--out",
        "lists",
        "--val-ratio",
        "0.5",
        "--modality",
        "rgb",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    folders = [
        r.path
        for f in ("custom_rgb_train_split_1.txt", "custom_rgb_val_split_1.txt")
        for r in read_list(tmp_path / "lists" / f)
    ]
    assert os.fsdecode(os.fsencode(frames) + b"/" + BAD) in folders and len(folders) == 4
    assert all(os.path.isdir(f) for f in folders)


def test_frames_in_a_folder_named_in_bytes_are_read(tmp_path):
    folder = os.fsencode(tmp_path) + b"/" + BAD
    os.makedirs(folder)
    with open(folder + b"/img_00001.jpg", "wb") as f:
        f.write(cv2.imencode(".jpg", np.full((6, 8, 3), 200, np.uint8))[1].tobytes())
    code = (
        "import sys; from tsncli.data.frames import read_image; "
        "print(read_image(sys.argv[1], False).shape)"  # argv holds the name as Python decodes it
    )
    result = subprocess.run(
        [sys.executable, "-c", code, folder + b"/img_00001.jpg"], capture_output=True
    )
    assert result.returncode == 0 and result.stdout.strip() == b"(6, 8, 3)", result.stderr


def test_probe_writes_frames_of_a_video_named_in_bytes(tmp_path):
    video = moving_video(tmp_path / "v.avi", n=3)
    named = os.fsencode(tmp_path) + b"/" + BAD + b".avi"
    os.rename(video, named)
    result = _tsn("probe", named, "--frames", "0", "--out", "png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    assert os.listdir(os.fsencode(tmp_path / "png") + b"/" + BAD) == [b"frame_000000.png"]
