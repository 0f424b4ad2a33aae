"""`tsn pack`: Convert a frames tree between folders of JPEGs and dense_flow's zips, verified."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.filesize import decimal

from tsncli.commands import SUMMARIES
from tsncli.commands._common import example, output_folder
from tsncli.commands._progress import ProgressView
from tsncli.errors import DataError
from tsncli.layout import FRAME_FORMATS
from tsncli.logs import stderr_console
from tsncli.parallel import available_cpus

SUMMARY = SUMMARIES["pack"]


def complete_to(incomplete: str) -> list[str]:
    """Shell completion for --to: the frame formats."""
    return [name for name in FRAME_FORMATS if name.startswith(incomplete)]


def pack_command(
    frames: Annotated[
        Path, typer.Argument(help="Frames root of `tsn flow`: one FRAMES/<video_id>/ per video.")
    ],
    out: Annotated[
        Path | None,
        typer.Argument(
            help="Write the converted tree here (default: convert FRAMES in place).",
            callback=output_folder,
        ),
    ] = None,
    to: Annotated[
        str,
        typer.Option(
            autocompletion=complete_to,
            help="zip: img.zip, flow_x.zip, flow_y.zip per video (dense_flow's -o zip); "
            "dir: one JPEG file per frame.",
        ),
    ] = "zip",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-j", min=1, help="Parallel worker processes (default: one per CPU)."
        ),
    ] = None,
) -> None:
    """Convert every video of FRAMES to --to, the same JPEG bytes, verified before use.

    In place, each video's new form is read back entry by entry before its old form is removed,
    and while an archive exists readers take it: a killed run leaves every video readable and a
    rerun finishes. Videos already converted are skipped; failures go to pack_failed.tsv and make
    the exit code 1 while the other videos go on.
    """
    from tsncli.flow.pack import run_pack

    with ProgressView() as show:
        summary = run_pack(frames, out, to, workers=workers or available_cpus(), on_progress=show)
    stderr_console.print(
        f"converted {summary.done}, skipped {summary.skipped} (already {to}), failed "
        f"{len(summary.failed)} of {summary.total} video(s) in {summary.seconds:.1f} s; "
        f"{summary.files_before} files ({decimal(summary.bytes_before)}) -> "
        f"{summary.files_after} files ({decimal(summary.bytes_after)}) -> {out or frames}",
        markup=False,
        highlight=False,
    )
    if summary.failed:
        names = ", ".join(r.video_id for r in summary.failed[:10])
        more = " ..." if len(summary.failed) > 10 else ""
        kept = (
            ""
            if out is not None
            else f"; {frames}/flow_config.yaml keeps its old format until every video is done"
        )
        raise DataError(
            f"{len(summary.failed)} video(s) failed: {names}{more}; reasons are in "
            f"{summary.failed_file}; the other videos are done, fix or re-extract these and "
            f"rerun{kept}"
        )


def register(app: typer.Typer) -> None:
    app.command(
        name="pack",
        help=SUMMARY,
        epilog=example(
            "tsn pack data/ucf101/frames",
            "tsn pack data/ucf101/frames /scratch/ucf101_zips --workers 8",
            "tsn pack data/ucf101/frames --to dir",
        ),
    )(pack_command)
