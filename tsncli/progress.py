"""The one progress protocol: core loops report `ProgressEvent`s to a `ProgressFn`.

Core code never draws; `tsncli.commands._progress` turns events into bars on stderr. Most events
are plain counts; a stage with more to say (training: steps, epochs, validations) marks its events
with a `kind` and carries its numbers in `stats`, and a `kind="info"` event is a note for the log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Unit = Literal["items", "bytes"]
# progress: a count (the default); info: a note for the log, no bar; the rest are training's:
# start (before the first epoch), step (every --log-every optimizer steps), epoch (an epoch's
# row), val (a validation's metrics), end (the run is done)
Kind = Literal["progress", "info", "start", "step", "epoch", "val", "end"]


@dataclass(frozen=True)
class ProgressEvent:
    """Where one task stands: `done` of `total` (None when unknown) `unit`s, and a short note.

    `task` names the task and is the key a renderer draws one bar per; a `done` lower than the
    last one for the same task means the task started over (a new epoch, a restarted download).
    `kind` says what happened (see `Kind`); `stats` holds its numbers (training: epoch, epochs,
    step, steps, loss, lr, clips_per_s, the validation metrics).
    """

    task: str
    done: int
    total: int | None = None
    unit: Unit = "items"
    message: str = ""
    kind: Kind = "progress"
    stats: Mapping[str, Any] = field(default_factory=dict)


ProgressFn = Callable[[ProgressEvent], None]


class Tracker:
    """A core loop's handle on one task: keeps the count and reports through `on_progress`.

    Reporting costs nothing when `on_progress` is None, so loops call it unconditionally.
    """

    def __init__(
        self,
        on_progress: ProgressFn | None,
        task: str,
        total: int | None = None,
        unit: Unit = "items",
    ) -> None:
        self.on_progress = on_progress
        self.task = task
        self.total = total
        self.unit: Unit = unit
        self.done = 0

    def update(self, done: int, total: int | None = None, message: str = "") -> None:
        """Report `done` so far (and a new `total` when given)."""
        self.done = done
        if total is not None:
            self.total = total
        if self.on_progress is not None:
            self.on_progress(ProgressEvent(self.task, done, self.total, self.unit, message))

    def advance(self, n: int = 1, message: str = "") -> None:
        """Report `n` more done."""
        self.update(self.done + n, message=message)

    def start(self, message: str = "") -> None:
        """Report the task with nothing done yet (the bar appears before the first item ends)."""
        self.update(0, message=message)
