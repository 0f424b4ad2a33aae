"""Reading dense_flow frames: layout, colour order, flow stacking, errors naming the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from train_fixtures import COLOURS, FLOW_X, FLOW_Y, make_video

from tsncli.data.frames import (
    UnreadableFrameError,
    missing_frames,
    read_frame_file,
    read_frames,
    read_image,
    stack_frames,
    validate_records,
)
from tsncli.errors import DataError
from tsncli.lists.listfile import VideoRecord


def load_snippets(folder, indices, modality):
    """The frames `indices` [S, L] of one folder as uint8 (H, W, S*L*C), read and stacked as
    the dataset's frame-folder source and test mode do."""
    return stack_frames(read_frames(folder, indices, modality))


def test_rgb_snippets_stack_frames_on_channels_in_rgb_order(tmp_path):
    folder = make_video(tmp_path / "v", 6, label=0)
    clip = load_snippets(folder, np.array([[1], [3], [6]]), "rgb")
    assert clip.shape == (32, 40, 9) and clip.dtype == np.uint8
    mean = clip.reshape(-1, 3, 3).mean(axis=0)  # (snippet, rgb)
    assert np.allclose(mean, np.array(COLOURS[0])[None, :], atol=8)


def test_flow_snippets_alternate_x_and_y(tmp_path):
    folder = make_video(tmp_path / "v", 6, label=1)
    clip = load_snippets(folder, np.array([[1, 2], [5, 6]]), "flow")
    assert clip.shape == (32, 40, 8)
    means = clip.reshape(-1, 8).mean(axis=0)
    assert np.allclose(means[0::2], FLOW_X[1], atol=4)
    assert np.allclose(means[1::2], FLOW_Y[1], atol=4)


def test_missing_frame_error_names_the_file(tmp_path):
    folder = make_video(tmp_path / "v", 3, label=0)
    with pytest.raises(DataError, match=r"flow_x_00004\.jpg.*tsn flow"):
        load_snippets(folder, np.array([[3, 4]]), "flow")


def test_corrupt_frame_is_a_data_error(tmp_path):
    folder = make_video(tmp_path / "v", 2, label=0)
    (folder / "img_00002.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"img_00002\.jpg cannot be decoded"):
        load_snippets(folder, np.array([[2]]), "rgb")


def test_a_folder_held_in_memory_reads_like_the_folder_on_disk(tmp_path):
    folder = make_video(tmp_path / "v", 4, label=1)
    files = {str(p): p.read_bytes() for p in folder.iterdir()}
    asked = []

    def from_memory(path, grayscale):
        asked.append(path)
        flags = cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR_RGB
        return cv2.imdecode(np.frombuffer(files[path], np.uint8), flags)

    indices = np.array([[1, 2], [3, 4]])
    for modality in ("rgb", "flow"):
        on_disk = read_frames(folder, indices, modality, read_image)
        in_memory = read_frames(folder, indices, modality, from_memory)
        assert all(np.array_equal(a, b) for a, b in zip(on_disk, in_memory, strict=True))
    assert asked and all(Path(p).parent == folder for p in asked)


def test_validation_reports_every_bad_entry_before_training(tmp_path):
    good = make_video(tmp_path / "good", 4, label=0)
    short = make_video(tmp_path / "short", 2, label=0)
    records = [
        VideoRecord(str(good), 4, 0),
        VideoRecord(str(short), 4, 0),  # claims 4 frames, has 2
        VideoRecord(str(tmp_path / "gone"), 4, 1),
    ]
    assert missing_frames(records[0], "flow") == []
    with pytest.raises(DataError) as info:
        validate_records(records, "rgb", "x.txt")
    message = str(info.value)
    assert "2 of 3 videos in x.txt" in message
    assert "entry 2" in message and "img_00004.jpg" in message and "entry 3" in message


def test_unknown_modality_lists_the_valid_ones(tmp_path):
    from tsncli.errors import UsageError

    with pytest.raises(UsageError, match="rgb, flow, rgbdiff"):
        load_snippets(tmp_path, np.array([[1]]), "depth")


def test_frame_file_bytes_carry_read_images_errors(tmp_path):
    path = tmp_path / "img_00001.jpg"
    path.write_bytes(b"\xff\xd8 bytes")
    assert read_frame_file(str(path)).tobytes() == b"\xff\xd8 bytes"
    missing = str(tmp_path / "img_00002.jpg")
    with pytest.raises(UnreadableFrameError, match="is missing; re-extract") as excinfo:
        read_frame_file(missing)
    with pytest.raises(UnreadableFrameError) as decoded:
        read_image(missing, False)
    assert str(excinfo.value) == str(decoded.value) and excinfo.value.path == missing
    (tmp_path / "img_00003.jpg").mkdir()
    with pytest.raises(UnreadableFrameError, match="is a folder, not a JPEG"):
        read_frame_file(str(tmp_path / "img_00003.jpg"))
