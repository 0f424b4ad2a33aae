"""The `tsn` Typer app: registers subcommands, global options and the error edge."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from tsncli import __version__
from tsncli.errors import TsnError
from tsncli.logs import print_error, setup_logging, stderr_console


class TsnGroup(TyperGroup):
    """Turns TsnError into `error: ...` + exit 1 and Ctrl-C into exit 130, without tracebacks."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except TsnError as exc:
            print_error(str(exc))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            stderr_console.print("interrupted", markup=False, highlight=False)
            raise typer.Exit(130) from None


app = typer.Typer(
    name="tsn",
    cls=TsnGroup,
    help="Temporal Segment Networks, end to end: data, flow, lists, training, testing, fusion.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tsn {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    verbose: Annotated[
        int, typer.Option("-v", "--verbose", count=True, help="More log detail (-vv for paths).")
    ] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only warnings and errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Temporal Segment Networks, end to end."""
    setup_logging(verbose=verbose, quiet=quiet)


def _register() -> None:
    from tsncli.commands import COMMANDS

    for module in COMMANDS:
        module.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # raised outside a command (e.g. during start-up)
        sys.exit(130)
