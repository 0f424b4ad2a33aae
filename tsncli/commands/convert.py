"""`tsn convert`: Turn released Caffe, MMAction2 or tsn-pytorch models into tsn checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import example, output_file

SUMMARY = SUMMARIES["convert"]

convert_app = typer.Typer(help=SUMMARY, no_args_is_help=True)

Output = Annotated[
    Path,
    typer.Option("--output", "-o", help="The tsn checkpoint to write.", callback=output_file),
]
Modality = Annotated[
    str | None,
    typer.Option(help="rgb, flow or rgbdiff.", show_default="inferred from conv1's channels"),
]
Classes = Annotated[
    Path | None,
    typer.Option(
        help="Class names: `<index> <name>` lines (0- or 1-based, e.g. classInd.txt) or one name "
        "per line.",
        show_default="0..K-1",
    ),
]
Segments = Annotated[int, typer.Option("--segments", min=1, help="num_segments stored in meta.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]


def _render(report, as_json: bool) -> None:
    from tsncli.logs import stderr_console

    if as_json:
        data = {k: str(v) if isinstance(v, Path) else v for k, v in vars(report).items()}
        typer.echo(json.dumps(data, indent=2))
        return
    stderr_console.print(
        f"{report.arch} {report.modality} (L={report.new_length}), {report.num_classes} classes, "
        f"{report.mapped} tensors from {report.source}",
        markup=False,
        highlight=False,
    )
    for name in report.unused:
        stderr_console.print(f"unused: {name}", markup=False, highlight=False)
    typer.echo(str(report.output))


@convert_app.command(
    "caffe",
    epilog=example(
        "tsn convert caffe ucf101_split_1_tsn_flow_reference_bn_inception.caffemodel "
        "--classes data/ucf101_classes.txt -o ucf101_flow_split1.pt"
    ),
)
def convert_caffe_command(
    model: Annotated[Path, typer.Argument(help="A released TSN BN-Inception .caffemodel.")],
    output: Output,
    modality: Modality = None,
    classes: Classes = None,
    segments: Segments = 3,
    allow_unused: Annotated[
        bool, typer.Option(help="Drop blobs no parameter takes (listed) instead of failing.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Convert a TSN .caffemodel (read directly, no Caffe) into a tsn checkpoint.

    The checkpoint keeps Caffe's input convention: BGR, 0..255, means 104/117/123; flow centred
    on 128 (TV-L1, bound 20, 340x256 frames).
    """
    from tsncli.models.convert import convert_caffe

    report = convert_caffe(model, output, modality, classes, segments, allow_unused)
    _render(report, as_json)


def _convert_checkpoint(kind: str, checkpoint, output, arch, modality, classes, segments, as_json):
    from tsncli.models.convert import convert_checkpoint

    report = convert_checkpoint(kind, checkpoint, output, arch, modality, classes, segments)
    _render(report, as_json)


Arch = Annotated[
    str | None,
    typer.Option(help="Backbone, e.g. resnet50 or bninception (tsn-pytorch files store it)."),
]


@convert_app.command(
    "mmaction",
    epilog=example("tsn convert mmaction tsn_r50_ucf101_split1.pth --arch resnet50 -o r50.pt"),
)
def convert_mmaction_command(
    checkpoint: Annotated[Path, typer.Argument(help="An MMAction2 TSN checkpoint (.pth).")],
    output: Output,
    arch: Arch = None,
    modality: Modality = None,
    classes: Classes = None,
    segments: Segments = 3,
    as_json: AsJson = False,
) -> None:
    """Convert an MMAction2 TSN (ResNet) checkpoint; any unmapped key is an error."""
    _convert_checkpoint("mmaction", checkpoint, output, arch, modality, classes, segments, as_json)


@convert_app.command(
    "tsn-pytorch",
    epilog=example("tsn convert tsn-pytorch ucf101_bninception_rgb_checkpoint.pth.tar -o rgb.pt"),
)
def convert_tsn_pytorch_command(
    checkpoint: Annotated[Path, typer.Argument(help="A tsn-pytorch checkpoint (.pth.tar).")],
    output: Output,
    arch: Arch = None,
    modality: Modality = None,
    classes: Classes = None,
    segments: Segments = 3,
    as_json: AsJson = False,
) -> None:
    """Convert a tsn-pytorch checkpoint (module.base_model.*, module.new_fc.*)."""
    _convert_checkpoint(
        "tsn-pytorch", checkpoint, output, arch, modality, classes, segments, as_json
    )


def register(app: typer.Typer) -> None:
    app.add_typer(
        convert_app,
        name="convert",
        help=SUMMARY,
        epilog=example(
            "tsn convert caffe MODEL.caffemodel --classes data/ucf101_classes.txt -o rgb.pt",
            "tsn convert mmaction CKPT.pth --arch resnet50 -o r50.pt",
        ),
    )
