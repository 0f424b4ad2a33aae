"""The `tsn lists` core: matching split entries to frame folders, counting, writing, shuffling."""

from __future__ import annotations

import logging

import pytest
import yaml
from lists_helpers import make_frames, read_lines, write_ucf101_splits

from tsncli.errors import DataError, UsageError
from tsncli.lists.builder import ListsConfig, build_lists
from tsncli.lists.frame_index import count_frames
from tsncli.lists.listfile import read_classes, read_list

CLASSES = ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
TRAIN = [
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01",
    "HandstandPushups/v_HandStandPushups_g08_c01",
    "HandstandPushups/v_HandStandPushups_g09_c01",
    "YoYo/v_YoYo_g08_c01",
]
TEST = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01", "YoYo/v_YoYo_g01_c01"]


@pytest.fixture
def dataset(tmp_path):
    """UCF101-format splits (2 splits) and a frame folder per video; returns a config maker."""
    splits = write_ucf101_splits(tmp_path / "splits", CLASSES, {1: (TRAIN, TEST), 2: (TEST, TRAIN)})
    frames = tmp_path / "frames"
    for i, entry in enumerate(TRAIN + TEST):
        make_frames(frames, entry.split("/")[1], img=10 + i, flow=9 + i)

    def config(**kw):
        kw.setdefault("dataset", "ucf101")
        return ListsConfig(frames=str(frames), splits=str(splits), out=str(tmp_path / "out"), **kw)

    return config


