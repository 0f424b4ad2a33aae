"""What a training run needs, checked once up front: the RunPlan (lists, classes, frame
decoders, weights, flow settings), the TrainResult rank 0 returns, and the checkpoint meta.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsncli.config import config_to_dict
from tsncli.data.snippet_source import FRAME_FOLDERS, SnippetSource, create_snippet_source
from tsncli.engine.train_config import TrainConfig
from tsncli.errors import DataError, UsageError
from tsncli.flow.extract import load_flow_settings
from tsncli.lists.listfile import (
    VideoRecord,
    classes_file_name,
    list_file_name,
    read_classes,
    read_list,
)
from tsncli.models.backbones import get_backbone
from tsncli.models.pretrained import imagenet_weights_path

SKIPPED_FILE = "skipped_videos.txt"  # videos a video source could not decode, one per line


@dataclass(frozen=True)
class RunPlan:
    """Everything a training process needs, checked up front (picklable for spawned ranks)."""

    config: TrainConfig  # resolved
    class_names: tuple[str, ...]
    train_records: tuple[VideoRecord, ...]
    val_records: tuple[VideoRecord, ...]
    flow_settings: dict[str, Any] | None
    pretrained_path: str | None  # backbone weights to load, None for random init
    frames_dir: str
    train_source: SnippetSource = FRAME_FOLDERS  # frame decoder of each list
    val_source: SnippetSource = FRAME_FOLDERS

    @property
    def run_dir(self) -> Path:
        return Path(self.config.out or ".")


@dataclass
class TrainResult:
    """What a finished `train` call produced (returned by rank 0)."""

    run_dir: Path
    epochs_done: int
    best_metric: float | None  # best val mean class accuracy, None when never validated
    last_checkpoint: Path
    best_checkpoint: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)


def _create_source(cfg: TrainConfig, path: Path, records: tuple[VideoRecord, ...]) -> Any:
    """The list's frame decoder (frame folders, or video files for `tsn lists --source videos`),
    after checking every entry up front. Undecodable videos are logged in the run folder."""
    workers = cfg.workers if cfg.workers else 1
    source = create_snippet_source(
        path, records, cfg.modality, cfg.flow_on_the_fly, workers=workers
    )
    source.validate(records, cfg.modality, path)
    if dataclasses.is_dataclass(source) and hasattr(source, "failure_log"):
        log_file = Path(cfg.out or ".") / SKIPPED_FILE
        source = dataclasses.replace(source, failure_log=str(log_file))
    return source


def _read_list_file(cfg: TrainConfig, subset: str) -> tuple[tuple[VideoRecord, ...], Any]:
    path = Path(cfg.lists_dir) / list_file_name(cfg.dataset, cfg.list_modality, subset, cfg.split)
    if not path.is_file():
        raise DataError(
            f"list file {path} does not exist; build it with "
            f"`tsn lists {cfg.dataset} --out {cfg.lists_dir}` (or pass --lists-dir)"
            + (" or train without validation with --eval-every 0" if subset == "val" else "")
        )
    records = tuple(read_list(path, frames_root=cfg.frames))
    return records, _create_source(cfg, path, records)


def resolve_pretrained(cfg: TrainConfig) -> str | None:
    """imagenet -> the cached weights file (error naming `tsn fetch`); PATH -> PATH; none."""
    choice = cfg.pretrained
    if choice in ("none", "", None):
        return None
    if choice == "imagenet":
        if get_backbone(cfg.arch).weights_format == "none":
            raise UsageError(f"{cfg.arch} has no ImageNet weights; use --pretrained none")
        path = imagenet_weights_path(cfg.arch)  # error names `tsn fetch weights ARCH`
        return str(path)
    if not Path(choice).is_file():
        raise UsageError(
            f"--pretrained {choice}: no such file; use imagenet, none or a weights file"
        )
    return str(choice)


def prepare_run(config: TrainConfig) -> RunPlan:
    """Resolve the config, read and validate lists and classes, find weights and flow settings."""
    cfg = config.resolved()
    get_backbone(cfg.arch)  # unknown arch -> error listing the valid ones
    classes_path = Path(cfg.lists_dir) / classes_file_name(cfg.dataset)
    if not classes_path.is_file():
        raise DataError(
            f"classes file {classes_path} does not exist; build it with "
            f"`tsn lists {cfg.dataset} --out {cfg.lists_dir}` (or pass --lists-dir)"
        )
    class_names = tuple(read_classes(classes_path))
    train_records, train_source = _read_list_file(cfg, "train")
    val_records, val_source = _read_list_file(cfg, "val") if cfg.eval_every > 0 else ((), None)
    for record in (*train_records, *val_records):
        if not 0 <= record.label < len(class_names):
            raise DataError(
                f"label {record.label} of {record.path} is outside the {len(class_names)} "
                f"classes in {classes_path}; rebuild the lists with `tsn lists`"
            )
    run_dir = Path(cfg.out or ".")
    if (run_dir / "last.pt").exists() and not cfg.resume:
        raise UsageError(
            f"{run_dir} already holds a run (last.pt); pass --resume to continue it "
            "or --out for a new folder"
        )
    if cfg.resume and not (run_dir / "last.pt").exists() and not cfg.allow_fresh:
        raise UsageError(
            f"--resume: {run_dir} holds no run to resume (no last.pt); check --out, or pass "
            "--allow-fresh to start a new run there"
        )
    if cfg.init and not Path(cfg.init).is_file():
        raise UsageError(f"--init {cfg.init}: no such checkpoint file")
    frames_dir = cfg.frames or str(Path(train_records[0].path).parent)
    if train_source is not None:
        flow_settings = train_source.settings(train_records)
    else:
        flow_settings = load_flow_settings(frames_dir)
    return RunPlan(
        config=cfg,
        class_names=class_names,
        train_records=train_records,
        val_records=val_records,
        flow_settings=flow_settings,
        pretrained_path=resolve_pretrained(cfg),
        frames_dir=frames_dir,
        train_source=train_source,
        val_source=val_source,
    )


def checkpoint_meta(plan: RunPlan) -> dict[str, Any]:
    """The `meta` this trainer adds to checkpoints (the model adds arch, modality, ...); see
    `tsncli.models.checkpoint.CheckpointMeta`."""
    cfg = plan.config
    return {
        "class_names": list(plan.class_names),
        "crop_size": cfg.crop_size,
        "frames": plan.flow_settings,  # how the frames/flow were made (None if unknown)
        "flip": cfg.flip is not False,  # were training clips mirrored (False for sthv2)
        "config": config_to_dict(cfg),
    }
