"""`tsn flow --estimate` (videos, frames, files and bytes per layout, before any extraction and
without writing) and the warning before a `--format dir` run past a cluster's file quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flow_helpers import shifted_frames, write_video

from tsncli.flow import batch, estimate
from tsncli.flow.batch import estimate_flow_extraction
from tsncli.flow.estimate import SAMPLE_FRAMES, kept_frames, spread_sample
from tsncli.flow.extract import measure_video
from tsncli.flow.job import FlowConfig, SampleRequest, VideoTask
from tsncli.flow.sinks import Part
from tsncli.shards import parse_shard, take_share

FAST = ["--algo", "dis", "--size", "64x48", "--workers", "1"]
# lengths around the sampled prefix (SAMPLE_FRAMES), so long videos are scaled from their start
LENGTHS = {"short": 8, "mid": 30, "long": 70, "longer": 90, "tiny": 4}


def _videos(root: Path, lengths: dict[str, int] = LENGTHS) -> Path:
    """Videos of different lengths and content: a texture moving by a different step each."""
    for seed, (name, n) in enumerate(lengths.items()):
        frames = shifted_frames(n, 64, 48, 1 + seed % 3, seed % 2, seed=seed, channels=3)
        write_video(root / f"{name}.avi", frames)
    return root


def _flow(runner, cli, *args):
    return runner.invoke(cli, ["flow", *map(str, args)])


def _text(output: str) -> str:
    return " ".join(output.split())


def _tree_cost(out: Path) -> tuple[int, int]:
    """(files, bytes) of the video folders under `out` (not flow_config.yaml)."""
    files = [p for folder in out.iterdir() if folder.is_dir() for p in folder.iterdir()]
    return len(files), sum(p.stat().st_size for p in files)


def test_estimate_is_within_30_percent_of_the_real_extractions(runner, cli, tmp_path):
    src = _videos(tmp_path / "videos")
    config = FlowConfig(algo="dis", size="64x48")
    found = estimate_flow_extraction(src, config, sample=2)
    assert found.videos == 5 and found.frames == sum(LENGTHS.values())
    assert found.images == sum(LENGTHS.values()) and found.flows == found.images - 5
    assert len(found.sampled) == 2 and found.measured_frames <= 2 * SAMPLE_FRAMES
    costs = {cost.format: cost for cost in found.layouts}
    for layout in ("dir", "zip"):
        out = tmp_path / layout
        result = _flow(runner, cli, src, out, *FAST, "--format", layout)
        assert result.exit_code == 0, result.output
        files, size = _tree_cost(out)
        assert costs[layout].files == files  # exact: frame counts from the headers
        assert costs[layout].bytes == pytest.approx(size, rel=0.3)
    assert costs["zip"].files == 3 * 5 and costs["dir"].files == 3 * found.images - 2 * 5


def test_estimate_cli_prints_counts_and_both_layouts_and_writes_nothing(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos"), tmp_path / "frames"
    result = _flow(runner, cli, src, out, *FAST, "--estimate", "--estimate-sample", "2")
    assert result.exit_code == 0, result.output
    line = _text(result.output)
    assert "5 video(s), 202 frames (container headers), 202 images, 197 flow pairs" in line
    assert "dir (chosen) │ 596 │" in line and "zip │ 15 │" in line
    assert f"the first {SAMPLE_FRAMES} frames of 2 sampled video(s)" in line
    assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    rgb = _flow(runner, cli, src, out, *FAST, "--estimate", "--modality", "rgb", "--format", "zip")
    assert rgb.exit_code == 0, rgb.output
    assert "202 images at step 1, --modality rgb" in _text(rgb.output)
    assert "zip (chosen) │ 5 │" in _text(rgb.output)
    assert os.listdir(out) == ["keep.txt"]
    half = _flow(runner, cli, src, out, *FAST, "--estimate", "--shard", "1/2")
    mine = take_share(sorted(LENGTHS), parse_shard("1/2"))
    assert half.exit_code == 0 and f"{len(mine)} video(s) (this shard)," in _text(half.output)
    assert 0 < len(mine) < 5


def test_estimate_leaves_out_unreadable_videos_and_says_so(runner, cli, tmp_path):
    src = _videos(tmp_path / "videos", {"a": 5, "b": 6})
    (src / "broken.avi").write_bytes(b"\x00not a video" * 64)
    result = _flow(runner, cli, src, tmp_path / "out", *FAST, "--estimate")
    assert result.exit_code == 0, result.output
    line = _text(result.output)
    assert "3 video(s), 11 frames" in line
    assert "1 video(s) cannot be opened and would fail (e.g. broken:" in line
    (src / "a.avi").write_bytes(b"junk")
    (src / "b.avi").write_bytes(b"junk")
    nothing = _flow(runner, cli, src, tmp_path / "out", *FAST, "--estimate")
    assert nothing.exit_code == 1
    assert "error: none of the 3 video(s) can be opened" in _text(nothing.output)
    assert "`tsn probe`" in _text(nothing.output)


def test_a_sampled_video_is_extracted_only_as_far_as_its_prefix(tmp_path):
    path = write_video(tmp_path / "long.avi", shifted_frames(40, 64, 48, 2, 0, channels=3))
    config = FlowConfig(algo="dis", size="64x48", step=2)
    measured = measure_video(SampleRequest(VideoTask("long", str(path), "", config), 6))
    assert measured.error is None and measured.frames == 6  # of the 20 frames step 2 keeps
    assert measured.entries == {Part.RGB: 6, Part.FLOW_X: 5, Part.FLOW_Y: 5}
    assert all(size > 100 for size in measured.data.values())  # real JPEGs
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"junk")
    failed = measure_video(SampleRequest(VideoTask("broken", str(broken), "", config), 6))
    assert failed.error and failed.frames == 0


def test_the_sample_is_spread_over_the_list_and_seeded():
    items = list(range(100))
    picked = spread_sample(items, 4, seed=1)
    assert picked == spread_sample(items, 4, seed=1)
    assert [p // 25 for p in picked] == [0, 1, 2, 3]  # one from each quarter
    assert spread_sample(items, 4, seed=2) != picked
    assert spread_sample(items[:3], 5) == [0, 1, 2]
    assert [kept_frames(n, 2) for n in (0, 1, 2, 3, 10)] == [0, 1, 1, 2, 5]


def test_a_dir_run_past_the_file_quota_warns_once_naming_zip(runner, cli, tmp_path, monkeypatch):
    src = _videos(tmp_path / "videos", {"a": 3, "b": 5, "c": 7})  # 15 images + 2 x 12 flows
    monkeypatch.setattr(batch, "FILE_QUOTA", 38)
    result = _flow(runner, cli, src, tmp_path / "dir", *FAST)
    assert result.exit_code == 0, result.output
    line = _text(result.output)
    assert "this --format dir run writes about 39 files for 3 videos, past the 38-file" in line
    assert "--format zip writes 3 per video" in line
    assert line.index("--format zip") < line.index("done 3, skipped 0")  # before extracting
    zipped = _flow(runner, cli, src, tmp_path / "zip", *FAST, "--format", "zip")
    assert zipped.exit_code == 0 and "--format zip writes" not in _text(zipped.output)
    resumed = _flow(runner, cli, src, tmp_path / "dir", *FAST)  # nothing left to extract
    assert resumed.exit_code == 0 and "past the" not in _text(resumed.output)
    monkeypatch.setattr(batch, "FILE_QUOTA", 39)
    under = _flow(runner, cli, src, tmp_path / "dir2", *FAST)
    assert under.exit_code == 0 and "past the" not in _text(under.output)


def test_the_warning_scales_a_sample_of_headers_to_every_video(runner, cli, tmp_path, monkeypatch):
    src = _videos(tmp_path / "videos", {"a": 4, "b": 4, "c": 4, "d": 4})
    monkeypatch.setattr(batch, "FILE_QUOTA", 10)
    monkeypatch.setattr(estimate, "COUNT_SAMPLE", 2)
    result = _flow(runner, cli, src, tmp_path / "dir", *FAST, "--modality", "flow")
    assert result.exit_code == 0, result.output
    assert "about 24 files for 4 videos, scaled from 2 videos' headers" in _text(result.output)
