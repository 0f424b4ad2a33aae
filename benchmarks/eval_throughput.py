"""Throughput and memory of `tsn eval` at 25 snippets x 10 crops (issue #7), on CPU.

(a) forward only: `Scorer.score` on one video's pre-cut crops (10, 25, 3, 224, 224), repeated;
(b) `tsn eval` end to end on generated 340x256 frame folders (JPEG decode, resize to 256, ten
    crops, normalise, forward, aggregate, shard write, merge), one in-process worker;
overhead = (b) / (a) - 1: the time beyond the model's own forward pass on the same crops.
Peak RSS of a fresh process evaluating V and 2V videos shows memory does not grow with V.

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

from tsncli.data.listfile import VideoRecord, write_list  # noqa: E402
from tsncli.engine.checkpoint import save_checkpoint  # noqa: E402
from tsncli.engine.evaluate import EvalSettings, evaluate  # noqa: E402
from tsncli.engine.inference import load_scorer  # noqa: E402
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


def bench_forward(checkpoint: Path, list_file: Path, videos: int) -> float:
    """(a) seconds per video of the forward pass alone on one video's real crops."""
    from tsncli.data.dataset import TSNDataset
    from tsncli.data.listfile import read_list

    scorer = load_scorer(checkpoint, "cpu")
    records = read_list(list_file)
    dataset = TSNDataset(records[:1], "rgb", 25, 1, mode="test", crop_size=224, test_crops=10)
    clip = dataset.load_clip(0)[None]  # (1, 10, 25, 3, 224, 224) uint8
    scorer.score(clip)  # warm-up
    start = time.perf_counter()
    for _ in range(videos):
        scorer.score(clip)
    return (time.perf_counter() - start) / videos


def bench_eval(checkpoint: Path, list_file: Path, out: Path) -> tuple[float, int]:
    """(b) seconds per video of `evaluate` end to end (model load excluded by a warm-up)."""
    load_scorer(checkpoint, "cpu")
    start = time.perf_counter()
    result = evaluate(checkpoint, list_file, out, EvalSettings(segments=25, crops=10))
    n = result.metrics.num_videos
    return (time.perf_counter() - start) / n, n


def child(checkpoint: str, list_file: str, out: str) -> None:
    """Run one evaluation in this fresh process and print its peak RSS in MiB."""
    torch.set_num_threads(2)
    evaluate(checkpoint, list_file, out, EvalSettings(segments=25, crops=10))
    print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak_rss(checkpoint: Path, list_file: Path, out: Path) -> float:
    cmd = [sys.executable, __file__, "--child", str(checkpoint), str(list_file), str(out)]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(text.strip().splitlines()[-1])["peak_rss_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--videos", type=int, default=3, help="V (memory compares V and 2V)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="tsn-eval-bench-") as tmp:
        root = Path(tmp)
        small = make_frames(root / "small", args.videos)
        large = make_frames(root / "large", 2 * args.videos)
        ckpt = make_checkpoint(root / "model.pt", args.arch)
        forward = bench_forward(ckpt, small, args.videos)
        per_video, n = bench_eval(ckpt, small, root / "small.npz")
        overhead = per_video / forward - 1
        rss_small = peak_rss(ckpt, small, root / "s.npz")
        rss_large = peak_rss(ckpt, large, root / "l.npz")
    rows = [
        ("forward only (s/video)", f"{forward:.2f}"),
        ("tsn eval end to end (s/video)", f"{per_video:.2f}"),
        ("videos/s", f"{1 / per_video:.3f}"),
        ("overhead beyond forward", f"{100 * overhead:.1f}%"),
        (f"peak RSS, {args.videos} videos (MiB)", f"{rss_small:.0f}"),
        (f"peak RSS, {2 * args.videos} videos (MiB)", f"{rss_large:.0f}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"tsn eval, {args.arch}, 25 snippets x 10 crops, {n} videos, CPU x{args.threads} threads")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>10}")
    print(
        f"arch={args.arch} videos={n} videos_per_s={1 / per_video:.4f} "
        f"forward_s_per_video={forward:.3f} eval_s_per_video={per_video:.3f} "
        f"overhead={overhead:.4f} peak_rss_mib_v{args.videos}={rss_small:.0f} "
        f"peak_rss_mib_v{2 * args.videos}={rss_large:.0f}"
    )


if __name__ == "__main__":
    main()
