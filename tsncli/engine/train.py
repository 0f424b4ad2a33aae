"""`tsn train`'s core: check inputs, then train on CPU, one GPU, N local GPUs, or as one rank of
a torchrun or srun job (tsncli.launch).

`train(config, on_event)` validates lists, frames and weights once, then runs `run_training`
in this process, in N spawned processes (`--gpus N`, via the shared pool) or as one rank of a
launched job. Rank 0 alone writes the run folder: config.yaml, metrics.jsonl/.csv, checkpoints.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import torch
import torch.multiprocessing as tmp

from tsncli.config import save_config
from tsncli.engine.distributed import (
    DistContext,
    destroy_process_group,
    free_port,
    init_process_group,
    join_launch,
)
from tsncli.engine.trackers import check_loggers
from tsncli.engine.train_config import TrainConfig
from tsncli.engine.train_loop import Emit, TrainEvent
from tsncli.engine.train_plan import RunPlan, TrainResult, prepare_run
from tsncli.engine.train_run import run_epochs
from tsncli.errors import UsageError
from tsncli.launch import resolve_devices, resolve_launch
from tsncli.locks import hold_lock
from tsncli.parallel import current_device, run_pool

RUN_LOCK = ".tsn-train.lock"  # held in the run folder while a run writes it

__all__ = ["RunPlan", "TrainResult", "launch_local", "prepare_run", "run_training", "train"]


def train(config: TrainConfig, on_event: Emit | None = None) -> TrainResult | None:
    """Train TSN as `config` says; returns the result on rank 0 (None on the other ranks of a
    torchrun or srun job)."""
    plan = prepare_run(config)
    check_loggers(plan.config.loggers)  # a missing mlflow/wandb fails before any work
    emit = on_event or (lambda event: None)
    launch = resolve_launch()  # torchrun's or srun's tasks form one process group
    use_cuda = torch.cuda.is_available() and plan.config.gpus != 0
    if launch.distributed:
        ctx = join_launch(launch, use_cuda)
        try:
            return run_training(plan, ctx, emit if ctx.is_main else (lambda event: None))
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
    events: Any  # a Manager queue (rank 0 puts TrainEvents; None ends the stream)


def _run_rank(task: _RankTask) -> TrainResult | None:
    local = 0
    device = current_device()
    if device.startswith("cuda"):
        local = torch.device(device).index or 0
    ctx = init_process_group(
        task.rank, task.world_size, local, task.use_cuda, init_method=task.init_method
    )
    emit = task.events.put if ctx.is_main else (lambda event: None)
    try:
        return run_training(task.plan, ctx, emit)
    finally:
        destroy_process_group()  # closes gloo sockets so peers of a failed rank stop waiting


def launch_local(
    plan: RunPlan, world_size: int, devices: list[str] | None, emit: Emit
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


def run_training(plan: RunPlan, ctx: DistContext, emit: Emit) -> TrainResult | None:
    """The training run of one rank: rank 0 locks the run folder against a second run, writes
    config.yaml, then `run_epochs`."""
    if not ctx.is_main:
        return run_epochs(plan, ctx, emit)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    with hold_lock(plan.run_dir / RUN_LOCK, f"run folder {plan.run_dir}"):
        save_config(plan.config, plan.run_dir / "config.yaml")
        emit(TrainEvent("info", message=f"run folder {plan.run_dir}"))
        return run_epochs(plan, ctx, emit)
