"""Export a tsn checkpoint as a self-contained TorchScript or ONNX model.

The exported model takes clips as (B, S*C*L, H, W) -- S snippets stacked on channels, frames on
the 0..255 scale (uint8, or float for TorchScript), colour channels in `input_order` -- and
returns consensus logits (B, K). Normalisation is inside, so users feed decoded frames.
Formats: `pt2` (torch.export; load with `torch.export.load(f).module()`, uint8 input, any batch),
`torchscript` (`torch.jit.load`; deprecated upstream), `onnx` (needs the onnx package).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from tsncli.errors import UsageError
from tsncli.fsutil import atomic_write_bytes, stale_temp_paths
from tsncli.modality import input_channels
from tsncli.models.checkpoint import create_model_from_checkpoint, load_checkpoint
from tsncli.models.normalize import Normalize
from tsncli.models.tsn import TSN

FORMATS = ("torchscript", "onnx", "pt2")  # pt2: torch.export, the non-deprecated path


class ExportedTSN(nn.Module):
    """uint8/float (B, S*C*L, H, W) -> logits (B, K): unstack snippets, normalise, run TSN."""

    def __init__(self, model: TSN, normalize: Normalize, segments: int) -> None:
        super().__init__()
        self.model = model
        self.normalize = normalize
        self.segments = segments
        self.channels = input_channels(model.modality, model.new_length)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        batch, height, width = clips.shape[0], clips.shape[-2], clips.shape[-1]
        x = clips.reshape(batch, self.segments, self.channels, height, width)  # (B, S, C*L, H, W)
        return self.model(self.normalize(x))


@dataclasses.dataclass
class ExportReport:
    """What was written, the input shape it expects, and the --check difference if run."""

    output: Path
    format: str
    input_shape: tuple[int, ...]
    max_abs_diff: float | None


def create_exportable(ckpt_path: str | os.PathLike[str], segments: int | None, input_order: str):
    """(ExportedTSN in eval mode, example uint8 input) for a checkpoint."""
    ckpt = load_checkpoint(ckpt_path)
    model, meta = create_model_from_checkpoint(ckpt)
    if model.consensus_type == "identity":
        raise UsageError(
            "export needs a consensus other than identity; retrain or convert with avg"
        )
    segments = segments or meta["num_segments"]
    module = ExportedTSN(model, Normalize(model.modality, meta["input"], input_order), segments)
    size = int(meta.get("crop_size", 224))
    example = torch.randint(0, 256, (1, segments * module.channels, size, size), dtype=torch.uint8)
    return module.eval(), example


def _require(module: str, fmt: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UsageError(f"--format {fmt} needs the `{module}` package: pip install {module}")


def export_model(
    ckpt_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    fmt: str = "torchscript",
    segments: int | None = None,
    input_order: str = "rgb",
    check: bool = False,
) -> ExportReport:
    """Write the exported model; with `check`, run it beside PyTorch and report the max diff."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")
    module, example = create_exportable(ckpt_path, segments, input_order)
    target = Path(output)
    for stale in stale_temp_paths(target):  # left by an export that was killed
        stale.unlink(missing_ok=True)
    # Every format is built in memory and written by Python: torch's C++ writers, given a path,
    # abort the process on a full disk ("terminate called after throwing c10::Error").
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # torch.jit is deprecated upstream but still works; tracing warns about the Python-side
        # shape checks of TSN and Normalize, which hold for the traced input shape
        warnings.simplefilter("ignore")
        if fmt == "torchscript":
            torch.jit.save(torch.jit.trace(module, example, check_trace=False), buffer)
        elif fmt == "pt2":
            batch = torch.export.Dim("batch", min=1, max=65536)
            program = torch.export.export(
                module, (example.repeat(2, 1, 1, 1),), dynamic_shapes={"clips": {0: batch}}
            )
            torch.export.save(program, buffer)
        else:
            _require("onnx", fmt)
            torch.onnx.export(
                module,
                (example,),
                buffer,
                input_names=["clips"],
                output_names=["logits"],
                dynamic_axes={"clips": {0: "batch"}, "logits": {0: "batch"}},
                dynamo=False,
            )
    atomic_write_bytes(target, buffer.getvalue())
    diff = _check(target, fmt, module, example) if check else None
    return ExportReport(target, fmt, tuple(example.shape), diff)


def _check(path: Path, fmt: str, module: nn.Module, example: torch.Tensor) -> float:
    """Max |exported - PyTorch| on a random batch of 2."""
    clips = torch.randint(0, 256, (2, *example.shape[1:]), dtype=torch.uint8)
    with torch.no_grad():
        expected = module(clips)
        if fmt == "torchscript":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = torch.jit.load(str(path))(clips)
        elif fmt == "pt2":
            got = torch.export.load(str(path)).module()(clips)
        else:
            _require("onnxruntime", "onnx --check")
            import onnxruntime

            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = torch.from_numpy(session.run(None, {"clips": clips.numpy()})[0])
    return float((got - expected).abs().max())
