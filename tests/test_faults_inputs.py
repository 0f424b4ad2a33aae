"""Text inputs: bytes that are not UTF-8 give one line naming the file, line and byte; a UTF-8
BOM is accepted silently; a split CSV's repeated rows warn and conflicting ones fail."""

from __future__ import annotations

import logging

import pytest

from tsncli.errors import DataError
from tsncli.lists.custom_split import read_split_csv
from tsncli.lists.listfile import read_classes, read_list
from tsncli.models.convert import read_class_names
from tsncli.specs.datasets.ucf101 import parse_ucf101_splits

BOM = b"\xef\xbb\xbf"


def test_a_split_csv_that_is_not_utf8_names_the_file_line_and_byte(tmp_path):
    csv = tmp_path / "split.csv"
    csv.write_bytes(b"a_00,jump,train\nb_00,caf\xe9,val\n")
    with pytest.raises(
        DataError, match=r"split.csv:2: split file is not UTF-8 \(byte 0xe9 at offset 24"
    ):
        read_split_csv(csv)


def test_a_classes_file_that_is_not_utf8_names_the_line(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_bytes(b"0 run\n1 caf\xe9\n")
    with pytest.raises(DataError, match=r"classes.txt:2: classes file is not UTF-8"):
        read_classes(classes)
    with pytest.raises(DataError, match=r"classes.txt:2: classes file is not UTF-8"):
        read_class_names(classes, 2)


def test_an_official_split_file_that_is_not_utf8_names_the_line(tmp_path):
    (tmp_path / "classInd.txt").write_bytes(b"1 Run\n2 Caf\xe9\n")
    (tmp_path / "trainlist01.txt").write_bytes(b"Run/v_Run_g01_c01.avi 1\n")
    (tmp_path / "testlist01.txt").write_bytes(b"Run/v_Run_g02_c01.avi\n")
    with pytest.raises(DataError, match=r"classInd.txt:2: split file is not UTF-8"):
        parse_ucf101_splits(tmp_path)


def test_a_bom_is_accepted_in_list_classes_and_split_files(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_bytes(BOM + b"frames/v_a 10 0\nframes/v_b 12 1\n")
    assert read_list(listing)[0].path == "frames/v_a"
    classes = tmp_path / "classes.txt"
    classes.write_bytes(BOM + b"0 run\n1 jump\n")
    assert read_classes(classes) == ["run", "jump"]
    assert read_class_names(classes, 2) == ["run", "jump"]
    csv = tmp_path / "split.csv"
    csv.write_bytes(BOM + b"video,label,subset\na_00,run,train\nb_00,run,val\n")
    assert read_split_csv(csv).splits[1]["train"][0].video_id == "a_00"


def test_a_repeated_split_row_is_dropped_with_a_warning(tmp_path, caplog):
    csv = tmp_path / "split.csv"
    csv.write_text("a_00,run,train\nb_00,run,val\na_00.mp4,run,train\n")
    with caplog.at_level(logging.WARNING, logger="tsncli"):
        parsed = read_split_csv(csv)
    assert [e.video_id for e in parsed.splits[1]["train"]] == ["a_00"]
    assert "split.csv:3: video 'a_00' repeats line 1" in caplog.text


@pytest.mark.parametrize("repeat", ["a_00,run,val", "a_00,jump,train"])
def test_a_conflicting_split_row_is_an_error(tmp_path, repeat):
    csv = tmp_path / "split.csv"
    csv.write_text(f"a_00,run,train\nb_00,jump,val\n{repeat}\n")
    with pytest.raises(DataError, match=r"split.csv:3: video 'a_00' is already on line 1"):
        read_split_csv(csv)


def test_the_cli_prints_one_line_for_a_non_utf8_split_csv(runner, cli, tmp_path):
    csv = tmp_path / "split.csv"
    csv.write_bytes(b"a_00,run,train\nb_00,caf\xe9,val\n")
    (tmp_path / "frames").mkdir()
    args = ["lists", "custom", str(tmp_path / "frames"), "--split-file", str(csv)]
    result = runner.invoke(cli, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "not UTF-8" in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1
