"""DDP on CPU: two gloo processes make the same update as one process with the full batch."""

from __future__ import annotations

import torch
from train_fixtures import make_dataset, two_process_config

from tsncli.engine.train.plan import prepare_run
from tsncli.engine.train.run import launch_local, train
from tsncli.engine.train.setup import build_model
from tsncli.models.checkpoint import load_checkpoint


def test_two_gloo_processes_match_one_process_with_the_full_batch(tmp_path):
    torch.set_num_threads(1)
    lists = make_dataset(tmp_path / "ds", num_classes=2, videos_per_class=4)
    single = train(two_process_config(lists, tmp_path / "single"))
    events = []
    ddp = prepare_run(two_process_config(lists, tmp_path / "ddp"))
    double = launch_local(ddp, 2, None, events.append)
    a = load_checkpoint(single.last_checkpoint)
    b = load_checkpoint(double.last_checkpoint)
    for key, value in a["state_dict"].items():
        assert torch.allclose(value, b["state_dict"][key], atol=1e-6), key
    init = prepare_run(two_process_config(lists, tmp_path / "init"))
    initial = build_model(init, "cpu").state_dict()
    assert not torch.allclose(initial["fc.weight"], a["state_dict"]["fc.weight"])  # it moved
    assert a["history"][0]["val_videos"] == b["history"][0]["val_videos"] == 8
    assert {e.kind for e in events} >= {"step", "epoch", "val", "end"}  # rank 0 reports
