"""Checkpoints save atomically, describe themselves and rebuild the exact model."""

from __future__ import annotations

import pytest
import torch

from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import FrameSettings
from tsncli.models.checkpoint import (
    CheckpointMeta,
    create_model_from_checkpoint,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from tsncli.models.tsn import TSN

torch.set_num_threads(1)


def _model(**kw):
    torch.manual_seed(0)
    args = dict(num_classes=3, num_segments=2, modality="flow", arch="tiny", consensus="avg")
    args.update(kw)
    return TSN(**args)


def test_checkpoint_round_trip_rebuilds_the_same_outputs(tmp_path):
    model = _model().eval()
    meta = {
        "class_names": ["a", "b", "c"],
        "frames": FrameSettings(size=(340, 256), bound=20.0).to_dict(),
    }
    path = save_checkpoint(tmp_path / "last.pt", model, meta, epoch=4, optimizer={"lr": 0.1})
    rebuilt, loaded_meta = create_model_from_checkpoint(path)
    x = torch.randn(1, 2, 10, 16, 16)
    assert torch.allclose(model(x), rebuilt(x))
    assert not rebuilt.training
    assert loaded_meta["arch"] == "tiny" and loaded_meta["modality"] == "flow"
    assert loaded_meta["new_length"] == 5 and loaded_meta["num_segments"] == 2
    assert loaded_meta["class_names"] == ["a", "b", "c"]
    assert loaded_meta["frames"]["bound"] == 20.0 and loaded_meta["frames"]["size"] == "340x256"
    assert loaded_meta["input"]["name"] == "imagenet_rgb01"
    assert loaded_meta["crop_size"] == 224
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 4 and ckpt["optimizer"] == {"lr": 0.1}


def test_create_model_accepts_a_loaded_checkpoint_dict(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _model(consensus="weighted"))
    model, meta = create_model_from_checkpoint(load_checkpoint(path))
    assert meta["consensus"] == "weighted" and model.consensus_type == "weighted"


def test_checkpoint_unwraps_data_parallel(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", torch.nn.DataParallel(_model()))
    assert all(not k.startswith("module.") for k in load_checkpoint(path)["state_dict"])


def test_class_names_must_match_num_classes(tmp_path):
    with pytest.raises(UsageError, match="2 class names"):
        save_checkpoint(tmp_path / "m.pt", _model(), {"class_names": ["a", "b"]})
    assert not (tmp_path / "m.pt").exists()


def test_reserved_training_state_key_is_refused(tmp_path):
    with pytest.raises(UsageError, match="reserved"):
        save_checkpoint(tmp_path / "m.pt", _model(), meta={}, state_dict={})


def test_plain_state_dict_is_not_a_tsn_checkpoint(tmp_path):
    path = tmp_path / "plain.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(DataError, match="not a tsn checkpoint.*tsn convert"):
        load_checkpoint(path)


def test_garbage_file_is_a_data_error(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a zip nor a pickle")
    with pytest.raises(DataError, match="not a readable"):
        load_checkpoint(path)


def test_missing_file_names_how_to_get_one(tmp_path):
    with pytest.raises(DataError, match="tsn train"):
        load_checkpoint(tmp_path / "nope.pt")


def test_weights_that_do_not_fit_the_arch_are_a_data_error(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _model())
    ckpt = load_checkpoint(path)
    ckpt["meta"]["arch"] = "resnet18"
    with pytest.raises(DataError, match="do not fit resnet18"):
        create_model_from_checkpoint(ckpt)


def test_save_failure_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", _model(), epoch=1)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, _model(), epoch=2)
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def _old_checkpoint(path, model, **meta):
    """A checkpoint as tsn 0.x wrote it: meta "flow" with the converter's list size, keys that
    nothing reads, no tsn_version."""
    old_meta = {
        "arch": "tiny",
        "modality": "flow",
        "num_classes": 3,
        "num_segments": 2,
        "new_length": 5,
        "consensus": "avg",
        "dropout": 0.7,
        "partial_bn": True,
        "class_names": ["a", "b", "c"],
        "crop_size": 224,
        "flow": {"algo": "tvl1", "bound": 20, "size": [340, 256]},
        "input_order": "rgb",
        "scale_size": 256,
        "frames_dir": "/data/frames",
        "epoch": 3,
        **meta,
    }
    payload = {"format": "tsn-checkpoint", "version": 1, "meta": old_meta}
    payload["state_dict"] = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(payload, path)
    return path


def test_an_old_checkpoint_with_a_flow_dict_and_unread_keys_still_loads(tmp_path):
    model = _model().eval()
    path = _old_checkpoint(tmp_path / "old.pt", model)
    rebuilt, meta = create_model_from_checkpoint(path)
    x = torch.randn(1, 2, 10, 16, 16)
    assert torch.allclose(model(x), rebuilt(x))
    assert read_meta(meta).frames == FrameSettings(size=(340, 256), flow_algorithm="tvl1")
    assert meta["frames"]["size"] == "340x256" and "flow" not in meta
    assert not {"input_order", "scale_size", "frames_dir", "epoch"} & set(meta)


def test_a_checkpoint_without_frame_settings_records_them_as_unknown(tmp_path):
    path = _old_checkpoint(tmp_path / "old.pt", _model(), flow=None)
    assert load_checkpoint(path)["meta"]["frames"] is None


def test_saved_meta_keeps_only_the_typed_fields(tmp_path):
    extra = {"class_names": ["a", "b", "c"], "input_order": "rgb", "dataset": "ucf101"}
    path = save_checkpoint(tmp_path / "m.pt", _model(), extra)
    saved = torch.load(path, weights_only=True)["meta"]
    assert set(saved) == {f for f in CheckpointMeta.__dataclass_fields__}
    assert saved["dropout"] == 0.7 and saved["frames"] is None


def test_a_meta_missing_the_model_description_is_a_data_error(tmp_path):
    path = _old_checkpoint(tmp_path / "old.pt", _model())
    ckpt = torch.load(path, weights_only=True)
    del ckpt["meta"]["arch"]
    torch.save(ckpt, path)
    with pytest.raises(DataError, match="incomplete"):
        load_checkpoint(path)
