"""`tsn completion SHELL`: print the shell completion script (committed copies come from here)."""

from __future__ import annotations

from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import example
from tsncli.completions import SHELLS, render_completion

SUMMARY = SUMMARIES["completion"]


def completion_command(
    shell: Annotated[str, typer.Argument(help=f"One of: {', '.join(SHELLS)}.")],
) -> None:
    """Print the completion script for SHELL to stdout."""
    typer.echo(render_completion(shell), nl=False)


def register(app: typer.Typer) -> None:
    app.command(
        name="completion",
        help=SUMMARY,
        epilog=example("tsn completion bash > ~/.local/share/bash-completion/completions/tsn"),
    )(completion_command)
