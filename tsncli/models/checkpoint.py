"""Self-describing TSN checkpoints: the typed meta, atomic save, load, and the model rebuilt from
meta alone.

File layout (a torch.save'd dict):
    {"format": "tsn-checkpoint", "version": 1, "meta": {...}, "state_dict": {...}, **training_state}
`meta` is `CheckpointMeta.to_dict()`; older checkpoints (meta "flow", extra keys) still load.
Training state (optimizer, scheduler, scaler, epoch, rng, ...) sits beside it under the
caller's keys.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tsncli import __version__
from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import FrameSettings
from tsncli.fsutil import atomic_path
from tsncli.modality import Modality, check_modality, default_dropout
from tsncli.models.backbones import get_backbone
from tsncli.models.normalize import resolve_convention
from tsncli.models.tsn import TSN, create_tsn, unwrap_model
from tsncli.specs.backbones import InputConvention

FORMAT = "tsn-checkpoint"
VERSION = 1
_RESERVED = {"format", "version", "meta", "state_dict"}


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint says about its model and the frames it was trained on."""

    arch: str
    modality: Modality  # a name is coerced to its member
    num_classes: int
    num_segments: int
    new_length: int
    class_names: tuple[str, ...]
    consensus: str = "avg"
    dropout: float | None = None  # None: the modality's default
    partial_bn: bool = True
    crop_size: int = 224
    flip: bool = True  # were training clips mirrored (False for sthv2's direction classes)
    input: InputConvention | None = None  # None: the backbone's convention
    frames: FrameSettings | None = None  # how the frames were made; None when unknown
    config: dict[str, Any] = field(default_factory=dict)  # the resolved training config
    tsn_version: str = __version__  # the tsn that wrote the checkpoint

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "modality", check_modality(self.modality))
        if len(self.class_names) != self.num_classes:
            raise UsageError(
                f"{len(self.class_names)} class names for a model with {self.num_classes} "
                "classes; pass the classes file the model was trained on"
            )
        set_(self, "class_names", tuple(str(n) for n in self.class_names))
        if self.dropout is None:
            set_(self, "dropout", default_dropout(self.modality))
        if not isinstance(self.input, InputConvention):
            set_(
                self, "input", resolve_convention(self.input or get_backbone(self.arch).convention)
            )
        if self.frames is not None and not isinstance(self.frames, FrameSettings):
            set_(self, "frames", FrameSettings.from_dict(self.frames))

    def to_dict(self) -> dict[str, Any]:
        """The `meta` mapping stored in the file (plain types only)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["modality"] = self.modality.value  # torch's safe load refuses the enum type
        data["class_names"] = list(self.class_names)
        data["input"] = self.input.to_dict() if self.input else None
        data["frames"] = self.frames.to_dict() if self.frames else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointMeta:
        """Read any version's meta: "flow" is the old name of "frames"; keys nothing reads
        (input_order, scale_size, dataset, split, frames_dir, epoch, ...) are dropped."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "frames" not in values and data.get("flow"):
            values["frames"] = data["flow"]
        if values.get("class_names") is None and "num_classes" in values:
            values["class_names"] = [str(i) for i in range(int(values["num_classes"]))]
        values.setdefault("tsn_version", "")
        try:
            return cls(**values)
        except TypeError as exc:
            raise DataError(f"checkpoint meta is incomplete ({exc})") from None

    def model_args(self) -> dict[str, Any]:
        """The `create_tsn` arguments that rebuild this model."""
        keys = ("arch", "num_classes", "modality", "num_segments", "new_length", "consensus")
        args = {k: getattr(self, k) for k in keys}
        return args | {"dropout": self.dropout, "partial_bn": self.partial_bn}


