"""`tsn train` on stderr: its bars through the one progress renderer, a line per epoch and a
table per validation."""

from __future__ import annotations

import os
from typing import Any

from rich.table import Table

from tsncli.commands._progress import ProgressView
from tsncli.layout import BEST_CHECKPOINT, LAST_CHECKPOINT
from tsncli.logs import is_quiet, stderr_console
from tsncli.progress import ProgressEvent


class TrainView:
    """Draws training's `ProgressEvent`s: bars (loss, lr, clips/s, ETA), an epoch's line, a
    validation's table; silent with -q."""

    def __init__(self) -> None:
        # torchrun starts every rank with this command; only rank 0 draws
        self.quiet = is_quiet() or os.environ.get("RANK", "0") != "0"
        self.view = ProgressView(enabled=not self.quiet)

    def __enter__(self) -> TrainView:
        self.view.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.view.__exit__(*exc)

    def __call__(self, event: ProgressEvent) -> None:
        """The `on_event` callback of `tsncli.engine.train.run.train`."""
        self.view(event)
        stats = event.stats
        if event.kind == "epoch":
            self.view.print(
                f"epoch {stats['epoch']}/{stats['epochs']}: loss {stats['train_loss']:.4f}, "
                f"lr {stats['lr']:.2e}, {stats['clips_per_s']:.1f} clips/s"
            )
        elif event.kind == "val":
            self.view.print(self._val_table(stats))

    @staticmethod
    def _val_table(m: Any) -> Table:
        table = Table(title=f"validation after epoch {m['epoch']}/{m['epochs']}")
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
        files = LAST_CHECKPOINT + (f", {BEST_CHECKPOINT}" if result["best_checkpoint"] else "")
        stderr_console.print(
            f"trained {result['epochs']} epochs, {score}; run folder {result['run_dir']} ({files})",
            markup=False,
            highlight=False,
        )
