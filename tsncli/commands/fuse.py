"""`tsn fuse`: Fuse score files of several modalities with weights and report accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import ReportDir, example, output_file
from tsncli.commands._report import print_json, print_metrics, print_untrimmed, split_weights
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
    snippet_agg: Annotated[
        str | None,
        typer.Option(
            help="Untrimmed videos: aggregate each file's snippet scores by the original's "
            "mean, top-k:K or mtwi (needs --keep-raw scores), then fuse.",
        ),
    ] = None,
    annotations: Annotated[
        Path | None,
        typer.Option(help="ActivityNet annotation JSON: report the official mAP, hit@1, hit@3."),
    ] = None,
    subset: Annotated[
        str, typer.Option(help="The annotation subset the scores cover.")
    ] = "validation",
    submission: Annotated[
        Path | None,
        typer.Option(
            help="Write the official classification submission JSON (needs --annotations).",
            callback=output_file,
        ),
    ] = None,
    submission_top: Annotated[
        int | None,
        typer.Option(help="Labels per video in the submission (default: every class).", min=1),
    ] = None,
    external_data: Annotated[
        str | None,
        typer.Option(help="The submission's external_data details (marks it used), e.g. Kinetics."),
    ] = None,
    report: ReportDir = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON object to stdout.")
    ] = False,
) -> None:
    """Fuse score files of several modalities with weights and report accuracy."""
    from tsncli.engine.aggregate import parse_snippet_agg
    from tsncli.engine.fusion import fuse_files, judge_untrimmed, search_weights
    from tsncli.engine.scores import load_scores
    from tsncli.lists.activitynet import SUBSETS, load_activitynet, write_submission
    from tsncli.logs import stderr_console

    paths, weight_values = split_weights(score_files, weights)
    if not paths:
        raise UsageError("give at least one score file")
    resolved = [Path(p).resolve() for p in paths]
    for twice in sorted({str(p) for p in resolved if resolved.count(p) > 1}):
        stderr_console.print(f"warning: {twice} is given more than once", markup=False)
    if crop_agg not in ("mean", "max"):
        raise UsageError(f"--crop-agg must be mean or max, got {crop_agg!r}")
    if snippet_agg is not None:
        parse_snippet_agg(snippet_agg)  # a bad rule fails before any file loads
        if crop_agg != "mean" or softmax:
            raise UsageError(
                "--snippet-agg sets its own crop rule and softmax; drop --crop-agg/--softmax"
            )
    if submission is not None and annotations is None:
        raise UsageError("--submission needs --annotations (the labels must be its class names)")
    if subset not in SUBSETS:
        raise UsageError(f"--subset must be one of: {', '.join(SUBSETS)}; got {subset!r}")
    db = load_activitynet(annotations) if annotations is not None else None
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
            [load_scores(p) for p in paths],
            crop_agg=crop_agg,
            use_softmax=softmax,
            snippet_agg=snippet_agg,
        )
        weight_values = searched[0][0]
    result = fuse_files(
        paths, weight_values, crop_agg, softmax, out, confusion, snippet_agg=snippet_agg
    )
    classes = result.fused.classes
    judged = None
    if db is not None:
        judged = judge_untrimmed(result.fused, db, subset, submission_top)
        if judged.not_annotated:
            stderr_console.print(
                f"warning: {len(judged.not_annotated)} scored videos are not in {annotations} "
                f"(e.g. {judged.not_annotated[0]}); they count as false positives",
                markup=False,
            )
        if judged.unscored:
            stderr_console.print(
                f"warning: {judged.unscored} annotated {subset} videos have no scores "
                "(missing videos?); they count as misses",
                markup=False,
            )
        if submission is not None:
            used = (external_data is not None, external_data or "")
            write_submission(submission, db.version, judged.results, used)
            stderr_console.print(f"wrote {submission}", markup=False)
    if report is not None:
        from tsncli.engine.report import save_report

        ap = judged.metrics.per_class_ap if judged is not None else None
        save_report(report, result.metrics.confusion, classes, ap)
        stderr_console.print(f"report written to {report}", markup=False)
    if json_output:
        payload = result.metrics.to_dict(classes, per_class=per_class)
        payload.update(
            files=result.paths, weights=result.weights, crop_agg=crop_agg, softmax=softmax
        )
        if snippet_agg is not None:
            payload["snippet_agg"] = snippet_agg
        if judged is not None:
            m = judged.metrics
            payload.update(map=m.map, hit1=m.hit1, hit3=m.hit3)
            if per_class:
                payload["per_class_ap"] = m.per_class_ap
        if searched is not None:
            payload["search"] = [{"weights": w, "mean_class_accuracy": a} for w, a in searched[:10]]
        print_json(payload)
        return
    title = "fused " + " + ".join(
        f"{w:g} x {Path(p).name}" for p, w in zip(result.paths, result.weights, strict=True)
    )
    if searched is not None:
        title += " (weights searched on these scores: optimistic)"
    print_metrics(result.metrics, title, classes, per_class and judged is None)
    if judged is not None:
        print_untrimmed(judged.metrics, per_class)


def register(app: typer.Typer) -> None:
    app.command(
        name="fuse",
        help=SUMMARY,
        epilog=example(
            "tsn fuse rgb.npz flow.npz --weights 1 1.5",
            "tsn fuse rgb.npz flow.npz --search --per-class --confusion cf.png --json",
            "tsn fuse rgb.npz flow.npz --weights 1 1.5 --snippet-agg mtwi "
            "--annotations activity_net.v1-3.min.json --submission sub.json",
        ),
    )(fuse_command)
