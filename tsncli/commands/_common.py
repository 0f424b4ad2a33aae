"""Helpers shared by command modules: config layering from flags, examples.

Progress bars are drawn by the one renderer in `tsncli.commands._progress`.
"""

from __future__ import annotations

from typing import Any

import typer


def example(*lines: str) -> str:
    """An epilog for `--help` showing example invocations."""
    body = "\n\n".join(f"  $ {line}" for line in lines)
    return f"[bold]Example[/bold]\n\n{body}"


def cli_overrides(ctx: typer.Context, *, exclude: tuple[str, ...] = ("config",)) -> dict[str, Any]:
    """The options the user actually typed (or set by env), to layer over config files."""
    out: dict[str, Any] = {}
    for name, value in ctx.params.items():
        if name in exclude:
            continue
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            out[name] = value
    return out
