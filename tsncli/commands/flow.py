"""`tsn flow`: Extract frames and optical flow (TV-L1, warped TV-L1, Farneback, DIS) in parallel."""

from __future__ import annotations

import typer

from tsncli.commands._common import example
from tsncli.errors import TsnError

SUMMARY = "Extract frames and optical flow (TV-L1, warped TV-L1, Farneback, DIS) in parallel."


def flow_command(ctx: typer.Context) -> None:
    """Extract frames and optical flow (TV-L1, warped TV-L1, Farneback, DIS) in parallel."""
    raise TsnError("`tsn flow` is not built yet (issue #4); nothing was done")


def register(app: typer.Typer) -> None:
    app.command(
        name="flow",
        help=SUMMARY,
        epilog=example("tsn flow data/ucf101/videos data/ucf101/frames --workers 4"),
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(flow_command)
