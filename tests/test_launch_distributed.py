"""Heavy steps under simulated srun and array jobs: 2 CPU processes (gloo) started the way SLURM
starts them, with only SLURM's variables telling each process who it is."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
from train_fixtures import make_dataset

from tsncli.engine.train import train
from tsncli.engine.train_config import TrainConfig
from tsncli.models.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _job_port_id() -> str:
    """A SLURM job id whose derived master port (10000 + id % 20000) is free right now."""
    for port in range(10000 + os.getpid() % 19000, 30000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return str(port - 10000)
    raise RuntimeError("no free port in 10000-29999")


def slurm_env(**values: str) -> dict[str, str]:
    """This environment without launch variables, plus SLURM's `values` and one thread."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS and "SLURM" not in k}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **values)
    return env


def srun(argv: list[str], tasks: int, **values: str) -> list[subprocess.CompletedProcess]:
    """Start `tasks` copies of `python -m tsncli ARGV` as srun would, and wait for all."""
    procs = []
    for rank in range(tasks):
        env = slurm_env(
            SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_NTASKS=str(tasks), **values
        )
        cmd = [sys.executable, "-m", "tsncli", *argv]
        pipe = subprocess.PIPE
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=pipe, stderr=pipe, text=True))
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def _train_config(lists: Path, out: Path) -> TrainConfig:
    return TrainConfig(
        dataset="toyds",
        modality="rgb",
        lists_dir=str(lists),
        arch="tiny",
        pretrained="none",
        crop_size=16,
        segments=2,
        batch_size=4,  # 2 per process with 2 processes
        epochs=1,
        lr=0.05,
        dropout=0.0,
        bn="frozen",  # per-process BN statistics would differ from full-batch ones
        workers=0,
        eval_every=1,
        out=str(out),
        gpus=0,
        tensorboard=False,
    )


def test_srun_tsn_train_on_two_tasks_matches_one_process(tmp_path):
    torch.set_num_threads(1)
    lists = make_dataset(tmp_path / "ds", num_classes=2, videos_per_class=4)
    single = train(_train_config(lists, tmp_path / "single"))
    argv = ["train", "toyds", "rgb", "--lists-dir", str(lists), "--out", str(tmp_path / "srun")]
    argv += ["--arch", "tiny", "--pretrained", "none", "--crop-size", "16", "--segments", "2"]
    argv += ["--batch-size", "4", "--epochs", "1", "--lr", "0.05", "--dropout", "0.0"]
    argv += ["--bn", "frozen", "--workers", "0", "--eval-every", "1", "--gpus", "0", "--json"]
    job = _job_port_id()
    ranks = srun(argv, 2, SLURM_JOB_ID=job, SLURM_JOB_NODELIST="localhost")
    for rank in ranks:
        assert rank.returncode == 0, rank.stderr[-2000:]
    assert '"epochs": 1' in ranks[0].stdout and ranks[1].stdout == ""  # rank 0 reports
    a = load_checkpoint(single.last_checkpoint)
    b = load_checkpoint(tmp_path / "srun" / "last.pt")
    for key, value in a["state_dict"].items():
        assert torch.allclose(value, b["state_dict"][key], atol=1e-6), key
    assert a["history"][0]["val_videos"] == b["history"][0]["val_videos"] == 8
