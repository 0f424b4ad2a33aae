"""DDP on CPU: two gloo processes make the same update as one process with the full batch."""

from __future__ import annotations

import torch
from train_fixtures import make_dataset

from tsncli.engine.train import launch_local, prepare_run, train
from tsncli.engine.train_config import TrainConfig
from tsncli.engine.train_setup import build_model
from tsncli.models.checkpoint import load_checkpoint


def _config(lists, out):
    return TrainConfig(
        dataset="toyds",
        modality="rgb",
        lists_dir=str(lists),
        arch="tiny",
        pretrained="none",
        crop_size=16,
        segments=2,
        batch_size=4,  # 2 per process with 2 processes
        epochs=1,
        lr=0.05,
        dropout=0.0,
        bn="frozen",  # per-process BN statistics would differ from full-batch ones
        workers=0,
        eval_every=1,
        out=str(out),
        gpus=0,
        tensorboard=False,
    )


def test_two_gloo_processes_match_one_process_with_the_full_batch(tmp_path):
    torch.set_num_threads(1)
    lists = make_dataset(tmp_path / "ds", num_classes=2, videos_per_class=4)
    single = train(_config(lists, tmp_path / "single"))
    events = []
    double = launch_local(prepare_run(_config(lists, tmp_path / "ddp")), 2, None, events.append)
    a = load_checkpoint(single.last_checkpoint)
    b = load_checkpoint(double.last_checkpoint)
    for key, value in a["state_dict"].items():
        assert torch.allclose(value, b["state_dict"][key], atol=1e-6), key
    initial = build_model(prepare_run(_config(lists, tmp_path / "init")), "cpu").state_dict()
    assert not torch.allclose(initial["fc.weight"], a["state_dict"]["fc.weight"])  # it moved
    assert a["history"][0]["val_videos"] == b["history"][0]["val_videos"] == 8
    assert {e.kind for e in events} >= {"step", "epoch", "val", "end"}  # rank 0 reports
