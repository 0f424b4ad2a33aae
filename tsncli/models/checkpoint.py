"""Self-describing TSN checkpoints: save atomically, load, and rebuild the model from meta alone.

File layout (a torch.save'd dict):
    {"format": "tsn-checkpoint", "version": 1, "meta": {...}, "state_dict": {...}, **training_state}
`meta` holds arch, modality, num_segments, new_length, num_classes, class_names, consensus,
dropout, partial_bn, crop_size, input (the normalisation convention), flow (algo, bound, size or
None), config and tsn_version. Training state (optimizer, scheduler, scaler, epoch, rng, ...)
sits beside it under the caller's keys.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tsncli import __version__
from tsncli.errors import DataError, UsageError
from tsncli.fsutil import atomic_path
from tsncli.models.backbones import get_backbone
from tsncli.models.normalize import resolve_convention
from tsncli.models.tsn import TSN, create_tsn, unwrap_model

FORMAT = "tsn-checkpoint"
VERSION = 1
_RESERVED = {"format", "version", "meta", "state_dict"}


def build_meta(model: nn.Module, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge the model's own description into `meta`; fill input convention and defaults."""
    tsn = unwrap_model(model)
    if not isinstance(tsn, TSN):
        raise UsageError(f"save_checkpoint needs a TSN model, got {type(tsn).__name__}")
    out = dict(meta or {})
    out.update(tsn.describe())
    names = out.get("class_names")
    if names is None:
        out["class_names"] = [str(i) for i in range(tsn.num_classes)]
    elif len(names) != tsn.num_classes:
        raise UsageError(
            f"{len(names)} class names for a model with {tsn.num_classes} classes; "
            "pass the classes file the model was trained on"
        )
    else:
        out["class_names"] = [str(n) for n in names]
    convention = out.get("input") or get_backbone(tsn.arch).convention
    out["input"] = resolve_convention(convention).to_dict()
    out.setdefault("crop_size", 224)
    out.setdefault("flow", None)
    out.setdefault("config", {})
    out["tsn_version"] = __version__
    return out


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
        torch.save(payload, tmp)
    return target


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
    return ckpt


def create_model_from_checkpoint(
    path_or_ckpt: str | os.PathLike[str] | dict[str, Any], device: str | torch.device = "cpu"
) -> tuple[TSN, dict[str, Any]]:
    """Rebuild the TSN a checkpoint describes, load its weights, move it to `device`, eval mode."""
    ckpt = path_or_ckpt if isinstance(path_or_ckpt, dict) else load_checkpoint(path_or_ckpt)
    meta = ckpt["meta"]
    try:
        model = create_tsn(**meta)
    except TypeError as exc:
        raise DataError(f"checkpoint meta is incomplete ({exc})") from None
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
