"""Helpers shared by command modules: config layering from flags, examples, progress bars."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from tsncli.logs import is_quiet, stderr_console


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


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Any]:
    """A Rich progress bar on stderr; yields `advance(n=1)`. Hidden with -q."""
    if is_quiet():
        yield lambda n=1: None
        return
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr_console,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


@contextmanager
def named_progress(
    *, in_bytes: bool = False
) -> Iterator[Callable[[str, int, int | None], None] | None]:
    """Yield `on_progress(name, done, total)` drawing one Rich bar per name on stderr.

    Thread-safe (parallel downloads report from several threads). `in_bytes` shows sizes, speed
    and ETA instead of counts. Yields None with -q, so core code skips reporting entirely.
    """
    if is_quiet():
        yield None
        return
    if in_bytes:
        columns: tuple[Any, ...] = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    tasks: dict[str, Any] = {}
    lock = threading.Lock()
    with Progress(*columns, console=stderr_console) as progress:

        def on_progress(name: str, done: int, total: int | None) -> None:
            with lock:
                if name not in tasks:
                    tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done, total=total)

        yield on_progress
