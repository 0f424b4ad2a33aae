"""One training epoch and one validation pass; progress leaves as `ProgressEvent`s.

Batches arrive uint8 (B, S, C*L, H, W), are copied non-blocking to the device and normalised
there. Gradient accumulation makes `batch_size` the effective batch on any device count.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tsncli.data.device_decode import move_clips
from tsncli.engine.distributed import DistContext, all_gather_objects, all_reduce_mean
from tsncli.engine.metrics import compute_metrics
from tsncli.errors import TsnError
from tsncli.models.tsn import unwrap_model
from tsncli.progress import ProgressEvent, ProgressFn

TASK = "training"  # the bar of the whole run; each epoch also has an "epoch" bar


def step_events(
    epoch: int, epochs: int, step: int, steps: int, loss: float, lr: float, clips_per_s: float
) -> list[ProgressEvent]:
    """What a logged optimizer step reports: the whole run's count (`kind="step"`, with the
    numbers in `stats`) and this epoch's count, whose going back to 0 restarts its bar."""
    stats = {"epoch": epoch, "epochs": epochs, "step": step, "steps": steps}
    stats.update(loss=loss, lr=lr, clips_per_s=clips_per_s)
    note = f"loss {loss:.4f}  lr {lr:.2e}  {clips_per_s:.1f} clips/s"
    done, total = (epoch - 1) * steps + step, epochs * steps
    return [
        ProgressEvent(
            TASK, done, total, message=f"epoch {epoch}/{epochs}", kind="step", stats=stats
        ),
        ProgressEvent("epoch", step, steps, message=note),
    ]


def set_train_mode(model: nn.Module, bn_mode: str) -> None:
    """model.train(), keeping TSN's BN policy: partial/frozen BN layers stay in eval mode."""
    model.train()
    if bn_mode == "frozen":
        unwrap_model(model).first_bn.eval()


def _no_sync(model: nn.Module) -> contextlib.AbstractContextManager:
    """DDP's no_sync (skip the all-reduce of an accumulation micro-step), through torch.compile."""
    ddp = getattr(model, "_orig_mod", model)
    return ddp.no_sync() if hasattr(ddp, "no_sync") else contextlib.nullcontext()


