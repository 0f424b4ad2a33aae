"""`tsn predict`: Predict the action in one video, computing flow on the fly."""

from __future__ import annotations

import typer

from tsncli.commands._common import example
from tsncli.errors import TsnError

SUMMARY = "Predict the action in one video, computing flow on the fly."


def predict_command(ctx: typer.Context) -> None:
    """Predict the action in one video, computing flow on the fly."""
    raise TsnError("`tsn predict` is not built yet (issue #7); nothing was done")


def register(app: typer.Typer) -> None:
    app.command(
        name="predict",
        help=SUMMARY,
        epilog=example("tsn predict runs/ucf101_rgb/best.pt video.avi"),
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(predict_command)
