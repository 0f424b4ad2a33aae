"""The one progress renderer: `ProgressEvent`s become Rich bars on stderr, one per task, and
`info` events lines of the log.

Thread-safe (parallel downloads report from several threads); draws nothing with -q.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from tsncli.logs import is_quiet, stderr_console
from tsncli.progress import ProgressEvent

log = logging.getLogger("tsncli.progress")


class _CountColumn(ProgressColumn):
    """`12/40` for items, `1.2/3.4 MB` for bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.items, self.bytes = MofNCompleteColumn(), DownloadColumn()

    def render(self, task: Task) -> Text:
        return (self.bytes if task.fields.get("unit") == "bytes" else self.items).render(task)


class _SpeedColumn(ProgressColumn):
    """Transfer speed for bytes; nothing for items."""

    def __init__(self) -> None:
        super().__init__()
        self.speed = TransferSpeedColumn()

    def render(self, task: Task) -> Text:
        return self.speed.render(task) if task.fields.get("unit") == "bytes" else Text("")


class ProgressView:
    """A `ProgressFn` drawing each task's events as one bar on stderr; use it as a context.

    A task's bar appears with its first event; a `done` below the last one restarts the bar
    (its clock and speed too). An `info` event draws no bar: its message goes to the log (which
    -q silences). `enabled=None` means: hidden when -q was given.
    """

    def __init__(self, *, enabled: bool | None = None, console: Console | None = None) -> None:
        self.enabled = (not is_quiet()) if enabled is None else enabled
        self.progress = Progress(
            TextColumn("{task.description}", style="progress.description", markup=False),
            BarColumn(),
            _CountColumn(),
            _SpeedColumn(),
            TextColumn("{task.fields[message]}", markup=False),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or stderr_console,
            disable=not self.enabled,
        )
        self._tasks: dict[str, tuple[TaskID, int]] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> ProgressView:
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "info":
            log.info(event.message)
            return
        if not self.enabled:
            return
        fields = {"unit": event.unit, "message": event.message}
        with self._lock:
            known = self._tasks.get(event.task)
            if known is None:
                task_id = self.progress.add_task(
                    event.task, total=event.total, completed=event.done, **fields
                )
            else:
                task_id, last = known
                if event.done < last:
                    self.progress.reset(task_id, total=event.total, completed=event.done, **fields)
                else:
                    self.progress.update(task_id, total=event.total, completed=event.done, **fields)
            self._tasks[event.task] = (task_id, event.done)

    def print(self, renderable: Any) -> None:
        """Print a line or table above the bars (on stderr; nothing when hidden)."""
        if self.enabled:
            self.progress.console.print(renderable, markup=False, highlight=False)
