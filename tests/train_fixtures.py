"""Tiny generated dense_flow frame folders and list files for data and training tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tsncli.engine.train.config import TrainConfig
from tsncli.lists.listfile import VideoRecord, write_classes, write_list

COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 220), (200, 200, 30)]  # RGB per class
FLOW_X = [70, 186, 128, 128]  # per class: leftwards, rightwards, still, still
FLOW_Y = [128, 128, 70, 186]


def make_video(
    folder: Path, num_frames: int, label: int, size: tuple[int, int] = (40, 32), seed: int = 0
) -> Path:
    """Write img/flow_x/flow_y JPEGs (width x height `size`) coloured by class, with noise."""
    folder.mkdir(parents=True, exist_ok=True)
    width, height = size
    rng = np.random.default_rng(seed)
    for i in range(1, num_frames + 1):
        noise = rng.integers(-25, 26, (height, width, 3))
        rgb = np.clip(np.array(COLOURS[label % 4]) + noise, 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"img_{i:05d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        for name, value in (("flow_x", FLOW_X[label % 4]), ("flow_y", FLOW_Y[label % 4])):
            grey = np.clip(value + rng.integers(-10, 11, (height, width)), 0, 255)
            cv2.imwrite(str(folder / f"{name}_{i:05d}.jpg"), grey.astype(np.uint8))
    return folder


def make_dataset(
    root: Path,
    num_classes: int = 2,
    videos_per_class: int = 4,
    num_frames: int = 8,
    size: tuple[int, int] = (40, 32),
    dataset: str = "toyds",
    split: int = 1,
) -> Path:
    """Frames under root/frames, lists and classes under root/lists (train = val here)."""
    records = []
    for label in range(num_classes):
        for v in range(videos_per_class):
            folder = root / "frames" / f"c{label}_v{v}"
            make_video(folder, num_frames, label, size, seed=label * 100 + v)
            records.append(VideoRecord(str(folder), num_frames, label))
    lists = root / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    for modality in ("rgb", "flow"):
        for subset in ("train", "val"):
            write_list(lists / f"{dataset}_{modality}_{subset}_split_{split}.txt", records)
    write_classes(lists / f"{dataset}_classes.txt", [f"class{i}" for i in range(num_classes)])
    return lists


def two_process_config(lists: Path, out: Path) -> TrainConfig:
    """A tiny run whose 2-process (DDP) result must equal 1 process with the full batch."""
    return TrainConfig(
        dataset="toyds",
        modality="rgb",
        lists_dir=str(lists),
        arch="tiny",
        pretrained="none",
        crop_size=16,
        segments=2,
        batch_size=4,  # 2 per process with 2 processes
        epochs=1,
        lr=0.05,
        dropout=0.0,
        bn="frozen",  # per-process BN statistics would differ from full-batch ones
        workers=0,
        eval_every=1,
        out=str(out),
        gpus=0,
        tensorboard=False,
    )
