"""`tsn predict --window 2 --stride 1` on long videos: real-time factor and peak memory.

Usage: python benchmarks/long_video.py [--archs tiny,resnet18,bninception] [--segments 25,4]
       [--minutes 10] [--short-minutes 1] [--long-archs tiny] [--fps 30] [--crops 1]

Generates a 340x256 video of a moving texture with PyAV once (cached under $TMPDIR), saves a
checkpoint per backbone with RANDOM weights (speed does not depend on them) and runs each
(arch, segments) as its own `tsn predict` process on the short video, and the `--long-archs`
with the fewest segments on the long one too. Real-time factor = video seconds / wall seconds
(above 1: faster than real time), start-up included. Peak RSS is the child's ru_maxrss. Prints
the load average: the machine is shared, so compare rows of one run, never absolute times
across runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

SIZE = (340, 256)
CLASSES = 101


def make_video(path: Path, minutes: float, fps: int) -> Path:
    """A texture sliding 2 px a frame, H.264 (MPEG-4 without libx264), written once."""
    if path.exists():
        return path
    width, height = SIZE
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height // 4, width // 2, 3), dtype=np.uint8)
    base = np.kron(base, np.ones((4, 4, 1), np.uint8))  # 4x4 blocks: compressible, trackable
    base = np.concatenate([base, base], axis=1)  # [256, 680, 3]
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        try:
            stream = container.add_stream("libx264", rate=fps)
            stream.options = {"preset": "ultrafast", "crf": "28"}
        except (av.error.FFmpegError, ValueError):
            stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(minutes * 60 * fps)):
            x = (2 * i) % width
            image = np.ascontiguousarray(base[:, x : x + width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.rename(path)
    return path


def make_checkpoint(path: Path, arch: str) -> Path:
    """A TSN of `arch` with random weights, RGB, crop 224, frames made at 340x256."""
    import torch

    from tsncli.models.checkpoint import save_checkpoint
    from tsncli.models.tsn import create_tsn

    if path.exists():
        return path
    torch.manual_seed(0)
    model = create_tsn(arch, CLASSES, modality="rgb", num_segments=3, dropout=0.8)
    meta = {"class_names": [f"class_{i}" for i in range(CLASSES)], "crop_size": 224}
    return save_checkpoint(path, model, meta)


def run(video: Path, checkpoint: Path, segments: int, crops: int, out: Path) -> dict[str, float]:
    """One `tsn predict --window 2 --stride 1` child: wall and CPU seconds, peak RSS in MiB."""
    args = [sys.executable, "-m", "tsncli", "-q", "predict", str(video)]
    args += ["--checkpoint", str(checkpoint), "--window", "2", "--stride", "1"]
    args += ["--segments", str(segments), "--crops", str(crops), "--timeline", str(out)]
    start = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"tsn predict failed on {video} with {checkpoint}")
    windows = len(out.read_text().splitlines()) - 1
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "cpu": cpu, "rss": usage.ru_maxrss / 1024, "windows": windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="tiny,resnet18,bninception")
    parser.add_argument("--segments", default="25,4", help="snippets per window, comma list")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--short-minutes", type=float, default=1.0)
    parser.add_argument(
        "--long-archs", default="tiny,bninception", help="archs also run on the long video"
    )
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--crops", type=int, default=1)
    args = parser.parse_args()
    cache = Path(tempfile.gettempdir()) / "tsn-bench-long-video"
    cache.mkdir(exist_ok=True)
    videos = {
        m: make_video(cache / f"texture_{m:g}min_340x256_{args.fps}fps.mp4", m, args.fps)
        for m in (args.short_minutes, args.minutes)
    }
    print(f"cpus={os.cpu_count()} load average before: {os.getloadavg()}")
    header = "| model (random weights) | segments | crops | video | windows | wall s | "
    header += "real-time factor | CPU s | peak RSS MiB |"
    print(header)
    print("|" + "---|" * header.count(" |"))
    long_archs = set(args.long_archs.split(",")) if args.long_archs else set()
    for arch in args.archs.split(","):
        checkpoint = make_checkpoint(cache / f"{arch}_rgb_random.pt", arch)
        counts = [int(s) for s in args.segments.split(",")]
        for segments in counts:
            # the long video with the fewest segments only: BN-Inception with 25 would take hours
            long = arch in long_archs and segments == min(counts)
            minutes = [args.short_minutes] + ([args.minutes] if long else [])
            for m in minutes:
                result = run(videos[m], checkpoint, segments, args.crops, cache / "t.csv")
                factor = m * 60 / result["wall"]
                print(
                    f"| {arch} | {segments} | {args.crops} | {m:g} min | {result['windows']} | "
                    f"{result['wall']:.1f} | {factor:.2f}x | {result['cpu']:.1f} | "
                    f"{result['rss']:.0f} |",
                    flush=True,
                )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
