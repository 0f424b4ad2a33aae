"""`tsn probe`: counts, rate and keyframes of each fixture, `--frames` PNGs equal to the video
loader's frames, `--json` on stdout, and a bad file in a folder reported in the table (exit 1)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from video_fixtures import FIXTURES, make_fixture

from tsncli.data.video_source import VideoFileSource
from tsncli.lists.listfile import VideoRecord
from tsncli.video.index import index_video
from tsncli.video.probe import ProbeRequest, probe_file

N = 60


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe")
    return {name: make_fixture(folder, name, N) for name in sorted(FIXTURES)}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_probe_reports_counts_rate_and_keyframes(videos, name):
    report = probe_file(ProbeRequest(str(videos[name])))
    assert report.ok and report.decodes_to_end and report.timestamps_exact
    assert report.decoded_frames == report.packets == N
    assert report.codec == {"libx264": "h264"}.get(FIXTURES[name][0], FIXTURES[name][0])
    assert report.variable_rate == (name == "vfr_h264")
    assert report.keyframes == index_video(videos[name]).keyframes
    assert report.longest_gop <= FIXTURES[name][2]


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_probe_frames_are_the_video_loaders_frames(runner, cli, videos, name, tmp_path):
    video = videos[name]
    args = ["probe", str(video), "--frames", "0,13,59", "--out", str(tmp_path), "--size", "40x30"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    entry = index_video(video)
    source = VideoFileSource(size=(40, 30), keyframes={entry.path: entry.keyframes})
    record = VideoRecord(str(video), entry.num_frames, 0)
    loaded = source.read_frames(record, np.array([[1], [14], [60]]), "rgb")  # 1-based, RGB
    for k, expected in zip((0, 13, 59), loaded, strict=True):
        png = cv2.imread(str(tmp_path / video.stem / f"frame_{k:06d}.png"), cv2.IMREAD_COLOR_RGB)
        np.testing.assert_array_equal(png, expected)


def test_probe_json_goes_to_stdout(runner, cli, videos):
    result = runner.invoke(cli, ["probe", str(videos["h264_bframes"]), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (video,) = data["videos"]
    assert data["bad"] == [] and video["decoded_frames"] == N and video["keyframes"][0] == 0


def test_a_bad_file_in_a_folder_is_listed_and_the_rest_are_probed(runner, cli, tmp_path):
    make_fixture(tmp_path / "videos", "mjpg_avi", 20)
    whole = make_fixture(tmp_path, "h264_bframes", 40)
    (tmp_path / "videos" / "broken.avi").write_bytes(b"RIFF" + b"\x00" * 200)
    (tmp_path / "videos" / "cut.mp4").write_bytes(whole.read_bytes()[:-300])  # moov lost
    result = runner.invoke(cli, ["probe", str(tmp_path / "videos"), "--workers", "2"])
    assert result.exit_code == 1
    assert "2 bad video(s) under" in result.output
    assert "broken.avi" in result.output and "cut.mp4" in result.output
    assert "mjpg_avi.avi" in result.output


def test_frames_past_the_end_are_named_not_written(runner, cli, videos, tmp_path):
    video = videos["mjpg_avi"]
    args = ["probe", str(video), "--frames", "5,99", "--out", str(tmp_path)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0 and "no frame 99" in result.output
    assert sorted(p.name for p in (tmp_path / video.stem).iterdir()) == ["frame_000005.png"]


def test_frames_without_an_out_folder_is_a_usage_error(runner, cli, videos):
    result = runner.invoke(cli, ["probe", str(videos["mjpg_avi"]), "--frames", "1"])
    assert result.exit_code == 1 and "--out" in result.output
