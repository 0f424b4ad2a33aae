"""`tsn lists`: Write train/val list files for the official splits or a custom dataset."""

from __future__ import annotations

import typer

from tsncli.commands._common import example
from tsncli.errors import TsnError

SUMMARY = "Write train/val list files for the official splits or a custom dataset."


def lists_command(ctx: typer.Context) -> None:
    """Write train/val list files for the official splits or a custom dataset."""
    raise TsnError("`tsn lists` is not built yet (issue #5); nothing was done")


def register(app: typer.Typer) -> None:
    app.command(
        name="lists",
        help=SUMMARY,
        epilog=example("tsn lists ucf101 data/ucf101/frames --split 1,2,3"),
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(lists_command)
