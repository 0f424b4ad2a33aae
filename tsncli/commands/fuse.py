"""`tsn fuse`: Fuse score files of several modalities with weights and report accuracy."""

from __future__ import annotations

import typer

from tsncli.commands._common import example
from tsncli.errors import TsnError

SUMMARY = "Fuse score files of several modalities with weights and report accuracy."


def fuse_command(ctx: typer.Context) -> None:
    """Fuse score files of several modalities with weights and report accuracy."""
    raise TsnError("`tsn fuse` is not built yet (issue #7); nothing was done")


def register(app: typer.Typer) -> None:
    app.command(
        name="fuse",
        help=SUMMARY,
        epilog=example("tsn fuse rgb.npz flow.npz --weights 1 1.5"),
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(fuse_command)
