"""The end-of-epoch bookkeeping: last.pt every epoch, best.pt by the monitored metric, metric
sinks fed every row, and a crash while saving leaves the previous last.pt whole."""

from __future__ import annotations

import json

import pytest
import torch

from tsncli.engine.train.checkpoints import CheckpointSaver
from tsncli.engine.train.sinks import create_metric_sinks
from tsncli.models.checkpoint import load_checkpoint
from tsncli.models.tsn import create_tsn


class RecordingSink:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.closed = False

    def write(self, row, history) -> None:
        self.rows.append(dict(row))

    def close(self) -> None:
        self.closed = True


def _saver(run_dir, sinks=None):
    model = create_tsn("tiny", 3, num_segments=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    if sinks is None:
        sinks = create_metric_sinks(run_dir, tensorboard=False)
    meta = {"class_names": ["a", "b", "c"]}
    return CheckpointSaver(run_dir, model, optimizer, scheduler, scaler, meta, sinks)


def _row(epoch, accuracy=None):
    row = {"epoch": epoch, "lr": 0.1, "train_loss": 1.0 / epoch}
    if accuracy is not None:
        row["val_mean_class_accuracy"] = accuracy
    return row


def test_best_pt_follows_the_highest_monitored_metric_and_last_pt_every_epoch(tmp_path):
    saver = _saver(tmp_path)
    improved = [saver.update(_row(e, acc)) for e, acc in [(1, 0.4), (2, 0.7), (3, 0.5)]]
    assert improved == [True, True, False]
    assert saver.best == 0.7
    best = load_checkpoint(tmp_path / "best.pt")
    last = load_checkpoint(tmp_path / "last.pt")
    assert best["epoch"] == 2 and best["best_metric"] == 0.7
    assert last["epoch"] == 3 and last["best_metric"] == 0.7
    assert [row["epoch"] for row in last["history"]] == [1, 2, 3]


def test_epochs_without_validation_write_last_pt_but_no_best_pt(tmp_path):
    saver = _saver(tmp_path)
    assert saver.update(_row(1)) is False
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    assert not (tmp_path / "best.pt").exists() and saver.best == -1.0


def test_metrics_jsonl_gains_one_row_per_epoch_and_keeps_the_earlier_ones(tmp_path):
    saver = _saver(tmp_path)
    saver.update(_row(1))
    first = (tmp_path / "metrics.jsonl").read_text()
    saver.update(_row(2, 0.5))
    text = (tmp_path / "metrics.jsonl").read_text()
    assert text.startswith(first)
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["val_mean_class_accuracy"] == 0.5
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert header == "epoch,lr,train_loss,val_mean_class_accuracy"


def test_a_resumed_saver_continues_the_history_and_the_best_it_was_given(tmp_path):
    saver = _saver(tmp_path)
    saver.update(_row(1, 0.6))
    resumed = _saver(tmp_path)
    resumed.best, resumed.history = 0.6, list(saver.history)
    assert resumed.update(_row(2, 0.5)) is False
    rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2 and load_checkpoint(tmp_path / "best.pt")["epoch"] == 1


def test_every_sink_sees_every_row_and_is_closed_once(tmp_path):
    sink = RecordingSink()
    saver = _saver(tmp_path, sinks=[sink])
    saver.update(_row(1, 0.3))
    saver.update(_row(2))
    saver.close()
    assert [r["epoch"] for r in sink.rows] == [1, 2] and sink.closed


def test_a_crash_while_saving_leaves_the_previous_last_pt_intact(tmp_path, monkeypatch):
    saver = _saver(tmp_path)
    saver.update(_row(1, 0.5))
    before = (tmp_path / "last.pt").read_bytes()

    def crash(obj, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of torch.save

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        saver.update(_row(2, 0.9))
    assert (tmp_path / "last.pt").read_bytes() == before
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best.pt",
        "last.pt",
        "metrics.csv",
        "metrics.jsonl",
    ]  # no temporary file left behind
