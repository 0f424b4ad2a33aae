"""The flip policy: sthv2 never mirrors training clips (its classes are not mirror-invariant);
every other dataset flips with p = 0.5. Recorded in the presets, the config and checkpoints."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tsncli.config import load_preset
from tsncli.data.dataset import TSNDataset
from tsncli.engine.train.config import TrainConfig
from tsncli.lists.listfile import VideoRecord
from tsncli.models.tsn import create_tsn

WIDTH, HEIGHT = 64, 48


class RampSource:
    """Every frame is a left-to-right ramp: a mirrored clip is the only one that descends."""

    def read_frames(self, record, indices, modality):
        ramp = np.tile(np.linspace(0, 255, WIDTH).astype(np.uint8), (HEIGHT, 1))
        return [np.dstack([ramp] * 3) for _ in np.asarray(indices).ravel()]


def mirrored_clips(flip: bool, epochs: int = 6) -> int:
    """How many of the training clips drawn over `epochs` epochs come out mirrored."""
    records = [VideoRecord(f"v{i}", 30, 0) for i in range(20)]
    ds = TSNDataset(records, "rgb", 3, 1, "train", 32, seed=1, source=RampSource(), flip=flip)
    mirrored = 0
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        for index in range(len(ds)):
            clip = ds.load_clip(index).astype(int)  # (S, 3, 32, 32)
            mirrored += int(clip[..., 0].mean() > clip[..., -1].mean())
    return mirrored


def test_with_flip_off_no_training_clip_is_ever_mirrored():
    assert mirrored_clips(flip=False) == 0


def test_with_flip_on_about_half_the_clips_are_mirrored():
    assert 30 < mirrored_clips(flip=True) < 90  # of 120


def test_flip_off_keeps_the_same_crops_and_frames_as_flip_on():
    records = [VideoRecord("v", 30, 0)]
    a = TSNDataset(records, "rgb", 3, 1, "train", 32, seed=3, source=RampSource(), flip=True)
    b = TSNDataset(records, "rgb", 3, 1, "train", 32, seed=3, source=RampSource(), flip=False)
    assert np.array_equal(a.frame_indices(0), b.frame_indices(0))
    clip_a, clip_b = a.load_clip(0), b.load_clip(0)
    assert np.array_equal(clip_b, clip_a) or np.array_equal(clip_b, clip_a[..., ::-1])


@pytest.mark.parametrize(("dataset", "flip"), [("sthv2", False), ("kinetics400", True)])
def test_the_config_takes_the_dataset_policy_unless_told_otherwise(dataset, flip):
    assert TrainConfig(dataset=dataset).resolved().flip is flip
    assert TrainConfig(dataset=dataset, flip=not flip).resolved().flip is (not flip)


def test_presets_record_the_policy():
    assert load_preset("sthv2_rgb")["train"]["flip"] is False
    assert load_preset("kinetics400_rgb")["train"]["flip"] is True


def test_checkpoints_record_whether_training_flipped():
    from tsncli.engine.train.plan import checkpoint_meta

    config = TrainConfig(dataset="sthv2").resolved()
    plan = SimpleNamespace(config=config, class_names=["a"], frames=None, frames_dir=None)
    model = create_tsn("tiny", num_classes=1, modality="rgb", num_segments=2)
    meta = checkpoint_meta(plan, model)
    assert meta.flip is False and meta.config["flip"] is False
