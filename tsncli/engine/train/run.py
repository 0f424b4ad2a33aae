"""`tsn train`'s core, one run read top to bottom: check inputs once (`prepare_run`), pick where
to run (CPU, one GPU, N spawned local ranks, or one rank of a torchrun or srun job), then each
rank builds its model, data and optimizer, resumes from last.pt if asked, and trains epoch after
epoch. Rank 0 alone writes the run folder (config.yaml, checkpoints, metrics) and reports
progress as `ProgressEvent`s.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.multiprocessing as tmp

from tsncli.config import config_to_dict, save_config
from tsncli.data.device_decode import check_decode_device
from tsncli.engine.distributed import (
    DistContext,
    barrier,
    destroy_process_group,
    free_port,
    init_process_group,
    join_launch,
)
from tsncli.engine.train.checkpoints import CheckpointSaver, ResumeState, resume_run
from tsncli.engine.train.config import TrainConfig
from tsncli.engine.train.loop import (
    TASK,
    LoopState,
    is_out_of_memory,
    out_of_memory_error,
    train_one_epoch,
    validate,
)
from tsncli.engine.train.optim import create_optimizer, create_scheduler
from tsncli.engine.train.plan import (
    SKIPPED_FILE,
    RunPlan,
    TrainResult,
    checkpoint_meta,
    prepare_run,
)
from tsncli.engine.train.setup import TrainData, build_model, create_train_data
from tsncli.engine.train.sinks import check_loggers, create_run_sinks
from tsncli.errors import UsageError
from tsncli.fsutil import stale_temp_paths
from tsncli.launch import resolve_devices, resolve_launch
from tsncli.layout import RUN_CONFIG, best_checkpoint, last_checkpoint
from tsncli.locks import hold_lock
from tsncli.models.normalize import Normalize
from tsncli.models.tsn import TSN
from tsncli.parallel import current_device, run_pool
from tsncli.progress import ProgressEvent, ProgressFn

RUN_LOCK = ".tsn-train.lock"  # held in the run folder while a run writes it


def _silent(event: ProgressEvent) -> None:
    """The progress callback of ranks other than 0."""


def train(config: TrainConfig, on_event: ProgressFn | None = None) -> TrainResult | None:
    """Train TSN as `config` says; returns the result on rank 0 (None on the other ranks of a
    torchrun or srun job)."""
    plan = prepare_run(config)
    check_loggers(plan.config.loggers)  # a missing mlflow/wandb fails before any work
    emit = on_event or _silent
    launch = resolve_launch()  # torchrun's or srun's tasks form one process group
    use_cuda = torch.cuda.is_available() and plan.config.gpus != 0
    check_decode_device(plan.config.decode_device, "cuda" if use_cuda else "cpu")
    if launch.distributed:
        ctx = join_launch(launch, use_cuda)
        try:
            return run_training(plan, ctx, emit if ctx.is_main else _silent)
        finally:
            destroy_process_group()
    gpus = plan.config.gpus
    if gpus is None:
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus and not torch.cuda.is_available():
        raise UsageError(
            f"--gpus {gpus} needs CUDA GPUs but CUDA sees none; train on the CPU with --gpus 0 "
            "(several CPU processes: torchrun --nproc-per-node N -m tsncli train ...)"
        )
    devices = resolve_devices(gpus)
    if devices is None or len(devices) == 1:
        device = devices[0] if devices else "cpu"
        if device.startswith("cuda"):
            torch.cuda.set_device(torch.device(device))
        return run_training(plan, DistContext(device=device), emit)
    return launch_local(plan, len(devices), devices, emit)


@dataclass(frozen=True)
class _RankTask:
    plan: RunPlan
    rank: int
    world_size: int
    init_method: str
    use_cuda: bool
    events: Any  # a Manager queue (rank 0 puts ProgressEvents; None ends the stream)


def _run_rank(task: _RankTask) -> TrainResult | None:
    local = 0
    device = current_device()
    if device.startswith("cuda"):
        local = torch.device(device).index or 0
    ctx = init_process_group(
        task.rank, task.world_size, local, task.use_cuda, init_method=task.init_method
    )
    emit = task.events.put if ctx.is_main else _silent
    try:
        return run_training(task.plan, ctx, emit)
    finally:
        destroy_process_group()  # closes gloo sockets so peers of a failed rank stop waiting


def launch_local(
    plan: RunPlan, world_size: int, devices: list[str] | None, emit: ProgressFn
) -> TrainResult:
    """Run `world_size` ranks in spawned processes (one per device, or CPU/gloo when None)."""
    manager = tmp.get_context("spawn").Manager()
    events = manager.Queue()
    init = f"tcp://127.0.0.1:{free_port()}"
    tasks = [
        _RankTask(plan, rank, world_size, init, devices is not None, events)
        for rank in range(world_size)
    ]
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            for index, result in run_pool(_run_rank, tasks, workers=world_size, devices=devices):
                results[index] = result
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)
        finally:
            events.put(None)

    thread = threading.Thread(target=drive, name="tsn-train-ranks", daemon=True)
    thread.start()
    try:
        while (event := events.get()) is not None:
            emit(event)
    finally:
        thread.join()
        manager.shutdown()
    if errors:
        raise errors[0]
    return results[0]


def run_training(plan: RunPlan, ctx: DistContext, emit: ProgressFn) -> TrainResult | None:
    """The training run of one rank: rank 0 locks the run folder against a second run, writes
    config.yaml, then `run_epochs`."""
    if not ctx.is_main:
        return run_epochs(plan, ctx, emit)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    with hold_lock(plan.run_dir / RUN_LOCK, f"run folder {plan.run_dir}"):
        # a checkpoint save killed by SIGKILL left its hidden temporary file (tens of MB)
        for checkpoint in (last_checkpoint(plan.run_dir), best_checkpoint(plan.run_dir)):
            for stale in stale_temp_paths(checkpoint):
                stale.unlink(missing_ok=True)
        save_config(plan.config, plan.run_dir / RUN_CONFIG)
        emit(ProgressEvent(TASK, 0, kind="info", message=f"run folder {plan.run_dir}"))
        return run_epochs(plan, ctx, emit)


def run_epochs(plan: RunPlan, ctx: DistContext, emit: ProgressFn) -> TrainResult | None:
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
    params = config_to_dict(cfg)
    resumed = ResumeState()
    last = last_checkpoint(plan.run_dir)
    if cfg.resume and last.is_file():
        resumed = resume_run(last, params, model, optimizer, scheduler, scaler)
        note = f"resumed after epoch {resumed.epochs_done} from {last}"
        emit(ProgressEvent(TASK, 0, kind="info", message=note))
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
            best=resumed.best,
            history=resumed.history,
            keep_last=cfg.keep_last,
        )
    start = resumed.epochs_done
    stats = {"epoch": start, "epochs": cfg.epochs, "steps": data.steps}
    stats["videos"] = len(data.train_set)
    emit(
        ProgressEvent(TASK, start * data.steps, cfg.epochs * data.steps, kind="start", stats=stats)
    )
    try:
        for epoch in range(start, cfg.epochs):
            _run_epoch(plan, loop, data, model, saver, epoch, emit)
            barrier(ctx)
    finally:
        if saver is not None:
            saver.close()
    return None if saver is None else _finish(plan, saver, data.steps, emit)


def _wrap(model: TSN, ctx: DistContext, compile_model: bool) -> Any:
    """What the forward pass goes through: DDP when distributed, then torch.compile if asked."""
    net: Any = model
    if ctx.distributed:
        index = [torch.device(ctx.device).index] if ctx.device.startswith("cuda") else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=index)
    if compile_model:
        net = torch.compile(net)
    return net


def _run_epoch(
    plan: RunPlan,
    loop: LoopState,
    data: TrainData,
    model: TSN,
    saver: CheckpointSaver | None,
    epoch: int,
    emit: ProgressFn,
) -> None:
    """Train epoch `epoch` (0-based), validate when due, and on rank 0 save and report it."""
    cfg, ctx = plan.config, loop.ctx
    data.train_set.set_epoch(epoch)
    data.sampler.set_epoch(epoch)
    # dropout masks depend on (seed, epoch, rank) only, so a resumed run repeats them
    torch.manual_seed(int(np.random.SeedSequence([cfg.seed, epoch, ctx.rank]).generate_state(1)[0]))
    first = loop.optimizer.param_groups[0]
    lr_used = first["lr"] / first["lr_mult"]  # the base lr at the epoch's first step
    try:
        stats = train_one_epoch(loop, epoch + 1, emit)
    except RuntimeError as exc:  # torch.OutOfMemoryError is a RuntimeError too
        _raise_if_out_of_memory(exc, "training", plan, data, epoch, ctx)
        raise
    row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr_used, **stats}
    due = cfg.eval_every > 0 and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs)
    val = None
    if due and len(data.val_set):
        # the unwrapped model: DDP's buffer sync would hang on uneven validation shards
        try:
            val = validate(
                model,
                data.val_loader,
                ctx=ctx,
                normalize=loop.normalize,
                amp=loop.amp,
                num_classes=len(plan.class_names),
            )
        except RuntimeError as exc:
            _raise_if_out_of_memory(exc, "validation", plan, data, epoch, ctx)
            raise
    if saver is None:
        return
    if val:
        row.update(val)
    improved = saver.update(row)
    # the run's bar stays where the epoch's last step left it
    done, total = (epoch + 1) * loop.steps, cfg.epochs * loop.steps
    note = f"epoch {epoch + 1}/{cfg.epochs}"
    where = {"epoch": epoch + 1, "epochs": cfg.epochs, "steps": loop.steps}
    emit(ProgressEvent(TASK, done, total, message=note, kind="epoch", stats={**row, **where}))
    if val:
        metrics = dict(val, best=saver.best, improved=improved, **where)
        emit(ProgressEvent(TASK, done, total, message=note, kind="val", stats=metrics))


def _raise_if_out_of_memory(
    exc: RuntimeError, stage: str, plan: RunPlan, data: TrainData, epoch: int, ctx: DistContext
) -> None:
    """Turn torch's out-of-memory (a traceback of allocator internals) into one line."""
    if is_out_of_memory(exc):
        cfg = plan.config
        micro = cfg.batch_size // max(data.accumulation, 1) // ctx.world_size
        error = out_of_memory_error(stage, epoch + 1, cfg.epochs, ctx.device, cfg.batch_size, micro)
        raise error from None


def _finish(plan: RunPlan, saver: CheckpointSaver, steps: int, emit: ProgressFn) -> TrainResult:
    """Rank 0's result, after a note on videos the sources could not decode."""
    cfg, run_dir = plan.config, plan.run_dir
    skipped: set[str] = set()
    for source in (plan.train_source, plan.val_source):
        skipped.update(getattr(source, "skipped_videos", lambda: [])())
    if skipped:
        note = f"{len(skipped)} undecodable video(s) skipped; listed in {run_dir / SKIPPED_FILE}"
        emit(ProgressEvent(TASK, 0, kind="info", message=note))
    result = TrainResult(
        run_dir=run_dir,
        epochs_done=cfg.epochs,
        best_metric=saver.best if saver.best >= 0 else None,
        last_checkpoint=saver.last_path,
        best_checkpoint=saver.best_path if saver.best_path.is_file() else None,
        history=saver.history,
    )
    total = cfg.epochs * steps
    where = {"epoch": cfg.epochs, "epochs": cfg.epochs, "run_dir": str(run_dir)}
    note = f"epoch {cfg.epochs}/{cfg.epochs}"
    emit(ProgressEvent(TASK, total, total, message=note, kind="end", stats=where))
    return result
