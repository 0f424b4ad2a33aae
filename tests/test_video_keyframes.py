"""Keyframe parsers: AVI idx1 and OpenDML flags, MP4 stss in display order, and real files."""

from __future__ import annotations

import pytest
from video_helpers import avi_bytes, make_video, mp4_bytes

from tsncli.video.keyframes import read_keyframes


def _file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_avi_idx1_keyframe_flags_of_the_video_stream_give_positions(tmp_path):
    path = _file(tmp_path, "a.avi", avi_bytes([True, False, False, True, False]))
    assert read_keyframes(path) == ([0, 3], 5)


def test_avi_opendml_index_marks_delta_frames_with_bit_31(tmp_path):
    path = _file(tmp_path, "o.avi", avi_bytes([True, False, True, False], odml=True))
    assert read_keyframes(path) == ([0, 2], 4)


def test_mp4_without_stss_means_every_sample_is_a_keyframe(tmp_path):
    assert read_keyframes(_file(tmp_path, "n.mp4", mp4_bytes(5, None))) == ([0, 1, 2, 3, 4], 5)


def test_mp4_stss_sync_samples_are_zero_based_positions(tmp_path):
    assert read_keyframes(_file(tmp_path, "s.mp4", mp4_bytes(6, [1, 4]))) == ([0, 3], 6)


def test_mp4_keyframes_are_placed_in_display_order_when_frames_are_reordered(tmp_path):
    # decode order I0 P3 B1 B2 I6 B4 B5 (open GOP): the second I frame is displayed 7th
    offsets = [100, 300, 0, 0, 300, 0, 0]
    path = _file(tmp_path, "c.mp4", mp4_bytes(7, [1, 5], offsets))
    assert read_keyframes(path) == ([0, 6], 7)


@pytest.mark.parametrize("data", [b"", b"not a video at all", b"RIFF\0\0\0\0AVI junk"])
def test_unknown_or_broken_files_give_no_keyframes(tmp_path, data):
    assert read_keyframes(_file(tmp_path, "x.avi", data)) == (None, None)


def test_opencv_mjpg_avi_has_every_frame_a_keyframe(tmp_path):
    assert read_keyframes(make_video(tmp_path, "m", "mjpg", n=20)) == (list(range(20)), 20)


@pytest.mark.parametrize("codec", ["xvid", "mp4v"])
def test_opencv_xvid_and_mp4v_keyframes_start_groups_of_frames(tmp_path, codec):
    keys, total = read_keyframes(make_video(tmp_path, "v", codec, n=40))
    assert total == 40
    assert keys[0] == 0 and 1 < len(keys) < 40
