"""`tsn lists`: Write train/val list files for the official splits or a custom dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import IgnoreRotation, cli_overrides, example, finite, output_folder
from tsncli.commands._progress import ProgressView
from tsncli.errors import UsageError
from tsncli.modality import LIST_MODALITIES
from tsncli.specs.datasets import DATASETS

SUMMARY = SUMMARIES["lists"]
_ANNOTATED = [name for name in DATASETS if DATASETS.get(name).annotations is not None]


def complete_dataset(incomplete: str) -> list[tuple[str, str]]:
    """Shell completion for the dataset argument, read from the dataset registry."""
    return [(n, DATASETS.get(n).help) for n in DATASETS.names() if n.startswith(incomplete)]


def complete_modality(incomplete: str) -> list[str]:
    choices = [",".join(m.value for m in LIST_MODALITIES), *(m.value for m in LIST_MODALITIES)]
    return [m for m in choices if m.startswith(incomplete)]


def lists_command(
    ctx: typer.Context,
    dataset: Annotated[
        str,
        typer.Argument(
            help=f"Dataset: {', '.join(DATASETS.names())}.",
            autocompletion=complete_dataset,
            metavar="DATASET",
        ),
    ],
    frames: Annotated[
        Path | None,
        typer.Argument(
            help="Frame folders, one per video (default data/<dataset>/frames); with --source "
            "videos, the folder of video files (default data/<dataset>/videos).",
            metavar="FRAMES",
        ),
    ] = None,
    splits: Annotated[
        Path | None,
        typer.Option(help="Official split files (default data/<dataset>/splits, as unpacked)."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Folder for the list and classes files.", callback=output_folder)
    ] = Path("data"),
    split: Annotated[
        str | None, typer.Option(help="Splits to write, e.g. 1,2,3 (default: all present).")
    ] = None,
    modality: Annotated[
        str, typer.Option(help="rgb, flow or rgb,flow.", autocompletion=complete_modality)
    ] = "rgb,flow",
    shuffle: Annotated[
        bool, typer.Option("--shuffle/--no-shuffle", help="Shuffle list lines (seeded).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for --shuffle and the custom split.")] = 0,
    allow_missing: Annotated[
        bool,
        typer.Option("--allow-missing", help="Drop videos without frames instead of failing."),
    ] = False,
    videos: Annotated[
        Path | None, typer.Option(help="custom: video root holding <Class>/<video> files.")
    ] = None,
    val_ratio: Annotated[
        float, typer.Option(help="custom: fraction of each class put in val.", callback=finite)
    ] = 0.2,
    split_file: Annotated[
        Path | None, typer.Option(help="custom: CSV with columns video,label,subset.")
    ] = None,
    annotations: Annotated[
        Path | None,
        typer.Option(
            help=f"{', '.join(_ANNOTATED)}: folder of the annotation files (Kinetics: "
            "train/validate CSVs; sthv2: labels/train/validation JSON; ActivityNet: "
            "activity_net.v1-3.min.json). Default data/<dataset>/annotations."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Prefix of the written files (default: the dataset).")
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            help="frames: list frame folders; videos: list video files, decoded sparsely by "
            "train/eval/predict (no `tsn flow` step). Kinetics and sthv2: videos only; "
            "ActivityNet: videos (default) or frames.",
            autocompletion=lambda incomplete: [
                s for s in ("frames", "videos") if s.startswith(incomplete)
            ],
        ),
    ] = "frames",
    size: Annotated[
        str | None, typer.Option(help="videos: frame size WxH the loader resizes to (340x256).")
    ] = None,
    short_side: Annotated[
        int | None, typer.Option(help="videos: resize the shorter side to S instead of --size.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="videos: processes counting frames (default CPUs, max 8).")
    ] = None,
    ignore_rotation: IgnoreRotation = False,
    unit: Annotated[
        str,
        typer.Option(
            help="ActivityNet: instances (a training line per annotation, `path offset "
            "num_frames label`) or videos (a line per training video).",
            autocompletion=lambda incomplete: [
                u for u in ("instances", "videos") if u.startswith(incomplete)
            ],
        ),
    ] = "instances",
    classes: Annotated[
        Path | None,
        typer.Option(
            help="ActivityNet: label order from this file (one class per line, a tsn classes "
            "file, or a CSV such as BSN's action_name.csv) instead of the original's."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML file of options (a `lists:` section or flat).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print what was written as JSON on stdout.")
    ] = False,
) -> None:
    """Write `{ds}_{rgb|flow}_{train|val}_split_{k}.txt` and `{ds}_classes.txt`."""
    from tsncli.lists.fronts import builder_options, lists_builder

    overrides = cli_overrides(ctx, exclude=("config", "json_output"))
    builder = lists_builder(dataset)  # named by the dataset's registry entry
    owners = builder_options()
    foreign = [k for k in owners if k in overrides and k not in builder.options]
    if foreign:
        names = " and ".join(f"--{k}" for k in foreign)
        raise UsageError(f"{names}: only for {owners[foreign[0]]} lists")
    cfg = builder.resolve(overrides, config)
    with ProgressView() as show:
        result = builder.build(cfg, on_progress=show)
    if json_output:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print_summary(result)


def _print_summary(result) -> None:  # noqa: ANN001 - ListsResult, imported lazily
    from rich.table import Table

    from tsncli.logs import is_quiet, stderr_console

    if is_quiet():
        return
    table = Table(title=f"{result.dataset}: {result.num_classes} classes", header_style="bold")
    table.add_column("file")
    table.add_column("entries", justify="right")
    table.add_column("bytes", justify="right")
    for f in result.files:
        table.add_row(f.path, str(f.entries) if f.entries else "", f"{f.size_bytes:,}")
    stderr_console.print(table)
    _print_instances(result, stderr_console)
    if result.dropped and getattr(result, "missing_file", None):
        note = f"left out {result.dropped} annotated videos (not found or unreadable): "
        stderr_console.print(note + result.missing_file, markup=False)
    elif result.dropped:
        stderr_console.print(f"dropped {result.dropped} videos without frames", markup=False)


def _print_instances(result, console) -> None:  # noqa: ANN001 - ActivityNetListsResult
    """ActivityNet's counts: instances, clamped, too short; the class order's differences."""
    differences = getattr(result, "class_differences", None)
    if differences:
        console.print("class order differs from the original (anet_db.py):", markup=False)
        for line in differences:
            console.print(f"  {line}", markup=False)
    if getattr(result, "unit", None) != "instances":
        return
    short = ", ".join(f"{m} {n}" for m, n in result.too_short.items() if n)
    console.print(
        f"{result.instances} training instances; {result.clamped} clamped to their video"
        + (f"; too short for a snippet, left out: {short}" if short else ""),
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.command(
        name="lists",
        help=SUMMARY,
        epilog=example(
            *(
                f"tsn lists {name} {arguments}"
                for name in DATASETS
                for arguments in DATASETS.get(name).lists_examples
            )
        ),
    )(lists_command)
