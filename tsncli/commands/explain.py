"""`tsn explain`: Grad-CAM per segment of a checkpoint on one video, as an overlay video or GIF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import IgnoreRotation, example, output_file
from tsncli.commands._report import console

SUMMARY = SUMMARIES["explain"]


def explain_command(
    video: Annotated[str, typer.Argument(help="A video file or a frames folder.")],
    checkpoint: Annotated[Path, typer.Option(help="A tsn checkpoint (RGB, flow or RGB-diff).")],
    out: Annotated[
        Path,
        typer.Option(
            help="The overlay to write: OUT.mp4 or OUT.gif (one image per segment).",
            callback=output_file,
        ),
    ],
    class_name: Annotated[
        str | None,
        typer.Option("--class", help="Explain this class (default: the predicted one)."),
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option(
            help="Target module, a dotted name inside the backbone, e.g. layer4.1 "
            "(default: the backbone's last conv block)."
        ),
    ] = None,
    segments: Annotated[
        int, typer.Option(min=1, help="Snippets, evenly spaced; one map each.")
    ] = 8,
    save_maps: Annotated[
        Path | None,
        typer.Option(
            "--save-maps",
            help="Also save the maps as .npy: \\[segments, H, W] float32 in \\[0, 1].",
            callback=output_file,
        ),
    ] = None,
    gpu: Annotated[bool, typer.Option("--gpu", help="Run on the first CUDA GPU.")] = False,
    ignore_rotation: IgnoreRotation = False,
) -> None:
    """Show where a checkpoint looks: Grad-CAM per segment over each segment's frame."""
    from tsncli.engine.explain import explain_video, short_layer_name
    from tsncli.engine.explain import save_maps as write_maps
    from tsncli.engine.overlay import check_overlay_path, explanation_panels, save_overlay
    from tsncli.logs import stderr_console
    from tsncli.video.files import refuse_url

    refuse_url(video)
    check_overlay_path(out)  # a wrong suffix fails before the model loads
    device = "cpu"
    if gpu:
        from tsncli.launch import resolve_devices

        device = resolve_devices(1)[0]
    explanation = explain_video(
        video, checkpoint, segments, class_name, layer, device, ignore_rotation
    )
    save_overlay(out, explanation_panels(explanation))
    if save_maps is not None:
        write_maps(save_maps, explanation.maps)
        stderr_console.print(f"maps saved to {save_maps}", markup=False)
    console.print(
        f"{Path(explanation.video).name}: {explanation.class_name} "
        f"{explanation.probability:.3f} ({len(explanation.maps)} segments, "
        f"layer {short_layer_name(explanation.layer)})",
        markup=False,
        highlight=False,
    )
    stderr_console.print(f"overlay written to {out}", markup=False)


def register(app: typer.Typer) -> None:
    app.command(
        name="explain",
        help=SUMMARY,
        epilog=example(
            "tsn explain video.avi --checkpoint runs/ucf101_rgb_split1/best.pt --out cam.mp4",
            "tsn explain video.avi --checkpoint flow.pt --out cam.gif --class Basketball "
            "--segments 5 --save-maps cam.npy",
        ),
    )(explain_command)
