"""`tsn predict`: Predict the action in one video, computing flow on the fly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import DecodeThreads, IgnoreRotation, example
from tsncli.commands._report import console, print_json, print_topk, split_weights
from tsncli.data.crops import get_test_crops, test_crop_choices
from tsncli.errors import UsageError

SUMMARY = SUMMARIES["predict"]


def predict_command(
    videos: Annotated[list[str], typer.Argument(help="Video files or frame folders.")],
    checkpoint: Annotated[
        list[Path],
        typer.Option(help="A tsn checkpoint; repeat for RGB + flow fusion (flow is computed)."),
    ],
    weights: Annotated[
        list[str] | None, typer.Option(help="One weight per checkpoint, e.g. `--weights 1 1.5`.")
    ] = None,
    top_k: Annotated[int, typer.Option(help="How many classes to show.")] = 5,
    segments: Annotated[int, typer.Option(help="Snippets per video, evenly spaced.")] = 25,
    crops: Annotated[
        int | None,
        typer.Option(
            help=f"Crops per snippet: {test_crop_choices()} (default 10; 5 if trained unflipped)."
        ),
    ] = None,
    timeline: Annotated[
        bool, typer.Option("--timeline", help="Also show the top class of every snippet.")
    ] = False,
    gpu: Annotated[bool, typer.Option("--gpu", help="Run on the first CUDA GPU.")] = False,
    decode_threads: DecodeThreads = None,
    ignore_rotation: IgnoreRotation = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON object to stdout.")
    ] = False,
) -> None:
    """Predict the action in videos (or frame folders) with one or more checkpoints."""
    from tsncli.engine.predict import predict_videos
    from tsncli.logs import print_error
    from tsncli.video.backend import set_decode_threads
    from tsncli.video.files import refuse_url

    set_decode_threads(decode_threads)
    paths, weight_values = split_weights(videos, weights)
    if not paths:
        raise UsageError("give at least one video file or frames folder")
    for path in paths:
        refuse_url(path)
    if crops is not None:
        get_test_crops(crops)  # an unregistered count fails before the checkpoint loads
    if top_k < 1:
        raise UsageError("--top-k must be at least 1")
    device = "cpu"
    if gpu:
        from tsncli.launch import resolve_devices

        device = resolve_devices(1)[0]
    results, failures = [], 0
    predictions = predict_videos(
        paths, checkpoint, weight_values, segments, crops, device, ignore_rotation
    )
    for prediction in predictions:
        if prediction.error is not None:
            failures += 1
            print_error(prediction.error)
            results.append({"video": prediction.video, "error": prediction.error})
            continue
        top = prediction.top(top_k)
        entry = {
            "video": prediction.video,
            "top": [{"index": i, "class": n, "probability": p} for i, n, p in top],
        }
        if timeline:
            entry["timeline"] = prediction.timeline()
        results.append(entry)
        if not json_output:
            print_topk(Path(prediction.video).name, [(n, p) for _, n, p in top])
            if timeline:
                for row in entry["timeline"]:
                    when = f"{row['seconds']:.2f}s" if row["seconds"] is not None else "-"
                    console.print(
                        f"  snippet {row['snippet']:>3}  frame {row['frame']:>6}  {when:>9}  "
                        f"{row['class']}  {row['probability']:.3f}",
                        markup=False,
                        highlight=False,
                    )
    if json_output:
        print_json(
            {
                "videos": results,
                "num_videos": len(results),
                "checkpoints": [str(c) for c in checkpoint],
                "weights": weight_values or [1.0] * len(checkpoint),
            }
        )
    if failures:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(
        name="predict",
        help=SUMMARY,
        epilog=example(
            "tsn predict video.avi --checkpoint runs/ucf101_rgb_split1/best.pt",
            "tsn predict a.avi b.mp4 --checkpoint rgb.pt --checkpoint flow.pt --weights 1 1.5 "
            "--timeline --json",
        ),
    )(predict_command)
