"""`tsn flow` end to end: exit codes and messages, resume, stems, shards, config, completion."""

from __future__ import annotations

import yaml
from flow_helpers import moving_video

from tsncli.flow.batch import plan_videos
from tsncli.flow.job import load_flow_settings, load_frames_settings
from tsncli.shards import parse_shard, take_share

FAST = ["--algo", "dis", "--size", "64x48", "--workers", "1"]


def _videos(root, names=("a", "b", "c"), n=3):
    for name in names:
        moving_video(root / f"{name}.avi", n=n)
    return root


def _flow(runner, cli, *args):
    return runner.invoke(cli, ["flow", *map(str, args)])


def test_flow_extracts_every_video_and_saves_its_settings(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos"), tmp_path / "frames"
    result = _flow(runner, cli, src, out, *FAST)
    assert result.exit_code == 0, result.output
    assert "done 3, skipped 0, failed 0 of 3" in result.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["a", "b", "c"]
    settings = load_frames_settings(out)
    assert (settings.flow_algorithm, settings.bound, settings.size) == ("dis", 20.0, (64, 48))
    assert settings.flow_implementation == "opencv"  # the default on CPU


def test_rerun_skips_done_videos_and_force_redoes_them(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos"), tmp_path / "frames"
    _flow(runner, cli, src, out, *FAST)
    (out / "a" / "marker").write_text("kept")
    again = _flow(runner, cli, src, out, *FAST)
    assert again.exit_code == 0 and "done 0, skipped 3" in again.output
    assert (out / "a" / "marker").exists()
    forced = _flow(runner, cli, src, out, *FAST, "--force")
    assert forced.exit_code == 0 and "done 3, skipped 0" in forced.output
    assert not (out / "a" / "marker").exists()


def test_resume_after_a_kill_redoes_only_the_unfinished_video(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos"), tmp_path / "frames"
    _flow(runner, cli, src, out, *FAST)
    # What a SIGKILL during video c leaves: its final folder absent, a hidden temp folder.
    import shutil

    shutil.rmtree(out / "c")
    (out / ".c.x1y2.tmp").mkdir()
    (out / ".c.x1y2.tmp" / "img_00001.jpg").write_bytes(b"half")
    result = _flow(runner, cli, src, out, *FAST)
    assert result.exit_code == 0 and "done 1, skipped 2" in result.output
    assert len(list((out / "c").glob("img_*.jpg"))) == 3
    assert not (out / ".c.x1y2.tmp").exists()


def test_corrupt_video_fails_alone_and_the_exit_code_is_1(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos"), tmp_path / "frames"
    (src / "broken.avi").write_bytes(b"\x00not a video" * 64)
    result = _flow(runner, cli, src, out, *FAST)
    assert result.exit_code == 1
    assert "error: 1 video(s) failed: broken" in " ".join(result.output.split())
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["a", "b", "c"]
    lines = (out / "failed.tsv").read_text().splitlines()
    assert lines[0] == "video_id\tpath\treason" and lines[1].startswith("broken\t")
    (src / "broken.avi").unlink()
    assert _flow(runner, cli, src, out, *FAST).exit_code == 0
    assert not (out / "failed.tsv").exists()


def test_clashing_stems_are_reported_before_any_work(runner, cli, tmp_path):
    src, out = tmp_path / "videos", tmp_path / "frames"
    moving_video(src / "x" / "same.avi", n=2)
    moving_video(src / "y" / "same.avi", n=2)
    moving_video(src / "other.avi", n=2)
    result = _flow(runner, cli, src, out, *FAST)
    assert result.exit_code == 1
    assert "same" in result.output and "more than one file" in result.output
    assert not out.exists()


def test_shards_partition_the_videos_exactly():
    ids = [f"v_{i:03d}" for i in range(200)]
    shards = [set(take_share(ids, (k, 4))) for k in range(1, 5)]
    assert set().union(*shards) == set(ids)
    assert sum(len(s) for s in shards) == len(ids)
    assert all(len(s) == 50 for s in shards)


def test_shard_runs_together_cover_the_folder_once(runner, cli, tmp_path):
    names = [f"clip{i}" for i in range(6)]
    src, out = _videos(tmp_path / "videos", names, n=2), tmp_path / "frames"
    for k in (1, 2, 3):
        assert _flow(runner, cli, src, out, *FAST, "--shard", f"{k}/3").exit_code == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == names
    assert _flow(runner, cli, src, out, *FAST).output.count("skipped 6") == 1


def test_bad_shard_and_conflicting_size_options_exit_1(runner, cli, tmp_path):
    src = _videos(tmp_path / "videos", ("a",))
    for extra, message in [
        (["--shard", "5/4"], "1 <= K <= N"),
        (["--shard", "half"], "K/N"),
        (["--short-side", "32"], "not both"),
        (["--algo", "brox"], "use one of"),
    ]:
        result = _flow(runner, cli, src, tmp_path / "out", *FAST, *extra)
        assert result.exit_code == 1 and message in result.output, result.output


def test_changed_settings_on_an_existing_output_are_refused(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos", ("a",)), tmp_path / "frames"
    _flow(runner, cli, src, out, *FAST)
    result = _flow(runner, cli, src, out, "--algo", "farneback", "--size", "64x48")
    assert result.exit_code == 1 and "--force" in result.output
    assert "flow_algorithm=dis" in result.output and "flow_algorithm=farneback" in result.output


def test_an_output_made_by_the_previous_version_resumes(runner, cli, tmp_path):
    # flow_config.yaml as tsn wrote it before FrameSettings: `algo`, no implementation or source
    src, out = _videos(tmp_path / "videos"), tmp_path / "frames"
    assert _flow(runner, cli, src, out, *FAST).exit_code == 0
    (out / "flow_config.yaml").write_text(
        "algo: dis\nmodality: both\nsize: 64x48\nshort_side: null\nbound: 20.0\nstep: 1\n"
        "layout: 'dense_flow: img_%05d.jpg, flow_x_%05d.jpg, flow_y_%05d.jpg (1-based)'\n"
        "tsn_version: 0.1.0\n"
    )
    assert load_flow_settings(out)["flow_algorithm"] == "dis"
    again = _flow(runner, cli, src, out, *FAST)
    assert again.exit_code == 0, again.output
    assert "done 0, skipped 3" in again.output
    assert load_frames_settings(out).flow_algorithm == "dis"  # rewritten in the current shape
    assert "algo" not in yaml.safe_load((out / "flow_config.yaml").read_text())


def test_config_file_is_layered_under_the_flags(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos", ("a",)), tmp_path / "frames"
    config = tmp_path / "flow.yaml"
    config.write_text("flow:\n  algo: farneback\n  short_side: 32\n  bound: 10\n")
    result = _flow(runner, cli, src, out, "--config", config, "--algo", "dis", "--workers", "1")
    assert result.exit_code == 0, result.output
    settings = load_frames_settings(out)
    assert (settings.flow_algorithm, settings.short_side, settings.bound) == ("dis", 32, 10.0)
    assert settings.size is None


def test_two_workers_extract_in_spawned_processes(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos", ("a", "b", "c", "d"), n=2), tmp_path / "frames"
    result = _flow(runner, cli, src, out, "--algo", "dis", "--size", "64x48", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "done 4" in result.output


def test_a_list_file_selects_videos(runner, cli, tmp_path):
    _videos(tmp_path / "videos")
    out = tmp_path / "frames"
    (tmp_path / "some.txt").write_text("videos/a.avi\nvideos/c.avi\n")
    assert _flow(runner, cli, tmp_path / "some.txt", out, *FAST).exit_code == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["a", "c"]


def test_empty_source_says_what_to_check(runner, cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = _flow(runner, cli, tmp_path / "empty", tmp_path / "out", *FAST)
    assert result.exit_code == 1 and "no videos found" in result.output


def test_algo_option_completes_from_the_registry(runner, cli):
    env = {"_TSN_COMPLETE": "complete_bash", "COMP_WORDS": "tsn flow a b --algo wa"}
    result = runner.invoke(cli, [], env={**env, "COMP_CWORD": "5"}, prog_name="tsn")
    assert result.output.split() == ["warp_tvl1", "warp_dis"]


def test_plan_and_parse_helpers(tmp_path):
    _videos(tmp_path, ("b", "a"), n=2)
    assert list(plan_videos(tmp_path, ("avi",))) == ["a", "b"]
    assert parse_shard("2/4") == (2, 4) and parse_shard(None) is None


def test_an_interrupted_force_is_finished_by_the_next_run_and_refused_meanwhile(
    runner, cli, tmp_path, monkeypatch
):
    import os

    import cv2
    import pytest

    import tsncli.flow.batch as batch
    from tsncli.errors import DataError

    src, out = _videos(tmp_path / "videos"), tmp_path / "frames"
    assert _flow(runner, cli, src, out, *FAST).exit_code == 0  # 64x48
    for name in ("a", "b", "c"):  # made well before the --force below
        os.utime(out / name, (1_000_000_000, 1_000_000_000))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C before any video was redone

    with monkeypatch.context() as patch:
        patch.setattr(batch, "_extract_all", interrupted)
        forced = _flow(runner, cli, src, out, "--algo", "dis", "--size", "48x32", "--force")
    assert forced.exit_code != 0
    # flow_config.yaml already says 48x32 while every folder is 64x48: readers refuse the tree
    with pytest.raises(DataError, match="half re-extracted.*rerun that `tsn flow` command") as err:
        load_frames_settings(out)
    assert "3 folder(s) still hold the old settings (e.g. a, b, c)" in str(err.value)
    rerun = _flow(runner, cli, src, out, "--algo", "dis", "--size", "48x32", "--workers", "1")
    assert rerun.exit_code == 0, rerun.output
    assert "done 3, skipped 0" in rerun.output  # not "0 to do, 3 already done"
    assert cv2.imread(str(out / "a" / "img_00001.jpg")).shape[:2] == (32, 48)
    assert load_frames_settings(out).size == (48, 32)  # finished: no marker left
    assert not list(out.glob(".tsn-flow-force*"))
