"""What durable atomic writes cost `tsn flow`: one video's frame folder (181 frames: 543 JPEG-sized
files of 10 KB) written with `tsncli.fsutil.atomic_dir` and renamed, with no fsync, with the
folders fsynced (what `tsn flow` does) and with every file fsynced too; modes alternate per round.

Usage: python benchmarks/fsync_cost.py [--dir DIR] [--rounds 6] [--videos 5]

DIR must be on the disk whose cost you want (default: the current folder). Prints a table of
milliseconds per video (median and range), then `key=value` pairs as the last line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tsncli.fsutil as fsutil  # noqa: E402

FRAMES = 181
PREFIXES = ("img", "flow_x", "flow_y")


def one_run(root: Path, mode: str, videos: int, data: bytes) -> float:
    real = fsutil.fsync_path
    fsutil.fsync_path = (lambda path: None) if mode == "none" else real
    try:
        start = time.perf_counter()
        for v in range(videos):
            with fsutil.atomic_dir(root / f"{mode}_{v}", sync_files=mode == "files") as tmp:
                for i in range(1, FRAMES + 1):
                    for prefix in PREFIXES:
                        (tmp / f"{prefix}_{i:05d}.jpg").write_bytes(data)
        return (time.perf_counter() - start) / videos
    finally:
        fsutil.fsync_path = real
        for v in range(videos):
            shutil.rmtree(root / f"{mode}_{v}", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("."))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--videos", type=int, default=5)
    args = parser.parse_args()
    data = os.urandom(10_000)
    times: dict[str, list[float]] = {"none": [], "folders": [], "files": []}
    root = Path(tempfile.mkdtemp(prefix="tsn-fsync-", dir=args.dir))
    try:
        for _ in range(args.rounds):
            for mode in times:
                times[mode].append(one_run(root, mode, args.videos, data))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"{'fsync':<10} {'ms per video (median)':>22} {'range':>16}   load {os.getloadavg()[0]:.2f}"
    )
    for mode, values in times.items():
        ms = [1000 * v for v in values]
        print(f"{mode:<10} {statistics.median(ms):>22.1f} {min(ms):>7.1f}-{max(ms):<8.1f}")
    print(" ".join(f"{m}_ms={1000 * statistics.median(v):.1f}" for m, v in times.items()))


if __name__ == "__main__":
    main()
