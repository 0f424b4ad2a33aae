"""What a training run needs, checked once up front: the RunPlan (lists, classes, frame
decoders, weights, the FrameSettings of its frames), the TrainResult rank 0 returns, and the
typed checkpoint meta.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from tsncli.config import config_to_dict
from tsncli.data.snippet_source import (
    FRAME_FOLDERS,
    SnippetSource,
    check_flow_on_the_fly,
    create_snippet_source,
)
from tsncli.engine.train.checkpoints import check_resume, check_resume_classes
from tsncli.engine.train.config import TrainConfig
from tsncli.errors import DataError, UsageError
from tsncli.flow.job import load_frames_settings
from tsncli.frame_settings import FrameSettings, resolve_frame_settings
from tsncli.layout import last_checkpoint
from tsncli.lists.listfile import (
    VideoRecord,
    classes_file_name,
    list_file_name,
    read_classes,
    read_list,
    read_list_header,
)
from tsncli.models.backbones import get_backbone
from tsncli.models.checkpoint import CheckpointMeta
from tsncli.models.pretrained import resolve_pretrained_weights
from tsncli.models.tsn import unwrap_model

SKIPPED_FILE = "skipped_videos.txt"  # videos a video source could not decode, one per line


@dataclass(frozen=True)
class RunPlan:
    """Everything a training process needs, checked up front (picklable for spawned ranks)."""

    config: TrainConfig  # resolved
    class_names: tuple[str, ...]
    train_records: tuple[VideoRecord, ...]
    val_records: tuple[VideoRecord, ...]
    frames: FrameSettings | None  # how the training frames were made; None when unknown
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


def _list_path(cfg: TrainConfig, subset: str) -> Path:
    return Path(cfg.lists_dir) / list_file_name(cfg.dataset, cfg.list_modality, subset, cfg.split)


def resolve_train_frames(
    cfg: TrainConfig, list_file: Path, records: tuple[VideoRecord, ...]
) -> FrameSettings | None:
    """The FrameSettings the training frames were made with, resolved as eval and predict do:
    a video list's header plus --flow-on-the-fly, or the frame folders' flow_config.yaml
    (None when that is missing: unknown)."""
    header = read_list_header(list_file)
    if header.get("kind") == "videos":
        algo = check_flow_on_the_fly(cfg.flow_on_the_fly)
        return resolve_frame_settings(list_header=header, overrides={"flow_algorithm": algo})
    made = load_frames_settings(Path(records[0].path).parent) if records else None
    return None if made is None else resolve_frame_settings(frames=made)


def _read_list_file(cfg: TrainConfig, subset: str) -> tuple[tuple[VideoRecord, ...], Any]:
    path = _list_path(cfg, subset)
    if not path.is_file():
        raise DataError(
            f"list file {path} does not exist; build it with "
            f"`tsn lists {cfg.dataset} --out {cfg.lists_dir}` (or pass --lists-dir)"
            + (" or train without validation with --eval-every 0" if subset == "val" else "")
        )
    records = tuple(read_list(path, frames_root=cfg.frames))
    return records, _create_source(cfg, path, records)


def resolve_pretrained(cfg: TrainConfig) -> str | None:
    """The weights file `--pretrained` names (imagenet, kinetics400, none or a PATH): see
    `resolve_pretrained_weights`."""
    return resolve_pretrained_weights(cfg.pretrained, cfg.arch, cfg.modality)


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
    check_resume(Path(cfg.out or "."), cfg.resume, cfg.allow_fresh)
    if cfg.resume and last_checkpoint(Path(cfg.out or ".")).is_file():
        check_resume_classes(Path(cfg.out or "."), class_names, classes_path)
    if cfg.init and not Path(cfg.init).is_file():
        raise UsageError(f"--init {cfg.init}: no such checkpoint file")
    frames_dir = cfg.frames or str(Path(train_records[0].path).parent)
    frames = resolve_train_frames(cfg, _list_path(cfg, "train"), train_records)
    return RunPlan(
        config=cfg,
        class_names=class_names,
        train_records=train_records,
        val_records=val_records,
        frames=frames,
        pretrained_path=resolve_pretrained(cfg),
        frames_dir=frames_dir,
        train_source=train_source,
        val_source=val_source,
    )


def checkpoint_meta(plan: RunPlan, model: nn.Module) -> CheckpointMeta:
    """The typed meta of this run's checkpoints: the model's own description (arch, modality,
    ...) plus the classes, crop, flips, the frames' FrameSettings and the resolved config."""
    cfg = plan.config
    return CheckpointMeta(
        **unwrap_model(model).describe(),
        class_names=tuple(plan.class_names),
        crop_size=cfg.crop_size,
        flip=cfg.flip is not False,  # were training clips mirrored (False for sthv2)
        frames=plan.frames,
        config=config_to_dict(cfg),
    )
