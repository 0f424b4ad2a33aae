"""`tsn train --logger` and `--keep-last`: MLflow's file store and W&B's offline mode receive
every epoch beside metrics.jsonl, a missing extra is a one-line error, old epochs are pruned."""

from __future__ import annotations

import importlib.util
import json
import time

import pytest
import torch
from reference import needs
from train_fixtures import make_dataset

from tsncli.engine.train.checkpoints import CheckpointSaver
from tsncli.engine.train.sinks import MlflowSink, WandbSink, check_loggers, create_run_sinks
from tsncli.errors import UsageError
from tsncli.models.checkpoint import load_checkpoint
from tsncli.models.tsn import create_tsn

HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None
HAS_WANDB = importlib.util.find_spec("wandb") is not None
needs_mlflow = needs(HAS_MLFLOW, "mlflow-skinny (dev extra, or tsn[mlflow])")
needs_wandb = needs(HAS_WANDB, "wandb (dev extra, or tsn[wandb])")
ROWS = [
    {"epoch": 1, "lr": 0.1, "train_loss": 2.0},
    {"epoch": 2, "lr": 0.1, "train_loss": 1.5, "val_mean_class_accuracy": 0.5},
]


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    """MLflow's local file store in tmp_path (MLflow 3 asks for an explicit opt-in)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "tsn-test")
    return tmp_path / "mlruns"


@pytest.fixture
def wandb_offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def _saver(run_dir, keep_last=0):
    model = create_tsn("tiny", 3, num_segments=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    meta = {"class_names": ["a", "b", "c"]}
    sinks = create_run_sinks(run_dir, (), tensorboard=False, params={})
    return CheckpointSaver(
        run_dir, model, optimizer, scheduler, scaler, meta, sinks, keep_last=keep_last
    )


def test_keep_last_keeps_only_the_n_most_recent_epoch_checkpoints(tmp_path):
    saver = _saver(tmp_path, keep_last=2)
    for epoch, accuracy in [(1, 0.9), (2, 0.1), (3, 0.2), (4, 0.3)]:
        saver.update({"epoch": epoch, "train_loss": 1.0, "val_mean_class_accuracy": accuracy})
    names = sorted(p.name for p in tmp_path.glob("*.pt"))
    assert names == ["best.pt", "epoch_003.pt", "epoch_004.pt", "last.pt"]
    assert load_checkpoint(tmp_path / "epoch_003.pt")["epoch"] == 3  # not overwritten by 4
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 1


def test_without_keep_last_no_epoch_checkpoints_are_written(tmp_path):
    saver = _saver(tmp_path)
    saver.update({"epoch": 1, "train_loss": 1.0})
    assert not list(tmp_path.glob("epoch_*.pt"))


def test_an_unknown_logger_lists_the_valid_ones():
    with pytest.raises(UsageError, match="tensorboard, mlflow, wandb"):
        check_loggers(["neptune"])


@pytest.mark.parametrize("name", ["mlflow", "wandb"])
def test_a_missing_tracker_package_names_the_extra_to_install(monkeypatch, name):
    real_import = importlib.import_module

    def without_tracker(module, *args):
        if module.split(".")[0] == name:
            raise ImportError(f"No module named {module!r}")
        return real_import(module, *args)

    monkeypatch.setattr(importlib, "import_module", without_tracker)
    with pytest.raises(UsageError, match=rf"pip install 'tsn\[{name}\]'"):
        check_loggers([name])


@needs_mlflow
def test_mlflow_file_store_gets_the_config_and_every_epoch_at_its_step(tmp_path, mlflow_store):
    from mlflow.tracking import MlflowClient

    sink = MlflowSink(tmp_path / "run1", {"lr": 0.1, "arch": "tiny"})
    for row in ROWS:
        sink.write(row, ROWS)
    sink.close()
    client = MlflowClient()
    run = client.get_run(sink.run_id)
    assert run.data.params == {"lr": "0.1", "arch": "tiny"} and run.info.status == "FINISHED"
    history = client.get_metric_history(sink.run_id, "train_loss")
    assert [(m.step, m.value) for m in history] == [(1, 2.0), (2, 1.5)]
    assert run.data.metrics["val_mean_class_accuracy"] == 0.5


@needs_mlflow
def test_a_resumed_run_logs_into_the_same_mlflow_run(tmp_path, mlflow_store):
    (tmp_path / "run1").mkdir()
    first = MlflowSink(tmp_path / "run1", {})
    first.write(ROWS[0], ROWS[:1])
    first.close()
    again = MlflowSink(tmp_path / "run1", {})
    again.write(ROWS[1], ROWS)
    again.close()
    assert again.run_id == first.run_id
    assert json.loads((tmp_path / "run1" / "trackers.json").read_text())["mlflow"] == first.run_id


def _wandb_records(path):
    """The records of an offline run file (a LevelDB log of W&B protobufs after a 7-byte
    header), once W&B's writer process has written the run's exit record: run.finish() can
    return before it does on a loaded machine."""
    from google.protobuf.message import DecodeError

    for _ in range(600):
        try:
            records = list(_read_records(path.read_bytes()))
        except DecodeError:  # caught in the middle of a write
            records = []
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            return records
        time.sleep(0.1)
    raise AssertionError(f"{path} never got its exit record")


def _read_records(data):
    from wandb.proto import wandb_internal_pb2

    pos, buffer = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a record header
            pos += 32768 - pos % 32768
            continue
        size, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        buffer += data[pos + 7 : pos + 7 + size]
        pos += 7 + size
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buffer)
            buffer = b""
            yield record


def _wandb_history(run_dir):
    """The logged rows of the offline W&B run under run_dir."""
    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    rows = []
    for record in _wandb_records(path):
        if record.WhichOneof("record_type") == "history":
            items = record.history.item
            rows.append({i.nested_key[0]: json.loads(i.value_json) for i in items})
    return rows


@needs_wandb
def test_wandb_offline_run_gets_every_epoch_at_its_step(tmp_path, wandb_offline):
    run_dir = tmp_path / "run1"
    run_dir.mkdir()
    sink = WandbSink(run_dir, {"lr": 0.1})
    for row in ROWS:
        sink.write(row, ROWS)
    sink.close()
    rows = _wandb_history(run_dir)
    assert [(r["_step"], r["train_loss"]) for r in rows] == [(1, 2.0), (2, 1.5)]
    assert rows[1]["val_mean_class_accuracy"] == 0.5


@needs_mlflow
@needs_wandb
def test_tsn_train_logs_to_mlflow_and_wandb_and_keeps_the_last_epochs(
    runner, cli, tmp_path, mlflow_store, wandb_offline
):
    lists = make_dataset(tmp_path / "ds", num_classes=2, videos_per_class=2)
    out = tmp_path / "run"
    args = ["train", "toyds", "rgb", "--lists-dir", str(lists), "--out", str(out)]
    args += ["--arch", "tiny", "--pretrained", "none", "--crop-size", "16", "--segments", "2"]
    args += ["--batch", "4", "--workers", "0", "--gpus", "0", "--eval-every", "1"]
    args += ["--epochs", "2", "--logger", "mlflow", "--logger", "wandb", "--keep-last", "1"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    from mlflow.tracking import MlflowClient

    jsonl = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    ids = json.loads((out / "trackers.json").read_text())
    history = MlflowClient().get_metric_history(ids["mlflow"], "train_loss")
    assert [m.value for m in history] == [row["train_loss"] for row in jsonl]
    assert [r["_step"] for r in _wandb_history(out)] == [1, 2]
    assert sorted(p.name for p in out.glob("epoch_*.pt")) == ["epoch_002.pt"]
