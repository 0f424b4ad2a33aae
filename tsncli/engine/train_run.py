"""One rank's training run: model, data, optimizer, the epoch loop, validation and checkpoints."""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from tsncli.data.dataset import TSNDataset, create_loader, default_workers
from tsncli.engine.distributed import DistContext, barrier
from tsncli.engine.optim import create_optimizer, create_scheduler
from tsncli.engine.run_files import open_tensorboard, write_metrics
from tsncli.engine.train_loop import (
    Emit,
    TrainEvent,
    evaluate,
    freeze_all_bn,
    train_one_epoch,
)
from tsncli.engine.train_state import (
    load_backbone_weights,
    load_init_checkpoint,
    load_resume_state,
    restore_rng,
    save_training_checkpoint,
)
from tsncli.errors import UsageError
from tsncli.fsutil import atomic_path
from tsncli.models.normalize import Normalize
from tsncli.models.tsn import TSN, create_tsn


class _Indexed(Dataset):
    """(clip, label, index) over a subset of a dataset, so validation shards merge in order."""

    def __init__(self, dataset: TSNDataset, indices: list[int]) -> None:
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        clip, label = self.dataset[self.indices[i]]
        return clip, label, self.indices[i]


def batch_plan(batch_size: int, micro_batch: int | None, world_size: int) -> tuple[int, int]:
    """(clips per forward per rank, accumulation steps) so the effective batch is `batch_size`."""
    if batch_size % world_size:
        raise UsageError(
            f"batch size {batch_size} does not split over {world_size} processes; "
            f"use a multiple of {world_size}"
        )
    per_rank = batch_size // world_size
    micro = min(micro_batch or per_rank, per_rank)
    if per_rank % micro:
        raise UsageError(
            f"micro batch {micro} does not divide the {per_rank} clips per process; "
            "pick a divisor of batch_size / processes"
        )
    return micro, per_rank // micro


