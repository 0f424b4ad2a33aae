"""The video index: checked frame counts, keyframes, reuse, and invalidation on change."""

from __future__ import annotations

import json
import os

import pytest
from video_helpers import decode_all, make_video

from tsncli.errors import DataError
from tsncli.video import index as video_index
from tsncli.video.index import VideoIndex, index_video, keyframe_at_or_before


def test_index_reads_frame_count_size_and_keyframes_from_the_container(tmp_path):
    entry = index_video(make_video(tmp_path, "a", "xvid", n=30))
    assert (entry.num_frames, entry.container_frames, entry.counted) == (30, 30, False)
    assert (entry.width, entry.height, entry.fps) == (64, 48, 25.0)
    assert entry.keyframes[0] == 0 and len(entry.keyframes) < 30


def test_a_container_that_lies_about_its_length_is_counted_by_decoding(tmp_path):
    whole = make_video(tmp_path, "whole", "mjpg", n=40)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])  # index lost too
    entry = index_video(cut)
    assert entry.container_frames == 40
    assert entry.counted and entry.num_frames == len(decode_all(cut)) < 40
    assert entry.keyframes is None  # its timestamps are not trusted for seeking


def test_unreadable_video_raises_a_data_error(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"garbage" * 10)
    with pytest.raises(DataError):
        index_video(bad)


def test_keyframe_at_or_before_finds_the_last_keyframe_not_after_a_frame():
    keys = (0, 12, 24)
    assert [keyframe_at_or_before(keys, f) for f in (0, 11, 12, 30)] == [0, 0, 12, 24]
    assert keyframe_at_or_before(None, 17) == 0


def test_index_is_saved_and_reused_without_probing_again(tmp_path, monkeypatch):
    videos = [make_video(tmp_path, n, "mjpg", n=10) for n in ("a", "b")]
    path = tmp_path / "index.json"
    entries, errors = VideoIndex(path).ensure(videos)
    assert errors == {} and len(entries) == 2
    assert json.loads(path.read_text())["videos"][str(videos[0])]["keyframes"] == "all"

    def fail(_path):
        raise AssertionError("a fresh entry was probed again")

    monkeypatch.setattr(video_index, "index_video", fail)
    again, _ = VideoIndex(path).ensure(videos)
    assert again == entries


def test_changed_video_is_indexed_again(tmp_path):
    video = make_video(tmp_path, "a", "mjpg", n=10)
    path = tmp_path / "index.json"
    VideoIndex(path).ensure([video])
    make_video(tmp_path, "a", "mjpg", n=14)  # new size and mtime
    entries, _ = VideoIndex(path).ensure([video])
    assert entries[str(video)].num_frames == 14


def test_touched_video_with_same_size_is_indexed_again(tmp_path, monkeypatch):
    video = make_video(tmp_path, "a", "mjpg", n=10)
    path = tmp_path / "index.json"
    VideoIndex(path).ensure([video])
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    calls = []
    real = video_index.index_video
    monkeypatch.setattr(video_index, "index_video", lambda p: calls.append(p) or real(p))
    VideoIndex(path).ensure([video])
    assert calls == [str(video)]


def test_unreadable_videos_are_returned_as_errors_and_the_rest_indexed(tmp_path):
    good = make_video(tmp_path, "good", "mjpg", n=5)
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"junk")
    entries, errors = VideoIndex(tmp_path / "i.json").ensure([good, bad])
    assert list(entries) == [str(good)]
    assert list(errors) == [str(bad)]


def test_a_corrupt_index_file_is_rebuilt(tmp_path):
    video = make_video(tmp_path, "a", "mjpg", n=5)
    path = tmp_path / "i.json"
    path.write_text("{not json")
    entries, _ = VideoIndex(path).ensure([video])
    assert entries[str(video)].num_frames == 5


def test_index_builds_stale_videos_on_the_worker_pool(tmp_path, monkeypatch):
    videos = [make_video(tmp_path, f"v{i}", "mjpg", n=6) for i in range(3)]
    seen = {}
    real = video_index.run_pool

    def pool(fn, tasks, workers, **kw):
        seen["workers"], seen["tasks"] = workers, list(tasks)
        return real(fn, seen["tasks"], workers=1)  # in-process: spawning is slow on 2 cores

    monkeypatch.setattr(video_index, "run_pool", pool)
    entries, errors = VideoIndex(tmp_path / "i.json").ensure(videos, workers=2)
    assert seen == {"workers": 2, "tasks": [str(v) for v in videos]}
    assert errors == {} and [e.num_frames for e in entries.values()] == [6, 6, 6]
