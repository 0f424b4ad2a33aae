"""TSNDataset: item shapes per modality and mode, sampling use, determinism, the loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_fixtures import make_dataset

from tsncli.data.dataset import TSNDataset, create_loader
from tsncli.errors import UsageError
from tsncli.lists.listfile import read_list


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("ds"), num_classes=2, videos_per_class=2)


def _records(lists, modality="rgb"):
    return read_list(lists / f"toyds_{modality}_train_split_1.txt")


def test_rgb_train_items_are_uint8_segments_by_channels(lists):
    ds = TSNDataset(_records(lists), "rgb", num_segments=3, new_length=1, crop_size=24)
    clip, label = ds[0]
    assert clip.shape == (3, 3, 24, 24) and clip.dtype == torch.uint8
    assert label == 0 and ds.channels == 3


def test_flow_items_stack_five_xy_pairs_per_segment(lists):
    ds = TSNDataset(_records(lists, "flow"), "flow", num_segments=3, new_length=5, crop_size=24)
    clip, label = ds[3]
    assert clip.shape == (3, 10, 24, 24) and label == 1
    x_mean = clip[:, 0::2].float().mean()
    y_mean = clip[:, 1::2].float().mean()
    # class 1 moves right (x ~186) unless the clip was flipped (x inverted to ~69); y stays ~128
    assert abs(y_mean - 128) < 6 and (abs(x_mean - 186) < 8 or abs(x_mean - 69) < 8)


def test_val_and_test_modes_use_centre_and_evenly_spaced_snippets(lists):
    records = _records(lists)
    val = TSNDataset(records, "rgb", num_segments=3, mode="val", crop_size=24)
    assert val.frame_indices(0).ravel().tolist() == [2, 5, 7]  # int(4/3 + 8/3 i) + 1
    test = TSNDataset(records, "rgb", num_segments=4, mode="test", crop_size=24, test_crops=10)
    clip, _ = test[0]
    assert clip.shape == (10, 4, 3, 24, 24)
    assert test.frame_indices(0).ravel().tolist() == [2, 4, 6, 8]


def test_train_sampling_depends_on_seed_epoch_and_index_only(lists):
    records = _records(lists)
    a = TSNDataset(records, "rgb", num_segments=3, crop_size=24, seed=5)
    b = TSNDataset(records, "rgb", num_segments=3, crop_size=24, seed=5)
    assert torch.equal(a[1][0], b[1][0])
    epochs = set()
    for epoch in range(6):
        a.set_epoch(epoch)
        epochs.add(tuple(a.frame_indices(1).ravel().tolist()))
    assert len(epochs) > 1
    for index in range(len(a)):
        idx = a.frame_indices(index)
        assert idx.min() >= 1 and idx.max() <= 8


def test_short_videos_repeat_the_last_frame(tmp_path):
    lists = make_dataset(tmp_path, num_classes=1, videos_per_class=1, num_frames=3)
    ds = TSNDataset(_records(lists, "flow"), "flow", num_segments=3, new_length=5, mode="val")
    idx = ds.frame_indices(0)
    assert idx.shape == (3, 5) and idx.max() == 3
    assert ds[0][0].shape == (3, 10, 224, 224)  # tiny frames are scaled up to the crop


def test_loader_batches_uint8_clips_with_workers(lists):
    ds = TSNDataset(_records(lists), "rgb", num_segments=2, crop_size=16)
    batch, labels = next(iter(create_loader(ds, batch_size=4, workers=1)))
    assert batch.shape == (4, 2, 3, 16, 16) and batch.dtype == torch.uint8
    assert labels.tolist() == [0, 0, 1, 1]


def test_bad_mode_is_a_usage_error(lists):
    with pytest.raises(UsageError, match="train, val, test"):
        TSNDataset(_records(lists), "rgb", mode="eval")


def test_rgbdiff_reads_one_more_frame_than_new_length(lists):
    ds = TSNDataset(_records(lists), "rgbdiff", num_segments=2, new_length=2, crop_size=16)
    clip, _ = ds[0]
    assert clip.shape == (2, 9, 16, 16) and ds.frame_indices(0).shape == (2, 3)


@pytest.mark.parametrize(("modality", "length"), [("rgb", 1), ("flow", 3)])
@pytest.mark.parametrize("mode", ["train", "val"])
def test_frame_by_frame_path_equals_the_whole_group_transforms(lists, modality, length, mode):
    from tsncli.data import transforms
    from tsncli.data.frames import read_frames, stack_frames

    ds = TSNDataset(_records(lists, modality), modality, 3, length, mode, crop_size=20, seed=3)
    for index in range(len(ds)):
        rng = ds._rng(index)
        indices = ds.frame_indices(index, rng)
        group = stack_frames(read_frames(ds.records[index].path, indices, modality))
        if mode == "train":
            height, width = group.shape[:2]
            box, flip = transforms.sample_train_crop(width, height, 20, modality, rng)
            group = transforms.crop_resize_flip(group, box, 20, flip, modality)
        else:
            group = transforms.val_transform(group, 20)
        expected = transforms.to_snippets(group, 3).astype(int)
        # OpenCV rounds 2/3-channel and many-channel resizes differently by at most one level
        assert np.abs(ds.load_clip(index).astype(int) - expected).max() <= 1


class _ConstantSource:
    """A decoder stand-in: every frame is a flat grey image; video 1 cannot be decoded."""

    def __init__(self):
        self.reported = []

    def read_frames(self, record, indices, modality):
        from tsncli.errors import DataError

        if record.path.endswith("c0_v1"):
            raise DataError(f"{record.path}: cannot decode")
        return [np.full((30, 40, 3), 77, np.uint8) for _ in np.asarray(indices).ravel()]

    def report(self, error):
        self.reported.append(str(error))


def test_a_custom_source_decodes_and_failed_videos_become_none(lists):
    source = _ConstantSource()
    ds = TSNDataset(_records(lists), "rgb", 2, 1, "val", crop_size=16, source=source)
    clip, _ = ds[0]
    assert clip.shape == (2, 3, 16, 16) and int(clip.float().mean()) == 77
    assert ds[1][0] is None and "cannot decode" in source.reported[0]
    test = TSNDataset(_records(lists), "rgb", 2, 1, "test", 16, test_crops=1, source=source)
    assert test[0][0].shape == (1, 2, 3, 16, 16)
