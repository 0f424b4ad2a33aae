"""Throughput and memory of `tsn eval` at 25 snippets x 10 crops (issue #7), on CPU.

(a) forward only: `Scorer.score` on one video's pre-cut crops (10, 25, 3, 224, 224), repeated;
(b) `tsn eval` end to end on the same video's 340x256 frame folder (JPEG decode, resize to
    256, ten crops, normalise, forward, aggregate, shard write, merge), one in-process worker;
overhead = (b) / (a) - 1: the time beyond the model's own forward pass on the same crops
((a) and (b) are interleaved and the minimum of each kept). Then fresh processes evaluate 1 and
V videos: videos/s, and peak RSS, which must not grow with V.

    .venv/bin/python benchmarks/eval_throughput.py --arch resnet18 --videos 3

The last line is key=value pairs for scripts. The machine is shared, so figures vary run to run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsncli.engine.eval.evaluate import EvalSettings, evaluate  # noqa: E402
from tsncli.engine.eval.inference import load_scorer  # noqa: E402
from tsncli.lists.listfile import VideoRecord, write_list  # noqa: E402
from tsncli.models.checkpoint import save_checkpoint  # noqa: E402
from tsncli.models.tsn import create_tsn  # noqa: E402

FRAMES = 40
CLASSES = 101


def make_frames(root: Path, videos: int) -> Path:
    """`videos` folders of FRAMES 340x256 JPEGs and an RGB list file over them."""
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur((rng.random((256, 400, 3)) * 255).astype(np.uint8), (0, 0), 2)
    records = []
    for v in range(videos):
        folder = root / f"video_{v:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(1, FRAMES + 1):
            image = np.roll(base, 2 * k + v, axis=1)[:, :340]
            cv2.imwrite(str(folder / f"img_{k:05d}.jpg"), image)
        records.append(VideoRecord(str(folder), FRAMES, v % CLASSES))
    return write_list(root / f"list_{videos}.txt", records)


def make_checkpoint(path: Path, arch: str) -> Path:
    torch.manual_seed(0)
    model = create_tsn(arch, CLASSES, modality="rgb", num_segments=3, dropout=0.8)
    return save_checkpoint(path, model, {"crop_size": 224})


def paired_times(checkpoint: Path, list_file: Path, out: Path, reps: int) -> dict[str, float]:
    """(a) and (b) interleaved on the same one-video list, `reps` times; the minimum of each.

    Interleaving and taking minima keeps other jobs on a shared machine from biasing one side.
    """
    from tsncli.data.dataset import TSNDataset
    from tsncli.lists.listfile import read_list

    scorer = load_scorer(checkpoint, "cpu")
    record = read_list(list_file)[:1]
    one = write_list(out.with_suffix(".one.txt"), record)
    dataset = TSNDataset(record, "rgb", 25, 1, mode="test", crop_size=224, test_crops=10)
    clip = dataset.load_clip(0)[None]  # (1, 10, 25, 3, 224, 224) uint8
    scorer.score(clip)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in ("fwd", "fwd_cpu", "e2e", "e2e_cpu", "load")}
    settings = EvalSettings(segments=25, crops=10)
    for _ in range(reps):
        start, cpu = time.perf_counter(), time.process_time()
        scorer.score(clip)
        times["fwd"].append(time.perf_counter() - start)
        times["fwd_cpu"].append(time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        evaluate(checkpoint, one, out, settings, force=True)
        times["e2e"].append(time.perf_counter() - start)
        times["e2e_cpu"].append(time.process_time() - cpu)
        start = time.perf_counter()
        dataset.load_clip(0)  # decode + resize + 10 crops, serially
        times["load"].append(time.perf_counter() - start)
    return {k: min(v) for k, v in times.items()}


def child(checkpoint: str, list_file: str, out: str, threads: str) -> None:
    """Evaluate in this fresh process; print seconds per video and peak RSS in MiB."""
    torch.set_num_threads(int(threads))
    load_scorer(checkpoint, "cpu")
    start = time.perf_counter()
    result = evaluate(checkpoint, list_file, out, EvalSettings(segments=25, crops=10))
    seconds = (time.perf_counter() - start) / result.metrics.num_videos
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"s_per_video": seconds, "peak_rss_mib": rss}))


def run_child(checkpoint: Path, list_file: Path, out: Path, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(checkpoint), str(list_file), str(out)]
    text = subprocess.run([*cmd, str(threads)], check=True, capture_output=True, text=True).stdout
    return json.loads(text.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--videos", type=int, default=3, help="V for the throughput run")
    parser.add_argument("--reps", type=int, default=2, help="paired forward/eval repetitions")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="tsn-eval-bench-") as tmp:
        root = Path(tmp)
        one = make_frames(root / "one", 1)
        many = make_frames(root / "many", args.videos)
        ckpt = make_checkpoint(root / "model.pt", args.arch)
        paired = paired_times(ckpt, one, root / "paired.npz", args.reps)
        small = run_child(ckpt, one, root / "s.npz", args.threads)
        large = run_child(ckpt, many, root / "l.npz", args.threads)
    forward, end_to_end = paired["fwd"], paired["e2e"]
    overhead = end_to_end / forward - 1
    cpu_overhead = paired["e2e_cpu"] / paired["fwd_cpu"] - 1
    videos_per_s = 1 / large["s_per_video"]
    rows = [
        ("forward only, min (s/video)", f"{forward:.2f}"),
        ("tsn eval, same video, min (s/video)", f"{end_to_end:.2f}"),
        ("overhead beyond forward (wall)", f"{100 * overhead:.1f}%"),
        ("overhead beyond forward (CPU time)", f"{100 * cpu_overhead:.1f}%"),
        ("load + 10 crops alone, serial (s/video)", f"{paired['load']:.2f}"),
        (f"tsn eval over {args.videos} videos (videos/s)", f"{videos_per_s:.4f}"),
        ("peak RSS, 1 video (MiB)", f"{small['peak_rss_mib']:.0f}"),
        (f"peak RSS, {args.videos} videos (MiB)", f"{large['peak_rss_mib']:.0f}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"tsn eval, {args.arch}, 25 snippets x 10 crops, CPU, {args.threads} torch threads")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>10}")
    print(
        f"arch={args.arch} videos={args.videos} videos_per_s={videos_per_s:.4f} "
        f"forward_s_per_video={forward:.3f} eval_s_per_video={end_to_end:.3f} "
        f"overhead={overhead:.4f} cpu_overhead={cpu_overhead:.4f} load_s={paired['load']:.3f} "
        f"peak_rss_mib_1={small['peak_rss_mib']:.0f} "
        f"peak_rss_mib_{args.videos}={large['peak_rss_mib']:.0f}"
    )


if __name__ == "__main__":
    main()
