"""Where a training run's per-epoch metrics go besides checkpoints: metric sinks for
metrics.jsonl/.csv (the canonical record), TensorBoard, and the experiment trackers `tsn train
--logger` names (MLflow and W&B are optional extras). A resumed run continues the same tracker
run (its ids are kept in run_dir/trackers.json).
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from tsncli.errors import UsageError
from tsncli.fsutil import atomic_write_text
from tsncli.layout import METRICS_CSV, METRICS_JSONL

Row = dict[str, Any]  # one epoch: {"epoch": 1-based, "lr": ..., "train_loss": ..., "val_*": ...}

LOGGERS = ("tensorboard", "mlflow", "wandb")  # what `--logger` may name
_MODULES = {"tensorboard": "torch.utils.tensorboard", "mlflow": "mlflow", "wandb": "wandb"}
_EXTRAS = {"tensorboard": "tensorboard", "mlflow": "'tsn[mlflow]'", "wandb": "'tsn[wandb]'"}
IDS_FILE = "trackers.json"


class MetricSink(Protocol):
    """Receives every finished epoch's row on rank 0; closed once when training ends."""

    def write(self, row: Row, history: Sequence[Row]) -> None: ...

    def close(self) -> None: ...


def write_metrics(run_dir: Path, history: Sequence[Row]) -> None:
    """metrics.jsonl and metrics.csv: one row per epoch (rewritten whole, atomically)."""
    lines = "".join(json.dumps(row) + "\n" for row in history)
    atomic_write_text(run_dir / METRICS_JSONL, lines)
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(run_dir / METRICS_CSV, buffer.getvalue())


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


def check_loggers(names: Sequence[str]) -> None:
    """Fail before training when a named logger is unknown or its package is not installed."""
    for name in names:
        if name not in LOGGERS:
            raise UsageError(f"--logger {name!r} is not one of: {', '.join(LOGGERS)}")
        try:
            importlib.import_module(_MODULES[name])
        except ImportError:
            raise UsageError(
                f"--logger {name} needs the {name} package: pip install {_EXTRAS[name]}"
            ) from None


def _numbers(row: Row) -> dict[str, float]:
    """The row's metrics without the step (epoch)."""
    return {k: float(v) for k, v in row.items() if k != "epoch" and isinstance(v, (int, float))}


def _load_ids(run_dir: Path) -> dict[str, str]:
    try:
        return dict(json.loads((run_dir / IDS_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _save_id(run_dir: Path, name: str, run_id: str) -> None:
    ids = dict(_load_ids(run_dir), **{name: run_id})
    atomic_write_text(run_dir / IDS_FILE, json.dumps(ids, indent=2) + "\n")


class MlflowSink:
    """One MLflow run (experiment $MLFLOW_EXPERIMENT_NAME or `tsn`, tracking URI from
    $MLFLOW_TRACKING_URI): the config as params, each epoch's numbers at step = epoch."""

    def __init__(self, run_dir: Path, params: dict[str, Any]) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient()
        run_id = _load_ids(run_dir).get("mlflow")
        if run_id is None:
            name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "tsn")
            experiment = self.client.get_experiment_by_name(name)
            exp_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
            run_id = self.client.create_run(exp_id, run_name=run_dir.name).info.run_id
            _save_id(run_dir, "mlflow", run_id)
            values = [Param(k, str(v)[:500]) for k, v in sorted(params.items())]
            self.client.log_batch(run_id, params=values)
        else:
            self.client.update_run(run_id, status="RUNNING")
        self.run_id = run_id

    def write(self, row: Row, history: Sequence[Row]) -> None:
        from mlflow.entities import Metric

        now, step = int(time.time() * 1000), int(row["epoch"])
        metrics = [Metric(k, v, now, step) for k, v in _numbers(row).items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class WandbSink:
    """One W&B run (project $WANDB_PROJECT or `tsn`; WANDB_MODE=offline works without network),
    files under run_dir/wandb: the config, and each epoch's numbers at step = epoch."""

    def __init__(self, run_dir: Path, params: dict[str, Any]) -> None:
        import wandb

        run_id = _load_ids(run_dir).get("wandb") or uuid.uuid4().hex[:12]
        _save_id(run_dir, "wandb", run_id)
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "tsn"),
            name=run_dir.name,
            id=run_id,
            resume="allow",
            dir=str(run_dir),
            config=params,
            settings=wandb.Settings(console="off", silent=True),  # stdout stays ours
        )

    def write(self, row: Row, history: Sequence[Row]) -> None:
        self.run.log(_numbers(row), step=int(row["epoch"]))

    def close(self) -> None:
        self.run.finish()


def create_run_sinks(
    run_dir: Path, loggers: Sequence[str], tensorboard: bool, params: dict[str, Any]
) -> list[MetricSink]:
    """metrics.jsonl/.csv always; TensorBoard when installed (or required when named);
    MLflow and W&B when named. `params`: the run's config, logged once."""
    check_loggers(loggers)
    sinks = create_metric_sinks(run_dir, tensorboard and "tensorboard" not in loggers)
    if "tensorboard" in loggers:
        from torch.utils.tensorboard import SummaryWriter

        sinks.append(TensorBoardSink(SummaryWriter(str(run_dir / "tensorboard"))))
    if "mlflow" in loggers:
        sinks.append(MlflowSink(run_dir, params))
    if "wandb" in loggers:
        sinks.append(WandbSink(run_dir, params))
    return sinks
