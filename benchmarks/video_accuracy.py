"""Accuracy from video lists vs frame lists on the toy dataset (same recipe, same seed).

fetch toy -> `tsn flow` (frames at 128x96, DIS flow, bound 20) + `tsn lists` (frames) and
`tsn lists --source videos --size 128x96` -> train RGB (and flow: extracted DIS vs DIS on the fly)
with the toy presets -> eval each on its own list kind. Same sampling, crops and seed; the video
path sees frames before JPEG encoding, so small differences are expected, not equality.

    .venv/bin/python benchmarks/video_accuracy.py [--work /tmp/tsn_video_acc] [--epochs N]
        [--videos-per-class 40] [--flow]

Slow on a shared 2-core machine (minutes). The last line is `key=value` pairs:
`rgb_frames_acc=`, `rgb_videos_acc=` (mean class accuracy) and, with --flow, the flow pair.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typer.testing import CliRunner  # noqa: E402

from tsncli.cli import app  # noqa: E402

SIZE = "128x96"


def tsn(*args: object) -> str:
    """Run one `tsn` command in this process; stop on failure with its output."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exit_code != 0:
        sys.exit(f"tsn {' '.join(map(str, args))} failed:\n{result.output}")
    return result.stdout


def train_and_eval(
    work: Path, name: str, lists: Path, modality: str, epochs: int | None, *extra: object
) -> float:
    run = work / "runs" / name
    if not (run / "last.pt").is_file():
        recipe = ["--preset", f"toy_{modality}", "--lists-dir", lists, "--out", run]
        more = ["--epochs", epochs] if epochs else []
        tsn("train", "toy", modality, *recipe, *more, "--workers", 0, *extra)
    scores = work / "scores" / f"{name}.npz"
    val = lists / f"toy_{modality}_val_split_1.txt"
    out = tsn("eval", run / "last.pt", "--list", val, "--save-scores", scores, "--crops", 1,
              "--json")  # fmt: skip
    return float(json.loads(out[out.index("{") :])["mean_class_accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/tsn_video_acc"))
    parser.add_argument("--epochs", type=int, default=None, help="default: the toy presets'")
    parser.add_argument("--videos-per-class", type=int, default=40)
    parser.add_argument("--flow", action="store_true", help="also compare the flow stream")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work, start = args.work, time.perf_counter()
    toy = work / "toy"
    tsn("fetch", "toy", "--dest", toy, "--videos-per-class", args.videos_per_class)
    frames = toy / "frames"
    modality = "both" if args.flow else "rgb"
    tsn(
        "flow",
        toy / "videos",
        frames,
        "--algo",
        "dis",
        "--size",
        SIZE,
        "--workers",
        1,
        "--modality",
        modality,
    )
    kinds = "rgb,flow" if args.flow else "rgb"
    frame_lists, video_lists = work / "lists_frames", work / "lists_videos"
    tsn(
        "lists",
        "toy",
        frames,
        "--splits",
        toy / "splits",
        "--out",
        frame_lists,
        "--split",
        1,
        "--modality",
        kinds,
    )
    tsn(
        "lists",
        "toy",
        toy / "videos",
        "--splits",
        toy / "splits",
        "--out",
        video_lists,
        "--split",
        1,
        "--modality",
        kinds,
        "--source",
        "videos",
        "--size",
        SIZE,
        "--workers",
        1,
    )
    results = {
        "rgb_frames_acc": train_and_eval(work, "rgb_frames", frame_lists, "rgb", args.epochs),
        "rgb_videos_acc": train_and_eval(work, "rgb_videos", video_lists, "rgb", args.epochs),
    }
    if args.flow:
        results["flow_frames_acc"] = train_and_eval(
            work, "flow_frames", frame_lists, "flow", args.epochs
        )
        results["flow_videos_acc"] = train_and_eval(
            work, "flow_videos", video_lists, "flow", args.epochs, "--flow-on-the-fly", "dis"
        )
    print(f"{'run':<18}{'mean class acc':>16}")
    for key, value in results.items():
        print(f"{key.removesuffix('_acc'):<18}{value:>16.3f}")
    print(
        f"seconds={time.perf_counter() - start:.0f} "
        + " ".join(f"{k}={v:.3f}" for k, v in results.items())
    )


if __name__ == "__main__":
    main()
