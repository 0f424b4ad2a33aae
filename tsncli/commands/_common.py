"""Helpers shared by command modules: config layering from flags, examples, finite numbers.

Progress bars are drawn by the one renderer in `tsncli.commands._progress`.
"""

from __future__ import annotations

import math
from typing import Any

import typer

from tsncli.errors import UsageError


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


def finite(ctx: typer.Context, param: typer.CallbackParam, value: float | None) -> float | None:
    """Typer callback for float options: nan and inf are refused (a nan lr trains a nan model)."""
    if value is not None and not math.isfinite(value):
        name = (param.opts or [param.name or "value"])[0]
        raise typer.BadParameter(f"{name} must be a finite number, got {value}")
    return value


def parse_finite(token: str, what: str) -> float:
    """A float from text for `what` (e.g. "--weights"); UsageError for words, nan and inf."""
    try:
        value = float(token)
    except ValueError:
        raise UsageError(f"{what} must be numbers, got {token!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"{what} must be finite numbers, got {token!r}")
    return value
