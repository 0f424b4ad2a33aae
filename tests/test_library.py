"""The library face: `tsncli.create_model`, `tsncli.load_checkpoint` and `tsncli.list_models`,
loaded on first use so `import tsncli` stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import tsncli
from tsncli.models.checkpoint import save_checkpoint
from tsncli.specs.backbones import BACKBONES


def test_list_models_names_every_registered_backbone():
    assert tsncli.list_models() == BACKBONES.names()


def test_a_created_model_runs_saves_and_loads_back(tmp_path):
    torch.manual_seed(0)
    model = tsncli.create_model("tiny", num_classes=3, modality="flow", num_segments=2).eval()
    clip = torch.randn(1, 2, 10, 32, 32)  # (B, S, 2L, H, W): flow, new_length 5
    with torch.no_grad():
        expected = model(clip)
    assert expected.shape == (1, 3)
    path = save_checkpoint(tmp_path / "m.pt", model, {"class_names": ["a", "b", "c"]})

    loaded, meta = tsncli.load_checkpoint(path)

    assert meta["arch"] == "tiny" and meta["class_names"] == ["a", "b", "c"]
    assert not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded(clip), expected)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'create_modle'"):
        tsncli.create_modle  # noqa: B018


def test_importing_tsncli_loads_neither_torch_nor_the_models():
    code = (
        "import sys, tsncli; print(tsncli.__version__, sorted(m for m in sys.modules if "
        "m.split('.')[0] == 'torch' or m.startswith('tsncli.models')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [tsncli.__version__, "[]"]
    assert {"create_model", "load_checkpoint", "list_models"} <= set(dir(tsncli))
