"""The toy dataset: deterministic, laid out like UCF101, resumable, and refusing mixed settings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import pytest

from tsncli.acquire.toy import generate_toy_dataset, load_toy_meta
from tsncli.acquire.toy_render import TOY_CLASSES
from tsncli.errors import UsageError
from tsncli.specs.datasets.ucf101 import parse_ucf101_splits

SMALL = {"width": 64, "height": 48, "min_frames": 6, "max_frames": 8}


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _make(root: Path, videos: int = 2, seed: int = 0, **extra) -> dict:
    return generate_toy_dataset(root, videos_per_class=videos, seed=seed, **SMALL, **extra)


def test_toy_dataset_is_byte_identical_for_the_same_seed(tmp_path):
    _make(tmp_path / "a", seed=3)
    _make(tmp_path / "b", seed=3)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_toy_dataset_differs_for_another_seed(tmp_path):
    _make(tmp_path / "a", seed=3)
    _make(tmp_path / "b", seed=4)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a if k.endswith(".avi"))


def test_toy_videos_sit_in_class_folders_with_ucf101_names_and_decode(tmp_path):
    summary = _make(tmp_path, videos=5)
    meta = load_toy_meta(tmp_path)
    assert summary["videos"] == 5 * len(TOY_CLASSES) == len(meta["videos"])
    found = sorted(p.relative_to(tmp_path / "videos") for p in (tmp_path / "videos").rglob("*"))
    expected = []
    for name, _hue, _motion in TOY_CLASSES:
        expected.append(Path(name))
        for g, c in ((1, 1), (1, 2), (1, 3), (2, 1), (2, 2)):  # 2 groups at least
            expected.append(Path(name) / f"v_{name}_g{g:02d}_c{c:02d}.avi")
    assert found == sorted(expected)
    for video in meta["videos"][:3]:
        cap = cv2.VideoCapture(
            str(tmp_path / "videos" / video["class_name"] / f"{video['name']}.avi")
        )
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
        assert len(frames) == video["num_frames"]
        assert frames[0].shape == (48, 64, 3)


def test_toy_splits_use_the_exact_ucf101_format(tmp_path):
    _make(tmp_path, videos=8)
    splits = tmp_path / "splits"
    assert sorted(p.name for p in splits.iterdir()) == [
        "classInd.txt",
        "testlist01.txt",
        "trainlist01.txt",
    ]
    for path in splits.iterdir():
        raw = path.read_bytes()
        assert raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n")
    class_ind = (splits / "classInd.txt").read_text().splitlines()
    assert class_ind == [f"{i + 1} {c[0]}" for i, c in enumerate(TOY_CLASSES)]
    train = (splits / "trainlist01.txt").read_text().splitlines()
    test = (splits / "testlist01.txt").read_text().splitlines()
    assert train[0] == f"{TOY_CLASSES[0][0]}/v_{TOY_CLASSES[0][0]}_g02_c01.avi 1"
    assert test[0] == f"{TOY_CLASSES[0][0]}/v_{TOY_CLASSES[0][0]}_g01_c01.avi"
    assert all(len(line.split()) == 1 for line in test)
    parsed = parse_ucf101_splits(splits)
    assert parsed.classes == [c[0] for c in TOY_CLASSES]
    subsets = parsed.splits[1]
    assert len(subsets["train"]) == len(train) and len(subsets["val"]) == len(test)
    for entry in subsets["train"] + subsets["val"]:
        assert entry.video_id.startswith(f"v_{parsed.classes[entry.label]}_g")


def test_toy_test_split_holds_out_whole_groups(tmp_path):
    _make(tmp_path, videos=10)  # 3 groups of 4 clips; 1 group (30%) is held out
    meta = load_toy_meta(tmp_path)
    test_groups = {v["group"] for v in meta["videos"] if v["subset"] == "test"}
    train_groups = {v["group"] for v in meta["videos"] if v["subset"] == "train"}
    assert test_groups == {1} and train_groups == {2, 3}


def test_toy_dataset_rejects_fewer_than_two_videos_per_class(tmp_path):
    with pytest.raises(UsageError, match="at least 2"):
        _make(tmp_path, videos=1)


def test_toy_dataset_rejects_unknown_settings(tmp_path):
    with pytest.raises(UsageError, match="unknown toy dataset setting"):
        generate_toy_dataset(tmp_path, videos_per_class=2, colour="blue")


def test_toy_rerun_is_a_no_op(tmp_path):
    _make(tmp_path)
    before = _digest(tmp_path)
    summary = _make(tmp_path)
    assert summary["generated"] == 0 and summary["skipped"] == summary["videos"]
    assert _digest(tmp_path) == before


def test_toy_interrupted_run_resumes_with_identical_bytes(tmp_path):
    _make(tmp_path / "whole")

    def stop_after_five(event) -> None:
        if event.done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _make(tmp_path / "cut", on_progress=stop_after_five)
    assert not (tmp_path / "cut" / "toy_meta.json").exists()
    assert not (tmp_path / "cut" / "splits").exists()
    summary = _make(tmp_path / "cut")
    assert summary["generated"] == summary["videos"] - 5
    assert _digest(tmp_path / "cut") == _digest(tmp_path / "whole")


def test_toy_missing_video_is_regenerated(tmp_path):
    _make(tmp_path)
    before = _digest(tmp_path)
    victim = next((tmp_path / "videos").rglob("*.avi"))
    victim.unlink()
    assert _make(tmp_path)["generated"] == 1
    assert _digest(tmp_path) == before


def test_toy_refuses_to_mix_settings_in_one_folder_unless_forced(tmp_path):
    _make(tmp_path, seed=1)
    with pytest.raises(UsageError, match="--force"):
        _make(tmp_path, seed=2)
    summary = _make(tmp_path, seed=2, force=True)
    assert summary["generated"] == summary["videos"]
    assert load_toy_meta(tmp_path)["spec"]["seed"] == 2
