"""Stream lag of `tsn predict --stream` on a real-time sender: how far behind the sender a
window's label comes out, and how many frames are dropped to stay live, per model.

A sender thread on 127.0.0.1 serves generated MPEG-TS (MPEG-2, 340x256 by default) over TCP
at real-time pace (tests/stream_sender.py); `predict_stream` labels 2 s windows every 1 s.
"behind" is measured on the sender's own clock when the label arrives: sender time minus the
window's end (the bound is one window plus one inference behind its start, i.e. one
inference plus the transport behind its end). "lag" is what tsn reports (its estimate of the
same, which cannot see the encoder and socket). Models have random weights (only speed
matters). Run on a shared 2-vCPU machine: compare the rows of one run, not across runs.

Usage: python benchmarks/stream_lag.py [--seconds 15] [--fps 25] [--size 340x256]
       [--models tiny:25,resnet18:25,resnet18:3] [--crops 1] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the real-time sender the tests use

from stream_sender import RealTimeSender, moving_square  # noqa: E402

from tsncli.engine.live import StreamSettings, predict_stream  # noqa: E402
from tsncli.engine.windows import WindowScorer  # noqa: E402
from tsncli.models.checkpoint import save_checkpoint  # noqa: E402
from tsncli.models.tsn import create_tsn  # noqa: E402

CLASSES = ["a", "b", "c"]


def make_checkpoint(folder: Path, arch: str, size: tuple[int, int]) -> Path:
    """A random-weight RGB TSN of `arch` (crop 32 for tiny, 224 otherwise) whose frames were
    made at `size`, so the sender's frames need no resize."""
    import torch

    torch.manual_seed(0)
    model = create_tsn(arch, len(CLASSES), modality="rgb", num_segments=3)
    crop = 32 if arch == "tiny" else 224
    frames = {"size": f"{size[0]}x{size[1]}", "source": "videos", "flow_algorithm": None}
    meta = {"class_names": CLASSES, "crop_size": crop, "frames": frames}
    return save_checkpoint(folder / f"{arch}.pt", model, meta)


def run(scorer: WindowScorer, frames: list[np.ndarray], fps: int, settings: StreamSettings):
    """One stream through `predict_stream`; per window (sender's clock at the label, window)."""
    received = []
    with RealTimeSender(frames, fps) as sender:
        port = sender.serve_tcp()
        result = predict_stream(
            f"tcp://127.0.0.1:{port}",
            scorer,
            settings,
            on_window=lambda w: received.append((sender.clock(), w)),
        )
    return result, received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--size", default="340x256")
    parser.add_argument("--models", default="tiny:25,resnet18:25,resnet18:3")
    parser.add_argument("--crops", type=int, default=1)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--stride", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    frames = moving_square(int(args.seconds * args.fps), (width, height))
    settings = StreamSettings(args.window, args.stride, top_k=1)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(
        f"sender: {args.seconds:g} s of {width}x{height} MPEG-TS at {args.fps} fps over TCP; "
        f"--window {args.window:g} --stride {args.stride:g} --crops {args.crops}; "
        f"{args.threads} torch threads; random weights"
    )
    header = (
        f"| {'sender':<9} | {'model':<9} | {'segments':>8} | {'windows':>7} | {'inference s':>11} "
        f"| {'lag mean/max s':>14} | {'behind mean/max s':>17} | {'over bound s':>12} "
        f"| {'dropped':>11} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.models.split(","):
            arch, segments = spec.split(":")
            ckpt = make_checkpoint(Path(tmp), arch, (width, height))
            scorer = WindowScorer.load([ckpt], segments=int(segments), crops=args.crops)
            result, received = run(scorer, frames, args.fps, settings)
            behind = [clock - w.row.end for clock, w in received]
            inference = [w.inference for _, w in received]
            # how far past "one window plus one inference" behind the window's start the label
            # came (<= 0: within the bound): the transport and the wait for the last frame
            over = max(b - w.inference for b, (_, w) in zip(behind, received, strict=True))
            expected = int((args.seconds - args.window) / args.stride) + 1
            print(
                f"| {f'{args.fps} fps':<9} | {arch:<9} | {segments:>8} "
                f"| {len(received):>3}/{expected:<3} | {np.median(inference):11.2f} "
                f"| {result.mean_lag:6.2f}/{result.max_lag:<7.2f} "
                f"| {np.mean(behind):8.2f}/{max(behind):<8.2f} | {over:12.2f} "
                f"| {result.dropped:>4}/{result.decoded:<6} |",
                flush=True,
            )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
