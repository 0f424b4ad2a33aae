"""Dense testing of untrimmed videos (issue 22): `tsn eval --stride 16` on generated videos, on CPU.

Videos are written with OpenCV (MPEG-4 part 2, 30 fps, small frames, decoded and resized to
340x256 as a video list says), a 1-minute one (1,800 frames, 113 snippets) and a 10-minute one
(18,000 frames, 1,125 snippets). For each backbone:

(a) forward only: `Scorer.score` on one chunk of pre-cut crops (10, 25, 3, 224, 224), per
    snippet (the minimum over repetitions);
(b) `tsn eval --stride 16` end to end on the 1-minute video (index, sparse decode, resize, ten
    crops, normalise, forward, aggregate, shard write, merge), one in-process worker, per snippet;
share beyond the forward = (b) / (a) - 1. Then fresh processes evaluate the 1-minute and the
10-minute video: peak RSS, which must not grow with the video's length (snippets are loaded and
scored 25 at a time), measured also with glibc's mmap threshold pinned at 1 MiB
(`MALLOC_MMAP_THRESHOLD_`): by default the threshold rises to the largest block freed, and the
heap's fragments then add a few hundred MiB over a long run that no array of ours holds.

    .venv/bin/python benchmarks/untrimmed_eval.py --arch tiny --arch resnet18

The machine is shared, so figures vary run to run; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
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

from tsncli.data.sampling import dense_centres  # noqa: E402
from tsncli.engine.eval.evaluate import EvalSettings, evaluate  # noqa: E402
from tsncli.engine.eval.inference import load_scorer  # noqa: E402
from tsncli.models.checkpoint import save_checkpoint  # noqa: E402
from tsncli.models.tsn import create_tsn  # noqa: E402

FPS = 30.0
STRIDE = 16
CLASSES = 200  # ActivityNet v1.3
PINNED_MMAP = 1 << 20  # bytes
SIZE = (128, 96)  # what OpenCV writes; the list decodes to 340x256 like `tsn flow`'s frames


def write_video(path: Path, seconds: int) -> Path:
    """A textured image panning sideways, `seconds` long at FPS."""
    rng = np.random.default_rng(0)
    width, height = SIZE
    base = cv2.GaussianBlur((rng.random((height, width * 3, 3)) * 255).astype(np.uint8), (0, 0), 2)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for k in range(int(seconds * FPS)):
        shift = (k * 2) % (2 * width)
        writer.write(np.ascontiguousarray(base[:, shift : shift + width]))
    writer.release()
    return path


def write_video_list(path: Path, video: Path, frames: int) -> Path:
    """A one-video list as `tsn lists --source videos` writes it (frames decoded to 340x256)."""
    path.write_text(f"# tsn-list: kind=videos size=340x256 untrimmed=1\n{video} {frames} 0\n")
    return path


def make_checkpoint(path: Path, arch: str) -> Path:
    torch.manual_seed(0)
    model = create_tsn(arch, CLASSES, modality="rgb", num_segments=3, dropout=0.8)
    return save_checkpoint(path, model, {"crop_size": 224})


def forward_per_snippet(checkpoint: Path, reps: int) -> float:
    """Seconds per snippet of the model's forward alone on one chunk of 25 snippets x 10 crops."""
    scorer = load_scorer(checkpoint, "cpu")
    clip = np.random.default_rng(0).integers(0, 255, (1, 10, 25, 3, 224, 224), dtype=np.uint8)
    scorer.score(clip)  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        scorer.score(clip)
        times.append(time.perf_counter() - start)
    return min(times) / 25


def eval_per_snippet(checkpoint: Path, list_file: Path, out: Path, reps: int) -> float:
    """Seconds per snippet of `tsn eval --stride 16` end to end (the minimum over `reps`)."""
    settings = EvalSettings(stride=STRIDE, crops=10)
    evaluate(checkpoint, list_file, out, settings, force=True)  # builds the video index
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        evaluate(checkpoint, list_file, out, settings, force=True)
        times.append(time.perf_counter() - start)
    frames = int(list_file.read_text().splitlines()[1].split()[-2])
    return min(times) / len(dense_centres(frames, STRIDE))


