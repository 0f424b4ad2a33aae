"""`tsn predict --window` holds one window of frames, never the video: a ten times longer video
peaks at the same resident memory (a ratio of two child processes' peaks, not a time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import evalkit
import numpy as np

SIZE = (320, 240)  # 230 KB a frame: the long video's 3000 frames would be 690 MB if kept
FPS = 25


def _write_noise_video(path: Path, frames: int) -> Path:
    """A texture sliding 2 px a frame (so every frame differs), MPEG-4 at 320x240."""
    width, height = SIZE
    base = np.random.default_rng(0).integers(0, 255, (height, width * 2, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            x = (2 * i) % width
            image = np.ascontiguousarray(base[:, x : x + width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _peak_rss_kb(video: Path, checkpoint: Path, timeline: Path) -> int:
    """Peak resident set of one `tsn predict --window` child process, in KiB."""
    args = [sys.executable, "-m", "tsncli", "-q", "predict", str(video)]
    args += ["--checkpoint", str(checkpoint), "--window", "4", "--stride", "4"]
    args += ["--segments", "2", "--crops", "1", "--timeline", str(timeline)]
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    error = child.stderr.read().decode() if child.stderr else ""
    assert child.returncode == 0, error
    return usage.ru_maxrss  # KiB on Linux


def test_a_ten_times_longer_video_peaks_at_the_same_memory(tmp_path):
    checkpoint = evalkit.make_checkpoint(tmp_path / "rgb.pt", "rgb", seed=1)
    short = _write_noise_video(tmp_path / "short.mp4", 12 * FPS)
    long = _write_noise_video(tmp_path / "long.mp4", 120 * FPS)
    short_kb = _peak_rss_kb(short, checkpoint, tmp_path / "short.csv")
    long_kb = _peak_rss_kb(long, checkpoint, tmp_path / "long.csv")
    assert len((tmp_path / "long.csv").read_text().splitlines()) == 1 + 30  # every window
    assert long_kb / short_kb < 1.3, (short_kb, long_kb)
