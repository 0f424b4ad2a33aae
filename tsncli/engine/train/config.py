"""`TrainConfig`: every `tsn train` option, settable from presets, `--config` YAML and flags.

Layering: defaults < preset (`tsncli/configs/<name>.yaml`, auto-picked as `{dataset}_{modality}`)
< `--config` file < flags. `resolved()` fills the per-modality defaults (lr, dropout, clipping,
new_length), and the resolved config is saved in the run folder.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from tsncli.engine.train.sinks import LOGGERS
from tsncli.errors import UsageError
from tsncli.modality import (
    Modality,
    check_modality,
    default_dropout,
    default_new_length,
    frames_read,
)
from tsncli.specs.backbones import DEFAULT_ARCH
from tsncli.specs.datasets import flip_policy

SCHEDULES = ("step", "cosine")
BN_MODES = ("partial", "frozen", "full")
AMP_DTYPES = ("bf16", "fp16")

# The paper's per-modality training defaults (TSN-FACTS.md): base lr, gradient-norm clip;
# dropout and new_length come from `tsncli.modality`. One entry per `Modality` (a test checks).
_MODALITY_DEFAULTS: dict[Modality, dict[str, float]] = {
    Modality.RGB: {"lr": 0.001, "clip_grad": 40.0},
    Modality.RGBDIFF: {"lr": 0.001, "clip_grad": 40.0},
    Modality.FLOW: {"lr": 0.005, "clip_grad": 20.0},
}


@dataclass(frozen=True)
class TrainConfig:
    """Options of `tsn train`; epoch-based (presets convert the paper's iteration counts)."""

    dataset: str = ""
    modality: Modality = Modality.RGB  # a name is coerced to its member
    split: int = 1
    lists_dir: str = "data"
    frames: str | None = None  # remap list folders to FRAMES/<video id>
    flow_on_the_fly: str | None = None  # video lists: flow computed while loading, by an
    # on-the-fly algorithm of `tsncli.specs.flow_algorithms` (`on_the_fly_algorithms()`)
    arch: str = DEFAULT_ARCH
    segments: int = 3
    new_length: int | None = None  # None: 1 for rgb, 5 for flow/rgbdiff
    consensus: str = "avg"
    dropout: float | None = None  # None: 0.8 rgb/rgbdiff, 0.7 flow
    bn: str = "partial"  # partial (TSN), frozen (all BN in eval mode), full (all BN train)
    # imagenet | a released TSN's source in `tsncli.specs.pretrained` (kinetics400: its backbone,
    # a new fc; ImageNet with a warning when not fetched) | none | PATH to weights or a checkpoint
    pretrained: str = "imagenet"
    init: str | None = None  # a TSN checkpoint to start from (fc kept when classes match)
    crop_size: int = 224
    epochs: int = 80
    batch_size: int = 128  # effective batch over all devices and accumulation steps
    micro_batch: int | None = None  # clips per device per forward; smaller -> accumulation
    lr: float | None = None  # None: 0.001 rgb/rgbdiff, 0.005 flow
    lr_schedule: str = "step"
    lr_steps: tuple[float, ...] = (30.0, 60.0)  # epochs where the lr is multiplied by lr_gamma
    lr_gamma: float = 0.1
    warmup_epochs: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    clip_grad: float | None = None  # None: 40 rgb/rgbdiff, 20 flow; 0 disables
    gpus: int | None = None  # None: every visible GPU (CPU when none); 0: CPU
    workers: int | None = None  # loader processes per device; None: CPUs per device - 1, max 8
    decode_device: str = "cpu"  # where frame JPEGs decode: loader workers, or batched on "cuda"
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    amp_dtype: str = "bf16"
    channels_last: bool = False
    compile: bool = False
    eval_every: int = 5  # epochs between validations; 0: never
    out: str | None = None  # run folder; None: runs/<ds>_<modality>_split<k>_<arch>
    resume: bool = False
    allow_fresh: bool = False  # --resume with no last.pt starts fresh instead of failing
    seed: int = 0
    flip: bool | None = None  # horizontal flips in training; None: the dataset's policy
    log_every: int = 10  # optimizer steps between progress events
    tensorboard: bool = True  # write events when tensorboard is installed
    loggers: tuple[str, ...] = ()  # trackers that must log: tensorboard, mlflow, wandb
    keep_last: int = 0  # epoch_XXX.pt checkpoints kept beside last.pt/best.pt; 0: none

    def __post_init__(self) -> None:
        from tsncli.data.device_decode import DECODE_DEVICES  # here: it loads torch

        object.__setattr__(self, "modality", check_modality(self.modality))
        for name, choices in (
            ("lr_schedule", SCHEDULES),
            ("bn", BN_MODES),
            ("amp_dtype", AMP_DTYPES),
            ("decode_device", DECODE_DEVICES),
        ):
            if getattr(self, name) not in choices:
                value = getattr(self, name)
                raise UsageError(f"{name} {value!r} is not one of: {', '.join(choices)}")
        positive = ("split", "segments", "epochs", "batch_size", "log_every")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise UsageError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.crop_size < 8:
            raise UsageError(f"crop_size must be at least 8, got {self.crop_size}")
        if self.micro_batch is not None and self.micro_batch < 1:
            raise UsageError(f"micro_batch must be at least 1, got {self.micro_batch}")
        if self.eval_every < 0 or self.keep_last < 0 or (self.gpus is not None and self.gpus < 0):
            raise UsageError("eval_every, keep_last and gpus must not be negative")
        unknown = [name for name in self.loggers if name not in LOGGERS]
        if unknown:
            raise UsageError(f"logger {unknown[0]!r} is not one of: {', '.join(LOGGERS)}")
        for name in ("lr", "momentum", "weight_decay", "dropout", "clip_grad", "lr_gamma"):
            value = getattr(self, name, None)  # a nan lr would train silently to a nan model
            if value is not None and not math.isfinite(float(value)):
                raise UsageError(f"{name} must be a finite number, got {value}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout must be in [0, 1), got {self.dropout}")
        # torch refuses a negative lr with a traceback and trains nothing at lr 0; a negative
        # clip or decay would be taken silently
        if self.lr is not None and self.lr <= 0:
            raise UsageError(f"lr must be greater than 0, got {self.lr}")
        for name in ("momentum", "weight_decay", "clip_grad"):
            value = getattr(self, name, None)
            if value is not None and value < 0:
                raise UsageError(f"{name} must not be negative, got {value}")

    def resolved(self) -> TrainConfig:
        """A copy with per-modality defaults filled in and the run folder chosen."""
        if not self.dataset:
            raise UsageError("no dataset given; name one, e.g. `tsn train ucf101 rgb`")
        defaults = _MODALITY_DEFAULTS[self.modality]
        values = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        if self.flip is None:  # off for datasets whose classes are not mirror-invariant
            values["flip"] = flip_policy(self.dataset)
        if self.new_length is None:
            values["new_length"] = default_new_length(self.modality)
        if self.dropout is None:
            values["dropout"] = default_dropout(self.modality)
        if self.out is None:
            values["out"] = str(
                Path("runs") / f"{self.dataset}_{self.modality}_split{self.split}_{self.arch}"
            )
        return dataclasses.replace(self, **values)

    @property
    def list_modality(self) -> Modality:
        """Which list files to read: RGB-diff uses the RGB lists (same frames)."""
        return frames_read(self.modality)
