"""One rank's training run: model, data, optimizer, then the epoch loop; rank 0 hands each
epoch's metrics to a `CheckpointSaver` (checkpoints, metrics files, --logger trackers).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tsncli.config import config_to_dict
from tsncli.engine.checkpoint_saver import CheckpointSaver
from tsncli.engine.distributed import DistContext, barrier
from tsncli.engine.optim import create_optimizer, create_scheduler
from tsncli.engine.trackers import create_run_sinks
from tsncli.engine.train_loop import (
    Emit,
    LoopState,
    TrainEvent,
    train_one_epoch,
    validate,
)
from tsncli.engine.train_plan import RunPlan, TrainResult, checkpoint_meta
from tsncli.engine.train_setup import TrainData, build_model, create_train_data
from tsncli.engine.train_state import load_resume_state, restore_rng
from tsncli.models.normalize import Normalize
from tsncli.models.tsn import TSN


def _resume(
    plan: RunPlan, model: TSN, optimizer: Any, scheduler: Any, scaler: Any, emit: Emit
) -> tuple[int, float, list[dict[str, Any]]]:
    """Load last.pt into the model, optimizer, scheduler, scaler and RNGs; return the epochs
    already done, the best metric so far and the history."""
    path = plan.run_dir / "last.pt"
    ckpt = load_resume_state(path, config_to_dict(plan.config))
    model.load_state_dict(ckpt["state_dict"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    start_epoch = int(ckpt["epoch"])
    restore_rng(ckpt["rng"])
    emit(TrainEvent("info", message=f"resumed after epoch {start_epoch} from {path}"))
    return start_epoch, float(ckpt["best_metric"]), list(ckpt.get("history", []))


def _wrap(model: TSN, ctx: DistContext, compile_model: bool) -> Any:
    """What the forward pass goes through: DDP when distributed, then torch.compile if asked."""
    net: Any = model
    if ctx.distributed:
        index = [torch.device(ctx.device).index] if ctx.device.startswith("cuda") else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=index)
    if compile_model:
        net = torch.compile(net)
    return net


def run_epochs(plan: RunPlan, ctx: DistContext, emit: Emit) -> TrainResult | None:
    """Train one rank from scratch or from last.pt; rank 0 returns a TrainResult."""
    cfg = plan.config
    model = build_model(plan, ctx.device)
    optimizer = create_optimizer(model, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.modality)
    normalize = Normalize(cfg.modality, model.spec.convention, "rgb").to(ctx.device)
    amp = (bool(cfg.amp and ctx.device.startswith("cuda")), cfg.amp_dtype)
    scaler = torch.amp.GradScaler("cuda", enabled=amp[0] and cfg.amp_dtype == "fp16")
    data = create_train_data(plan, ctx)
    scheduler = create_scheduler(
        optimizer,
        data.steps,
        cfg.epochs,
        cfg.lr_schedule,
        cfg.lr_steps,
        cfg.lr_gamma,
        cfg.warmup_epochs,
    )
    start_epoch, best, history = 0, -1.0, []
    if cfg.resume and (plan.run_dir / "last.pt").is_file():
        start_epoch, best, history = _resume(plan, model, optimizer, scheduler, scaler, emit)
    loop = LoopState(
        net=_wrap(model, ctx, cfg.compile),
        loader=data.loader,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        normalize=normalize,
        ctx=ctx,
        steps=data.steps,
        accumulation=data.accumulation,
        clip_grad=float(cfg.clip_grad or 0.0),
        amp=amp,
        bn_mode=cfg.bn,
        epochs=cfg.epochs,
        log_every=cfg.log_every,
    )
    saver = None
    if ctx.is_main:
        params = config_to_dict(cfg)
        sinks = create_run_sinks(plan.run_dir, cfg.loggers, cfg.tensorboard, params)
        meta = checkpoint_meta(plan, model).to_dict()  # the one CheckpointMeta shape
        saver = CheckpointSaver(
            plan.run_dir,
            model,
            optimizer,
            scheduler,
            scaler,
            meta,
            sinks,
            best=best,
            history=history,
            keep_last=cfg.keep_last,
        )
    message = f"{len(data.train_set)} videos"
    emit(TrainEvent("start", start_epoch, cfg.epochs, 0, data.steps, message=message))
    try:
        for epoch in range(start_epoch, cfg.epochs):
            _run_epoch(plan, loop, data, model, saver, epoch, emit)
            barrier(ctx)
    finally:
        if saver is not None:
            saver.close()
    return None if saver is None else _finish(plan, saver, emit)


def _run_epoch(
    plan: RunPlan,
    loop: LoopState,
    data: TrainData,
    model: TSN,
    saver: CheckpointSaver | None,
    epoch: int,
    emit: Emit,
) -> None:
    """Train epoch `epoch` (0-based), validate when due, and on rank 0 save and report it."""
    cfg, ctx = plan.config, loop.ctx
    data.train_set.set_epoch(epoch)
    data.sampler.set_epoch(epoch)
    # dropout masks depend on (seed, epoch, rank) only, so a resumed run repeats them
    torch.manual_seed(int(np.random.SeedSequence([cfg.seed, epoch, ctx.rank]).generate_state(1)[0]))
    first = loop.optimizer.param_groups[0]
    lr_used = first["lr"] / first["lr_mult"]  # the base lr at the epoch's first step
    stats = train_one_epoch(loop, epoch + 1, emit)
    row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr_used, **stats}
    due = cfg.eval_every > 0 and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs)
    val = None
    if due and len(data.val_set):
        # the unwrapped model: DDP's buffer sync would hang on uneven validation shards
        val = validate(
            model,
            data.val_loader,
            ctx=ctx,
            normalize=loop.normalize,
            amp=loop.amp,
            num_classes=len(plan.class_names),
        )
    if saver is None:
        return
    if val:
        row.update(val)
    improved = saver.update(row)
    emit(
        TrainEvent(
            "epoch",
            epoch + 1,
            cfg.epochs,
            loop.steps,
            loop.steps,
            loss=row["train_loss"],
            lr=row["lr"],
            clips_per_s=row["clips_per_s"],
            metrics=row,
        )
    )
    if val:
        metrics = dict(val, best=saver.best, improved=improved)
        emit(TrainEvent("val", epoch + 1, cfg.epochs, metrics=metrics))


def _finish(plan: RunPlan, saver: CheckpointSaver, emit: Emit) -> TrainResult:
    """Rank 0's result, after a note on videos the sources could not decode."""
    cfg, run_dir = plan.config, plan.run_dir
    skipped: set[str] = set()
    for source in (plan.train_source, plan.val_source):
        skipped.update(getattr(source, "skipped_videos", lambda: [])())
    if skipped:
        emit(
            TrainEvent(
                "info",
                message=f"{len(skipped)} undecodable video(s) skipped; listed in "
                f"{run_dir / 'skipped_videos.txt'}",
            )
        )
    result = TrainResult(
        run_dir=run_dir,
        epochs_done=cfg.epochs,
        best_metric=saver.best if saver.best >= 0 else None,
        last_checkpoint=saver.last_path,
        best_checkpoint=saver.best_path if saver.best_path.is_file() else None,
        history=saver.history,
    )
    emit(TrainEvent("end", cfg.epochs, cfg.epochs, message=str(run_dir)))
    return result
