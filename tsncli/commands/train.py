"""`tsn train`: Train a TSN model with the paper's recipes on CPU, one GPU, N GPUs or nodes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import (
    DecodeDevice,
    DecodeThreads,
    cli_overrides,
    example,
    finite,
    output_folder,
)
from tsncli.errors import UsageError
from tsncli.modality import MODALITIES
from tsncli.specs.backbones import DEFAULT_ARCH, list_backbones
from tsncli.specs.flow_algorithms import on_the_fly_algorithms
from tsncli.specs.pretrained import pretrained_for, pretrained_sources

SUMMARY = SUMMARIES["train"]


def complete_modality(incomplete: str) -> list[str]:
    return [m.value for m in MODALITIES if m.startswith(incomplete)]


def complete_arch(incomplete: str) -> list[str]:
    return [name for name in list_backbones() if name.startswith(incomplete)]


def complete_consensus(incomplete: str) -> list[str]:
    return [c for c in ("avg", "max", "weighted", "identity") if c.startswith(incomplete)]


def complete_pretrained(incomplete: str) -> list[str]:
    choices = ["imagenet", *pretrained_sources(), "none"]
    return [c for c in choices if c.startswith(incomplete)]


def _pretrained_help() -> str:
    released = [
        f"{source} (a released TSN's backbone and a new fc: `tsn fetch weights "
        f"{'|'.join(spec.name for spec in pretrained_for(source))}`; ImageNet if not fetched)"
        for source in pretrained_sources()
    ]
    names = ", ".join(["imagenet (`tsn fetch weights ARCH`)", *released, "none"])
    return f"{names}, or a weights file or TSN checkpoint."


def complete_logger(incomplete: str) -> list[str]:
    return [n for n in ("tensorboard", "mlflow", "wandb") if n.startswith(incomplete)]


def complete_preset(incomplete: str) -> list[str]:
    from tsncli.config import list_presets

    return [p for p in [*list_presets(), "none"] if p.startswith(incomplete)]


def _parse_steps(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        raise UsageError(
            f"--lr-steps {text!r}: give epochs separated by commas, e.g. 30,60"
        ) from None


def resolve_train_config(
    dataset: str, modality: str, preset: str | None, config: Path | None, overrides: dict[str, Any]
) -> Any:
    """Layer defaults < preset (auto `{dataset}_{modality}`) < --config (or the run's saved
    config.yaml on --resume) < flags."""
    from tsncli.config import list_presets, resolve_config
    from tsncli.engine.train.config import TrainConfig
    from tsncli.layout import RUN_CONFIG

    values = dict(overrides, dataset=dataset, modality=modality)
    if preset is None:
        auto = f"{dataset}_{modality}"
        preset = auto if auto in list_presets() else None
    elif preset == "none":
        preset = None
    cfg = resolve_config(
        TrainConfig, section="train", preset=preset, config_file=config, overrides=values
    )
    saved = Path(cfg.resolved().out or ".") / RUN_CONFIG
    if cfg.resume and config is None and saved.is_file():
        cfg = resolve_config(
            TrainConfig, section="train", preset=preset, config_file=saved, overrides=values
        )
    return cfg


def train_command(
    ctx: typer.Context,
    dataset: Annotated[
        str, typer.Argument(help="Dataset name used in the list files, e.g. ucf101.")
    ],
    modality: Annotated[
        str, typer.Argument(help="rgb, flow or rgbdiff.", autocompletion=complete_modality)
    ],
    split: Annotated[int, typer.Option(help="Split number K of the list files.")] = 1,
    lists_dir: Annotated[
        Path, typer.Option(help="Folder of {ds}_{mod}_{train|val}_split_{k}.txt and classes.")
    ] = Path("data"),
    frames: Annotated[
        Path | None, typer.Option(help="Read frame folders from here instead of the lists' paths.")
    ] = None,
    flow_on_the_fly: Annotated[
        str | None,
        typer.Option(
            help="Video lists: compute flow while loading "
            f"({' or '.join(on_the_fly_algorithms())})."
        ),
    ] = None,
    arch: Annotated[
        str,
        typer.Option(
            help=f"Backbone: {', '.join(list_backbones())}.", autocompletion=complete_arch
        ),
    ] = DEFAULT_ARCH,
    segments: Annotated[int, typer.Option(help="Segments (snippets) per video.")] = 3,
    epochs: Annotated[int, typer.Option(help="Epochs to train.")] = 80,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "--batch", help="Effective batch over all devices.")
    ] = 128,
    micro_batch: Annotated[
        int | None, typer.Option(help="Clips per device per forward; smaller accumulates.")
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="Base lr (default 0.001 rgb, 0.005 flow).", callback=finite)
    ] = None,
    lr_steps: Annotated[
        str | None, typer.Option(help="Epochs where lr drops 10x, e.g. 30,60.")
    ] = None,
    dropout: Annotated[
        float | None,
        typer.Option(help="Dropout before fc (default 0.8 rgb, 0.7 flow).", callback=finite),
    ] = None,
    clip_grad: Annotated[
        float | None,
        typer.Option(help="Gradient-norm clip (default 40 rgb, 20 flow; 0 off).", callback=finite),
    ] = None,
    consensus: Annotated[
        str, typer.Option(help="avg, max, weighted or identity.", autocompletion=complete_consensus)
    ] = "avg",
    crop_size: Annotated[
        int, typer.Option(help="Input crop side (224; 112 or 96 for demos).")
    ] = 224,
    pretrained: Annotated[
        str, typer.Option(help=_pretrained_help(), autocompletion=complete_pretrained)
    ] = "imagenet",
    init: Annotated[
        Path | None, typer.Option(help="Start from this TSN checkpoint (e.g. Kinetics).")
    ] = None,
    gpus: Annotated[
        int | None, typer.Option(help="0 = CPU; N = DDP over N local GPUs (default: all).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Loader processes per device (default: CPUs per device - 1, max 8)."),
    ] = None,
    decode_threads: DecodeThreads = None,
    decode_device: DecodeDevice = "cpu",
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision on CUDA.")] = True,
    bn: Annotated[
        str, typer.Option(help="BatchNorm: partial (TSN), frozen (all) or full (train all).")
    ] = "partial",
    compile_model: Annotated[
        bool, typer.Option("--compile", help="torch.compile the model (PyTorch 2).")
    ] = False,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="channels_last memory format (CUDA).")
    ] = False,
    eval_every: Annotated[int, typer.Option(help="Validate every N epochs (0 never).")] = 5,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run folder (default runs/<ds>_<mod>_split<k>_<arch>).", callback=output_folder
        ),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    allow_fresh: Annotated[
        bool,
        typer.Option(
            "--allow-fresh",
            help="With --resume: start a new run when --out holds none (without it, that fails).",
        ),
    ] = False,
    flip: Annotated[
        bool | None,
        typer.Option(
            "--flip/--no-flip",
            help="Mirror training clips (default: the dataset's policy; off for sthv2).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling, crops and init.")] = 0,
    loggers: Annotated[
        list[str] | None,
        typer.Option(
            "--logger",
            help="Also log to tensorboard, mlflow or wandb (repeatable); metrics.jsonl always.",
            autocompletion=complete_logger,
        ),
    ] = None,
    keep_last: Annotated[
        int, typer.Option(help="Keep the N most recent epoch_XXX.pt beside last.pt/best.pt.")
    ] = 0,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Recipe from tsncli/configs (default {ds}_{mod} if shipped; none).",
            autocompletion=complete_preset,
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML of options (flat or a `train:` section).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result summary as JSON on stdout.")
    ] = False,
) -> None:
    """Train TSN on list files; every option can also come from --preset or --config YAML."""
    from tsncli.commands._train_view import TrainView
    from tsncli.engine.train.run import train
    from tsncli.video.backend import set_decode_threads

    set_decode_threads(decode_threads)  # a machine setting, not part of the recipe
    exclude = ("config", "preset", "as_json", "dataset", "modality", "decode_threads")
    overrides = cli_overrides(ctx, exclude=exclude)
    if "compile_model" in overrides:
        overrides["compile"] = overrides.pop("compile_model")
    if "loggers" in overrides:
        overrides["loggers"] = tuple(dict.fromkeys(overrides["loggers"] or ()))
    if "lr_steps" in overrides:
        overrides["lr_steps"] = _parse_steps(overrides["lr_steps"])
    for key in ("lists_dir", "frames", "init", "out"):
        if overrides.get(key) is not None:
            overrides[key] = str(overrides[key])
    cfg = resolve_train_config(dataset, modality, preset, config, overrides)
    with TrainView() as view:
        result = train(cfg, on_event=view)
    if result is None:  # a torchrun or srun rank other than 0
        return
    summary = {
        "run_dir": str(result.run_dir),
        "epochs": result.epochs_done,
        "best_val_mean_class_accuracy": result.best_metric,
        "last_checkpoint": str(result.last_checkpoint),
        "best_checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        view.summary(summary)


def register(app: typer.Typer) -> None:
    app.command(
        name="train",
        help=SUMMARY,
        epilog=example(
            "tsn train ucf101 rgb --split 2 --gpus 8",
            "tsn train hmdb51 flow --arch resnet50 --batch-size 64 --epochs 100",
            "tsn train ucf101 rgb --resume",
            "torchrun --nnodes 2 --nproc-per-node 8 -m tsncli train ucf101 flow",
            "srun --ntasks-per-node 8 --gpus-per-task 1 tsn train kinetics400 rgb",
            "tsn train ucf101 rgb --logger mlflow --logger tensorboard --keep-last 3",
        ),
    )(train_command)
