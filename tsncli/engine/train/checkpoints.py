"""A training run's checkpoints and resume, in one place: the end-of-epoch bookkeeping after
timm's `CheckpointSaver` (last.pt atomically every epoch, best.pt by the monitored metric, the N
most recent epoch_XXX.pt, the metric sinks), the RNG states they carry, the up-front checks of
`--resume`, and loading last.pt back into a run.

RNG states are stored as tensors and plain lists so `load_checkpoint` can read them with
`weights_only=True`.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tsncli.engine.train.sinks import MetricSink, Row
from tsncli.errors import DataError, UsageError
from tsncli.fsutil import atomic_path
from tsncli.layout import best_checkpoint, epoch_checkpoint, epoch_checkpoints, last_checkpoint
from tsncli.models.checkpoint import load_checkpoint, save_checkpoint

MONITOR = "val_mean_class_accuracy"  # the paper's metric; higher is better
# a resumed run must build the same model on the same data as the run it continues
_SAME_ON_RESUME = ("arch", "modality", "segments", "new_length", "consensus", "dataset")


def check_resume(run_dir: Path, resume: bool, allow_fresh: bool) -> None:
    """Before any work: a folder holding a run needs --resume, and --resume needs a run (unless
    --allow-fresh)."""
    last = last_checkpoint(run_dir)
    if last.exists() and not resume:
        raise UsageError(
            f"{run_dir} already holds a run ({last.name}); pass --resume to continue it "
            "or --out for a new folder"
        )
    if resume and not last.exists() and not allow_fresh:
        raise UsageError(
            f"--resume: {run_dir} holds no run to resume (no {last.name}); check --out, or pass "
            "--allow-fresh to start a new run there"
        )


def check_resume_classes(run_dir: Path, class_names: Sequence[str], classes_path: Path) -> None:
    """Before any work on --resume: the run's classes (last.pt) must be the classes file's, in
    count, names and order; a class added or renamed since is one line naming both files."""
    last = last_checkpoint(run_dir)
    saved = list(load_checkpoint(last)["meta"].get("class_names") or [])
    ours = list(class_names)
    if not saved or saved == ours:
        return
    if len(saved) != len(ours):
        what = f"{len(saved)} classes, but {classes_path} lists {len(ours)}"
    else:
        i = next(i for i, (a, b) in enumerate(zip(saved, ours, strict=True)) if a != b)
        what = f"class {i} {saved[i]!r}, but {classes_path} names it {ours[i]!r}"
    raise UsageError(
        f"--resume: {last} was trained with {what}; resume with the classes file it was "
        "trained on, or start a new run with --out (or --init it to fine-tune)"
    )


def capture_rng() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {
            "state": [int(v) for v in np_state["state"]["key"]],
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng` (CUDA states only when the device count matches)."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    numpy = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np.array(numpy["state"], dtype=np.uint32), "pos": numpy["pos"]},
            "has_gauss": numpy["has_gauss"],
            "gauss": numpy["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_training_checkpoint(
    path: Path,
    model: nn.Module,
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    epoch: int,
    best_metric: float,
    history: list[dict[str, Any]],
) -> Path:
    """last.pt / best.pt: weights + meta + everything `--resume` needs (epoch = completed ones)."""
    return save_checkpoint(
        path,
        model,
        meta,
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        scaler=scaler.state_dict(),
        epoch=epoch,
        best_metric=best_metric,
        history=history,
        rng=capture_rng(),
    )


def load_resume_state(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Read last.pt for `--resume`; refuse a run made with another model setup."""
    if not path.is_file():
        raise UsageError(f"--resume found no {path}; start the run without --resume")
    ckpt = load_checkpoint(path)
    if "optimizer" not in ckpt or "epoch" not in ckpt:
        raise DataError(f"{path} holds no training state; it cannot be resumed")
    saved = ckpt["meta"].get("config", {})
    for key in _SAME_ON_RESUME:
        if key in saved and saved[key] != config.get(key):
            raise UsageError(
                f"--resume: {path} was trained with {key}={saved[key]!r}, not "
                f"{config.get(key)!r}; use the same options or another --out"
            )
    return ckpt


@dataclass(frozen=True)
class ResumeState:
    """Where a resumed run picks up: epochs already done, the best metric and the history."""

    epochs_done: int = 0
    best: float = -1.0  # -1: nothing validated yet
    history: list[Row] = field(default_factory=list)


def resume_run(
    path: Path,
    config: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
) -> ResumeState:
    """Load last.pt at `path` into the model, optimizer, scheduler, scaler and RNGs."""
    ckpt = load_resume_state(path, config)
    model.load_state_dict(ckpt["state_dict"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    restore_rng(ckpt["rng"])
    history = list(ckpt.get("history", []))
    return ResumeState(int(ckpt["epoch"]), float(ckpt["best_metric"]), history)


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
        return last_checkpoint(self.run_dir)

    @property
    def best_path(self) -> Path:
        return best_checkpoint(self.run_dir)

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
        return epoch_checkpoint(self.run_dir, epoch)

    def _keep_epoch(self, last: Path, epoch: int) -> None:
        """epoch_XXX.pt as a hard link to this epoch's last.pt (a copy where links fail: the
        next save replaces last.pt by rename, so the link keeps this epoch); drop the oldest."""
        with atomic_path(self.epoch_path(epoch)) as tmp:
            try:
                tmp.unlink()  # atomic_path made an empty file; the link takes its name
                os.link(last, tmp)
            except OSError:
                shutil.copyfile(last, tmp)
        for old in epoch_checkpoints(self.run_dir)[: -self.keep_last]:
            old.unlink(missing_ok=True)

    def close(self) -> None:
        """Close every sink (flushes TensorBoard)."""
        for sink in self.sinks:
            sink.close()
