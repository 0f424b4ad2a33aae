"""Where a training run's per-epoch metrics go besides checkpoints: metric sinks for
metrics.jsonl/.csv and TensorBoard (another logger, e.g. mlflow or wandb, is one more sink).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from tsncli.fsutil import atomic_write_text

Row = dict[str, Any]  # one epoch: {"epoch": 1-based, "lr": ..., "train_loss": ..., "val_*": ...}


class MetricSink(Protocol):
    """Receives every finished epoch's row on rank 0; closed once when training ends."""

    def write(self, row: Row, history: Sequence[Row]) -> None: ...

    def close(self) -> None: ...


def write_metrics(run_dir: Path, history: Sequence[Row]) -> None:
    """metrics.jsonl and metrics.csv: one row per epoch (rewritten whole, atomically)."""
    lines = "".join(json.dumps(row) + "\n" for row in history)
    atomic_write_text(run_dir / "metrics.jsonl", lines)
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(run_dir / "metrics.csv", buffer.getvalue())


class MetricsFileSink:
    """metrics.jsonl/.csv in the run folder. Each epoch rewrites the files from the history that
    last.pt holds, so a run resumed after a crash never repeats or loses a row."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def write(self, row: Row, history: Sequence[Row]) -> None:
        write_metrics(self.run_dir, history)

    def close(self) -> None:
        pass


class TensorBoardSink:
    """Every number of a row as a scalar at step = epoch, under run_dir/tensorboard."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def write(self, row: Row, history: Sequence[Row]) -> None:
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, row["epoch"])

    def close(self) -> None:
        self.writer.close()


def open_tensorboard(run_dir: Path, enabled: bool) -> Any:
    """A TensorBoard SummaryWriter under run_dir/tensorboard, or None when not installed."""
    if not enabled:
        return None
    try:
        # imported here: tensorboard is optional, and slow to import when present
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def create_metric_sinks(run_dir: Path, tensorboard: bool) -> list[MetricSink]:
    """The sinks a run writes to: metrics files always, TensorBoard when asked and installed."""
    sinks: list[MetricSink] = [MetricsFileSink(run_dir)]
    writer = open_tensorboard(run_dir, tensorboard)
    if writer is not None:
        sinks.append(TensorBoardSink(writer))
    return sinks
