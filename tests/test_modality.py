"""Modalities are one str Enum: a typo raises instead of falling into an `else`, every member has
its facts, and files (config YAML, checkpoint meta) keep storing the plain name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tsncli.config import config_to_dict, resolve_config, save_config
from tsncli.data import transforms
from tsncli.data.frames import frame_templates
from tsncli.engine.train.config import TrainConfig
from tsncli.errors import UsageError
from tsncli.flow.job import FlowConfig
from tsncli.lists.builder import ListsConfig
from tsncli.modality import (
    LIST_MODALITIES,
    Modality,
    check_list_modalities,
    check_modality,
    frames_read,
    input_channels,
    modality_facts,
    reads_flow,
)
from tsncli.models.checkpoint import load_checkpoint, read_meta, save_checkpoint
from tsncli.models.tsn import TSN

torch.set_num_threads(1)


def test_a_typo_is_a_usage_error_that_lists_the_valid_names():
    with pytest.raises(UsageError, match="unknown modality 'flw'; use one of: rgb, flow, rgbdiff"):
        check_modality("flw")


def test_a_typo_is_a_value_error_for_the_enum_itself():
    with pytest.raises(ValueError):
        Modality("flw")


def test_a_typo_raises_where_a_branch_used_to_fall_into_its_else():
    group = np.zeros((4, 4, 2), dtype=np.uint8)
    for call in (
        lambda: reads_flow("flw"),
        lambda: frame_templates("flw"),
        lambda: transforms.crop_scales("Flow"),
        lambda: transforms.flip_horizontal(group, "flw"),
    ):
        with pytest.raises(UsageError, match="unknown modality"):
            call()


def test_names_and_members_are_interchangeable():
    for member in Modality:
        assert check_modality(member.value) is member
        assert check_modality(member) is member
        assert member == member.value and hash(member) == hash(member.value)
        assert str(member) == f"{member}" == member.value
    assert check_list_modalities(("flow", "rgb")) == (Modality.FLOW, Modality.RGB)
    with pytest.raises(UsageError, match="--modality takes rgb, flow or rgb,flow"):
        check_list_modalities(("rgbdiff",))


def test_every_member_has_its_facts_and_training_defaults():
    for member in Modality:
        facts = modality_facts(member)
        assert facts.channels in (2, 3) and facts.new_length >= 1 and 0 <= facts.dropout < 1
        assert frames_read(member) in LIST_MODALITIES
        assert input_channels(member, 1) == facts.channels * (1 + facts.extra_frames)
        assert transforms.crop_scales(member)
        resolved = TrainConfig(dataset="ucf101", modality=member.value).resolved()
        assert resolved.modality is member
        assert resolved.lr is not None and resolved.clip_grad is not None
        assert resolved.list_modality is frames_read(member)


def test_a_member_is_written_as_its_plain_name_in_json_and_config_yaml(tmp_path):
    assert json.dumps({"modality": Modality.FLOW}) == '{"modality": "flow"}'
    cfg = TrainConfig(dataset="ucf101", modality=Modality.FLOW).resolved()
    path = save_config(cfg, tmp_path / "config.yaml")
    text = path.read_text(encoding="utf-8")
    assert "modality: flow\n" in text and "python" not in text
    assert type(yaml.safe_load(text)["modality"]) is str
    assert Path(cfg.out).name == f"ucf101_flow_split1_{cfg.arch}"  # f-strings give the name
    again = resolve_config(TrainConfig, config_file=path)
    assert again.modality is Modality.FLOW and again == cfg
    lists = config_to_dict(ListsConfig(modality="rgb,flow"))
    assert lists["modality"] == ["rgb", "flow"]
    assert all(type(m) is str for m in lists["modality"])
    assert type(FlowConfig(modality=Modality.FLOW).settings()["modality"]) is str


def test_a_member_is_stored_in_checkpoint_meta_as_its_plain_name(tmp_path):
    model = TSN(num_classes=2, num_segments=1, modality=Modality.FLOW, arch="tiny")
    config = config_to_dict(TrainConfig(dataset="ucf101", modality=Modality.FLOW))
    path = save_checkpoint(tmp_path / "m.pt", model, {"class_names": ["a", "b"], "config": config})
    ckpt = load_checkpoint(path)  # weights_only: an enum in meta would be refused here
    assert type(ckpt["meta"]["modality"]) is str and ckpt["meta"]["modality"] == "flow"
    assert type(ckpt["meta"]["config"]["modality"]) is str
    assert read_meta(ckpt).modality is Modality.FLOW
    raw = torch.load(path, weights_only=True)
    assert type(raw["meta"]["modality"]) is str
