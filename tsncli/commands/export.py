"""`tsn export`: Export a tsn checkpoint (torch.export, TorchScript, ONNX), normalisation inside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import example, output_file

FORMATS = ("torchscript", "pt2", "onnx")  # tsncli.models.export.FORMATS, without importing torch

FORMATS = ("torchscript", "pt2", "onnx")  # as tsncli.models.export, without importing torch

SUMMARY = SUMMARIES["export"]


def export_command(
    checkpoint: Annotated[Path, typer.Argument(help="A tsn checkpoint (from train or convert).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write.", callback=output_file)
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="pt2 (torch.export), torchscript or onnx.",
            autocompletion=lambda incomplete: [f for f in FORMATS if f.startswith(incomplete)],
        ),
    ] = "torchscript",
    segments: Annotated[
        int | None,
        typer.Option(
            min=1, help="Snippets per clip.", show_default="the checkpoint's num_segments"
        ),
    ] = None,
    input_order: Annotated[
        str, typer.Option(help="Colour order of the frames you will feed: rgb or bgr (OpenCV).")
    ] = "rgb",
    check: Annotated[
        bool, typer.Option("--check", help="Run export and PyTorch side by side; print max diff.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Export a checkpoint. The model takes (B, S*C*L, H, W) frames on the 0..255 scale (uint8;
    float too for TorchScript) and returns class logits (B, K)."""
    from tsncli.logs import stderr_console
    from tsncli.models.export import export_model

    report = export_model(checkpoint, output, fmt, segments, input_order, check)
    if as_json:
        data = {**vars(report), "output": str(report.output)}
        typer.echo(json.dumps(data))
        return
    shape = "x".join(str(d) for d in report.input_shape)
    stderr_console.print(f"{report.format}: input B x {shape[2:]} (uint8)", markup=False)
    if report.max_abs_diff is not None:
        stderr_console.print(f"max |export - pytorch| = {report.max_abs_diff:.3g}", markup=False)
    typer.echo(str(report.output))


def register(app: typer.Typer) -> None:
    app.command(
        name="export",
        help=SUMMARY,
        epilog=example(
            "tsn export runs/ucf101_rgb_split1/best.pt --format onnx -o rgb.onnx --check"
        ),
    )(export_command)
