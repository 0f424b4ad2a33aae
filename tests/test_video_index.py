"""The video index: checked frame counts, keyframes, reuse, and invalidation on change."""

from __future__ import annotations

import json
import os

import pytest
from video_helpers import decode_all, make_video

from tsncli.errors import DataError
from tsncli.video import index as video_index
from tsncli.video.index import VideoIndex, index_video
from tsncli.video.index_store import VideoEntry
from tsncli.video.timeline import Timeline, keyframe_at_or_before


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
    assert json.loads(path.read_text())["keyframes"] == ["all", "all"]  # MJPG: one word each

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


def _entry(path, **changes):
    fields = dict(
        path=str(path), size=7, mtime_ns=123, num_frames=5, container_frames=5,
        keyframes=(0, 3), counted=False, width=64, height=48, fps=29.97,
        timeline=Timeline(5, pts=(0, 1001, 2002, 4004, 5005)),
    )  # fmt: skip
    return VideoEntry(**(fields | changes))


def test_saved_entries_load_back_equal_keyframes_and_timestamps_included(tmp_path):
    index = VideoIndex(tmp_path / "i.json")
    a, b = (
        _entry(tmp_path / "a.mp4"),
        _entry(tmp_path / "sub" / "b.mp4", timeline=Timeline(5, 3, 512)),
    )
    c = _entry(tmp_path / "c.avi", keyframes=tuple(range(5)), timeline=None)
    d = _entry(tmp_path / "d.mkv", keyframes=None, counted=True, timeline=None)
    index.entries.update({e.path: e for e in (a, b, c, d)})
    index.save()
    loaded = VideoIndex(tmp_path / "i.json").entries
    assert dict(loaded) == {e.path: e for e in (a, b, c, d)}


def test_an_index_written_in_the_version_2_layout_still_loads_and_is_rewritten(tmp_path):
    video = make_video(tmp_path, "a", "mjpg", n=6)
    st = video.stat()
    old = {  # one object per video, as tsn wrote it before the column layout
        "version": 2,
        "videos": {str(video): {
            "path": str(video), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "num_frames": 6,
            "container_frames": 6, "keyframes": [0, 4], "counted": False, "width": 64,
            "height": 48, "fps": 25.0, "timeline": {"count": 6, "pts": [0, 1, 2, 3, 5, 6]},
        }},
    }  # fmt: skip
    path = tmp_path / "i.json"
    path.write_text(json.dumps(old))
    entries, errors = VideoIndex(path).ensure([video])
    entry = entries[str(video)]
    assert errors == {} and entry.keyframes == (0, 4) and entry.num_frames == 6
    assert entry.timeline.pts_of(4) == 5  # read from the file, not probed (the video has 0..5)
    assert json.loads(path.read_text())["version"] == 3
    assert VideoIndex(path).entries[str(video)] == entry


def test_freshness_uses_the_stat_a_folder_scan_passes_without_a_second_stat(tmp_path, monkeypatch):
    videos = [make_video(tmp_path, n, "mjpg", n=5) for n in ("a", "b")]
    path = tmp_path / "i.json"
    VideoIndex(path).ensure(videos)
    stats = {str(v): (v.stat().st_size, v.stat().st_mtime_ns) for v in videos}
    stat_calls = []
    real_stat = os.stat
    monkeypatch.setattr(
        os, "stat", lambda p, *a, **k: stat_calls.append(p) or real_stat(p, *a, **k)
    )
    entries, _ = VideoIndex(path).ensure([str(v) for v in videos], stats=stats)
    assert [str(p) for p in stat_calls if str(p).endswith(".avi")] == []
    assert [e.num_frames for e in entries.values()] == [5, 5]


def test_a_scanned_stat_that_differs_from_the_entry_makes_it_stale(tmp_path, monkeypatch):
    video = make_video(tmp_path, "a", "mjpg", n=5)
    path = tmp_path / "i.json"
    VideoIndex(path).ensure([video])
    calls = []
    real = video_index.index_video
    monkeypatch.setattr(video_index, "index_video", lambda p: calls.append(p) or real(p))
    VideoIndex(path).ensure([str(video)], stats={str(video): (1, 2)})
    assert calls == [str(video)]