def autocast_context(device: str, enabled: bool, dtype: str) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA (bf16 or fp16); a no-op elsewhere."""
    if not enabled or not device.startswith("cuda"):
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if dtype == "bf16" else torch.float16)


@dataclass(frozen=True)
class LoopState:
    """What `train_one_epoch` needs that stays the same from epoch to epoch."""

    net: nn.Module  # what the forward pass goes through: the model, or its DDP/compiled wrapper
    loader: Any  # yields (clip, label) micro-batches, or None for a batch of skipped videos
    optimizer: torch.optim.Optimizer
    scheduler: Any  # stepped once per optimizer step
    scaler: Any  # torch.amp.GradScaler (disabled unless fp16 on CUDA)
    normalize: nn.Module
    ctx: DistContext
    steps: int  # optimizer steps per epoch
    accumulation: int  # micro-batches per optimizer step
    clip_grad: float  # max gradient norm; 0 disables clipping
    amp: tuple[bool, str]  # (enabled, "bf16" | "fp16")
    bn_mode: str  # partial | frozen | full
    epochs: int
    log_every: int  # optimizer steps between "step" events


def _accumulate(state: LoopState, batches: Iterator[Any]) -> tuple[torch.Tensor, int]:
    """Forward and backward `accumulation` micro-batches: (mean loss, clips); 0 clips when dry."""
    device = state.ctx.device
    step_loss = torch.zeros((), device=device)
    clips = 0
    for micro in range(state.accumulation):
        batch = next((b for b in batches if b is not None), None)  # None: skipped videos
        if batch is None:
            break  # the loader ran dry (only with skipped videos); end the epoch early
        clip, label = batch
        clip = move_clips(clip, device)  # (B, S, C*L, H, W) uint8 (JPEGs decode there)
        label = label.to(device, non_blocking=True)
        last = micro == state.accumulation - 1
        distributed = state.ctx.distributed and not last
        sync = _no_sync(state.net) if distributed else contextlib.nullcontext()
        with sync:
            with autocast_context(device, *state.amp):
                logits = state.net(state.normalize(clip))  # (B, K)
            loss = F.cross_entropy(logits.float(), label)
            state.scaler.scale(loss / state.accumulation).backward()
        step_loss += loss.detach() / state.accumulation
        clips += clip.shape[0]
    return step_loss, clips


def train_one_epoch(state: LoopState, epoch: int, emit: ProgressFn) -> dict[str, float]:
    """Run `state.steps` optimizer steps of `state.accumulation` micro-batches each (`epoch` is
    1-based); return the epoch's stats."""
    optimizer, scaler, ctx = state.optimizer, state.scaler, state.ctx
    set_train_mode(state.net, state.bn_mode)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    batches = iter(state.loader)
    total = torch.zeros((), device=ctx.device)
    clipped = torch.zeros((), device=ctx.device)
    clips = done_steps = 0
    start = time.perf_counter()
    window_start, window_clips = start, 0
    for step in range(state.steps):
        optimizer.zero_grad(set_to_none=True)
        step_loss, used_clips = _accumulate(state, batches)
        if used_clips == 0:
            break
        clips += used_clips
        window_clips += used_clips
        if state.clip_grad > 0:
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(params, state.clip_grad)
            clipped += (norm > state.clip_grad).float()  # stays on the device: no sync per step
        scaler.step(optimizer)
        scaler.update()
        state.scheduler.step()
        total += step_loss
        done_steps += 1
        if (step + 1) % state.log_every == 0 or step + 1 == state.steps:
            now = time.perf_counter()
            rate = window_clips * ctx.world_size / max(now - window_start, 1e-9)
            window_start, window_clips = now, 0
            group = optimizer.param_groups[0]
            lr = group["lr"] / group["lr_mult"]
            events = step_events(
                epoch, state.epochs, step + 1, state.steps, float(step_loss), lr, rate
            )
            for event in events:
                emit(event)
    elapsed = time.perf_counter() - start
    train_loss = all_reduce_mean(ctx, float(total) / max(done_steps, 1))  # the same on all ranks
    # checked before the epoch is saved, so last.pt keeps the last good epoch's weights
    finite_weights = bool(torch.stack([torch.isfinite(p).all() for p in params]).all())
    if not math.isfinite(train_loss) or not finite_weights:
        what = f"the loss became {train_loss}"
        if math.isfinite(train_loss):
            what = "the weights became nan/inf"
        raise_diverged(what, epoch, state)
    return {
        "train_loss": train_loss,
        "clips_per_s": clips * ctx.world_size / max(elapsed, 1e-9),
        "clipped_steps": float(clipped),  # this rank's
        "epoch_seconds": elapsed,
    }


def raise_diverged(what: str, epoch: int, state: LoopState) -> None:
    """Stop a run whose loss is nan/inf with one line naming the epoch and the likely cause."""
    group = state.optimizer.param_groups[0]
    lr = group["lr"] / group.get("lr_mult", 1.0)
    amp = " or train without mixed precision (--no-amp)" if state.amp[0] else ""
    raise TsnError(
        f"training diverged: {what} in epoch {epoch}/{state.epochs} "
        f"(lr {lr:g}); lower --lr{amp}; the checkpoint of the last good epoch is kept"
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is torch running out of memory: CUDA's OutOfMemoryError, or the CPU
    allocator's RuntimeError ("DefaultCPUAllocator: can't allocate memory")."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text
    )


def out_of_memory_error(
    stage: str, epoch: int, epochs: int, device: str, batch_size: int, micro: int
) -> TsnError:
    """One line for an out-of-memory in `stage` ("training" or "validation") naming the fix:
    --micro-batch keeps the effective batch (gradients accumulate), --batch-size changes it."""
    where = "GPU" if device.startswith("cuda") else "CPU"
    kept = "; the checkpoint of the last good epoch is kept" if epoch > 1 else ""
    return TsnError(
        f"out of {where} memory in {stage} of epoch {epoch}/{epochs} "
        f"(--batch-size {batch_size}, {micro} clips per forward); lower --micro-batch "
        f"(the effective batch stays, by gradient accumulation) or --batch-size{kept}"
    )


@torch.no_grad()
def validate(
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
        clip = move_clips(clip, ctx.device)
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
