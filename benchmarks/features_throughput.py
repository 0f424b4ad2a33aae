"""`tsn features` throughput and memory (issue 23), on CPU, with `--crops 1` and `--stride 16`.

Videos come from `benchmarks/untrimmed_eval.py`'s helpers (MPEG-4 part 2, 30 fps, 128x96, read
through a video list that decodes them to 340x256): a 1-minute one (1,800 frames, 113 snippets)
and a 10-minute one (18,000 frames, 1,125 snippets). For each backbone (RGB, 200 classes):

(a) forward only: `Scorer.score` on one chunk of pre-cut centre crops (1, 1, 25, 3, 224, 224),
    per snippet (the minimum over repetitions);
(b) `tsn features --layer logits --crops 1` end to end on the 1-minute video (sparse decode,
    resize, crop, normalise, forward, crop mean, meta, atomic .npy write), one in-process worker,
    per snippet (the minimum over repetitions);
share beyond the forward = (b) / (a) - 1. Then fresh processes featurise the 1-minute and the
10-minute video and report their peak RSS (with glibc's mmap threshold pinned at 1 MiB, as
untrimmed_eval.py explains), which must not grow with the video's length.

Last, the ActivityNet v1.3 estimate: snippets x streams x (a). It is an estimate from the
forward time alone (no decoding, no flow computation: flow frames are assumed extracted), and
which figure of (a) it uses is printed beside it.

    .venv/bin/python benchmarks/features_throughput.py --arch tiny --arch resnet18
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from untrimmed_eval import (  # noqa: E402
    bench_arguments,
    make_checkpoint,
    peak_rss_mib,
    run_child,
    write_long_videos,
)

from tsncli.data.sampling import dense_centres  # noqa: E402
from tsncli.engine.eval.inference import load_scorer  # noqa: E402
from tsncli.engine.features.extract import FeatureSettings, extract_features  # noqa: E402

STRIDE = 16
ANET_SNIPPETS = 3.5e6  # ~650 hours at 25 fps, one snippet every 16 frames
ANET_STREAMS = 2  # RGB + flow, the CUHK layout


def forward_per_snippet(checkpoint: Path, reps: int) -> float:
    """Seconds per snippet of the model's forward alone on 25 snippets x 1 crop."""
    scorer = load_scorer(checkpoint, "cpu")
    clip = np.random.default_rng(0).integers(0, 255, (1, 1, 25, 3, 224, 224), dtype=np.uint8)
    scorer.score(clip)  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        scorer.score(clip)
        times.append(time.perf_counter() - start)
    return min(times) / 25


def features_per_snippet(checkpoint: Path, list_file: Path, out: Path, reps: int) -> float:
    """Seconds per snippet of `tsn features --stride 16 --crops 1` end to end."""
    settings = FeatureSettings(stride=STRIDE, crops=1)
    extract_features(list_file, [checkpoint], out, settings, force=True)  # builds the index
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        extract_features(list_file, [checkpoint], out, settings, force=True)
        times.append(time.perf_counter() - start)
    frames = int(list_file.read_text().splitlines()[1].split()[-2])
    return min(times) / len(dense_centres(frames, STRIDE))


def child(checkpoint: str, list_file: str, out: str, threads: str) -> None:
    """Featurise in this fresh process; print seconds and peak RSS in MiB."""
    torch.set_num_threads(int(threads))
    load_scorer(checkpoint, "cpu")
    start = time.perf_counter()
    extract_features(list_file, [checkpoint], out, FeatureSettings(stride=STRIDE, crops=1))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_rss_mib()}))


def main() -> None:
    args = bench_arguments(__doc__.splitlines()[0])
    if args.child:
        child(*args.child)
        return
    torch.set_num_threads(args.threads)
    archs = args.arch or ["tiny", "resnet18"]
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="tsn-features-bench-") as tmp:
        root = Path(tmp)
        lists = write_long_videos(root)
        for arch in archs:
            ckpt = make_checkpoint(root / f"{arch}.pt", arch)
            # the forward is timed before and after the end-to-end runs and the faster kept:
            # on a shared machine one series alone can land in a busy spell
            forward = forward_per_snippet(ckpt, args.reps)
            whole = features_per_snippet(ckpt, lists[1], root / f"out_{arch}", args.reps)
            forward = min(forward, forward_per_snippet(ckpt, args.reps))
            row = {
                "arch": arch,
                "forward_ms": forward * 1e3,
                "features_ms": whole * 1e3,
                "forward_snippets_s": 1 / forward,
                "features_snippets_s": 1 / whole,
                "beyond_forward": whole / forward - 1,
                "anet_hours_from_forward": ANET_SNIPPETS * ANET_STREAMS * forward / 3600,
            }
            if arch in args.long_archs.split(","):
                for minutes in (1, 10):
                    shutil.rmtree(root / "rss", ignore_errors=True)
                    measured = run_child(
                        ckpt, lists[minutes], root / "rss", args.threads, pinned=True,
                        script=__file__,
                    )  # fmt: skip
                    row[f"rss_{minutes}min_mib"] = measured["peak_rss_mib"]
                    row[f"seconds_{minutes}min"] = measured["seconds"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\nload average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; "
          f"{args.threads} torch threads, --crops 1, --stride {STRIDE}")  # fmt: skip
    print(
        "| backbone | forward alone (snippets/s) | tsn features (snippets/s) | beyond the "
        "forward | peak RSS 1 min / 10 min (MiB) | ActivityNet v1.3, 2 streams, from (a) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        rss = (f"{r['rss_1min_mib']:.0f} / {r['rss_10min_mib']:.0f}"
               if "rss_1min_mib" in r else "not run")  # fmt: skip
        print(
            f"| {r['arch']} | {r['forward_snippets_s']:.1f} | {r['features_snippets_s']:.1f} | "
            f"{100 * r['beyond_forward']:+.0f}% | {rss} | "
            f"{r['anet_hours_from_forward']:.0f} h (estimate: 7.0e6 x {r['forward_ms']:.1f} ms) |"
        )


if __name__ == "__main__":
    main()
