"""Every command sweeps the temporary files a SIGKILL left beside its outputs (issue 28, item 6),
and `tsn eval --save-scores` takes a 252-byte name: its shard folder is hashed short."""

from __future__ import annotations

import os

import evalkit
import numpy as np
import pytest
from lists_helpers import make_frames

from tsncli.engine.eval import evaluate as evaluate_module
from tsncli.engine.eval.evaluate import EvalSettings, evaluate
from tsncli.engine.fusion import fuse_files
from tsncli.engine.scores import load_scores
from tsncli.fsutil import stale_temp_paths, temp_prefix
from tsncli.layout import NAME_MAX, derived_path, score_shard, score_shard_dir
from tsncli.lists.builder import ListsConfig, build_lists


def _stale(target) -> os.PathLike:
    """A temporary file as `atomic_path` names it, left as a kill -9 would leave it."""
    path = target.parent / f"{temp_prefix(target)}deadbeef.tmp"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a file")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaldata")
    out = evalkit.make_dataset(root)
    out["rgb_ckpt"] = evalkit.make_checkpoint(root / "rgb.pt", "rgb", seed=1)
    return out


SETTINGS = EvalSettings(segments=2, crops=1)


def test_eval_sweeps_stale_temp_files_beside_its_scores_and_shards(data, tmp_path, monkeypatch):
    out = tmp_path / "s.npz"
    real = evaluate_module.run_shard
    calls = []

    def dying(task):
        if calls:
            raise KeyboardInterrupt  # killed after the first shard, shards kept for a resume
        calls.append(task.start)
        return real(task)

    monkeypatch.setattr(evaluate_module, "run_shard", dying)
    with pytest.raises(KeyboardInterrupt):
        evaluate(data["rgb_ckpt"], data["rgb_list"], out, SETTINGS)
    monkeypatch.setattr(evaluate_module, "run_shard", real)
    left = [_stale(out), _stale(score_shard(score_shard_dir(out), 2))]
    result = evaluate(data["rgb_ckpt"], data["rgb_list"], out, SETTINGS)
    assert result.resumed_shards == 1
    assert not any(p.exists() for p in left) and stale_temp_paths(out) == []


def test_fuse_sweeps_stale_temp_files_beside_its_output(data, tmp_path):
    scores = evaluate(data["rgb_ckpt"], data["rgb_list"], tmp_path / "s.npz", SETTINGS)
    fused = tmp_path / "fused.npz"
    left = _stale(fused)
    fuse_files([scores.scores_path], out=fused)
    assert fused.is_file() and not left.exists()


def test_eval_takes_a_252_byte_score_name(data, tmp_path, monkeypatch):
    out = tmp_path / ("s" * 248 + ".npz")  # 252 bytes: OUT.shards would be 259
    shard_dir = score_shard_dir(out)
    assert len(os.fsencode(shard_dir.name)) <= NAME_MAX and shard_dir.name.endswith(".shards")
    real = evaluate_module.run_shard
    calls = []

    def dying(task):
        if calls:
            raise KeyboardInterrupt
        calls.append(task.start)
        return real(task)

    monkeypatch.setattr(evaluate_module, "run_shard", dying)
    with pytest.raises(KeyboardInterrupt):
        evaluate(data["rgb_ckpt"], data["rgb_list"], out, SETTINGS)
    assert len(list(shard_dir.glob("shard_*"))) == 1  # the same short name found on the rerun
    monkeypatch.setattr(evaluate_module, "run_shard", real)
    result = evaluate(data["rgb_ckpt"], data["rgb_list"], out, SETTINGS)
    assert result.resumed_shards == 1 and result.metrics.num_videos == 6
    assert np.isfinite(load_scores(out).scores).all()


def test_a_derived_name_is_shortened_only_when_it_would_not_fit(tmp_path):
    assert derived_path(tmp_path / "s.npz", ".shards") == tmp_path / "s.npz.shards"
    fits = tmp_path / ("s" * 248)  # 248 + ".shards" = 255 bytes: kept
    assert derived_path(fits, ".shards").name == fits.name + ".shards"
    long_a, long_b = tmp_path / ("a" * 252), tmp_path / ("a" * 251 + "b")
    assert derived_path(long_a, ".shards") == derived_path(long_a, ".shards")
    assert derived_path(long_a, ".shards") != derived_path(long_b, ".shards")


def test_lists_sweep_stale_temp_files_beside_what_they_write(tmp_path):
    videos = tmp_path / "videos"
    for name in ("jump", "run"):
        for i in range(3):
            (videos / name).mkdir(parents=True, exist_ok=True)
            (videos / name / f"{name}_{i}.mp4").touch()
            make_frames(tmp_path / "frames", f"{name}_{i}", img=5, flow=4)
    out = tmp_path / "lists"
    names = ("custom_rgb_train_split_1.txt", "custom_classes.txt", "custom_lists_config.yaml")
    left = [_stale(out / name) for name in names]
    config = ListsConfig(
        dataset="custom", frames=str(tmp_path / "frames"), videos=str(videos), out=str(out)
    )
    build_lists(config)
    assert all((out / name).is_file() for name in names)
    assert not any(p.exists() for p in left)


def test_tsn_eval_saves_scores_under_a_252_byte_name(runner, cli, data, tmp_path):
    out = tmp_path / ("s" * 248 + ".npz")
    args = ["eval", str(data["rgb_ckpt"]), "--list", str(data["rgb_list"])]
    result = runner.invoke(
        cli, [*args, "--save-scores", str(out), "--segments", "2", "--crops", "1"]
    )
    assert result.exit_code == 0, result.output
    assert len(load_scores(out)) == 6 and not score_shard_dir(out).exists()
