"""Config layering: dataclass defaults < preset < --config YAML < flags typed on the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pytest
import typer
import yaml

from tsncli.commands._common import cli_overrides
from tsncli.config import config_to_dict, list_presets, load_preset, resolve_config, save_config
from tsncli.errors import UsageError


@dataclass(frozen=True)
class DemoConfig:
    lr: float = 0.1
    epochs: int = 3
    sizes: tuple[int, ...] = (1, 2)
    name: str = "x"


def test_defaults_apply_without_files_or_flags():
    assert resolve_config(DemoConfig) == DemoConfig()


def test_file_overrides_defaults_and_flags_override_file(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("lr: 0.5\nepochs: 9\nsizes: [4, 5]\n")
    cfg = resolve_config(DemoConfig, config_file=cfg_file, overrides={"epochs": 2})
    assert cfg == DemoConfig(lr=0.5, epochs=2, sizes=(4, 5))


def test_section_per_command_is_read(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("train:\n  lr: 0.01\neval:\n  lr: 9\n")
    assert resolve_config(DemoConfig, section="train", config_file=cfg_file).lr == 0.01


def test_unknown_key_names_the_valid_options(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("learning_rate: 0.5\n")
    with pytest.raises(UsageError, match="unknown option 'learning_rate'.*epochs, lr"):
        resolve_config(DemoConfig, config_file=cfg_file)


def test_missing_and_malformed_files_are_user_errors(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        resolve_config(DemoConfig, config_file=tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [1,\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        resolve_config(DemoConfig, config_file=bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(UsageError, match="mapping"):
        resolve_config(DemoConfig, config_file=scalar)


def test_unknown_preset_lists_the_shipped_ones():
    with pytest.raises(UsageError, match="unknown preset"):
        resolve_config(DemoConfig, preset="no-such-preset")


def test_saved_config_round_trips(tmp_path):
    cfg = DemoConfig(lr=0.2, sizes=(7,))
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert yaml.safe_load(path.read_text()) == {"lr": 0.2, "epochs": 3, "sizes": [7], "name": "x"}
    assert resolve_config(DemoConfig, config_file=path) == cfg


def test_presets_are_shipped_for_every_stream_of_the_paper():
    expected = {"ucf101_rgb", "ucf101_flow", "hmdb51_rgb", "hmdb51_flow", "toy_rgb", "toy_flow"}
    assert expected <= set(list_presets())


@pytest.mark.parametrize("name", list_presets())
def test_every_shipped_preset_resolves_into_the_train_config_the_cli_builds(name):
    """The `tsn train DATASET MODALITY` path: a misspelt key or a bad value in a preset fails."""
    from tsncli.commands.train import resolve_train_config
    from tsncli.models.consensus import CONSENSUS
    from tsncli.specs.backbones import BACKBONES

    preset = load_preset(name)
    assert set(preset) == {"train"}, "presets hold one `train:` section"
    dataset, modality = name.rsplit("_", 1)
    cfg = resolve_train_config(dataset, modality, preset=None, config=None, overrides={})
    resolved = config_to_dict(cfg.resolved())
    assert (resolved["dataset"], resolved["modality"]) == (dataset, modality)
    assert {k: resolved[k] for k in preset["train"]} == preset["train"]
    assert resolved["arch"] in BACKBONES.names()
    assert resolved["consensus"] in CONSENSUS.names()


def test_a_misspelt_key_in_a_preset_is_rejected(monkeypatch):
    import tsncli.config as config_module
    from tsncli.commands.train import resolve_train_config

    real = config_module.load_preset
    typo = {"train": {**real("toy_rgb")["train"], "learning_rate": 0.1}}
    monkeypatch.setattr(config_module, "load_preset", lambda name: typo)
    with pytest.raises(UsageError, match="unknown option 'learning_rate'"):
        resolve_train_config("toy", "rgb", preset=None, config=None, overrides={})


def _demo_app(seen: list) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def run(
        ctx: typer.Context,
        lr: Annotated[float, typer.Option()] = 0.1,
        epochs: Annotated[int, typer.Option()] = 3,
        config: Annotated[str | None, typer.Option()] = None,
    ) -> None:
        seen.append(resolve_config(DemoConfig, config_file=config, overrides=cli_overrides(ctx)))

    return app


def test_cli_flags_layer_over_config_file_but_cli_defaults_do_not(runner, tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("lr: 0.5\nepochs: 9\n")
    seen: list = []
    app = _demo_app(seen)
    assert runner.invoke(app, ["--config", str(cfg_file), "--epochs", "4"]).exit_code == 0
    # --lr was not typed, so the file's 0.5 wins over the CLI default 0.1.
    assert seen[-1] == DemoConfig(lr=0.5, epochs=4)
