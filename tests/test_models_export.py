"""`tsn export`: TorchScript (and ONNX when installed) match PyTorch on uint8 input."""

from __future__ import annotations

from importlib.util import find_spec

import pytest
import torch
import typer
from reference import needs

from tsncli.errors import UsageError
from tsncli.models.checkpoint import create_model_from_checkpoint, save_checkpoint
from tsncli.models.export import export_model
from tsncli.models.normalize import Normalize
from tsncli.models.tsn import TSN

torch.set_num_threads(1)


@pytest.fixture
def flow_ckpt(tmp_path):
    torch.manual_seed(0)
    model = TSN(num_classes=4, modality="flow", arch="tiny", num_segments=3, new_length=2)
    return save_checkpoint(tmp_path / "flow.pt", model, {"crop_size": 32})


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_export_matches_pytorch_and_takes_stacked_snippets(flow_ckpt, tmp_path):
    report = export_model(flow_ckpt, tmp_path / "m.ts", "torchscript", check=True)
    assert report.max_abs_diff is not None and report.max_abs_diff < 1e-4
    assert report.input_shape == (1, 12, 32, 32)  # 3 snippets x 2 frames x (x, y)
    exported = torch.jit.load(str(tmp_path / "m.ts"))
    clips = torch.randint(0, 256, (2, 12, 32, 32), dtype=torch.uint8)
    model, meta = create_model_from_checkpoint(flow_ckpt)
    expected = model(Normalize("flow", meta["input"])(clips.reshape(2, 3, 4, 32, 32)))
    assert torch.allclose(exported(clips), expected, atol=1e-4)
    assert torch.allclose(exported(clips.float()), expected, atol=1e-4)  # float 0..255 too


def test_export_segments_override_changes_the_input_shape(flow_ckpt, tmp_path):
    report = export_model(flow_ckpt, tmp_path / "m.ts", segments=5)
    assert report.input_shape == (1, 20, 32, 32)


def test_unknown_format_is_a_usage_error(flow_ckpt, tmp_path):
    with pytest.raises(UsageError, match="torchscript, onnx, pt2"):
        export_model(flow_ckpt, tmp_path / "m.x", "tflite")


@needs(find_spec("onnx") and find_spec("onnxruntime"), "onnx, onnxruntime (dev extra)")
def test_onnx_round_trip_matches_pytorch(flow_ckpt, tmp_path):
    report = export_model(flow_ckpt, tmp_path / "m.onnx", "onnx", check=True)
    assert report.max_abs_diff < 1e-4


def test_onnx_without_the_package_names_the_install(flow_ckpt, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "onnx" else real(n, *a)
    )
    with pytest.raises(UsageError, match="pip install onnx"):
        export_model(flow_ckpt, tmp_path / "m.onnx", "onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export_prints_the_path(runner, flow_ckpt, tmp_path):
    from tsncli.cli import TsnGroup
    from tsncli.commands import export

    app = typer.Typer(cls=TsnGroup)

    @app.callback()
    def main() -> None:
        """test app"""

    export.register(app)
    out = tmp_path / "cli.ts"
    result = runner.invoke(app, ["export", str(flow_ckpt), "-o", str(out), "--check"])
    assert result.exit_code == 0, result.output
    assert out.exists() and "max |export - pytorch|" in result.output


def test_pt2_export_runs_any_batch_size_and_matches_pytorch(flow_ckpt, tmp_path):
    report = export_model(flow_ckpt, tmp_path / "m.pt2", "pt2", check=True)
    assert report.max_abs_diff < 1e-4
    loaded = torch.export.load(str(tmp_path / "m.pt2")).module()
    assert loaded(torch.zeros(7, 12, 32, 32, dtype=torch.uint8)).shape == (7, 4)


@pytest.mark.parametrize("fmt", ["torchscript", "pt2"])
def test_export_onto_a_full_disk_is_one_error_line_and_leaves_nothing(flow_ckpt, tmp_path, fmt):
    import resource
    import signal
    import subprocess
    import sys

    def limit_file_size():  # writes past 4 KB fail with EFBIG, as a full disk fails them
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    out = tmp_path / "out" / f"m.{fmt}"
    out.parent.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "tsncli", "export", str(flow_ckpt), "-o", str(out), "--format", fmt],
        preexec_fn=limit_file_size,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # torch's own writer, given the path, aborted the process in C++ (exit 134)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error:") and str(out) in lines[-1]
    assert list(out.parent.iterdir()) == []  # no partial file, no temporary one
