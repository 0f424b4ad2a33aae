"""A worker that dies (OOM killer, segfault) costs its own video, never the run (issue 16, #4)."""

from __future__ import annotations

import functools

import evalkit
import fault_helpers
from flow_helpers import moving_video

from tsncli.engine.eval import evaluate as evaluate_module
from tsncli.engine.eval.evaluate import EvalSettings, evaluate
from tsncli.flow import batch
from tsncli.flow.job import FlowConfig
from tsncli.parallel import run_pool


def test_flow_reports_the_video_of_a_killed_worker_and_finishes_the_others(tmp_path, monkeypatch):
    for name in ("a", "doomed", "b", "c"):
        moving_video(tmp_path / "videos" / f"{name}.avi", n=3)
    dying_pool = functools.partial(run_pool, initializer=fault_helpers.kill_on_doomed_videos)
    monkeypatch.setattr(batch, "run_pool", dying_pool)
    config = FlowConfig(algo="dis", size="64x48")
    summary = batch.run_flow_extraction(tmp_path / "videos", tmp_path / "frames", config, workers=2)
    assert (summary.done, [r.video_id for r in summary.failed]) == (3, ["doomed"])
    assert sorted(p.name for p in (tmp_path / "frames").iterdir() if p.is_dir()) == ["a", "b", "c"]
    failed = (tmp_path / "frames" / "failed.tsv").read_text().splitlines()
    assert failed[1].startswith("doomed\t") and failed[1].endswith("\tworker died (signal 9)")


def test_eval_reports_the_videos_of_a_killed_worker_and_scores_the_others(tmp_path, monkeypatch):
    data = evalkit.make_dataset(tmp_path / "data")
    ckpt = evalkit.make_checkpoint(tmp_path / "rgb.pt", "rgb", seed=1)
    dying_pool = functools.partial(run_pool, initializer=fault_helpers.kill_on_first_shard)
    monkeypatch.setattr(evaluate_module, "run_pool", dying_pool)
    settings = EvalSettings(segments=2, crops=1)
    result = evaluate(ckpt, data["rgb_list"], tmp_path / "s.npz", settings, workers=2)
    assert result.failures and all("worker died (signal 9)" in e for _, e in result.failures)
    assert result.metrics.num_videos + len(result.failures) == len(data["records"])
    assert result.metrics.num_videos > 0
