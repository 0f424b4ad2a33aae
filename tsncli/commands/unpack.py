"""`tsn unpack`: Safely extract RAR/ZIP archives, HMDB51's RAR of RARs included."""

from __future__ import annotations

import typer

from tsncli.commands._common import example
from tsncli.errors import TsnError

SUMMARY = "Safely extract RAR/ZIP archives, HMDB51's RAR of RARs included."


def unpack_command(ctx: typer.Context) -> None:
    """Safely extract RAR/ZIP archives, HMDB51's RAR of RARs included."""
    raise TsnError("`tsn unpack` is not built yet (issue #3); nothing was done")


def register(app: typer.Typer) -> None:
    app.command(
        name="unpack",
        help=SUMMARY,
        epilog=example("tsn unpack ucf101"),
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(unpack_command)
