"""The official split parsers (UCF101 and HMDB51 formats as shipped), read through the registry."""

from __future__ import annotations

import pytest
from lists_helpers import REFERENCE_SPLITS, write_hmdb51_splits, write_ucf101_splits

from tsncli.errors import DataError, UsageError
from tsncli.lists.builder import load_official_splits
from tsncli.specs.datasets import DATASETS
from tsncli.specs.datasets.hmdb51 import parse_hmdb51_splits
from tsncli.specs.datasets.splitfiles import SplitEntry
from tsncli.specs.datasets.ucf101 import parse_ucf101_splits

CLASSES = ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]


def _ucf(tmp_path, **kw):
    return write_ucf101_splits(
        tmp_path / "splits",
        CLASSES,
        {
            1: (["YoYo/v_YoYo_g08_c01", "HandstandPushups/v_HandStandPushups_g08_c01"],
                ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01"]),
            2: (["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01"], ["YoYo/v_YoYo_g08_c01"]),
        },
        **kw,
    )  # fmt: skip


def test_ucf101_parser_reads_crlf_files_with_zero_based_labels_from_class_index(tmp_path):
    folder = _ucf(tmp_path)
    assert b"\r\n" in (folder / "trainlist01.txt").read_bytes()
    parsed = parse_ucf101_splits(folder)
    assert parsed.classes == CLASSES
    assert parsed.splits[1]["train"] == [
        SplitEntry("v_YoYo_g08_c01", 2),
        SplitEntry("v_HandStandPushups_g08_c01", 1),
    ]
    assert parsed.splits[1]["val"] == [SplitEntry("v_ApplyEyeMakeup_g01_c01", 0)]
    assert sorted(parsed.splits) == [1, 2]


def test_ucf101_parser_accepts_lf_files_and_a_byte_order_mark(tmp_path):
    folder = _ucf(tmp_path, newline="\n")
    index = folder / "classInd.txt"
    index.write_bytes(b"\xef\xbb\xbf" + index.read_bytes())
    assert parse_ucf101_splits(folder).classes == CLASSES


def test_ucf101_parser_finds_the_split_files_in_a_subfolder(tmp_path):
    _ucf(tmp_path)
    (tmp_path / "splits").rename(tmp_path / "ucfTrainTestlist")
    (tmp_path / "unpacked").mkdir()
    (tmp_path / "ucfTrainTestlist").rename(tmp_path / "unpacked" / "ucfTrainTestlist")
    assert parse_ucf101_splits(tmp_path / "unpacked").classes == CLASSES


def test_ucf101_parser_only_reads_the_splits_asked_for(tmp_path):
    parsed = parse_ucf101_splits(_ucf(tmp_path), [2])
    assert list(parsed.splits) == [2]


def test_ucf101_parser_names_the_present_splits_when_one_is_absent(tmp_path):
    with pytest.raises(UsageError, match=r"split 3 not in .* \(it has 1,2\); pass --split 1,2"):
        parse_ucf101_splits(_ucf(tmp_path), [3])


def test_ucf101_parser_rejects_a_train_label_that_disagrees_with_class_index(tmp_path):
    folder = _ucf(tmp_path)
    (folder / "trainlist01.txt").write_bytes(b"YoYo/v_YoYo_g08_c01.avi 1\r\n")
    with pytest.raises(DataError, match=r"trainlist01.txt:1: label 1 disagrees"):
        parse_ucf101_splits(folder)


def test_ucf101_parser_rejects_a_class_missing_from_class_index(tmp_path):
    folder = _ucf(tmp_path)
    (folder / "testlist02.txt").write_bytes(b"Nope/v_Nope_g01_c01.avi\r\n")
    with pytest.raises(DataError, match=r"testlist02.txt:1: cannot tell the class"):
        parse_ucf101_splits(folder)


def test_missing_split_folder_error_names_tsn_unpack(tmp_path):
    with pytest.raises(UsageError, match=r"tsn unpack ucf101"):
        parse_ucf101_splits(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no ucf101-format split files"):
        parse_ucf101_splits(tmp_path / "empty")


HMDB = {
    "kick_ball": [("v_kb_1", [1, 2, 1]), ("v_kb_2", [2, 1, 0]), ("v_kb_3", [0, 0, 2])],
    "kick": [("v_k_1", [1, 1, 2]), ("v_k_2", [2, 0, 1])],
}


def test_hmdb51_parser_reads_flags_with_trailing_spaces_and_skips_unused(tmp_path):
    folder = write_hmdb51_splits(tmp_path / "splits", HMDB)
    assert (folder / "kick_test_split1.txt").read_text().splitlines()[0].endswith(" ")
    parsed = parse_hmdb51_splits(folder)
    assert parsed.classes == ["kick", "kick_ball"]  # sorted without class_list.txt
    assert parsed.splits[1]["train"] == [SplitEntry("v_k_1", 0), SplitEntry("v_kb_1", 1)]
    assert parsed.splits[1]["val"] == [SplitEntry("v_k_2", 0), SplitEntry("v_kb_2", 1)]
    assert [e.video_id for e in parsed.splits[2]["train"]] == ["v_k_1", "v_kb_2"]
    assert [e.video_id for e in parsed.splits[3]["val"]] == ["v_k_1", "v_kb_3"]


def test_hmdb51_labels_follow_class_list_txt_when_present(tmp_path):
    folder = write_hmdb51_splits(tmp_path / "splits", HMDB, class_list=["kick_ball", "kick"])
    parsed = parse_hmdb51_splits(folder)
    assert parsed.classes == ["kick_ball", "kick"]
    assert parsed.splits[1]["train"] == [SplitEntry("v_kb_1", 0), SplitEntry("v_k_1", 1)]


def test_hmdb51_class_list_that_disagrees_with_the_split_files_is_an_error(tmp_path):
    folder = write_hmdb51_splits(tmp_path / "splits", HMDB, class_list=["kick", "punch"])
    with pytest.raises(DataError, match=r"class_list.txt does not match"):
        parse_hmdb51_splits(folder)


def test_hmdb51_parser_rejects_an_unknown_flag(tmp_path):
    folder = write_hmdb51_splits(tmp_path / "splits", HMDB)
    (folder / "kick_test_split2.txt").write_text("v_k_1.avi 7 \n")
    with pytest.raises(DataError, match=r"kick_test_split2.txt:1: expected"):
        parse_hmdb51_splits(folder)


def test_the_toy_dataset_reads_ucf101_format_split_files():
    assert DATASETS.get("toy").splits is DATASETS.get("ucf101").splits


def test_an_unknown_dataset_lists_the_registered_ones():
    with pytest.raises(UsageError, match=r"unknown dataset 'kinetics'; use one of: ucf101"):
        load_official_splits("kinetics", ".")


needs_reference = pytest.mark.reference(REFERENCE_SPLITS)  # skip locally, fail in CI


@needs_reference
def test_official_ucf101_split_files_give_the_published_sizes():
    parsed = load_official_splits("ucf101", REFERENCE_SPLITS / "ucf101")
    sizes = {k: (len(s["train"]), len(s["val"])) for k, s in parsed.splits.items()}
    assert sizes == {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}
    assert len(parsed.classes) == 101
    assert parsed.classes[36] == "HandstandPushups"  # classInd.txt line "37 HandstandPushups"


@needs_reference
def test_official_hmdb51_split_files_give_the_published_sizes():
    parsed = load_official_splits("hmdb51", REFERENCE_SPLITS / "hmdb51")
    sizes = {k: (len(s["train"]), len(s["val"])) for k, s in parsed.splits.items()}
    assert sizes == {1: (3570, 1530), 2: (3570, 1530), 3: (3570, 1530)}
    assert len(parsed.classes) == 51
    assert parsed.classes[:2] == ["brush_hair", "cartwheel"]
