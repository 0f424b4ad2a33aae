"""The toy presets are valid `tsn train` configs, picked automatically for `tsn train toy ...`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tsncli.commands.train import resolve_train_config
from tsncli.config import list_presets

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_toy_preset_is_picked_for_toy_and_trains_a_small_model_from_scratch(modality):
    assert f"toy_{modality}" in list_presets()
    cfg = resolve_train_config("toy", modality, None, None, {}).resolved()
    assert cfg.arch == "tiny" and cfg.pretrained == "none" and cfg.bn == "full"
    assert cfg.crop_size <= 112 and cfg.gpus == 0
    assert cfg.new_length == (1 if modality == "rgb" else 5)


def test_toy_preset_values_give_way_to_flags():
    cfg = resolve_train_config("toy", "rgb", "toy_rgb", None, {"epochs": 2})
    assert cfg.epochs == 2 and cfg.arch == "tiny"


def test_demo_script_is_valid_bash_and_reuses_the_venv_setup():
    script = ROOT / "scripts" / "demo.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert 'source "$(dirname "$0")/_venv.sh"' in text
    for command in ("fetch toy", "tsn flow", "lists toy", "tsn train", "tsn eval", "tsn fuse"):
        assert command in text
    assert "rgb={acc['rgb']:.4f} flow={acc['flow']:.4f} fused={acc['fused']:.4f}" in text
