"""List and class files in the original TSN format."""

from __future__ import annotations

import pytest

from tsncli.errors import DataError
from tsncli.lists.listfile import (
    VideoRecord,
    list_file_name,
    read_classes,
    read_list,
    write_classes,
    write_list,
)


def test_list_round_trips_and_remaps_to_a_frames_root(tmp_path):
    records = [VideoRecord("/data/frames/v_A_g01_c01", 120, 0), VideoRecord("/x/v B", 7, 3)]
    path = write_list(tmp_path / list_file_name("ucf101", "rgb", "train", 1), records)
    assert path.name == "ucf101_rgb_train_split_1.txt"
    assert read_list(path) == records
    remapped = read_list(path, frames_root=tmp_path / "f")
    assert remapped[0].path == str(tmp_path / "f" / "v_A_g01_c01")
    assert remapped[1].path == str(tmp_path / "f" / "v B")  # spaces in folder names survive


def test_malformed_list_lines_name_the_line(tmp_path):
    bad = tmp_path / "l.txt"
    bad.write_text("/a 10 0\n/b ten 1\n")
    with pytest.raises(DataError, match="l.txt:2"):
        read_list(bad)
    with pytest.raises(DataError, match="tsn lists"):
        read_list(tmp_path / "missing.txt")
    empty = tmp_path / "e.txt"
    empty.write_text("\n")
    with pytest.raises(DataError, match="no entries"):
        read_list(empty)


def test_classes_round_trip_and_reject_gaps(tmp_path):
    path = write_classes(tmp_path / "c.txt", ["ApplyEyeMakeup", "Band Marching"])
    assert read_classes(path) == ["ApplyEyeMakeup", "Band Marching"]
    gap = tmp_path / "gap.txt"
    gap.write_text("0 a\n2 b\n")
    with pytest.raises(DataError, match="without gaps"):
        read_classes(gap)