@pytest.fixture
def lists_log():
    """Records logged by the lists core (the tsncli logger may not propagate to caplog)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tsncli.lists")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(old)


def test_lists_hold_absolute_folders_frame_counts_and_zero_based_labels(dataset, tmp_path):
    build_lists(dataset())
    rows = read_lines(tmp_path / "out" / "ucf101_rgb_train_split_1.txt")
    frames = (tmp_path / "frames").resolve()
    assert rows[0] == (str(frames / "v_ApplyEyeMakeup_g08_c01"), 10, 0)
    assert [r[2] for r in rows] == [0, 1, 1, 2]
    flow = read_lines(tmp_path / "out" / "ucf101_flow_train_split_1.txt")
    assert [r[1] for r in flow] == [9, 10, 11, 12]  # flow_x count, not img count
    assert len(read_list(tmp_path / "out" / "ucf101_rgb_val_split_2.txt")) == 4
    assert read_classes(tmp_path / "out" / "ucf101_classes.txt") == CLASSES


def test_every_split_and_modality_gets_a_file_and_the_resolved_config_is_saved(dataset, tmp_path):
    result = build_lists(dataset(seed=3))
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    expected = [f"ucf101_{m}_{s}_split_{k}.txt" for m in ("flow", "rgb") for k in (1, 2)
                for s in ("train", "val")]  # fmt: skip
    assert names == sorted([*expected, "ucf101_classes.txt", "ucf101_lists_config.yaml"])
    saved = yaml.safe_load((tmp_path / "out" / "ucf101_lists_config.yaml").read_text())
    assert saved["split"] == [1, 2] and saved["seed"] == 3
    assert saved["frames"] == str((tmp_path / "frames").resolve())
    assert {f.entries for f in result.files if f.path.endswith("train_split_1.txt")} == {4}


def test_a_case_only_match_is_accepted_and_reported_once(dataset, tmp_path, lists_log):
    frames = tmp_path / "frames"
    for old in ("v_HandStandPushups_g08_c01", "v_HandStandPushups_g09_c01"):
        (frames / old).rename(frames / old.replace("HandStand", "Handstand"))
    result = build_lists(dataset())
    rows = read_lines(tmp_path / "out" / "ucf101_rgb_train_split_1.txt")
    assert rows[1][0].endswith("v_HandstandPushups_g08_c01") and rows[1][2] == 1
    assert result.case_matches == 2
    messages = [r.getMessage() for r in lists_log if "ignoring case" in r.getMessage()]
    assert len(messages) == 1 and messages[0].startswith("matched 2 split entries")


def test_missing_and_empty_frame_folders_are_an_error_with_count_and_names(dataset, tmp_path):
    frames = tmp_path / "frames"
    for name in ("v_YoYo_g08_c01", "v_YoYo_g01_c01"):
        for f in (frames / name).iterdir():
            f.unlink()
    (frames / "v_YoYo_g01_c01").rmdir()
    with pytest.raises(DataError) as info:
        build_lists(dataset())
    message = str(info.value)
    assert message.startswith("2 of 6 videos have no frame folder")
    assert "v_YoYo_g08_c01, v_YoYo_g01_c01" in message and "--allow-missing" in message
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_allow_missing_drops_videos_without_frames_and_says_how_many(dataset, tmp_path, lists_log):
    (tmp_path / "frames" / "v_YoYo_g08_c01").rename(tmp_path / "elsewhere")
    result = build_lists(dataset(allow_missing=True))
    assert result.dropped == 1
    rows = read_lines(tmp_path / "out" / "ucf101_rgb_train_split_1.txt")
    assert [r[0].rsplit("/", 1)[1] for r in rows] == [e.split("/")[1] for e in TRAIN[:3]]
    assert any("dropped 1 of 6 videos" in r.getMessage() for r in lists_log)


def test_unequal_flow_x_and_flow_y_counts_are_an_error(dataset, tmp_path):
    (tmp_path / "frames" / "v_YoYo_g08_c01" / "flow_y_00012.jpg").unlink()
    with pytest.raises(DataError, match=r"1 frame folders hold unequal flow_x/flow_y counts "
                       r"\(first: v_YoYo_g08_c01 \(12/11\)\)"):  # fmt: skip
        build_lists(dataset())
    build_lists(dataset(modality=("rgb",)))  # rgb lists do not need flow


def test_absent_flow_files_name_tsn_flow_modality(dataset, tmp_path):
    for f in (tmp_path / "frames").glob("*/flow_*"):
        f.unlink()
    with pytest.raises(DataError, match=r"no flow_x_\* files in any of the 6 .*`tsn flow "
                       r"VIDEOS FRAMES --modality flow`.*--modality rgb"):  # fmt: skip
        build_lists(dataset())
    assert build_lists(dataset(modality="rgb")).files[0].path.endswith("rgb_train_split_1.txt")


def test_some_folders_without_rgb_frames_are_an_error_unless_allowed(dataset, tmp_path):
    for f in (tmp_path / "frames" / "v_YoYo_g08_c01").glob("img_*"):
        f.unlink()
    with pytest.raises(DataError, match=r"1 frame folders have no img_\* files .*--modality rgb"):
        build_lists(dataset())
    build_lists(dataset(allow_missing=True))
    assert len(read_lines(tmp_path / "out" / "ucf101_rgb_train_split_1.txt")) == 3
    assert len(read_lines(tmp_path / "out" / "ucf101_flow_train_split_1.txt")) == 4


def test_shuffle_is_deterministic_per_seed_and_shared_by_rgb_and_flow(dataset, tmp_path):
    out = tmp_path / "out"

    def order(**kw):
        build_lists(dataset(**kw))
        rgb = [r[0] for r in read_lines(out / "ucf101_rgb_val_split_2.txt")]
        assert rgb == [r[0] for r in read_lines(out / "ucf101_flow_val_split_2.txt")]
        return rgb

    official = order()
    assert [p.rsplit("/", 1)[1] for p in official] == [e.split("/")[1] for e in TRAIN]
    assert order(shuffle=True, seed=1) == order(shuffle=True, seed=1)
    seeds = {tuple(order(shuffle=True, seed=s)) for s in range(6)}
    assert len(seeds) > 1 and sorted(official) == sorted(next(iter(seeds)))


def test_missing_frames_root_names_tsn_flow(tmp_path, dataset):
    config = dataset()
    with pytest.raises(DataError, match=r"frames folder .* does not exist; extract frames with"):
        build_lists(ListsConfig(frames=str(tmp_path / "nope"), splits=config.splits))


def test_config_rejects_unknown_modality_dataset_and_split():
    with pytest.raises(UsageError, match=r"--modality takes rgb, flow"):
        ListsConfig(modality="rgb,depth")
    with pytest.raises(UsageError, match=r"unknown dataset 'kinetics'"):
        ListsConfig(dataset="kinetics")
    with pytest.raises(UsageError, match=r"--split takes"):
        ListsConfig(split="0")
    assert ListsConfig(split="1, 3").split == (1, 3)


def test_defaults_point_at_the_unpack_and_flow_locations():
    config = ListsConfig(dataset="hmdb51")
    assert str(config.splits_dir) == "data/hmdb51/splits"
    assert str(config.frames_dir) == "data/hmdb51/frames"


def test_count_frames_counts_each_kind_by_prefix(tmp_path):
    make_frames(tmp_path, "v", img=4, flow=2, flow_y=3)
    (tmp_path / "v" / "notes.txt").touch()
    counts = count_frames(tmp_path / "v")
    assert (counts.img, counts.flow_x, counts.flow_y) == (4, 2, 3)
    assert counts.frames("rgb") == 4 and counts.frames("flow") == 2


def test_a_split_file_without_train_videos_is_named_as_the_problem(dataset, tmp_path):
    (tmp_path / "splits" / "trainlist02.txt").write_bytes(b"")
    with pytest.raises(DataError, match=r"list no train videos for split 2; regenerate them"):
        build_lists(dataset())
    build_lists(dataset(split=(1,)))


def test_unfinished_hidden_folders_are_not_matched(dataset, tmp_path):
    frames = tmp_path / "frames"
    (frames / "v_YoYo_g01_c01").rename(frames / ".v_yoyo_g01_c01.tmp")
    make_frames(frames, ".v_YoYo_g01_c01")
    with pytest.raises(DataError, match=r"1 of 6 videos have no frame folder"):
        build_lists(dataset())


def test_a_frames_tree_left_half_redone_by_an_interrupted_force_is_refused(dataset, tmp_path):
    (tmp_path / "frames" / ".tsn-flow-force.2-of-4").write_text("tsn flow --force started\n")
    with pytest.raises(DataError, match=r"half re-extracted.*\.tsn-flow-force\.2-of-4"):
        build_lists(dataset())


def test_an_nfd_folder_matches_its_nfc_split_entry_and_is_reported(tmp_path, lists_log):
    import unicodedata

    from tsncli.lists.frame_index import FrameIndex
    from tsncli.lists.matching import match_folders
    from tsncli.specs.datasets.splitfiles import ParsedSplits, SplitEntry

    composed = "v_Caf\u00e9_g01_c01"  # NFC, as split files hold it
    decomposed = unicodedata.normalize("NFD", composed)  # as macOS may have written the folder
    make_frames(tmp_path / "frames", decomposed, img=4)
    parsed = ParsedSplits(["Cafe"], {1: {"train": [SplitEntry(composed, 0)], "val": []}})
    index = FrameIndex(str(tmp_path / "frames"))
    found, dropped, other_form = match_folders(parsed, index, False, "frames")
    assert found == {composed: decomposed} and dropped == 0 and other_form == 1
    assert any("Unicode normalisation" in r.getMessage() for r in lists_log)
