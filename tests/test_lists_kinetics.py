"""Kinetics lists: the official CSVs, both video layouts, missing videos counted and listed."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from video_helpers import make_video

from tsncli.errors import DataError, UsageError
from tsncli.lists.annotated import AnnotatedListsConfig, build_lists_from_annotations
from tsncli.lists.kinetics import find_kinetics_csvs, load_kinetics_annotations
from tsncli.lists.listfile import read_classes, read_list, read_list_header

HEADER = ["label", "youtube_id", "time_start", "time_end", "split", "is_cc"]
TRAIN = [
    ("abseiling", "-abc_123", 14, 24, "train", 0),
    ("air drumming", "xyz", 0, 10, "train", 1),
    ("passing American football (in game)", "q1", 3, 13, "train", 0),
    ("playing cards, magic", "gone", 5, 15, "train", 0),  # quoted label with a comma
]
VAL = [
    ("abseiling", "v1", 20, 30, "validate", 0),
    ("playing cards, magic", "v2", 0, 10, "validate", 0),
    ("air drumming", "broken", 0, 10, "validate", 0),
]


def write_csv(path: Path, rows: list[tuple], header: list[str] = HEADER) -> Path:
    """An annotation CSV as shipped: header row, labels quoted when they hold commas."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def kinetics(tmp_path):
    """Annotations (DeepMind names) plus a tree mixing the class-folder and flat layouts:
    `gone` has no file and `broken` is an empty (unreadable) file."""
    ann = tmp_path / "annotations" / "kinetics400"
    write_csv(ann / "train.csv", TRAIN)
    write_csv(ann / "validate.csv", VAL)
    write_csv(ann / "test.csv", [("", "t1", 0, 10, "test", 0)])
    videos = tmp_path / "videos"
    make_video(videos / "train" / "abseiling", "-abc_123_000014_000024", "mp4v", n=12)
    make_video(videos / "train" / "air drumming", "xyz_000000_000010", "mjpg", n=9)
    make_video(videos / "flat", "q1", "mjpg", n=7)  # `<youtube_id>.<ext>`
    make_video(videos / "val" / "abseiling", "v1_000020_000030", "mjpg", n=8)
    make_video(videos / "flat", "v2_000000_000010", "mp4v", n=10)
    (videos / "val" / "air drumming" / "broken_000000_000010.mp4").parent.mkdir(parents=True)
    (videos / "val" / "air drumming" / "broken_000000_000010.mp4").write_bytes(b"")
    return tmp_path


def _config(root: Path, **kw) -> AnnotatedListsConfig:
    return AnnotatedListsConfig(
        dataset="kinetics400",
        videos=str(root / "videos"),
        annotations=str(root / "annotations"),
        out=str(root / "lists"),
        workers=1,
        **kw,
    )


def test_classes_are_the_sorted_labels_and_commas_in_quoted_labels_survive(kinetics):
    ann = load_kinetics_annotations(kinetics / "annotations")
    assert ann.classes == sorted(
        ["abseiling", "air drumming", "passing American football (in game)", "playing cards, magic"]
    )
    train = ann.subsets["train"]
    assert [e.video_id for e in train][0] == "-abc_123_000014_000024"
    assert train[3].label == ann.classes.index("playing cards, magic")
    assert train[0].stems == ("-abc_123_000014_000024", "-abc_123")


def test_mmaction_and_s3_file_names_are_found_too(tmp_path):
    write_csv(tmp_path / "kinetics_train.csv", TRAIN)
    write_csv(tmp_path / "kinetics_val.csv", VAL)
    assert set(find_kinetics_csvs(tmp_path)) == {"train", "val"}


def test_a_csv_without_the_official_columns_names_what_is_missing(tmp_path):
    write_csv(tmp_path / "train.csv", [("a", "b")], header=["label", "id"])
    write_csv(tmp_path / "val.csv", VAL)
    with pytest.raises(DataError, match="youtube_id, time_start, time_end"):
        load_kinetics_annotations(tmp_path)


def test_missing_annotation_folder_says_how_to_get_it(tmp_path):
    with pytest.raises(UsageError, match="tsn fetch kinetics400"):
        load_kinetics_annotations(tmp_path / "nope")


def test_lists_find_videos_in_both_layouts_and_list_the_missing(kinetics):
    result = build_lists_from_annotations(_config(kinetics, modality=("rgb",)))
    out = kinetics / "lists"
    train = read_list(out / "kinetics400_rgb_train_split_1.txt")
    val = read_list(out / "kinetics400_rgb_val_split_1.txt")
    assert [Path(r.path).name for r in train] == [
        "-abc_123_000014_000024.mp4",
        "xyz_000000_000010.avi",
        "q1.avi",
    ]
    assert [r.num_frames for r in train] == [12, 9, 7]
    assert [Path(r.path).name for r in val] == ["v1_000020_000030.avi", "v2_000000_000010.mp4"]
    classes = read_classes(out / "kinetics400_classes.txt")
    assert [classes[r.label] for r in val] == ["abseiling", "playing cards, magic"]
    assert read_list_header(out / "kinetics400_rgb_train_split_1.txt")["kind"] == "videos"
    assert result.dropped == 2
    missing = (out / "kinetics400_missing.txt").read_text().splitlines()
    assert missing[0].startswith("# 2 annotated videos")
    assert missing[1] == "train gone_000005_000015 no video file"
    assert missing[2].startswith("val broken_000000_000010 ")


def test_flow_lists_count_one_field_less_than_frames(kinetics):
    build_lists_from_annotations(_config(kinetics))
    flow = read_list(kinetics / "lists" / "kinetics400_flow_train_split_1.txt")
    assert [r.num_frames for r in flow] == [11, 8, 6]


def test_no_video_found_at_all_is_an_error_naming_the_folder(kinetics, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    config = _config(kinetics)
    config = AnnotatedListsConfig(**{**config.__dict__, "videos": str(empty)})
    with pytest.raises(DataError, match="none of the 7 annotated videos"):
        build_lists_from_annotations(config)


def test_frames_source_is_refused_for_kinetics():
    with pytest.raises(UsageError, match="lists name video files"):
        AnnotatedListsConfig(source="frames")


def test_cli_writes_kinetics_lists(runner, cli, kinetics):
    args = [
        "lists",
        "kinetics400",
        str(kinetics / "videos"),
        "--annotations",
        str(kinetics / "annotations"),
        "--out",
        str(kinetics / "cli"),
        "--modality",
        "rgb",
        "--workers",
        "1",
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert len(read_list(kinetics / "cli" / "kinetics400_rgb_train_split_1.txt")) == 3
    assert (kinetics / "cli" / "kinetics400_missing.txt").is_file()


def test_cli_refuses_split_files_options_for_kinetics(runner, cli, kinetics):
    args = ["lists", "kinetics400", str(kinetics / "videos"), "--split", "2"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "unknown option 'split'" in result.output


def test_a_rebuild_checks_each_video_with_the_scans_stat_alone(kinetics, monkeypatch):
    build_lists_from_annotations(_config(kinetics))
    stat_calls = []
    real_stat = os.stat

    def counting_stat(path, *args, **kwargs):
        stat_calls.append(str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    result = build_lists_from_annotations(_config(kinetics))
    assert result.dropped == 2  # `gone` and `broken` again
    checked = [p for p in stat_calls if p.endswith((".mp4", ".avi")) and "broken" not in p]
    assert checked == []  # (the unreadable `broken` is probed again, as every run does)
