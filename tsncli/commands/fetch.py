"""`tsn fetch`: Download datasets and weights (resumable, verified, with mirrors)."""

from __future__ import annotations

import typer

from tsncli.commands._common import example
from tsncli.errors import TsnError

SUMMARY = "Download datasets and weights (resumable, verified, with mirrors)."


def fetch_command(ctx: typer.Context) -> None:
    """Download datasets and weights (resumable, verified, with mirrors)."""
    raise TsnError("`tsn fetch` is not built yet (issue #3); nothing was done")


def register(app: typer.Typer) -> None:
    app.command(
        name="fetch",
        help=SUMMARY,
        epilog=example("tsn fetch ucf101 --mirror https://example.org/tsn"),
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(fetch_command)
