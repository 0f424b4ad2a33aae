"""The list's kind picks the snippet source; skipped videos leave their batch, never replaced."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from video_helpers import make_video

from tsncli.data.dataset import TSNDataset, create_loader
from tsncli.data.snippet_source import (
    FRAME_FOLDERS,
    FrameFolderSource,
    check_flow_on_the_fly,
    collate_present,
    create_snippet_source,
)
from tsncli.data.video_source import VideoFileSource, report_once
from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import FrameSettings
from tsncli.lists.listfile import VideoRecord, read_list, write_list


@pytest.fixture
def video_list(tmp_path):
    records = [
        VideoRecord(str(make_video(tmp_path / "v", f"v{i}", "mjpg", n=10)), 10, i % 2)
        for i in range(2)
    ]
    header = {"kind": "videos", "size": "24x20", "index": "idx.json"}
    return write_list(tmp_path / "list.txt", records, header=header), records


def test_video_list_gets_a_video_source_with_indexed_keyframes(video_list):
    path, records = video_list
    source = create_snippet_source(path, records, "rgb")
    assert isinstance(source, VideoFileSource) and source.size == (24, 20)
    assert all(keys == tuple(range(10)) for keys in source.keyframes.values())
    assert (path.parent / "idx.json").is_file()  # the index named in the header
    assert source.failure_log and source.skipped_videos() == []


def test_frame_list_gets_the_frame_folder_source(tmp_path):
    (tmp_path / "list.txt").write_text(f"{tmp_path} 3 0\n")
    path = tmp_path / "list.txt"
    source = create_snippet_source(path, read_list(path), "rgb")
    assert isinstance(source, FrameFolderSource) and source is FRAME_FOLDERS
    assert TSNDataset(read_list(path), "rgb").source is FRAME_FOLDERS  # the dataset's default
    with pytest.raises(UsageError, match="needs a video list"):
        create_snippet_source(path, read_list(path), "flow", "dis")


def test_flow_from_a_video_list_needs_an_on_the_fly_algorithm(video_list):
    path, records = video_list
    with pytest.raises(UsageError, match="--flow-on-the-fly dis"):
        create_snippet_source(path, records, "flow")
    with pytest.raises(UsageError, match="dis, farneback"):
        check_flow_on_the_fly("tvl1")


def test_a_flow_model_evaluated_on_a_video_list_computes_its_own_flow_on_the_fly(video_list):
    path, records = video_list
    trained = FrameSettings(flow_algorithm="farneback", source="videos")
    source = create_snippet_source(path, records, "flow", trained=trained)
    assert isinstance(source, VideoFileSource) and source.flow_algo == "farneback"
    with pytest.raises(UsageError, match="trained on tvl1 flow, too slow"):
        create_snippet_source(path, records, "flow", trained=FrameSettings())


def test_video_source_settings_round_trip_for_checkpoints(video_list):
    path, records = video_list
    source = create_snippet_source(path, records, "flow", "farneback")
    settings = source.frame_settings.to_dict()  # the shape checkpoints store
    assert settings["source"] == "videos" and settings["flow_algorithm"] == "farneback"
    again = VideoFileSource.from_settings(settings)
    assert (again.size, again.short_side, again.flow_algo) == ((24, 20), None, "farneback")


def test_video_dataset_items_match_the_frame_shapes(video_list):
    path, records = video_list
    source = create_snippet_source(path, records, "rgb")
    clip, label = TSNDataset(records, "rgb", 2, 1, "val", 16, source=source)[1]
    assert clip.shape == (2, 3, 16, 16) and clip.dtype == torch.uint8 and label == 1


def test_a_skipped_video_is_left_out_of_the_batch_not_replaced(tmp_path):
    good = make_video(tmp_path, "good", "mjpg", n=8, size=(32, 24))
    records = [VideoRecord(str(tmp_path / "gone.avi"), 8, 0), VideoRecord(str(good), 8, 1)]
    source = VideoFileSource(size=None, failure_log=str(tmp_path / "skipped.txt"))
    dataset = TSNDataset(records, "rgb", 2, 1, "val", 16, source=source)
    ((clips, labels),) = list(create_loader(dataset, 2, collate_fn=collate_present))
    assert clips.shape[0] == 1 and labels.tolist() == [1]
    assert (tmp_path / "skipped.txt").read_text().startswith(str(tmp_path / "gone.avi"))
    np.testing.assert_array_equal(clips[0].numpy(), dataset.load_clip(1))
    list(create_loader(dataset, 2, collate_fn=collate_present))  # next epoch: not again
    assert source.skipped_videos() == [str(tmp_path / "gone.avi")]
    assert len((tmp_path / "skipped.txt").read_text().splitlines()) == 1


def test_a_source_lists_only_its_own_skipped_videos_not_other_reports_of_the_process(tmp_path):
    report_once(str(tmp_path / "frames" / "bad_folder"), "corrupt JPEG")  # e.g. a frame source
    source = VideoFileSource(size=None, failure_log=str(tmp_path / "skipped.txt"))
    assert source.skipped_videos() == []


def test_a_batch_of_only_skipped_videos_is_an_error():
    with pytest.raises(DataError, match="every video of a batch"):
        collate_present([(None, 0), (None, 1)])


def test_errors_that_are_not_about_one_video_are_not_skipped(tmp_path):
    video = make_video(tmp_path, "v", "mjpg", n=8)
    dataset = TSNDataset(
        [VideoRecord(str(video), 7, 0)], "flow", 1, 1, "val", 16, source=VideoFileSource(size=None)
    )
    with pytest.raises(DataError, match="--flow-on-the-fly"):
        dataset[0]


def test_a_missing_frame_is_reported_once_across_workers_and_epochs(tmp_path, monkeypatch):
    import dataclasses

    from tsncli.data import video_source
    from tsncli.data.frames import UnreadableFrameError
    from tsncli.data.snippet_source import FRAME_FOLDERS

    source = dataclasses.replace(FRAME_FOLDERS, failure_log=str(tmp_path / "skipped.txt"))
    error = UnreadableFrameError("frame v/img_00004.jpg is missing", "/d/v/img_00004.jpg")
    for _worker in range(3):  # each loader worker of each epoch starts with nothing reported
        monkeypatch.setattr(video_source, "_REPORTED", set())
        source.report(error)
    assert source.skipped_videos() == ["/d/v"]
    assert (tmp_path / "skipped.txt").read_text().count("/d/v\t") == 1
