"""`tsn lists --source videos`: video lists with a kind header, counts from the video index."""

from __future__ import annotations

import json

import pytest
from lists_helpers import write_ucf101_splits
from video_helpers import make_video

from tsncli.errors import UsageError
from tsncli.lists.builder import ListsConfig, build_lists
from tsncli.lists.listfile import VideoRecord, read_list, read_list_header, write_list


@pytest.fixture
def ucf(tmp_path):
    """UCF101-style splits and MJPG videos under videos/<Class>/ (one video has 7 frames)."""
    classes = ["Jump", "Run"]
    train = ["Jump/v_Jump_g01_c01", "Run/v_Run_g01_c01"]
    test = ["Jump/v_Jump_g02_c01", "Run/v_Run_g02_c01"]
    write_ucf101_splits(tmp_path / "splits", classes, {1: (train, test)})
    for i, entry in enumerate(train + test):
        cls, name = entry.split("/")
        make_video(tmp_path / "videos" / cls, name, "mjpg", n=7 if i == 0 else 9, size=(32, 24))
    return tmp_path


def _build(ucf, **kw):
    cfg = ListsConfig(
        dataset="ucf101",
        frames=str(ucf / "videos"),
        splits=str(ucf / "splits"),
        out=str(ucf / "lists"),
        source="videos",
        workers=1,
        **kw,
    )
    return build_lists(cfg)


def test_video_lists_name_video_files_with_frame_counts_and_a_kind_header(ucf):
    _build(ucf)
    rgb = ucf / "lists" / "ucf101_rgb_train_split_1.txt"
    assert read_list_header(rgb) == {
        "kind": "videos",
        "index": "ucf101_video_index.json",
        "size": "340x256",
    }
    records = read_list(rgb)  # the header is a comment: plain readers still work
    assert records[0] == VideoRecord(str(ucf / "videos/Jump/v_Jump_g01_c01.avi"), 7, 0)
    assert [r.num_frames for r in records] == [7, 9]


def test_flow_video_lists_count_flow_fields_one_less_than_frames(ucf):
    _build(ucf)
    records = read_list(ucf / "lists" / "ucf101_flow_train_split_1.txt")
    assert [r.num_frames for r in records] == [6, 8]


def test_video_index_is_written_beside_the_lists_and_reused(ucf, monkeypatch):
    result = _build(ucf)
    index = ucf / "lists" / "ucf101_video_index.json"
    assert str(index) in [f.path for f in result.files]
    assert len(json.loads(index.read_text())["names"]) == 4  # one row per video
    from tsncli.video import index as video_index

    monkeypatch.setattr(video_index, "index_video", lambda p: 1 / 0)  # must not be called
    _build(ucf)


def test_short_side_goes_in_the_header_and_excludes_size(ucf):
    _build(ucf, short_side=128)
    header = read_list_header(ucf / "lists" / "ucf101_rgb_val_split_1.txt")
    assert header["short_side"] == "128" and "size" not in header
    with pytest.raises(UsageError, match="not both"):
        ListsConfig(dataset="ucf101", source="videos", size="64x48", short_side=128)


def test_missing_videos_are_errors_unless_allowed(ucf):
    (ucf / "videos/Run/v_Run_g02_c01.avi").unlink()
    with pytest.raises(Exception, match="1 of 4 videos have no readable video file"):
        _build(ucf)
    result = _build(ucf, allow_missing=True)
    assert result.dropped == 1


def test_unknown_source_is_a_usage_error():
    with pytest.raises(UsageError, match="frames or videos"):
        ListsConfig(dataset="ucf101", source="jpegs")


def test_list_header_round_trips_and_plain_lists_are_frame_lists(tmp_path):
    records = [VideoRecord("/v/a.avi", 10, 1)]
    write_list(tmp_path / "v.txt", records, header={"kind": "videos", "size": "64x48"})
    assert read_list_header(tmp_path / "v.txt") == {"kind": "videos", "size": "64x48"}
    assert read_list(tmp_path / "v.txt") == records
    write_list(tmp_path / "f.txt", records)
    assert read_list_header(tmp_path / "f.txt") == {"kind": "frames"}
    (tmp_path / "bare.txt").write_text("# tsn-list: videos\n/v/a.avi 10 1\n")
    assert read_list_header(tmp_path / "bare.txt")["kind"] == "videos"


def test_cli_source_videos_writes_lists(runner, cli, ucf):
    args = ["lists", "ucf101", str(ucf / "videos"), "--splits", str(ucf / "splits")]
    args += ["--out", str(ucf / "out"), "--source", "videos", "--workers", "1", "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert read_list_header(ucf / "out" / "ucf101_rgb_val_split_1.txt")["kind"] == "videos"
