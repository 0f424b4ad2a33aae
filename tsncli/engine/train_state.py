"""Training state on disk: RNG states, resumable checkpoints, pretrained and --init weights.

RNG states are stored as tensors and plain lists so `load_checkpoint` can read them with
`weights_only=True`.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tsncli.errors import DataError, UsageError
from tsncli.models.checkpoint import load_checkpoint, save_checkpoint
from tsncli.models.pretrained import load_backbone_from_checkpoint, load_imagenet_weights
from tsncli.models.tsn import TSN

log = logging.getLogger("tsncli.train")


def capture_rng() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {
            "state": [int(v) for v in np_state["state"]["key"]],
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng` (CUDA states only when the device count matches)."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    numpy = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np.array(numpy["state"], dtype=np.uint32), "pos": numpy["pos"]},
            "has_gauss": numpy["has_gauss"],
            "gauss": numpy["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_training_checkpoint(
    path: Path,
    model: nn.Module,
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    epoch: int,
    best_metric: float,
    history: list[dict[str, Any]],
) -> Path:
    """last.pt / best.pt: weights + meta + everything `--resume` needs (epoch = completed ones)."""
    return save_checkpoint(
        path,
        model,
        meta,
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        scaler=scaler.state_dict(),
        epoch=epoch,
        best_metric=best_metric,
        history=history,
        rng=capture_rng(),
    )


def load_resume_state(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Read last.pt for `--resume`; refuse a run made with another model setup."""
    if not path.is_file():
        raise UsageError(f"--resume found no {path}; start the run without --resume")
    ckpt = load_checkpoint(path)
    if "optimizer" not in ckpt or "epoch" not in ckpt:
        raise DataError(f"{path} holds no training state; it cannot be resumed")
    saved = ckpt["meta"].get("config", {})
    for key in ("arch", "modality", "segments", "new_length", "consensus", "dataset"):
        if key in saved and saved[key] != config.get(key):
            raise UsageError(
                f"--resume: {path} was trained with {key}={saved[key]!r}, not "
                f"{config.get(key)!r}; use the same options or another --out"
            )
    return ckpt


def load_backbone_weights(model: TSN, path: str | Path) -> None:
    """Load ImageNet (or other backbone) weights; flow/RGB-diff conv1 gets cross-modality init."""
    report = load_imagenet_weights(model, path=path)
    log.info(
        "loaded %d backbone tensors from %s (adapted: %s)", report.loaded, path, report.adapted
    )


def load_init_checkpoint(model: TSN, path: str | Path) -> None:
    """`--init CKPT`: the backbone of another TSN checkpoint (e.g. Kinetics); a new fc."""
    report = load_backbone_from_checkpoint(model, load_checkpoint(path), name=str(path))
    log.info("initialised the backbone from %s (%d tensors)", path, report.loaded)
