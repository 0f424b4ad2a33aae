"""Video decoding: streaming frames, resizing, frame steps, finding videos, bad files."""

from __future__ import annotations

import pytest
from flow_helpers import moving_video

from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import parse_size
from tsncli.video.decode import iter_video_frames, probe_video
from tsncli.video.files import list_videos, resolve_frame_size


def test_frames_are_resized_to_the_given_size(tmp_path):
    video = moving_video(tmp_path / "v.avi", n=4, width=64, height=48)
    frames = list(iter_video_frames(video, size=(34, 26)))
    assert len(frames) == 4
    assert all(f.shape == (26, 34, 3) and f.dtype.name == "uint8" for f in frames)


def test_short_side_keeps_the_aspect_ratio(tmp_path):
    video = moving_video(tmp_path / "v.avi", n=2, width=64, height=48)
    assert list(iter_video_frames(video, short_side=24))[0].shape == (24, 32, 3)
    assert resolve_frame_size(640, 480, short_side=256) == (341, 256)


def test_step_keeps_frames_one_step_apart(tmp_path):
    video = moving_video(tmp_path / "v.avi", n=7)
    assert len(list(iter_video_frames(video, step=3))) == 3  # frames 1, 4, 7


def test_probe_reads_size_and_frame_count(tmp_path):
    info = probe_video(moving_video(tmp_path / "v.avi", n=5, width=64, height=48))
    assert (info.width, info.height, info.frame_count) == (64, 48, 5)


def test_corrupt_video_raises_a_data_error(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video" * 50)
    with pytest.raises(DataError, match="corrupt"):
        list(iter_video_frames(bad))


def test_missing_video_raises_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        list(iter_video_frames(tmp_path / "nope.avi"))


def test_size_must_be_w_by_h():
    assert parse_size("340x256") == (340, 256)
    with pytest.raises(UsageError, match="WxH"):
        parse_size("340")
    with pytest.raises(UsageError, match="positive"):
        parse_size("0x10")


def test_folders_are_searched_recursively_by_extension(tmp_path):
    moving_video(tmp_path / "a" / "x.avi", n=2)
    moving_video(tmp_path / "b" / "c" / "y.avi", n=2)
    (tmp_path / "notes.txt").write_text("hi")
    found = list_videos(tmp_path, ("avi",))
    assert [p.name for p in found] == ["x.avi", "y.avi"]


def test_list_files_resolve_relative_paths_and_split_labels(tmp_path):
    moving_video(tmp_path / "v" / "x.avi", n=2)
    moving_video(tmp_path / "v" / "y.avi", n=2)
    listing = tmp_path / "videos.txt"
    listing.write_text("# my videos\nv/x.avi\n\nv/y.avi 3\n")
    assert [p.name for p in list_videos(listing)] == ["x.avi", "y.avi"]


def test_list_files_with_missing_videos_name_them(tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text("gone.avi\n")
    with pytest.raises(UsageError, match="gone.avi"):
        list_videos(listing)


def test_a_video_list_with_a_bom_and_non_utf8_names_is_read_as_written(tmp_path):
    import os

    ok = tmp_path / "a.avi"
    ok.write_bytes(b"x")
    raw = os.fsdecode(b"caf\xe9.avi")  # a Latin-1 name on a byte file system
    (tmp_path / raw).write_bytes(b"x")
    listing = tmp_path / "videos.txt"
    listing.write_bytes(b"\xef\xbb\xbfa.avi\r\ncaf\xe9.avi\n")
    found = list_videos(listing, ("avi",))
    assert [p.name for p in found] == ["a.avi", raw]
    listing.write_bytes(b"\xef\xbb\xbfmissing.avi\n")
    import pytest

    from tsncli.errors import UsageError

    with pytest.raises(UsageError) as err:
        list_videos(listing, ("avi",))
    assert "(missing.avi)" in str(err.value)  # no invisible BOM before the name
