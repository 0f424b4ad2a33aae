"""The end-of-epoch bookkeeping of a training run, after timm's `CheckpointSaver`: last.pt
(atomically, every epoch), best.pt (by the monitored metric), the N most recent epoch_XXX.pt
(`--keep-last N`) and the metric sinks.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tsncli.engine.run_files import MetricSink, Row
from tsncli.engine.train_state import save_training_checkpoint
from tsncli.fsutil import atomic_path

MONITOR = "val_mean_class_accuracy"  # the paper's metric; higher is better


@dataclass
class CheckpointSaver:
    """Rank 0's bookkeeping. `update(row)` after each epoch: appends the row to the history,
    writes last.pt, copies it to best.pt when the monitored metric improved, feeds the sinks.

    `best` and `history` start from last.pt on --resume. With `keep_last` N > 0, each epoch's
    checkpoint is also kept as epoch_XXX.pt, the N most recent only; loggers are sinks.
    """

    run_dir: Path
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    meta: dict[str, Any]  # checkpoint meta; "epoch" is set at each save
    sinks: Sequence[MetricSink] = ()
    monitor: str = MONITOR
    best: float = -1.0  # -1: nothing validated yet
    history: list[Row] = field(default_factory=list)
    keep_last: int = 0  # epoch_XXX.pt files kept beside last.pt; 0: none

    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.pt"

    def update(self, row: Row) -> bool:
        """Record one finished epoch (`row["epoch"]` is 1-based); True when it is the new best."""
        self.history.append(row)
        value = row.get(self.monitor)
        improved = value is not None and value > self.best
        if improved:
            self.best = float(value)
        last = self._save_last(int(row["epoch"]))
        if self.keep_last > 0:
            self._keep_epoch(last, int(row["epoch"]))
        if improved:
            with atomic_path(self.best_path) as tmp:
                shutil.copyfile(last, tmp)
        for sink in self.sinks:
            sink.write(row, self.history)
        return improved

    def _save_last(self, epoch: int) -> Path:
        meta = dict(self.meta, epoch=epoch)
        return save_training_checkpoint(
            self.last_path,
            self.model,
            meta,
            self.optimizer,
            self.scheduler,
            self.scaler,
            epoch,
            self.best,
            self.history,
        )

    def epoch_path(self, epoch: int) -> Path:
        return self.run_dir / f"epoch_{epoch:03d}.pt"

    def _keep_epoch(self, last: Path, epoch: int) -> None:
        """epoch_XXX.pt as a hard link to this epoch's last.pt (a copy where links fail: the
        next save replaces last.pt by rename, so the link keeps this epoch); drop the oldest."""
        with atomic_path(self.epoch_path(epoch)) as tmp:
            try:
                tmp.unlink()  # atomic_path made an empty file; the link takes its name
                os.link(last, tmp)
            except OSError:
                shutil.copyfile(last, tmp)
        kept = sorted(self.run_dir.glob("epoch_[0-9][0-9][0-9]*.pt"), key=_epoch_number)
        for old in kept[: -self.keep_last]:
            old.unlink(missing_ok=True)

    def close(self) -> None:
        """Close every sink (flushes TensorBoard)."""
        for sink in self.sinks:
            sink.close()


def _epoch_number(path: Path) -> int:
    match = re.fullmatch(r"epoch_(\d+)\.pt", path.name)
    return int(match[1]) if match else -1
