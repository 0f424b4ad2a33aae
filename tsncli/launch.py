"""Who this process is in a multi-process job: rank, world size, local rank and rendezvous,
read from explicit flags, then torchrun's variables, then SLURM's (srun tasks or array jobs);
and which GPUs `--gpus N` gives it (`resolve_devices`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from tsncli.errors import UsageError

PORT_BASE, PORT_SPAN = 10000, 20000  # master port from the job id: 10000 + job_id % 20000


@dataclass(frozen=True)
class LaunchInfo:
    """This process's place in the job.

    `rank`/`world_size` form one process group (torchrun, or srun's tasks); SLURM array tasks
    are independent jobs, counted by `array_index`/`array_count`, that only split the work.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None
    source: str = "local"  # local | flags | torchrun | slurm
    array_index: int = 0  # 0-based position among the array's tasks
    array_count: int = 1
    job_id: str | None = None

    @property
    def distributed(self) -> bool:
        """More than one process in this process group."""
        return self.world_size > 1

    @property
    def shard_index(self) -> int:
        """0-based share of per-item work (flow, index, eval) over array tasks x ranks."""
        return self.array_index * self.world_size + self.rank

    @property
    def shard_count(self) -> int:
        return self.array_count * self.world_size

    @property
    def shard(self) -> tuple[int, int] | None:
        """(K, N), 1-based as `--shard K/N`, or None when this process does all the work."""
        return None if self.shard_count == 1 else (self.shard_index + 1, self.shard_count)

    @property
    def is_main(self) -> bool:
        """The one process that merges shards and writes shared files."""
        return self.shard_index == 0

    @property
    def init_method(self) -> str:
        """torch.distributed's rendezvous: torchrun's own store, else tcp://MASTER:PORT."""
        if self.source == "torchrun":
            return "env://"  # torchrun's agent already serves the store at MASTER_PORT
        if not self.master_addr or self.master_port is None:
            raise UsageError(
                f"rank {self.rank} of {self.world_size} has no master address and port; "
                "set MASTER_ADDR and MASTER_PORT or start under srun or torchrun"
            )
        host = f"[{self.master_addr}]" if ":" in self.master_addr else self.master_addr
        return f"tcp://{host}:{self.master_port}"


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets: 'a[1,2],b' -> ['a[1,2]', 'b']."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0 or depth > 1:
            raise UsageError(f"hostlist {text!r} has unbalanced brackets")
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise UsageError(f"hostlist {text!r} has unbalanced brackets")
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _expand_range(body: str, text: str) -> Iterator[str]:
    """'01-03,07' -> 01 02 03 07 (zero padding kept from the lower bound)."""
    for item in body.split(","):
        low, _, high = item.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise UsageError(f"hostlist {text!r}: {item!r} is not N or N-M")
        for number in range(int(low), int(high or low) + 1):
            yield str(number).zfill(len(low))


def _expand_host(pattern: str, text: str) -> Iterator[str]:
    match = re.search(r"\[([^\]]*)\]", pattern)
    if match is None:
        yield pattern
        return
    head, tail = pattern[: match.start()], pattern[match.end() :]
    for number in _expand_range(match.group(1), text):
        for rest in _expand_host(tail, text):
            yield head + number + rest


def expand_hostlist(text: str) -> list[str]:
    """SLURM's compressed hostlist, expanded: 'node[01-02,07],gpu-a1' ->
    ['node01', 'node02', 'node07', 'gpu-a1'] (what `scontrol show hostnames` prints)."""
    return [host for part in _split_top_level(text) for host in _expand_host(part, text)]


def first_host(text: str) -> str:
    """The first host of a SLURM hostlist: where task 0 runs, so the master address."""
    for part in _split_top_level(text):
        for host in _expand_host(part, text):
            return host
    raise UsageError(f"hostlist {text!r} names no host")


def _int(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    value = env.get(name)
    if value is None or value == "":
        if default is None:
            raise UsageError(f"{name} is not set")
        return default
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{name}={value!r} is not an integer") from None


def _array(env: Mapping[str, str]) -> tuple[int, int]:
    """(0-based index, count) of a SLURM array task; (0, 1) outside arrays."""
    if "SLURM_ARRAY_TASK_ID" not in env:
        return 0, 1
    task = _int(env, "SLURM_ARRAY_TASK_ID")
    count = _int(env, "SLURM_ARRAY_TASK_COUNT", 1)
    low = _int(env, "SLURM_ARRAY_TASK_MIN", 0)
    step = max(1, _int(env, "SLURM_ARRAY_TASK_STEP", 1))
    index, off_step = divmod(task - low, step)
    if off_step or not 0 <= index < count:
        raise UsageError(
            f"array task {task} is not one of {count} evenly spaced ids from {low}; "
            "submit the array as a range, e.g. --array=0-15 (or 0-30:2)"
        )
    return index, count


def _job_port(job_id: str | None) -> int | None:
    if job_id is None or not job_id.isdigit():
        return None
    return PORT_BASE + int(job_id) % PORT_SPAN


def _from_env(env: Mapping[str, str]) -> tuple[str, int, int, int, str | None]:
    """(source, rank, world, local rank, nodelist) from torchrun or srun, or local."""
    if "RANK" in env and "WORLD_SIZE" in env:
        rank, world = _int(env, "RANK"), _int(env, "WORLD_SIZE")
        return "torchrun", rank, world, _int(env, "LOCAL_RANK", rank), None
    if "SLURM_PROCID" in env and ("SLURM_STEP_NUM_TASKS" in env or "SLURM_NTASKS" in env):
        # srun sets the step's task count; SLURM_NTASKS is the allocation's
        world = _int(env, "SLURM_STEP_NUM_TASKS", _int(env, "SLURM_NTASKS", 1))
        nodes = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
        rank = _int(env, "SLURM_PROCID")
        return "slurm", rank, world, _int(env, "SLURM_LOCALID", 0), nodes
    return "local", 0, 1, 0, None


def resolve_launch(
    rank: int | None = None,
    world_size: int | None = None,
    local_rank: int | None = None,
    master_addr: str | None = None,
    master_port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> LaunchInfo:
    """This process's LaunchInfo: explicit arguments (flags) win, then torchrun's RANK /
    WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT, then SLURM's SLURM_PROCID / NTASKS /
    LOCALID with the first host of the node list as master and 10000 + job id % 20000 as
    port, plus SLURM_ARRAY_TASK_ID / COUNT / MIN for array tasks."""
    env = os.environ if env is None else env
    source, env_rank, env_world, env_local, nodes = _from_env(env)
    if rank is not None or world_size is not None:
        if rank is None or world_size is None:
            raise UsageError("give both the rank and the world size, or neither")
        source, env_rank, env_world, env_local, nodes = "flags", rank, world_size, 0, None
        array_index, array_count = 0, 1  # an explicit share replaces the array's
    else:
        array_index, array_count = _array(env)
    if not 0 <= env_rank < env_world:
        raise UsageError(f"rank {env_rank} is outside world size {env_world} ({source})")
    job_id = env.get("SLURM_JOB_ID") if source != "torchrun" else None
    addr = master_addr or env.get("MASTER_ADDR") or (first_host(nodes) if nodes else None)
    port = master_port if master_port is not None else _int(env, "MASTER_PORT", -1)
    return LaunchInfo(
        rank=env_rank,
        world_size=env_world,
        local_rank=env_local if local_rank is None else local_rank,
        master_addr=addr,
        master_port=port if port >= 0 else _job_port(env.get("SLURM_JOB_ID")),
        source=source,
        array_index=array_index,
        array_count=array_count,
        job_id=job_id,
    )


def resolve_devices(gpus: int | None, asked: str | None = None) -> list[str] | None:
    """Turn `--gpus N` into a device list; None means CPU workers. Errors name the fix;
    `asked` words the option that asked (default `--gpus N`)."""
    if not gpus:
        return None
    import torch

    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if available == 0:
        raise UsageError(
            f"{asked or f'--gpus {gpus}'} asked for GPUs but CUDA sees none; use --workers on CPU"
        )
    if gpus > available:
        raise UsageError(f"--gpus {gpus} asked for more GPUs than the {available} CUDA sees")
    return [f"cuda:{i}" for i in range(gpus)]
