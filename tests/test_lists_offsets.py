"""Offset lines (`path offset num_frames label`, MMAction2's `with_offset`) and multi-label lines
(`path num_frames label label ...`): told apart by the list header, round-tripped, and read by
the loaders, which sample only inside `[offset, offset + num_frames)`."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tsncli.data.dataset import TSNDataset
from tsncli.data.frames import missing_frames
from tsncli.data.video_source import VideoFileSource, _neighbour
from tsncli.errors import DataError
from tsncli.lists.listfile import VideoRecord, read_list, read_list_header, write_list


def test_offset_lines_round_trip_with_a_header_that_announces_them(tmp_path):
    records = [VideoRecord("/v/a b.mp4", 20, 3, offset=10), VideoRecord("/v/c.mp4", 7, 1)]
    path = write_list(tmp_path / "l.txt", records, header={"kind": "videos"})
    assert path.read_text().splitlines() == [
        "# tsn-list: kind=videos offsets=1",
        "/v/a b.mp4 10 20 3",  # spaces in paths survive
        "/v/c.mp4 0 7 1",
    ]
    assert read_list(path) == records
    assert read_list(path)[1].offset == 0


def test_multilabel_lines_round_trip_and_keep_every_label(tmp_path):
    records = [VideoRecord("/v/a b.mp4", 30, 2, labels=(2, 0)), VideoRecord("/v/c.mp4", 9, 1)]
    path = write_list(tmp_path / "l.txt", records, header={"kind": "videos", "untrimmed": "1"})
    assert path.read_text().splitlines()[1:] == ["/v/a b.mp4 30 2 0", "/v/c.mp4 9 1"]
    assert read_list_header(path) == {"kind": "videos", "untrimmed": "1", "multilabel": "1"}
    back = read_list(path)
    assert back == records
    assert [r.labels for r in back] == [(2, 0), (1,)] and back[0].label == 2


def test_the_header_decides_what_a_four_field_line_is(tmp_path):
    line = "/v/a.mp4 5 40 2\n"
    offsets = tmp_path / "o.txt"
    offsets.write_text("# tsn-list: kind=videos offsets=1\n" + line)
    assert read_list(offsets) == [VideoRecord("/v/a.mp4", 40, 2, offset=5)]
    labels = tmp_path / "m.txt"
    labels.write_text("# tsn-list: kind=videos multilabel=1\n" + line)
    assert read_list(labels) == [VideoRecord("/v/a.mp4", 5, 40, labels=(40, 2))]
    both = tmp_path / "b.txt"
    both.write_text("# tsn-list: offsets=1 multilabel=1\n/v/a.mp4 5 40 2 7\n")
    assert read_list(both) == [VideoRecord("/v/a.mp4", 40, 2, 5, (2, 7))]
    assert read_list_header(both)["kind"] == "frames"  # the keys alone keep a frames list


def test_plain_lists_read_and_write_as_before(tmp_path):
    records = [VideoRecord("/f/v_A", 120, 0)]
    path = write_list(tmp_path / "plain.txt", records)
    assert path.read_text() == "/f/v_A 120 0\n"  # no header for plain frame lists
    assert read_list(path) == records and records[0].labels == (0,)


def test_malformed_offset_and_multilabel_lines_name_the_line(tmp_path):
    bad = tmp_path / "l.txt"
    bad.write_text("# tsn-list: offsets=1\n/a 0 10 0\n/b 10 1\n")
    with pytest.raises(DataError, match=r"l.txt:3: expected '<frame_dir> <offset> <num_frames>"):
        read_list(bad)
    bad.write_text("# tsn-list: offsets=1\n/a -3 10 0\n")
    with pytest.raises(DataError, match="offset must be 0 or more"):
        read_list(bad)
    bad.write_text("# tsn-list: multilabel=1\n/a 10 0\n/b x\n")
    with pytest.raises(DataError, match=r"l.txt:3: expected .*\[<label> \.\.\.\]"):
        read_list(bad)


def test_a_record_whose_labels_do_not_start_with_its_label_is_refused():
    with pytest.raises(ValueError, match="must start with label 1"):
        VideoRecord("/v", 5, 1, labels=(2, 1))


def _indexed_frames(folder, count):
    """Frames whose grey level encodes their 1-based number: frame k is 4k everywhere."""
    folder.mkdir(parents=True)
    for k in range(1, count + 1):
        image = np.full((40, 48, 3), 4 * k, np.uint8)
        cv2.imwrite(str(folder / f"img_{k:05d}.jpg"), image)
    return folder


@pytest.mark.parametrize("mode", ["train", "val", "test"])
def test_the_loader_samples_only_inside_the_offset_range(tmp_path, mode):
    folder = _indexed_frames(tmp_path / "v", 60)
    record = VideoRecord(str(folder), 10, 0, offset=20)  # frames 21..30 (1-based)
    dataset = TSNDataset([record], "rgb", num_segments=3, mode=mode, crop_size=16, test_crops=1)
    seen = set()
    for epoch in range(20 if mode == "train" else 1):
        dataset.set_epoch(epoch)
        indices = dataset.frame_indices(0)
        assert indices.min() >= 21 and indices.max() <= 30
        seen.update(indices.ravel().tolist())
        clip = dataset.load_clip(0).astype(np.int64)  # what was really read
        levels = np.round(clip.reshape(3, -1).mean(axis=1) / 4).astype(int).tolist()
        assert levels == dataset.frame_indices(0)[:, 0].tolist()
    if mode == "train":
        assert len(seen) > 5  # random offsets spread over the range


def test_flow_snippets_stay_inside_the_offset_range():
    record = VideoRecord("/v", 9, 0, offset=40)  # flow fields 41..49 of the video
    dataset = TSNDataset([record], "flow", num_segments=3, new_length=5, mode="train")
    for epoch in range(10):
        dataset.set_epoch(epoch)
        indices = dataset.frame_indices(0)
        assert indices.shape == (3, 5) and indices.min() >= 41 and indices.max() <= 49


def test_frame_checks_and_retries_respect_the_offset(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    for k in (21, 30):  # only the entry's first and last frames are needed
        cv2.imwrite(str(folder / f"img_{k:05d}.jpg"), np.zeros((8, 8, 3), np.uint8))
    assert missing_frames(VideoRecord(str(folder), 10, 0, offset=20), "rgb") == []
    assert missing_frames(VideoRecord(str(folder), 10, 0, offset=21), "rgb") != []
    # a snippet on the entry's last frame moves back into the entry, never past its end
    moved = _neighbour(np.array([[30]]), 29, 10, flow=False, offset=20)
    assert moved.tolist() == [[29]]
    assert _neighbour(np.array([[21]]), 20, 1, flow=False, offset=20) is None


def test_video_sources_read_the_video_frames_an_offset_entry_names(tmp_path):
    from video_helpers import decode_all, make_video

    video = make_video(tmp_path, "clip", "mjpg", n=30)
    record = VideoRecord(str(video), 5, 0, offset=20)  # frames 21..25 (1-based)
    dataset = TSNDataset([record], "rgb", num_segments=1, mode="val")
    indices = dataset.frame_indices(0)
    assert indices.tolist() == [[23]]
    [frame] = VideoFileSource(size=None).read_frames(record, indices, "rgb")
    expected = cv2.cvtColor(decode_all(video)[22], cv2.COLOR_BGR2RGB)
    assert np.array_equal(frame, expected)
