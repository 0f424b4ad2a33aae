"""Custom datasets: class folders with a stratified seeded split, or a video,label,subset CSV."""

from __future__ import annotations

import pytest
from lists_helpers import make_frames, read_lines

from tsncli.errors import DataError, UsageError
from tsncli.lists.builder import ListsConfig, build_lists
from tsncli.lists.custom_split import read_split_csv, scan_video_root, stratified_split
from tsncli.lists.listfile import read_classes

COUNTS = {"jump": 10, "run": 5, "wave": 2}


@pytest.fixture
def videos(tmp_path):
    root = tmp_path / "videos"
    for name, n in COUNTS.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            (root / name / f"{name}_{i:02d}.mp4").touch()
            make_frames(tmp_path / "frames", f"{name}_{i:02d}", img=5, flow=4)
    (root / "run" / "notes.txt").touch()  # not a video
    return root


def test_class_folders_become_sorted_classes_of_video_ids(videos):
    classes = scan_video_root(videos)
    assert list(classes) == ["jump", "run", "wave"]
    assert classes["run"] == [f"run_{i:02d}" for i in range(5)]


def test_stratified_split_puts_the_ratio_of_every_class_in_val(videos):
    parsed = stratified_split(scan_video_root(videos), 0.2, seed=0)
    val = parsed.splits[1]["val"]
    per_class = {c: sum(e.label == i for e in val) for i, c in enumerate(parsed.classes)}
    assert per_class == {"jump": 2, "run": 1, "wave": 1}  # a 2-video class still gets 1 in val
    assert len(parsed.splits[1]["train"]) == 17 - 4


def test_stratified_split_is_the_same_for_the_same_seed_and_differs_across_seeds(videos):
    classes = scan_video_root(videos)
    first = stratified_split(classes, 0.3, seed=7)
    assert first == stratified_split(classes, 0.3, seed=7)
    others = {tuple(stratified_split(classes, 0.3, seed=s).splits[1]["val"]) for s in range(5)}
    assert len(others) > 1


def test_val_ratio_outside_zero_one_is_a_usage_error(videos):
    with pytest.raises(UsageError, match=r"--val-ratio must be between 0 and 1"):
        stratified_split(scan_video_root(videos), 1.0, seed=0)


def test_custom_lists_use_the_official_format(videos, tmp_path):
    config = ListsConfig(
        dataset="custom", frames=str(tmp_path / "frames"), videos=str(videos), out=str(tmp_path)
    )
    build_lists(config)
    rows = read_lines(tmp_path / "custom_rgb_train_split_1.txt")
    assert len(rows) == 13 and {r[1] for r in rows} == {5}
    assert {r[1] for r in read_lines(tmp_path / "custom_flow_val_split_1.txt")} == {4}
    assert read_classes(tmp_path / "custom_classes.txt") == ["jump", "run", "wave"]


def test_split_file_csv_decides_the_subsets(videos, tmp_path):
    csv = tmp_path / "split.csv"
    csv.write_text("video,label,subset\njump_00.mp4,jump,train\nrun/run_01.mp4,run,test\n"
                   "wave_00,wave,val\nwave_01,wave,train\n")  # fmt: skip
    parsed = read_split_csv(csv)
    assert parsed.classes == ["jump", "run", "wave"]
    assert [(e.video_id, e.label) for e in parsed.splits[1]["val"]] == [("run_01", 1),
                                                                       ("wave_00", 2)]  # fmt: skip
    config = ListsConfig(
        dataset="custom", frames=str(tmp_path / "frames"), split_file=str(csv), name="mine",
        out=str(tmp_path / "out"),
    )  # fmt: skip
    build_lists(config)
    assert len(read_lines(tmp_path / "out" / "mine_rgb_train_split_1.txt")) == 2


def test_split_file_labels_must_be_class_folders_when_videos_is_given(videos, tmp_path):
    csv = tmp_path / "split.csv"
    csv.write_text("jump_00,jump,train\nx_01,swim,val\n")
    with pytest.raises(DataError, match=r"split.csv:2: label 'swim' is not a class folder"):
        read_split_csv(csv, list(scan_video_root(videos)))


def test_split_file_rows_are_checked(tmp_path):
    csv = tmp_path / "split.csv"
    csv.write_text("jump_00,jump,train\njump_01,jump,holdout\n")
    with pytest.raises(DataError, match=r"split.csv:2: subset 'holdout' must be train, val"):
        read_split_csv(csv)
    csv.write_text("jump_00,jump\n")
    with pytest.raises(DataError, match=r"split.csv:1: expected 'video,label,subset'"):
        read_split_csv(csv)
    csv.write_text("jump_00,jump,train\n")
    with pytest.raises(DataError, match=r"has no val rows"):
        read_split_csv(csv)


def test_custom_needs_videos_or_a_split_file(tmp_path):
    (tmp_path / "frames").mkdir()
    with pytest.raises(UsageError, match=r"needs --videos VIDEO_ROOT or --split-file CSV"):
        build_lists(ListsConfig(dataset="custom", frames=str(tmp_path / "frames")))


def test_empty_class_folder_and_duplicate_video_ids_are_errors(videos):
    (videos / "swim").mkdir()
    with pytest.raises(DataError, match=r"class folder .*swim holds no videos"):
        scan_video_root(videos)
    (videos / "swim" / "jump_00.avi").touch()
    with pytest.raises(DataError, match=r"video id 'jump_00' is in classes 'jump' and 'swim'"):
        scan_video_root(videos)


def test_a_split_with_no_val_video_says_why_for_custom_videos(tmp_path):
    root = tmp_path / "videos"
    for name in ("jump", "run"):  # one video per class: each stays in training
        (root / name).mkdir(parents=True)
        (root / name / f"{name}_00.mp4").touch()
        make_frames(tmp_path / "frames", f"{name}_00", img=5, flow=4)
    config = ListsConfig(
        dataset="custom", frames=str(tmp_path / "frames"), videos=str(root), out=str(tmp_path)
    )
    with pytest.raises(DataError) as excinfo:
        build_lists(config)
    message = str(excinfo.value)
    assert "no val videos" in message and "2 or more videos" in message
    assert "split files under" not in message  # custom videos have no split files
