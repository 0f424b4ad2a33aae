"""Files a training run writes besides checkpoints: metrics.jsonl/.csv and TensorBoard events."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tsncli.fsutil import atomic_write_text


def write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
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


def open_tensorboard(run_dir: Path, enabled: bool) -> Any:
    """A TensorBoard SummaryWriter under run_dir/tensorboard, or None when not installed."""
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))
