"""The launch convention: flags, then torchrun, then SLURM (tasks or arrays); hostlists."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tsncli.errors import UsageError
from tsncli.launch import LaunchInfo, expand_hostlist, first_host, resolve_launch

SRUN = {
    "SLURM_JOB_ID": "4242",
    "SLURM_PROCID": "5",
    "SLURM_NTASKS": "16",
    "SLURM_LOCALID": "5",
    "SLURM_JOB_NODELIST": "gpu[07-08]",
}
TORCHRUN = {
    "RANK": "3",
    "WORLD_SIZE": "8",
    "LOCAL_RANK": "1",
    "MASTER_ADDR": "10.0.0.1",
    "MASTER_PORT": "29500",
}


@pytest.mark.parametrize(
    "text, hosts",
    [
        ("node01", ["node01"]),
        ("node[01-04,07],gpu-a1", ["node01", "node02", "node03", "node04", "node07", "gpu-a1"]),
        ("a[8-11]", ["a8", "a9", "a10", "a11"]),
        ("r[1-2]-n[01-02]", ["r1-n01", "r1-n02", "r2-n01", "r2-n02"]),
        ("x1,y[3],z", ["x1", "y3", "z"]),
    ],
)
def test_slurm_hostlists_expand_like_scontrol_show_hostnames(text, hosts):
    assert expand_hostlist(text) == hosts
    assert first_host(text) == hosts[0]


@pytest.mark.parametrize("text", ["node[01-02", "node]1[", "node[a-b]"])
def test_malformed_hostlists_are_usage_errors(text):
    with pytest.raises(UsageError, match="hostlist"):
        expand_hostlist(text)


def test_a_plain_process_is_rank_zero_of_one():
    info = resolve_launch(env={})
    assert info == LaunchInfo()
    assert info.shard is None and info.is_main and not info.distributed


def test_torchrun_variables_give_rank_world_and_its_own_rendezvous():
    info = resolve_launch(env=TORCHRUN)
    assert (info.source, info.rank, info.world_size, info.local_rank) == ("torchrun", 3, 8, 1)
    assert (info.master_addr, info.master_port) == ("10.0.0.1", 29500)
    assert info.init_method == "env://"


def test_srun_tasks_form_a_group_whose_master_is_the_first_node_and_port_the_job_id():
    info = resolve_launch(env=SRUN)
    assert (info.source, info.rank, info.world_size, info.local_rank) == ("slurm", 5, 16, 5)
    assert info.master_addr == "gpu07"
    assert info.master_port == 10000 + 4242
    assert info.init_method == "tcp://gpu07:14242"
    assert info.shard == (6, 16) and not info.is_main


def test_srun_prefers_the_steps_task_count_and_node_list_over_the_allocations():
    env = dict(SRUN, SLURM_STEP_NUM_TASKS="8", SLURM_STEP_NODELIST="cpu[3-4]")
    info = resolve_launch(env=env)
    assert (info.world_size, info.master_addr) == (8, "cpu3")


def test_torchrun_wins_over_slurm_and_flags_win_over_both():
    both = {**SRUN, **TORCHRUN}
    assert resolve_launch(env=both).source == "torchrun"
    info = resolve_launch(rank=1, world_size=4, env=both)
    assert (info.source, info.rank, info.world_size, info.shard) == ("flags", 1, 4, (2, 4))
    assert resolve_launch(master_addr="h", master_port=1, env=SRUN).init_method == "tcp://h:1"


def test_exported_master_variables_override_the_node_list_and_job_id():
    env = dict(SRUN, MASTER_ADDR="login1", MASTER_PORT="23456")
    info = resolve_launch(env=env)
    assert (info.master_addr, info.master_port) == ("login1", 23456)


def test_array_tasks_are_independent_shards_not_a_process_group():
    env = {
        "SLURM_JOB_ID": "77",
        "SLURM_PROCID": "0",
        "SLURM_NTASKS": "1",
        "SLURM_ARRAY_TASK_ID": "12",
        "SLURM_ARRAY_TASK_MIN": "10",
        "SLURM_ARRAY_TASK_COUNT": "4",
    }
    info = resolve_launch(env=env)
    assert not info.distributed
    assert (info.array_index, info.array_count, info.shard) == (2, 4, (3, 4))
    stepped = dict(env, SLURM_ARRAY_TASK_ID="14", SLURM_ARRAY_TASK_STEP="2")
    assert resolve_launch(env=stepped).shard == (3, 4)


def test_array_tasks_that_each_run_srun_tasks_split_the_work_over_both():
    env = dict(SRUN, SLURM_PROCID="1", SLURM_NTASKS="2", SLURM_ARRAY_TASK_ID="3")
    env.update(SLURM_ARRAY_TASK_COUNT="4", SLURM_ARRAY_TASK_MIN="0")
    assert resolve_launch(env=env).shard == (3 * 2 + 1 + 1, 8)


def test_an_array_id_off_the_range_names_the_fix():
    env = {"SLURM_ARRAY_TASK_ID": "16", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4"}
    with pytest.raises(UsageError, match="--array=0-15"):
        resolve_launch(env=env)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"RANK": "8", "WORLD_SIZE": "8"}, "outside world size"),
        ({"RANK": "x", "WORLD_SIZE": "8"}, "not an integer"),
    ],
)
def test_inconsistent_variables_are_usage_errors(env, message):
    with pytest.raises(UsageError, match=message):
        resolve_launch(env=env)


def test_a_group_without_a_master_address_says_how_to_start_it():
    info = resolve_launch(env={"SLURM_PROCID": "0", "SLURM_NTASKS": "2"})
    with pytest.raises(UsageError, match="MASTER_ADDR"):
        _ = info.init_method


def test_resolve_launch_reads_the_process_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in SRUN.items():
        monkeypatch.setenv(name, value)
    assert resolve_launch().rank == 5


@pytest.mark.parametrize("name", ["flow_array.sbatch", "train_2x8.sbatch", "eval.sbatch"])
def test_the_shipped_sbatch_files_use_only_options_tsn_has(name):
    from tsncli.cli import load_command

    path = Path(__file__).resolve().parents[1] / "examples" / "slurm" / name
    script = path.read_text().replace("\\\n", " ")
    (line,) = [ln for ln in script.splitlines() if ln.startswith("srun tsn ")]
    words = shlex.split(line)
    command = load_command(words[2])
    known = {opt for param in command.params for opt in param.opts}
    assert [w for w in words if w.startswith("--") and w not in known] == []
    directives = [ln for ln in script.splitlines() if ln.startswith("#SBATCH")]
    assert directives and all(" #" not in ln for ln in directives)  # comments on their own lines