def build_model(plan: Any, device: str) -> TSN:
    """The TSN of the plan with pretrained or --init weights, on `device`."""
    cfg = plan.config
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = create_tsn(
        cfg.arch,
        len(plan.class_names),
        modality=cfg.modality,
        num_segments=cfg.segments,
        new_length=cfg.new_length,
        consensus=cfg.consensus,
        dropout=cfg.dropout,
        partial_bn=cfg.bn != "full",
    )
    if plan.pretrained_path:
        load_backbone_weights(model, plan.pretrained_path)
    if cfg.init:
        load_init_checkpoint(model, cfg.init)
    if cfg.bn == "frozen":
        freeze_all_bn(model)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def run_epochs(plan: Any, ctx: DistContext, emit: Emit) -> Any:
    """Train one rank from scratch or from last.pt; rank 0 returns a TrainResult."""
    from tsncli.engine.train import TrainResult, checkpoint_meta

    cfg = plan.config
    run_dir = plan.run_dir
    cuda = ctx.device.startswith("cuda")
    model = build_model(plan, ctx.device)
    optimizer = create_optimizer(model, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.modality)
    normalize = Normalize(cfg.modality, model.spec.convention, "rgb").to(ctx.device)
    amp = (bool(cfg.amp and cuda), cfg.amp_dtype)
    scaler = torch.amp.GradScaler("cuda", enabled=amp[0] and cfg.amp_dtype == "fp16")

    micro, accumulation = batch_plan(cfg.batch_size, cfg.micro_batch, ctx.world_size)
    workers = default_workers(ctx.world_size) if cfg.workers is None else cfg.workers
    train_set = TSNDataset(
        plan.train_records,
        cfg.modality,
        cfg.segments,
        cfg.new_length,
        "train",
        cfg.crop_size,
        cfg.seed,
        source=plan.train_source,
    )
    sampler = DistributedSampler(
        train_set, ctx.world_size, ctx.rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    steps = len(sampler) // (micro * accumulation)
    if steps == 0:
        raise UsageError(
            f"batch size {cfg.batch_size} is larger than the {len(train_set)} training videos; "
            "lower --batch-size"
        )
    loader = create_loader(
        train_set,
        micro,
        sampler=sampler,
        workers=workers,
        pin_memory=cuda,
        drop_last=True,
        seed=cfg.seed,
    )
    val_set = TSNDataset(
        plan.val_records,
        cfg.modality,
        cfg.segments,
        cfg.new_length,
        "val",
        cfg.crop_size,
        cfg.seed,
        source=plan.val_source,
    )
    val_shard = _Indexed(val_set, list(range(ctx.rank, len(val_set), ctx.world_size)))
    val_loader = create_loader(val_shard, micro, workers=workers, pin_memory=cuda)  # type: ignore[arg-type]
    scheduler = create_scheduler(
        optimizer, steps, cfg.epochs, cfg.lr_schedule, cfg.lr_steps, cfg.lr_gamma, cfg.warmup_epochs
    )

    start_epoch, best, history = 0, -1.0, []
    if cfg.resume and (run_dir / "last.pt").is_file():
        from tsncli.config import config_to_dict

        ckpt = load_resume_state(run_dir / "last.pt", config_to_dict(cfg))
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        start_epoch, best = int(ckpt["epoch"]), float(ckpt["best_metric"])
        history = list(ckpt.get("history", []))
        restore_rng(ckpt["rng"])
        emit(
            TrainEvent(
                "info", message=f"resumed after epoch {start_epoch} from {run_dir / 'last.pt'}"
            )
        )

    net: Any = model
    if ctx.distributed:
        index = [torch.device(ctx.device).index] if cuda else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=index)
    if cfg.compile:
        net = torch.compile(net)
    writer = open_tensorboard(run_dir, cfg.tensorboard) if ctx.is_main else None
    meta = checkpoint_meta(plan)
    emit(TrainEvent("start", start_epoch, cfg.epochs, 0, steps, message=f"{len(train_set)} videos"))
    for epoch in range(start_epoch, cfg.epochs):
        train_set.set_epoch(epoch)
        sampler.set_epoch(epoch)
        # dropout masks depend on (seed, epoch, rank) only, so a resumed run repeats them
        torch.manual_seed(
            int(np.random.SeedSequence([cfg.seed, epoch, ctx.rank]).generate_state(1)[0])
        )
        first = optimizer.param_groups[0]
        lr_used = first["lr"] / first["lr_mult"]  # the base lr at the epoch's first step
        stats = train_one_epoch(
            net,
            iter(loader),
            ctx=ctx,
            normalize=normalize,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=scaler,
            steps=steps,
            accumulation=accumulation,
            clip_grad=float(cfg.clip_grad or 0.0),
            amp=amp,
            bn_mode=cfg.bn,
            epoch=epoch + 1,
            epochs=cfg.epochs,
            log_every=cfg.log_every,
            emit=emit,
        )
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": lr_used,
            **stats,
        }
        due = cfg.eval_every > 0 and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs)
        val = None
        if due and len(val_set):
            # the unwrapped model: DDP's buffer sync would hang on uneven validation shards
            val = evaluate(
                model,
                val_loader,
                ctx=ctx,
                normalize=normalize,
                amp=amp,
                num_classes=len(plan.class_names),
            )
        if ctx.is_main:
            if val:
                row.update(val)
            history.append(row)
            improved = val is not None and val["val_mean_class_accuracy"] > best
            if improved:
                best = val["val_mean_class_accuracy"]
            meta["epoch"] = epoch + 1
            last = save_training_checkpoint(
                run_dir / "last.pt",
                model,
                meta,
                optimizer,
                scheduler,
                scaler,
                epoch + 1,
                best,
                history,
            )
            if improved:
                with atomic_path(run_dir / "best.pt") as tmp:
                    shutil.copyfile(last, tmp)
            write_metrics(run_dir, history)
            if writer is not None:
                for key, value in row.items():
                    if key != "epoch":
                        writer.add_scalar(key, value, epoch + 1)
            emit(
                TrainEvent(
                    "epoch",
                    epoch + 1,
                    cfg.epochs,
                    steps,
                    steps,
                    loss=row["train_loss"],
                    lr=row["lr"],
                    clips_per_s=row["clips_per_s"],
                    metrics=row,
                )
            )
            if val:
                emit(
                    TrainEvent(
                        "val",
                        epoch + 1,
                        cfg.epochs,
                        metrics=dict(val, best=best, improved=improved),
                    )
                )
        barrier(ctx)
    if writer is not None:
        writer.close()
    if not ctx.is_main:
        return None
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
    best_path = run_dir / "best.pt"
    result = TrainResult(
        run_dir=run_dir,
        epochs_done=cfg.epochs,
        best_metric=best if best >= 0 else None,
        last_checkpoint=run_dir / "last.pt",
        best_checkpoint=best_path if best_path.is_file() else None,
        history=history,
    )
    emit(TrainEvent("end", cfg.epochs, cfg.epochs, message=str(run_dir)))
    return result
