"""`tsn train --flip/--no-flip`: the dataset's flip policy (off for sthv2) unless told otherwise."""

from __future__ import annotations

import pytest

from tsncli.engine.train import run as train_module


@pytest.fixture
def trained_with(monkeypatch):
    """The resolved config `tsn train` would train with (nothing is trained)."""
    seen = []

    def fake_train(cfg, on_event=None):
        seen.append(cfg.resolved())

    monkeypatch.setattr(train_module, "train", fake_train)
    return seen


@pytest.mark.parametrize(
    ("args", "flip"),
    [
        (["sthv2", "rgb"], False),  # the preset's policy
        (["sthv2", "rgb", "--flip"], True),
        (["ucf101", "rgb"], True),
        (["ucf101", "rgb", "--no-flip"], False),
    ],
)
def test_flip_defaults_to_the_dataset_policy_and_the_option_overrides_it(
    runner, cli, trained_with, tmp_path, args, flip
):
    result = runner.invoke(cli, ["train", *args, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert trained_with[-1].flip is flip


def test_the_flip_options_complete(runner, cli):
    words = "tsn train sthv2 rgb --no-fl"
    env = {"_TSN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "4"}
    result = runner.invoke(cli, [], env=env, prog_name="tsn")
    assert result.output.split() == ["--no-flip"]
