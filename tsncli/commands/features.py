"""`tsn features`: Snippet features for temporal localization (BSN, BMN), from TSN checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import DecodeDevice, DecodeThreads, example, output_folder
from tsncli.commands._progress import ProgressView
from tsncli.data.crops import get_test_crops, test_crop_choices
from tsncli.errors import UsageError

SUMMARY = SUMMARIES["features"]


def _complete_layer(incomplete: str) -> list[str]:
    from tsncli.engine.features.extract import LAYERS  # loaded only when completing

    return [name for name in LAYERS if name.startswith(incomplete)]


def _complete_rescale_method(incomplete: str) -> list[str]:
    from tsncli.engine.features.rescale import RESCALE_METHODS

    return [name for name in RESCALE_METHODS if name.startswith(incomplete)]


def _complete_format(incomplete: str) -> list[str]:
    from tsncli.engine.features.formats import FORMATS

    return [name for name in FORMATS if name.startswith(incomplete)]


def features_command(
    source: Annotated[
        Path,
        typer.Argument(
            help="A list file (frame folders or videos), a folder of videos, or a folder of "
            "frame folders."
        ),
    ],
    checkpoint: Annotated[
        list[Path],
        typer.Option(help="A tsn checkpoint; repeat to concatenate streams (RGB first)."),
    ],
    out: Annotated[
        Path,
        typer.Option(help="Folder for one feature file per video.", callback=output_folder),
    ],
    stride: Annotated[
        int | None,
        typer.Option(help="A snippet centred every N frames: N//2, N//2 + N, ... (default 16)."),
    ] = None,
    stride_seconds: Annotated[
        float | None,
        typer.Option("--stride-seconds", help="As --stride, every T seconds of each video."),
    ] = None,
    layer: Annotated[
        str,
        typer.Option(
            help="logits (class scores, the CUHK features) or pool (backbone).",
            autocompletion=_complete_layer,
        ),
    ] = "logits",
    crops: Annotated[
        int, typer.Option(help=f"Crops per snippet, averaged: {test_crop_choices()}.")
    ] = 1,
    rescale: Annotated[
        int | None, typer.Option(help="Rescale each video to L rows (BSN/BMN: 100).")
    ] = None,
    rescale_method: Annotated[
        str | None,
        typer.Option(
            "--rescale-method",
            help="bsn (in seconds) or mmaction2 (in snippets).",
            autocompletion=_complete_rescale_method,
        ),
    ] = None,
    format: Annotated[
        str,
        typer.Option("--format", help="npy, csv (BSN's) or pkl.", autocompletion=_complete_format),
    ] = "npy",
    gpus: Annotated[int, typer.Option(help="Split the videos over this many GPUs.")] = 0,
    workers: Annotated[int, typer.Option(help="CPU worker processes (without --gpus).")] = 1,
    decode_threads: DecodeThreads = None,
    decode_device: DecodeDevice = "cpu",
    shard: Annotated[
        str | None,
        typer.Option(
            help="Do only shard K of N (1-based) of the videos (default under srun or a SLURM "
            "array: this task's share)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Redo every video, even with other settings in --out."),
    ] = False,
) -> None:
    """Snippet features for temporal localization (BSN, BMN), from TSN checkpoints."""
    from tsncli.engine.features.extract import FeatureSettings, extract_features
    from tsncli.launch import resolve_launch
    from tsncli.logs import print_error, stderr_console
    from tsncli.shards import parse_shard
    from tsncli.video.backend import set_decode_threads

    set_decode_threads(decode_threads)
    if gpus and workers > 1:
        raise UsageError("give either --gpus N or --workers N, not both")
    get_test_crops(crops)  # an unregistered count fails before any checkpoint loads
    settings = FeatureSettings(
        layer=layer, stride=stride, stride_seconds=stride_seconds, crops=crops, rescale=rescale,
        rescale_method=rescale_method, format=format, decode_device=decode_device,
    )  # fmt: skip
    share = parse_shard(shard) or resolve_launch().shard  # srun tasks, array tasks
    with ProgressView() as show:
        result = extract_features(
            source, checkpoint, out, settings, workers=workers, gpus=gpus, shard=share,
            force=force, on_progress=show,
        )  # fmt: skip
    rate = result.snippets / result.seconds if result.seconds > 0 else 0.0
    stderr_console.print(
        f"featurised {len(result.written)}, skipped {len(result.skipped)} (done before), "
        f"failed {len(result.failures)} into {result.out} ({rate:.1f} snippets/s)",
        markup=False,
    )
    if result.failures:
        for name, error in result.failures[:10]:
            print_error(f"{name}: {error}")
        from tsncli.engine.features.extract import FAILED_FILE
        from tsncli.shards import part_name

        print_error(
            f"{len(result.failures)} video(s) could not be read; they are listed in "
            f"{result.out / part_name(FAILED_FILE, share)}, the others are done; fix or remove "
            "them and rerun the same command"
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(
        name="features",
        help=SUMMARY,
        epilog=example(
            "tsn features data/activitynet_rgb_val_split_1.txt --checkpoint rgb.pt --checkpoint "
            "flow.pt --layer logits --stride 16 --rescale 100 --rescale-method bsn --format csv "
            "--out features/",
            "tsn features videos/ --checkpoint rgb.pt --stride 5 --out thumos_features/",
            "tsn features frames/ --checkpoint rgb.pt --layer pool --gpus 4 --out pool/",
        ),
    )(features_command)