def child(checkpoint: str, list_file: str, out: str, threads: str) -> None:
    """Evaluate in this fresh process; print seconds, snippets/s and peak RSS in MiB."""
    torch.set_num_threads(int(threads))
    load_scorer(checkpoint, "cpu")
    start = time.perf_counter()
    evaluate(checkpoint, list_file, out, EvalSettings(stride=STRIDE, crops=10))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak RSS since its exec: /proc's VmHWM. `getrusage`'s ru_maxrss carries
    over an exec, so a child started by this (large) parent would report the parent's peak."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(
    checkpoint: Path, list_file: Path, out: Path, threads: int, pinned: bool = False,
    script: str = __file__,
) -> dict:  # fmt: skip
    """`script --child ...` in a fresh process (this script's `child`, or another benchmark's);
    `pinned` fixes glibc's mmap threshold at 1 MiB (it otherwise rises with the largest block
    freed, and heap fragments then grow RSS over a long run)."""
    cmd = [sys.executable, script, "--child", str(checkpoint), str(list_file), str(out)]
    env = {**os.environ, **({"MALLOC_MMAP_THRESHOLD_": str(PINNED_MMAP)} if pinned else {})}
    text = subprocess.run(
        [*cmd, str(threads)], check=True, capture_output=True, text=True, env=env
    ).stdout
    return json.loads(text.strip().splitlines()[-1])


def bench_arguments(description: str) -> argparse.Namespace:
    """The options this benchmark and `features_throughput.py` share (and their hidden --child)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--arch", action="append", help="backbones (default: tiny, resnet18)")
    parser.add_argument("--reps", type=int, default=2, help="repetitions of (a) and (b)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--long-archs", default="tiny", help="comma-separated backbones also run on 10 minutes"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args()


def write_long_videos(root: Path) -> dict[int, Path]:
    """A 1-minute and a 10-minute generated video, each in a one-video list: minutes -> list."""
    lists = {}
    for minutes in (1, 10):
        video = write_video(root / f"v_{minutes}min.mp4", 60 * minutes)
        folder = root / f"list_{minutes}"
        folder.mkdir()
        lists[minutes] = write_video_list(folder / "val.txt", video, int(60 * minutes * FPS))
    return lists


def main() -> None:
    args = bench_arguments(__doc__.splitlines()[0])
    if args.child:
        child(*args.child)
        return
    torch.set_num_threads(args.threads)
    archs = args.arch or ["tiny", "resnet18"]
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="tsn-untrimmed-bench-") as tmp:
        root = Path(tmp)
        lists = write_long_videos(root)
        for arch in archs:
            ckpt = make_checkpoint(root / f"{arch}.pt", arch)
            forward = forward_per_snippet(ckpt, args.reps)
            end_to_end = eval_per_snippet(ckpt, lists[1], root / "paired.npz", args.reps)
            one = run_child(ckpt, lists[1], root / f"{arch}_1.npz", args.threads)
            ten = pinned = None
            if arch in args.long_archs.split(","):
                ten = run_child(ckpt, lists[10], root / f"{arch}_10.npz", args.threads)
                pinned = [
                    run_child(ckpt, lists[m], root / f"{arch}_p{m}.npz", args.threads, True)
                    for m in (1, 10)
                ]
            rows.append((arch, forward, end_to_end, one, ten, pinned))
    load_after = os.getloadavg()[0]
    print(
        f"tsn eval --stride {STRIDE}, 10 crops, CPU, {args.threads} torch threads, "
        f"{os.cpu_count()} CPUs, load average {load_before:.2f} before, {load_after:.2f} after"
    )
    head = (
        "arch", "forward (snippets/s)", "tsn eval (snippets/s)", "beyond forward",
        "peak RSS 1 min (MiB)", "peak RSS 10 min (MiB)", "same, mmap threshold 1 MiB",
    )  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for arch, forward, end_to_end, one, ten, pinned in rows:
        cells = (
            arch, f"{1 / forward:.1f}", f"{1 / end_to_end:.1f}",
            f"{100 * (end_to_end / forward - 1):.1f}%", f"{one['peak_rss_mib']:.0f}",
            f"{ten['peak_rss_mib']:.0f}" if ten else "-",
            " / ".join(f"{p['peak_rss_mib']:.0f}" for p in pinned) if pinned else "-",
        )  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    for arch, forward, end_to_end, one, ten, _ in rows:
        print(
            f"arch={arch} forward_snippets_per_s={1 / forward:.2f} "
            f"eval_snippets_per_s={1 / end_to_end:.2f} "
            f"beyond_forward={end_to_end / forward - 1:.4f} "
            f"peak_rss_mib_1min={one['peak_rss_mib']:.0f} "
            f"peak_rss_mib_10min={ten['peak_rss_mib'] if ten else float('nan'):.0f}"
        )


if __name__ == "__main__":
    main()
