"""Heavy steps under simulated srun and array jobs: 2 CPU processes (gloo) started the way SLURM
starts them, with only SLURM's variables telling each process who it is."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from evalkit import make_checkpoint
from evalkit import make_dataset as make_eval_dataset
from flow_helpers import moving_video
from train_fixtures import make_dataset, two_process_config

from tsncli.engine.eval.evaluate import EvalSettings, evaluate
from tsncli.engine.eval.ranks import wait_for_ranks
from tsncli.engine.scores import load_scores
from tsncli.engine.train.run import train
from tsncli.errors import DataError
from tsncli.launch import resolve_launch
from tsncli.models.checkpoint import load_checkpoint
from tsncli.video.index import VideoIndex

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


def run_tasks(argv: list[str], envs: list[dict[str, str]]) -> list[subprocess.CompletedProcess]:
    """Start one `python -m tsncli ARGV` per environment, all at once, and wait for all."""
    procs = []
    for values in envs:
        cmd, pipe = [sys.executable, "-m", "tsncli", *argv], subprocess.PIPE
        env = slurm_env(**values)
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=pipe, stderr=pipe, text=True))
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def srun(argv: list[str], tasks: int, **values: str) -> list[subprocess.CompletedProcess]:
    """`tasks` copies of `python -m tsncli ARGV` with the variables srun gives its tasks."""
    envs = [
        dict(values, SLURM_PROCID=str(r), SLURM_LOCALID=str(r), SLURM_NTASKS=str(tasks))
        for r in range(tasks)
    ]
    return run_tasks(argv, envs)


def array_job(argv: list[str], count: int, first: int = 1) -> list[subprocess.CompletedProcess]:
    """One `python -m tsncli ARGV` per task of `sbatch --array=FIRST-(FIRST+COUNT-1)`."""
    envs = [
        {
            "SLURM_JOB_ID": str(500 + task),
            "SLURM_PROCID": "0",
            "SLURM_NTASKS": "1",
            "SLURM_ARRAY_TASK_ID": str(first + task),
            "SLURM_ARRAY_TASK_MIN": str(first),
            "SLURM_ARRAY_TASK_COUNT": str(count),
        }
        for task in range(count)
    ]
    return run_tasks(argv, envs)


def test_srun_tsn_train_on_two_tasks_matches_one_process(tmp_path):
    torch.set_num_threads(1)
    lists = make_dataset(tmp_path / "ds", num_classes=2, videos_per_class=4)
    single = train(two_process_config(lists, tmp_path / "single"))
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


def _done_counts(tasks: list[subprocess.CompletedProcess]) -> list[int]:
    """The `done N` each task reported."""
    counts = []
    for task in tasks:
        assert task.returncode == 0, task.stderr[-2000:]
        counts.append(int(re.search(r"done (\d+), skipped", " ".join(task.stderr.split()))[1]))
    return counts


@pytest.mark.parametrize("launcher", ["array", "srun"])
def test_array_and_srun_tasks_of_tsn_flow_split_the_videos_disjointly_and_completely(
    tmp_path, launcher
):
    names = [f"clip{i}" for i in range(8)]
    for name in names:
        moving_video(tmp_path / "videos" / f"{name}.avi", n=2)
    out = tmp_path / "frames"
    argv = ["flow", str(tmp_path / "videos"), str(out), "--algo", "dis", "--size", "32x24"]
    argv += ["--workers", "1"]
    tasks = array_job(argv, 2) if launcher == "array" else srun(argv, 2, SLURM_JOB_ID="9")
    counts = _done_counts(tasks)
    assert sum(counts) == len(names) and min(counts) > 0  # each did its share, none twice
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == names
    rank1 = {"SLURM_PROCID": "1", "SLURM_NTASKS": "2"}
    (again,) = run_tasks([*argv, "--shard", "1/1"], [rank1])
    assert f"skipped {len(names)}," in " ".join(again.stderr.split())  # --shard wins


def test_srun_tsn_eval_ranks_score_their_shares_and_rank_0_merges_as_one_process(tmp_path):
    data = make_eval_dataset(tmp_path / "ds", videos_per_class=3)  # 9 videos
    ckpt = make_checkpoint(tmp_path / "rgb.pt")
    settings = EvalSettings(segments=2, crops=1)
    single = evaluate(ckpt, data["rgb_list"], tmp_path / "one.npz", settings)
    out = tmp_path / "srun.npz"
    argv = ["eval", str(ckpt), "--list", str(data["rgb_list"]), "--save-scores", str(out)]
    argv += ["--segments", "2", "--crops", "1", "--json"]
    ranks = srun(argv, 2, SLURM_JOB_ID="7")
    for rank in ranks:
        assert rank.returncode == 0, rank.stderr[-2000:]
    assert '"scores"' in ranks[0].stdout and ranks[1].stdout == ""  # rank 0 reports
    assert "scored share 2 of 2" in ranks[1].stderr
    a, b = load_scores(single.scores_path), load_scores(out)
    assert b.videos == a.videos  # merged in list order
    assert np.allclose(a.scores, b.scores, atol=1e-5) and (a.labels == b.labels).all()
    assert not out.with_name(out.name + ".shards").exists()  # merged and cleaned up


def test_rank_0_names_the_ranks_whose_shards_never_arrived(tmp_path):
    launch = resolve_launch(rank=0, world_size=3, env={})
    (tmp_path / "rank.1-of-3.json").write_text('{"rank": 0, "lost": []}')
    (tmp_path / "rank.3-of-3.json").write_text('{"rank": 2, "lost": [["v1", "died"]]}')
    with pytest.raises(DataError, match=r"rank\(s\) 2 of 3"):
        wait_for_ranks(tmp_path, launch, timeout=0.0)
    (tmp_path / "rank.2-of-3.json").write_text('{"rank": 1, "lost": []}')
    assert wait_for_ranks(tmp_path, launch, timeout=0.0) == [("v1", "died")]


INDEX_SCRIPT = """
import json, sys
from tsncli.video.index import VideoIndex
entries, errors = VideoIndex(sys.argv[1]).ensure(sys.argv[2:])
print(json.dumps({"frames": {p: e.num_frames for p, e in entries.items()}, "errors": errors}))
"""


def test_srun_tasks_build_one_video_index_each_indexing_a_disjoint_share(tmp_path):
    # the sorted paths are dealt round robin (tsncli.shards), so each rank indexes some
    names = [f"clip{c}.avi" for c in "012345"]
    videos = [str(moving_video(tmp_path / "v" / name, n=3 + i)) for i, name in enumerate(names)]
    videos.append(str(tmp_path / "v" / "broken.avi"))
    Path(videos[-1]).write_bytes(b"not a video")
    index = tmp_path / "index.json"
    procs = []
    for rank in range(2):
        env = slurm_env(SLURM_PROCID=str(rank), SLURM_NTASKS="2", SLURM_JOB_ID="3")
        cmd, pipe = [sys.executable, "-c", INDEX_SCRIPT, str(index), *videos], subprocess.PIPE
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=pipe, stderr=pipe, text=True))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    expected = {v: 3 + i for i, v in enumerate(videos[:-1])}
    for result in results:  # every rank ends with the whole index, errors included
        assert result["frames"] == expected and list(result["errors"]) == [videos[-1]]
    parts = [json.loads(index.with_name(f"index.{k}-of-2.json").read_text()) for k in (1, 2)]
    shares = [set(part["videos"]) | set(part["errors"]) for part in parts]
    assert not shares[0] & shares[1] and shares[0] | shares[1] == set(videos)
    assert all(shares)  # both ranks did some of the work
    saved = VideoIndex(index).entries  # the merged index, as a later run loads it
    assert {p: e.num_frames for p, e in saved.items()} == expected
