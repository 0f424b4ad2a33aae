"""Training end to end on tiny generated frames: it learns, and --resume continues exactly."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from train_fixtures import make_dataset

from tsncli.engine.train.config import TrainConfig
from tsncli.engine.train.run import train
from tsncli.models.checkpoint import create_model_from_checkpoint, load_checkpoint


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("ds"), num_classes=3, videos_per_class=4)


def _config(lists, out, **kw):
    base = dict(
        dataset="toyds",
        modality="rgb",
        lists_dir=str(lists),
        arch="tiny",
        pretrained="none",
        crop_size=24,
        segments=2,
        batch_size=4,
        workers=0,
        eval_every=1,
        out=str(out),
        gpus=0,
        tensorboard=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_a_tiny_dataset_is_learned_far_above_chance(lists, tmp_path):
    torch.set_num_threads(1)
    events = []
    cfg = _config(lists, tmp_path / "run", epochs=8, lr=0.05, dropout=0.0, batch_size=6)
    result = train(cfg, on_event=events.append)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.best_metric is not None and result.best_metric >= 0.9  # chance is 1/3
    kinds = {e.kind for e in events}
    assert {"start", "step", "epoch", "val", "end"} <= kinds
    step = next(e for e in events if e.kind == "step").stats
    assert step["lr"] == pytest.approx(0.05) and step["clips_per_s"] > 0 and step["steps"] == 2
    run = result.run_dir
    assert (run / "config.yaml").is_file() and (run / "best.pt").is_file()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and "val_mean_class_accuracy" in rows[-1]
    assert (run / "metrics.csv").read_text().startswith("epoch,")


def test_checkpoint_describes_itself_and_holds_training_state(lists, tmp_path):
    result = train(_config(lists, tmp_path / "run", epochs=1))
    ckpt = load_checkpoint(result.last_checkpoint)
    meta = ckpt["meta"]
    assert meta["arch"] == "tiny" and meta["modality"] == "rgb" and meta["num_segments"] == 2
    assert meta["class_names"] == ["class0", "class1", "class2"]
    assert meta["crop_size"] == 24 and meta["config"]["lr"] == 0.001
    assert meta["frames"] is None and ckpt["epoch"] == 1
    assert {"optimizer", "scheduler", "scaler", "epoch", "rng", "best_metric"} <= set(ckpt)
    model, _ = create_model_from_checkpoint(ckpt)
    assert model.num_classes == 3


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(lists, tmp_path):
    torch.set_num_threads(1)
    kw = dict(epochs=3, lr=0.02, lr_steps=(2.0,), eval_every=0)
    full = train(_config(lists, tmp_path / "full", **kw))
    train(_config(lists, tmp_path / "part", **dict(kw, epochs=2)))
    resumed = train(_config(lists, tmp_path / "part", resume=True, **kw))
    a = load_checkpoint(full.last_checkpoint)
    b = load_checkpoint(resumed.last_checkpoint)
    assert a["epoch"] == b["epoch"] == 3
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]


def test_flow_training_reads_stacked_frames_and_records_flow_settings(lists, tmp_path):
    (lists.parent / "frames" / "flow_config.yaml").write_text("algo: tvl1\nbound: 20.0\n")
    try:
        result = train(_config(lists, tmp_path / "flow", modality="flow", new_length=2, epochs=1))
    finally:
        (lists.parent / "frames" / "flow_config.yaml").unlink()
    meta = load_checkpoint(result.last_checkpoint)["meta"]
    assert meta["new_length"] == 2 and meta["frames"]["flow_algorithm"] == "tvl1"
    assert result.history[0]["lr"] == pytest.approx(0.005)  # base lr, not conv1's 5x


def test_gradient_accumulation_makes_the_same_update_as_the_full_batch(lists, tmp_path):
    torch.set_num_threads(1)
    kw = dict(epochs=1, lr=0.05, dropout=0.0, bn="frozen", eval_every=0, batch_size=4)
    full = train(_config(lists, tmp_path / "full", **kw))
    accumulated = train(_config(lists, tmp_path / "acc", micro_batch=2, **kw))
    a = load_checkpoint(full.last_checkpoint)["state_dict"]
    b = load_checkpoint(accumulated.last_checkpoint)["state_dict"]
    for key, value in a.items():
        assert torch.allclose(value, b[key], atol=1e-6), key


def test_rgbdiff_trains_on_consecutive_rgb_frames(lists, tmp_path):
    result = train(_config(lists, tmp_path / "diff", modality="rgbdiff", new_length=2, epochs=1))
    meta = load_checkpoint(result.last_checkpoint)["meta"]
    assert meta["modality"] == "rgbdiff" and meta["new_length"] == 2


def test_pretrained_imagenet_weights_come_from_the_cache(lists, tmp_path, monkeypatch):
    import torchvision

    from tsncli.acquire.catalog import weights_path

    monkeypatch.setenv("TSN_HOME", str(tmp_path / "cache"))
    torch.manual_seed(1)
    source = torchvision.models.resnet18(weights=None).state_dict()
    path = weights_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(source, path)
    cfg = _config(lists, tmp_path / "r18", arch="resnet18", pretrained="imagenet", crop_size=32)
    result = train(dataclasses.replace(cfg, modality="flow", new_length=1, epochs=1, lr=1e-9))
    state = load_checkpoint(result.last_checkpoint)["state_dict"]
    assert torch.allclose(state["backbone.layer4.1.conv2.weight"], source["layer4.1.conv2.weight"])
    rgb_mean = source["conv1.weight"].mean(dim=1, keepdim=True).expand(-1, 2, -1, -1)
    assert torch.allclose(state["backbone.conv1.weight"], rgb_mean, atol=1e-6)  # cross-modality
