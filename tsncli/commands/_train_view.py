"""Rich rendering of `tsn train` progress on stderr: a bar per epoch and a validation table."""

from __future__ import annotations

import logging
import os
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from tsncli.engine.train_loop import TrainEvent
from tsncli.logs import is_quiet, stderr_console

log = logging.getLogger("tsncli.train")


class TrainView:
    """Turns TrainEvents into Rich bars (loss, lr, clips/s, ETA) and tables; silent with -q."""

    def __init__(self) -> None:
        # torchrun starts every rank with this command; only rank 0 draws
        self.quiet = is_quiet() or os.environ.get("RANK", "0") != "0"
        self.progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=stderr_console,
            transient=False,
        )
        self.task: Any = None
        self.overall: Any = None  # all epochs: its ETA is the run's

    def __enter__(self) -> TrainView:
        if not self.quiet:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.quiet:
            self.progress.stop()

    def handle(self, event: TrainEvent) -> None:
        """The `on_event` callback of `tsncli.engine.train.train`."""
        if event.kind == "info":
            log.info(event.message)
        if self.quiet:
            return
        if event.kind == "start":
            total = event.epochs * event.steps
            self.overall = self.progress.add_task(
                "training", total=total, completed=event.epoch * event.steps, stats=""
            )
        elif event.kind == "step":
            stats = f"loss {event.loss:.4f}  lr {event.lr:.2e}  {event.clips_per_s:.1f} clips/s"
            description = f"epoch {event.epoch}/{event.epochs}"
            if self.task is None:
                self.task = self.progress.add_task(description, total=event.steps, stats="")
            elif self.progress.tasks[self.task].description != description:
                self.progress.reset(self.task, total=event.steps, description=description)
            self.progress.update(self.task, completed=event.step, stats=stats)
            if self.overall is not None:
                done = (event.epoch - 1) * event.steps + event.step
                self.progress.update(self.overall, completed=done, stats=f"epoch {event.epoch}")
        elif event.kind == "epoch":
            self.progress.console.print(
                f"epoch {event.epoch}/{event.epochs}: loss {event.loss:.4f}, lr {event.lr:.2e}, "
                f"{event.clips_per_s:.1f} clips/s",
                markup=False,
                highlight=False,
            )
        elif event.kind == "val":
            self.progress.console.print(self._val_table(event))

    @staticmethod
    def _val_table(event: TrainEvent) -> Table:
        m = event.metrics
        table = Table(title=f"validation after epoch {event.epoch}/{event.epochs}")
        for name in ("mean class acc", "top-1", "top-5", "loss", "videos", "best"):
            table.add_column(name, justify="right")
        table.add_row(
            f"{100 * m['val_mean_class_accuracy']:.2f}%" + (" *" if m.get("improved") else ""),
            f"{100 * m['val_top1']:.2f}%",
            f"{100 * m['val_top5']:.2f}%",
            f"{m['val_loss']:.4f}",
            f"{int(m['val_videos'])}",
            f"{100 * m['best']:.2f}%",
        )
        return table

    def summary(self, result: dict[str, Any]) -> None:
        """The closing lines: where the checkpoints are, the best accuracy."""
        if self.quiet:
            return
        best = result["best_val_mean_class_accuracy"]
        score = (
            "not validated" if best is None else f"best val mean class accuracy {100 * best:.2f}%"
        )
        stderr_console.print(
            f"trained {result['epochs']} epochs, {score}; run folder {result['run_dir']} "
            f"(last.pt{', best.pt' if result['best_checkpoint'] else ''})",
            markup=False,
            highlight=False,
        )
