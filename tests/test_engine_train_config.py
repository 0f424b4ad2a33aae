"""TrainConfig: per-modality defaults, paper presets, YAML for every option, lr schedule, groups."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from tsncli.commands.train import resolve_train_config
from tsncli.config import load_preset, resolve_config
from tsncli.engine.train.config import TrainConfig
from tsncli.engine.train.optim import create_optimizer, lr_factor
from tsncli.engine.train.setup import batch_plan
from tsncli.errors import UsageError
from tsncli.models.tsn import create_tsn


def test_modality_defaults_follow_the_paper():
    rgb = TrainConfig(dataset="ucf101", modality="rgb").resolved()
    flow = TrainConfig(dataset="ucf101", modality="flow").resolved()
    assert (rgb.lr, rgb.dropout, rgb.clip_grad, rgb.new_length) == (0.001, 0.8, 40.0, 1)
    assert (flow.lr, flow.dropout, flow.clip_grad, flow.new_length) == (0.005, 0.7, 20.0, 5)
    assert rgb.out.replace("\\", "/") == "runs/ucf101_rgb_split1_bninception"
    assert TrainConfig(dataset="x", modality="rgbdiff").list_modality == "rgb"


@pytest.mark.parametrize(
    ("name", "lr", "steps", "epochs", "clip", "dropout"),
    [
        ("ucf101_rgb", 0.001, [20, 40], 47, 40, 0.8),
        ("ucf101_flow", 0.005, [134, 215], 242, 20, 0.7),
        ("hmdb51_rgb", 0.001, [36, 72], 90, 40, 0.8),
        ("hmdb51_flow", 0.005, [143, 215], 251, 20, 0.7),
    ],
)
def test_paper_presets_convert_the_caffe_solvers_at_batch_128(
    name, lr, steps, epochs, clip, dropout
):
    train = load_preset(name)["train"]
    assert (train["lr"], train["lr_steps"], train["epochs"]) == (lr, steps, epochs)
    assert (train["clip_grad"], train["dropout"], train["batch_size"]) == (clip, dropout, 128)
    assert (train["momentum"], train["weight_decay"], train["segments"]) == (0.9, 0.0005, 3)
    cfg = resolve_config(TrainConfig, section="train", preset=name, overrides={"dataset": "d"})
    assert cfg.lr_steps == tuple(steps)


def test_every_option_can_be_set_from_yaml(tmp_path):
    values = {}
    for f in dataclasses.fields(TrainConfig):
        default = f.default
        if f.name == "modality":
            values[f.name] = "flow"
        elif f.name in ("lr_schedule", "bn", "amp_dtype", "decode_device"):
            choices = {"lr_schedule": "cosine", "bn": "frozen", "amp_dtype": "fp16"}
            values[f.name] = {**choices, "decode_device": "cuda"}[f.name]
        elif f.name == "lr_steps":
            values[f.name] = [3, 5]
        elif f.name == "loggers":
            values[f.name] = ["mlflow", "wandb"]
        elif isinstance(default, bool):
            values[f.name] = not default
        elif "float" in str(f.type):
            values[f.name] = 0.25
        elif "int" in str(f.type):
            values[f.name] = 17
        else:
            values[f.name] = "x"
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"train": values}))
    cfg = resolve_config(TrainConfig, section="train", config_file=path)
    for name, value in values.items():
        got = getattr(cfg, name)
        assert (list(got) if isinstance(got, tuple) else got) == value, name


def test_dataset_and_modality_pick_the_matching_preset_and_flags_win():
    cfg = resolve_train_config("ucf101", "flow", None, None, {"epochs": 3})
    assert cfg.lr == 0.005 and cfg.lr_steps == (134.0, 215.0) and cfg.epochs == 3
    plain = resolve_train_config("ucf101", "flow", "none", None, {})
    assert plain.lr is None and plain.epochs == 80


def test_invalid_values_are_usage_errors():
    with pytest.raises(UsageError, match="rgb, flow, rgbdiff"):
        TrainConfig(modality="depth")
    with pytest.raises(UsageError, match="partial, frozen, full"):
        TrainConfig(bn="sync")
    with pytest.raises(UsageError, match="no dataset"):
        TrainConfig().resolved()
    with pytest.raises(UsageError, match="lr must be greater than 0"):
        TrainConfig(lr=0.0)
    for name in ("momentum", "weight_decay", "clip_grad"):  # YAML configs set these too
        with pytest.raises(UsageError, match=f"{name} must not be negative"):
            TrainConfig(**{name: -0.5})


def test_step_schedule_drops_at_milestones_and_warmup_ramps():
    f = [lr_factor(s, 10, 30, "step", (1, 2), 0.1) for s in (0, 9, 10, 19, 20)]
    assert f == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    assert lr_factor(0, 10, 30, "step", (), 0.1, warmup_epochs=1) == pytest.approx(0.1)
    assert lr_factor(10, 10, 30, "step", (), 0.1, warmup_epochs=1) == pytest.approx(1.0)
    assert lr_factor(150, 10, 30, "cosine", (), 0.1) == pytest.approx(0.5)


def test_batch_plan_splits_over_processes_and_accumulates():
    assert batch_plan(128, None, 4) == (32, 1)
    assert batch_plan(128, 8, 4) == (8, 4)
    with pytest.raises(UsageError, match="multiple of 3"):
        batch_plan(128, None, 3)
    with pytest.raises(UsageError, match="micro batch 5"):
        batch_plan(32, 5, 1)


def test_optimizer_groups_scale_lr_and_weight_decay():
    model = create_tsn("tiny", 3, modality="flow", num_segments=2)
    optimizer = create_optimizer(model, 0.01, 0.9, 5e-4, "flow")
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert groups["first_conv_weight"]["lr"] == pytest.approx(0.05)
    assert groups["first_conv_bias"]["lr"] == pytest.approx(0.1)
    assert groups["first_conv_bias"]["weight_decay"] == 0
    assert groups["normal_weight"]["weight_decay"] == pytest.approx(5e-4)
    assert groups["bn"]["weight_decay"] == 0 and optimizer.defaults["momentum"] == 0.9
