"""`tsn train` on stderr: its bars through the one progress renderer, a table per validation."""

from __future__ import annotations

import logging
import os
from typing import Any

from rich.table import Table

from tsncli.commands._progress import ProgressView
from tsncli.engine.train_loop import TrainEvent
from tsncli.logs import is_quiet, stderr_console
from tsncli.progress import ProgressEvent

log = logging.getLogger("tsncli.train")


def progress_events(event: TrainEvent) -> list[ProgressEvent]:
    """The progress protocol's view of a training event: the whole run, and this epoch."""
    if event.kind == "start":
        done = event.epoch * event.steps
        return [ProgressEvent("training", done, event.epochs * event.steps)]
    if event.kind != "step":
        return []
    stats = f"loss {event.loss:.4f}  lr {event.lr:.2e}  {event.clips_per_s:.1f} clips/s"
    done = (event.epoch - 1) * event.steps + event.step
    total = event.epochs * event.steps
    return [
        ProgressEvent("training", done, total, message=f"epoch {event.epoch}/{event.epochs}"),
        # one bar for every epoch: its count going back to the start restarts it
        ProgressEvent("epoch", event.step, event.steps, message=stats),
    ]


class TrainView:
    """Turns TrainEvents into bars (loss, lr, clips/s, ETA) and tables; silent with -q."""

    def __init__(self) -> None:
        # torchrun starts every rank with this command; only rank 0 draws
        self.quiet = is_quiet() or os.environ.get("RANK", "0") != "0"
        self.view = ProgressView(enabled=not self.quiet)

    def __enter__(self) -> TrainView:
        self.view.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.view.__exit__(*exc)

    def handle(self, event: TrainEvent) -> None:
        """The `on_event` callback of `tsncli.engine.train.train`."""
        if event.kind == "info":
            log.info(event.message)
        for progress in progress_events(event):
            self.view(progress)
        if event.kind == "epoch":
            self.view.print(
                f"epoch {event.epoch}/{event.epochs}: loss {event.loss:.4f}, lr {event.lr:.2e}, "
                f"{event.clips_per_s:.1f} clips/s"
            )
        elif event.kind == "val":
            self.view.print(self._val_table(event))

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
