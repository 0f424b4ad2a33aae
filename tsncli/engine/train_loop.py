"""One training epoch and one validation pass; progress leaves through an `emit` callback.

Batches arrive uint8 (B, S, C*L, H, W), are copied non-blocking to the device and normalised
there. Gradient accumulation makes `batch_size` the effective batch on any device count.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tsncli.engine.distributed import DistContext, all_gather_objects, all_reduce_mean
from tsncli.engine.metrics import compute_metrics
from tsncli.models.tsn import unwrap_model


@dataclass
class TrainEvent:
    """A progress report. kind: start | step | epoch | val | end | info."""

    kind: str
    epoch: int = 0  # 1-based epoch in progress (or just finished)
    epochs: int = 0
    step: int = 0  # optimizer steps done in this epoch
    steps: int = 0  # optimizer steps per epoch
    loss: float | None = None
    lr: float | None = None
    clips_per_s: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str = ""


Emit = Callable[[TrainEvent], None]


def set_train_mode(model: nn.Module, bn_mode: str) -> None:
    """model.train(), keeping TSN's BN policy: partial/frozen BN layers stay in eval mode."""
    model.train()
    if bn_mode == "frozen":
        unwrap_model(model).first_bn.eval()


def freeze_all_bn(model: nn.Module) -> None:
    """For bn=frozen: also stop training the first BN layer (partial BN froze the rest)."""
    for param in unwrap_model(model).first_bn.parameters():
        param.requires_grad_(False)


def _no_sync(model: nn.Module) -> contextlib.AbstractContextManager:
    """DDP's no_sync (skip the all-reduce of an accumulation micro-step), through torch.compile."""
    ddp = getattr(model, "_orig_mod", model)
    return ddp.no_sync() if hasattr(ddp, "no_sync") else contextlib.nullcontext()


def autocast_context(device: str, enabled: bool, dtype: str) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA (bf16 or fp16); a no-op elsewhere."""
    if not enabled or not device.startswith("cuda"):
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if dtype == "bf16" else torch.float16)


def train_one_epoch(
    model: nn.Module,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    *,
    ctx: DistContext,
    normalize: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    steps: int,
    accumulation: int,
    clip_grad: float,
    amp: tuple[bool, str],
    bn_mode: str,
    epoch: int,
    epochs: int,
    log_every: int,
    emit: Emit,
) -> dict[str, float]:
    """Run `steps` optimizer steps of `accumulation` micro-batches each; return epoch stats."""
    set_train_mode(model, bn_mode)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    device = ctx.device
    total = torch.zeros((), device=device)
    clips = 0
    clipped = torch.zeros((), device=device)
    start = time.perf_counter()
    window_start, window_clips = start, 0
    done_steps = 0
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        step_loss = torch.zeros((), device=device)
        used = 0
        for micro in range(accumulation):
            batch = next((b for b in batches if b is not None), None)  # None: skipped videos
            if batch is None:
                break  # the loader ran dry (only with skipped videos); end the epoch early
            used += 1
            clip, label = batch
            clip = clip.to(device, non_blocking=True)  # (B, S, C*L, H, W) uint8
            label = label.to(device, non_blocking=True)
            last = micro == accumulation - 1
            sync = _no_sync(model) if ctx.distributed and not last else contextlib.nullcontext()
            with sync:
                with autocast_context(device, *amp):
                    logits = model(normalize(clip))  # (B, K)
                loss = F.cross_entropy(logits.float(), label)
                scaler.scale(loss / accumulation).backward()
            step_loss += loss.detach() / accumulation
            clips += clip.shape[0]
            window_clips += clip.shape[0]
        if used == 0:
            break
        if clip_grad > 0:
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(params, clip_grad)
            clipped += (norm > clip_grad).float()  # stays on the device: no sync per step
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        total += step_loss
        done_steps += 1
        if (step + 1) % log_every == 0 or step + 1 == steps:
            now = time.perf_counter()
            rate = window_clips * ctx.world_size / max(now - window_start, 1e-9)
            window_start, window_clips = now, 0
            emit(
                TrainEvent(
                    "step",
                    epoch,
                    epochs,
                    step + 1,
                    steps,
                    loss=float(step_loss),
                    lr=optimizer.param_groups[0]["lr"] / optimizer.param_groups[0]["lr_mult"],
                    clips_per_s=rate,
                )
            )
    elapsed = time.perf_counter() - start
    return {
        "train_loss": all_reduce_mean(ctx, float(total) / max(done_steps, 1)),
        "clips_per_s": clips * ctx.world_size / max(elapsed, 1e-9),
        "clipped_steps": float(clipped),  # this rank's
        "epoch_seconds": elapsed,
    }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Any,
    *,
    ctx: DistContext,
    normalize: nn.Module,
    amp: tuple[bool, str],
    num_classes: int,
) -> dict[str, float] | None:
    """Validate this rank's shard; rank 0 returns mean class accuracy, top-1/5 and loss.

    `loader` yields (clip, label, dataset index) so shards merge back in list order.
    """
    model.eval()
    rows: list[tuple[int, np.ndarray, int]] = []
    for batch in loader:
        if batch is None:  # every video of this batch was skipped as undecodable
            continue
        clip, label, index = batch
        clip = clip.to(ctx.device, non_blocking=True)
        with autocast_context(ctx.device, *amp):
            logits = model(normalize(clip))
        scores = logits.float().cpu().numpy()
        for i, s, y in zip(index.tolist(), scores, label.tolist(), strict=True):
            rows.append((i, s, y))
    gathered = all_gather_objects(ctx, rows)
    if not ctx.is_main:
        return None
    merged = sorted((r for part in gathered for r in part), key=lambda r: r[0])
    unique = list({r[0]: r for r in merged}.values())
    scores = np.stack([r[1] for r in unique]) if unique else np.zeros((0, num_classes))
    labels = np.array([r[2] for r in unique], dtype=np.int64)
    metrics = compute_metrics(scores, labels, num_classes)
    loss = (
        float(F.cross_entropy(torch.from_numpy(scores), torch.from_numpy(labels)))
        if unique
        else 0.0
    )
    return {
        "val_mean_class_accuracy": metrics.mean_class_accuracy,
        "val_top1": metrics.top1,
        "val_top5": metrics.top5,
        "val_loss": loss,
        "val_videos": float(metrics.num_videos),
    }
