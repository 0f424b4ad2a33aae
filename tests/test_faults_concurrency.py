"""Two runs on one output: the second fails at once naming the first's pid (issue 16, #2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import evalkit
import pytest
from flow_helpers import moving_video

from tsncli.engine.eval import evaluate as evaluate_module
from tsncli.engine.eval.evaluate import EvalSettings, evaluate
from tsncli.engine.scores import load_scores
from tsncli.errors import DataError
from tsncli.locks import RunLockedError, hold_lock

HELPERS = Path(__file__).with_name("fault_helpers.py")


@pytest.fixture
def other_run():
    """Start a second process holding a lock file; yields (start, process)."""
    started: list[subprocess.Popen] = []

    def start(lock: Path) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, str(HELPERS), str(lock)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait()


def _text(output: str) -> str:
    return " ".join(output.split())  # Rich wraps long lines


def test_a_held_lock_fails_at_once_naming_the_holder_and_the_lock(tmp_path, other_run):
    holder = other_run(tmp_path / "out.lock")
    expected = rf"in use by another tsn run \(pid {holder.pid}, lock"
    with pytest.raises(RunLockedError, match=expected):
        with hold_lock(tmp_path / "out.lock", "out"):
            pass


def test_a_lock_beside_an_output_whose_folder_does_not_exist_yet_creates_the_folder(tmp_path):
    # `tsn eval --save-scores scores/rgb.npz` in a fresh folder locks scores/rgb.npz.lock first
    with hold_lock(tmp_path / "scores" / "rgb.npz.lock", "rgb.npz") as lock:
        assert lock.exists()
    assert (tmp_path / "scores").is_dir() and not lock.exists()


def test_the_lock_of_an_output_with_a_252_byte_name_fits_and_still_excludes(tmp_path, other_run):
    long = tmp_path / ("s" * 248 + ".npz.lock")  # scores file of 252 bytes, plus ".lock"
    with hold_lock(long, "scores") as lock:
        assert lock.exists() and len(os.fsencode(lock.name)) <= 255
        assert lock.name.startswith("sss") and lock.name.endswith(".lock")
    assert not lock.exists()
    holder = other_run(long)
    with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
        with hold_lock(long, "scores"):
            pass


def test_a_killed_holder_leaves_no_lock_behind(tmp_path, other_run):
    holder = other_run(tmp_path / "out.lock")
    holder.kill()
    holder.wait()
    with hold_lock(tmp_path / "out.lock", "out") as lock:
        assert lock.read_text() == f"{os.getpid()}\n"
    assert not lock.exists()


def test_eval_on_an_output_another_run_is_writing_fails_naming_its_pid(
    runner, cli, tmp_path, other_run
):
    data = evalkit.make_dataset(tmp_path / "data", videos_per_class=1)
    ckpt = evalkit.make_checkpoint(tmp_path / "rgb.pt", "rgb", seed=1)
    out = tmp_path / "s.npz"
    holder = other_run(tmp_path / "s.npz.lock")
    args = ["eval", str(ckpt), "--list", str(data["rgb_list"]), "--save-scores", str(out)]
    result = runner.invoke(cli, [*args, "--segments", "2"])
    assert result.exit_code == 1
    assert f"in use by another tsn run (pid {holder.pid}" in _text(result.output)
    assert not out.exists() and not (tmp_path / "s.npz.shards").exists()


def test_flow_on_an_out_another_run_is_writing_leaves_its_temp_folders_alone(
    runner, cli, tmp_path, other_run
):
    moving_video(tmp_path / "videos" / "a.avi", n=3)
    out = tmp_path / "frames"
    live = out / ".tsn-0000abcd-live.tmp"  # the other run's half-written video
    live.mkdir(parents=True)
    holder = other_run(out / ".tsn-flow.lock")
    result = runner.invoke(cli, ["flow", str(tmp_path / "videos"), str(out), "--algo", "dis"])
    assert result.exit_code == 1
    assert f"frames folder {out} is in use by another tsn run (pid {holder.pid}" in _text(
        result.output
    )
    assert live.is_dir() and not (out / "a").exists()


def test_shards_of_one_flow_job_run_side_by_side(tmp_path, other_run):
    from tsncli.flow.batch import lock_file_name

    other_run(tmp_path / lock_file_name((1, 2)))
    with hold_lock(tmp_path / lock_file_name((2, 2)), "shard 2"):
        pass
    with pytest.raises(RunLockedError):
        with hold_lock(tmp_path / lock_file_name((1, 2)), "shard 1"):
            pass


def test_eval_fails_when_the_shards_do_not_account_for_every_video(tmp_path, monkeypatch):
    data = evalkit.make_dataset(tmp_path / "data")
    ckpt = evalkit.make_checkpoint(tmp_path / "rgb.pt", "rgb", seed=1)
    out = tmp_path / "s.npz"
    real = evaluate_module.run_shard

    def and_another_run_removes_a_shard(task):
        summary = real(task)
        if task.start > 0:  # as a concurrent run's merge used to delete the shard folder
            (out.parent / "s.npz.shards" / "shard_0000000.npz").unlink(missing_ok=True)
        return summary

    monkeypatch.setattr(evaluate_module, "run_shard", and_another_run_removes_a_shard)
    with pytest.raises(DataError, match=r"accounts for \d+ videos but the list has 6"):
        evaluate(ckpt, data["rgb_list"], out, EvalSettings(segments=2, crops=1))
    assert not out.exists()


def test_train_into_a_run_folder_another_run_is_writing_fails_naming_its_pid(
    runner, cli, tmp_path, other_run
):
    from train_fixtures import make_dataset

    from tsncli.engine.train.run import RUN_LOCK

    lists = make_dataset(tmp_path / "ds", num_classes=2, videos_per_class=2)
    run = tmp_path / "run"
    run.mkdir()
    holder = other_run(run / RUN_LOCK)
    args = ["train", "toyds", "rgb", "--lists-dir", str(lists), "--out", str(run), "--epochs", "1"]
    tiny = ["--arch", "tiny", "--pretrained", "none", "--crop-size", "16", "--segments", "2"]
    result = runner.invoke(cli, [*args, *tiny, "--batch", "4", "--workers", "0", "--gpus", "0"])
    assert result.exit_code == 1
    assert f"run folder {run} is in use by another tsn run (pid {holder.pid}" in _text(
        result.output
    )
    assert not (run / "last.pt").exists()


def test_eval_resumed_with_another_worker_count_scores_each_video_once(tmp_path, monkeypatch):
    data = evalkit.make_dataset(tmp_path / "data")
    ckpt = evalkit.make_checkpoint(tmp_path / "rgb.pt", "rgb", seed=1)
    out, settings = tmp_path / "s.npz", EvalSettings(segments=2, crops=1)
    real = evaluate_module.run_shard

    def killed_after_the_first_shard(task):
        if task.start > 0:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(evaluate_module, "run_shard", killed_after_the_first_shard)
    with pytest.raises(KeyboardInterrupt):
        evaluate(ckpt, data["rgb_list"], out, settings, workers=1)  # shards of 2 videos
    monkeypatch.setattr(evaluate_module, "run_shard", real)
    result = evaluate(ckpt, data["rgb_list"], out, settings, workers=2)  # shards of 1 video
    assert sorted(load_scores(out).videos) == sorted(r.video_id for r in data["records"])
    assert result.metrics.num_videos == 6