def build_meta(model: nn.Module, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """`meta` (class names, frames, config, ...) completed by the model's own description and
    checked by `CheckpointMeta`; returned as the stored mapping."""
    tsn = unwrap_model(model)
    if not isinstance(tsn, TSN):
        raise UsageError(f"save_checkpoint needs a TSN model, got {type(tsn).__name__}")
    out = {**(meta or {}), **tsn.describe(), "tsn_version": __version__}
    return CheckpointMeta.from_dict(out).to_dict()


def read_meta(ckpt_or_meta: dict[str, Any]) -> CheckpointMeta:
    """The typed meta of a loaded checkpoint (or of its `meta` mapping)."""
    meta = ckpt_or_meta.get("meta", ckpt_or_meta)
    return CheckpointMeta.from_dict(meta)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    meta: dict[str, Any] | None = None,
    **training_state: Any,
) -> Path:
    """Write model weights, meta and any training state to `path` atomically; return the path.

    DDP / torch.compile wrappers are unwrapped. Keys of `training_state` must not be
    format, version, meta or state_dict.
    """
    clash = _RESERVED & set(training_state)
    if clash:
        raise UsageError(f"training_state may not use the reserved keys {sorted(clash)}")
    tsn = unwrap_model(model)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "meta": build_meta(tsn, meta),
        "state_dict": {k: v.detach().cpu() for k, v in tsn.state_dict().items()},
        **training_state,
    }
    target = Path(path)
    with atomic_path(target) as tmp:
        _torch_save(payload, tmp, target)
    return target


def _torch_save(payload: dict[str, Any], tmp: Path, target: Path) -> None:
    """torch.save, with its cryptic write failures ("unexpected pos", "file write failed") turned
    into an OSError naming `target` (a full disk is the usual cause); `target` is untouched."""
    try:
        torch.save(payload, tmp)
    except RuntimeError as exc:
        text = str(exc)
        if "unexpected pos" not in text and "write" not in text.lower():
            raise
        # torch hides the errno; a full disk or a file-size limit is the usual cause
        reason = "the checkpoint write failed (disk full or file-size limit?); the old file is kept"
        raise OSError(errno.ENOSPC, reason, str(target)) from None


def load_checkpoint(
    path: str | os.PathLike[str], map_location: Any = "cpu", trusted: bool = False
) -> dict[str, Any]:
    """Read a tsn checkpoint; DataError when the file is missing, corrupt or not ours.

    Loads with `weights_only=True` (no arbitrary code from pickles) unless `trusted`; store RNG
    states as tensors/lists so they load safely.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"checkpoint {p} does not exist; train one with `tsn train` "
            "or convert one with `tsn convert`"
        )
    if not zipfile.is_zipfile(p):
        raise DataError(
            f"{p} is not a readable torch checkpoint (not a torch.save zip); is it complete?"
        )
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=not trusted)
    except pickle.UnpicklingError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise DataError(
            f"{p} holds objects a safe load refuses ({first[:120]}); if you trust the file, "
            "load it with trusted=True"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise DataError(
            f"{p} is not a readable torch checkpoint ({exc}); is the file complete?"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DataError(
            f"{p} is not a tsn checkpoint; convert it first with "
            "`tsn convert caffe|mmaction|tsn-pytorch`"
        )
    if ckpt.get("version", 0) > VERSION:
        raise DataError(
            f"{p} was written by a newer tsn (format version {ckpt['version']}); upgrade tsn"
        )
    for key in ("meta", "state_dict"):
        if not isinstance(ckpt.get(key), dict):
            raise DataError(f"{p} is a damaged tsn checkpoint: '{key}' is missing")
    try:
        ckpt["meta"] = CheckpointMeta.from_dict(ckpt["meta"]).to_dict()  # old shapes -> current
    except (DataError, UsageError) as exc:
        raise DataError(f"{p} has a damaged meta: {exc}") from None
    return ckpt


def create_model_from_checkpoint(
    path_or_ckpt: str | os.PathLike[str] | dict[str, Any], device: str | torch.device = "cpu"
) -> tuple[TSN, dict[str, Any]]:
    """Rebuild the TSN a checkpoint describes, load its weights, move it to `device`, eval mode."""
    ckpt = path_or_ckpt if isinstance(path_or_ckpt, dict) else load_checkpoint(path_or_ckpt)
    typed = CheckpointMeta.from_dict(ckpt["meta"])
    meta = typed.to_dict()
    model = create_tsn(**typed.model_args())
    try:
        missing, unexpected = model.load_state_dict(ckpt["state_dict"], strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise DataError(f"checkpoint weights do not fit {meta.get('arch')}: {exc}") from None
    if missing or unexpected:
        raise DataError(
            f"checkpoint weights do not fit {meta.get('arch')}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    return model.to(device).eval(), meta
