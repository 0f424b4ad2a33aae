"""`tsn fuse`: Fuse score files of several modalities with weights and report accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import example, output_file
from tsncli.commands._report import print_json, print_metrics, split_weights
from tsncli.errors import UsageError

SUMMARY = SUMMARIES["fuse"]


def fuse_command(
    score_files: Annotated[
        list[str], typer.Argument(help="Score files (.npz) from `tsn eval` or `eval_net.py`.")
    ],
    weights: Annotated[
        list[str] | None,
        typer.Option(help="One weight per file, e.g. `--weights 1 1.5` (RGB 1, flow 1.5)."),
    ] = None,
    crop_agg: Annotated[
        str, typer.Option(help="Crop aggregation: mean or max (max needs --keep-raw scores).")
    ] = "mean",
    softmax: Annotated[
        bool, typer.Option("--softmax", help="Softmax each file's video scores before summing.")
    ] = False,
    per_class: Annotated[
        bool, typer.Option("--per-class", help="Also show per-class accuracy.")
    ] = False,
    confusion: Annotated[
        Path | None,
        typer.Option(help="Write a labelled confusion-matrix PNG here.", callback=output_file),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Save the fused scores as a score file.", callback=output_file),
    ] = None,
    search: Annotated[
        bool,
        typer.Option("--search", help="Grid-search the weights (inflates accuracy on test data)."),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON object to stdout.")
    ] = False,
) -> None:
    """Fuse score files of several modalities with weights and report accuracy."""
    from tsncli.engine.fusion import fuse_files, search_weights
    from tsncli.engine.scores import load_scores
    from tsncli.logs import stderr_console

    paths, weight_values = split_weights(score_files, weights)
    if not paths:
        raise UsageError("give at least one score file")
    resolved = [Path(p).resolve() for p in paths]
    for twice in sorted({str(p) for p in resolved if resolved.count(p) > 1}):
        stderr_console.print(f"warning: {twice} is given more than once", markup=False)
    if crop_agg not in ("mean", "max"):
        raise UsageError(f"--crop-agg must be mean or max, got {crop_agg!r}")
    searched = None
    if search:
        if len(paths) < 2:
            raise UsageError("--search needs at least two score files")
        stderr_console.print(
            "warning: weights tuned on the test set give an optimistic accuracy; "
            "tune on held-out data for an honest figure",
            markup=False,
        )
        searched = search_weights(
            [load_scores(p) for p in paths], crop_agg=crop_agg, use_softmax=softmax
        )
        weight_values = searched[0][0]
    result = fuse_files(paths, weight_values, crop_agg, softmax, out=out, confusion_png=confusion)
    classes = result.fused.classes
    if json_output:
        payload = result.metrics.to_dict(classes, per_class=per_class)
        payload.update(
            files=result.paths, weights=result.weights, crop_agg=crop_agg, softmax=softmax
        )
        if searched is not None:
            payload["search"] = [{"weights": w, "mean_class_accuracy": a} for w, a in searched[:10]]
        print_json(payload)
        return
    title = "fused " + " + ".join(
        f"{w:g} x {Path(p).name}" for p, w in zip(result.paths, result.weights, strict=True)
    )
    if searched is not None:
        title += " (weights searched on these scores: optimistic)"
    print_metrics(result.metrics, title, classes, per_class)


def register(app: typer.Typer) -> None:
    app.command(
        name="fuse",
        help=SUMMARY,
        epilog=example(
            "tsn fuse rgb.npz flow.npz --weights 1 1.5",
            "tsn fuse rgb.npz flow.npz --search --per-class --confusion cf.png --json",
        ),
    )(fuse_command)
