"""Process groups for training: joining a launched job (tsncli.launch), local spawning, and
small collectives.

One process per device. NCCL on GPU, gloo on CPU. A `DistContext` says who this process is; a
single process has world size 1 and no process group.
"""

from __future__ import annotations

import datetime
import socket
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from tsncli.errors import UsageError
from tsncli.launch import LaunchInfo

TIMEOUT = datetime.timedelta(minutes=30)


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Only rank 0 logs and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def join_launch(launch: LaunchInfo, use_cuda: bool) -> DistContext:
    """Join the process group `launch` describes (torchrun, or srun's tasks), at its master
    address and port, and pick cuda:LOCAL_RANK (or the CPU)."""
    return init_process_group(
        launch.rank, launch.world_size, launch.local_rank, use_cuda, launch.init_method
    )


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 for a local rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def init_process_group(
    rank: int, world_size: int, local_rank: int, use_cuda: bool, init_method: str | None = None
) -> DistContext:
    """Join the job (NCCL on GPU, gloo on CPU) and pick this process's device."""
    device = "cpu"
    if use_cuda:
        if not torch.cuda.is_available():
            raise UsageError("CUDA training was asked for but CUDA sees no GPU; use --gpus 0")
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        device = f"cuda:{torch.cuda.current_device()}"
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        kwargs: dict[str, Any] = {"backend": backend, "rank": rank, "world_size": world_size}
        kwargs["init_method"] = init_method or "env://"
        if use_cuda:
            kwargs["device_id"] = torch.device(device)
        dist.init_process_group(timeout=TIMEOUT, **kwargs)
    return DistContext(rank, world_size, local_rank, device)


def destroy_process_group() -> None:
    """Leave the job (no-op for a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait for every rank."""
    if ctx.distributed:
        if ctx.device.startswith("cuda"):
            dist.barrier(device_ids=[torch.device(ctx.device).index])
        else:
            dist.barrier()


def all_reduce_mean(ctx: DistContext, value: float) -> float:
    """The mean of a float over ranks."""
    if not ctx.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / ctx.world_size


def all_gather_objects(ctx: DistContext, obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out
