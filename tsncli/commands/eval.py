"""`tsn eval`: Test a checkpoint with 25 snippets x 10 crops and save a score file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import (
    DecodeDevice,
    DecodeThreads,
    ReportDir,
    example,
    output_file,
)
from tsncli.commands._progress import ProgressView
from tsncli.commands._report import print_json, print_metrics
from tsncli.data.crops import get_test_crops, test_crop_choices
from tsncli.errors import UsageError

SUMMARY = SUMMARIES["eval"]


def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="A tsn checkpoint (.pt); it says the rest.")],
    list_file: Annotated[
        Path, typer.Option("--list", help="List file `<frame_dir> <num_frames> <label>`.")
    ],
    save_scores: Annotated[
        Path,
        typer.Option(
            "--save-scores",
            help="Score file to write (.npz), used by `tsn fuse`.",
            callback=output_file,
        ),
    ],
    frames: Annotated[
        Path | None, typer.Option(help="Read frame folders from here (DIR/<folder name>).")
    ] = None,
    segments: Annotated[
        int | None, typer.Option(help="Snippets per video, evenly spaced (default 25).")
    ] = None,
    stride: Annotated[
        int | None,
        typer.Option(
            help="Dense testing of untrimmed videos: a snippet centred every N frames "
            "(N//2, N//2 + N, ...), instead of --segments; keeps raw scores.",
        ),
    ] = None,
    stride_seconds: Annotated[
        float | None,
        typer.Option(
            "--stride-seconds",
            help="As --stride, every T seconds (N = T x the video's frame rate).",
        ),
    ] = None,
    snippet_agg: Annotated[
        str | None,
        typer.Option(
            "--snippet-agg",
            help="Aggregate snippets for the printed metrics: mean (default), top-k:K or mtwi.",
        ),
    ] = None,
    crops: Annotated[
        int | None,
        typer.Option(
            help=f"Crops per snippet: {test_crop_choices()} (default 10; 5 if trained unflipped)."
        ),
    ] = None,
    gpus: Annotated[int, typer.Option(help="Split the videos over this many GPUs.")] = 0,
    workers: Annotated[int, typer.Option(help="CPU worker processes (without --gpus).")] = 1,
    batch: Annotated[int, typer.Option(help="Videos per forward pass.")] = 1,
    decode_threads: DecodeThreads = None,
    decode_device: DecodeDevice = "cpu",
    keep_raw: Annotated[
        bool,
        typer.Option("--keep-raw", help="Also save per-snippet, per-crop scores (float16)."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Rerun even if OUT.npz is up to date.")
    ] = False,
    per_class: Annotated[
        bool, typer.Option("--per-class", help="Also show per-class accuracy.")
    ] = False,
    report: ReportDir = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON object to stdout.")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Score only shard K of N (1-based); shard 1 waits for all and merges "
            "(default under srun or a SLURM array: this task's share)."
        ),
    ] = None,
) -> None:
    """Test a checkpoint with 25 snippets x 10 crops and save a score file."""
    from tsncli.engine.eval.evaluate import EvalSettings, evaluate
    from tsncli.launch import resolve_launch
    from tsncli.logs import print_error, stderr_console
    from tsncli.shards import parse_shard
    from tsncli.video.backend import set_decode_threads

    set_decode_threads(decode_threads)
    if gpus and workers > 1:
        raise UsageError("give either --gpus N or --workers N, not both")
    if segments is not None and (stride is not None or stride_seconds is not None):
        raise UsageError("give either --segments S or --stride N / --stride-seconds T, not both")
    if stride is not None and stride_seconds is not None:
        raise UsageError("give either --stride N or --stride-seconds T, not both")
    settings = EvalSettings(
        segments=25 if segments is None else segments, crops=crops, batch=batch,
        keep_raw=keep_raw, stride=stride, stride_seconds=stride_seconds, snippet_agg=snippet_agg,
        decode_device=decode_device,
    )  # fmt: skip
    if crops is not None:
        get_test_crops(crops)  # an unregistered count fails before the checkpoint loads
    share = parse_shard(shard)
    launch = resolve_launch(share[0] - 1, share[1]) if share else resolve_launch()
    with ProgressView() as show:
        result = evaluate(
            checkpoint, list_file, save_scores, settings, frames, gpus, workers, show, force,
            launch=launch,
        )  # fmt: skip
    if result is None:  # a rank other than 0: its shards are written, rank 0 merges
        k, n = launch.shard or (1, 1)
        stderr_console.print(f"scored share {k} of {n}; the first one merges", markup=False)
        return
    for video, error in result.failures:
        print_error(f"{video}: {error}")
    if report is not None:
        from tsncli.engine.report import save_report

        save_report(report, result.metrics.confusion, result.classes)
        stderr_console.print(f"report written to {report}", markup=False)
    if json_output:
        payload = result.metrics.to_dict(result.classes, per_class=per_class)
        payload.update(scores=str(result.scores_path), failed=[v for v, _ in result.failures])
        print_json(payload)
    else:
        if stride is not None or stride_seconds is not None:
            every = f"{stride} frames" if stride is not None else f"{stride_seconds:g} s"
            sampled = f"a snippet every {every}"
        else:
            sampled = f"{settings.segments} snippets"
        title = f"{checkpoint.name}: {sampled} x {result.crops} crops"
        if snippet_agg is not None:
            title += f", {snippet_agg}"
        print_metrics(result.metrics, title, result.classes, per_class)
        stderr_console.print(f"scores saved to {result.scores_path}", markup=False)
    if result.failures:
        print_error(
            f"{len(result.failures)} video(s) could not be read and are not in the "
            f"scores; fix their frames (`tsn flow`) and rerun the same command to retry them"
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(
        name="eval",
        help=SUMMARY,
        epilog=example(
            "tsn eval runs/ucf101_rgb_split1/best.pt --list data/ucf101_rgb_val_split_1.txt "
            "--save-scores rgb.npz",
            "tsn eval flow.pt --list data/ucf101_flow_val_split_1.txt --gpus 4 --save-scores "
            "flow.npz --keep-raw --json",
            "tsn eval anet_rgb.pt --list data/activitynet_rgb_val_split_1.txt --stride 16 "
            "--snippet-agg mtwi --save-scores rgb.npz",
            "srun --ntasks 16 --gpus-per-task 1 tsn eval best.pt --list val.txt --gpus 1 "
            "--save-scores rgb.npz",
        ),
    )(eval_command)
