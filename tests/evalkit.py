"""Tiny generated videos, frame folders, lists and checkpoints for the eval/predict tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from tsncli.flow.extract import extract_video
from tsncli.flow.job import FlowConfig, VideoTask
from tsncli.lists.listfile import VideoRecord, write_list
from tsncli.models.checkpoint import save_checkpoint
from tsncli.models.tsn import create_tsn

CLASSES = ["red_left", "green_right", "blue_up"]
FRAME_SIZE = "48x36"
FLOW_META = {"algo": "farneback", "size": FRAME_SIZE, "short_side": None, "bound": 20.0, "step": 1}


def write_video(path: Path, label: int, frames: int = 14, seed: int = 0) -> Path:
    """An MJPG AVI (64x48) of a coloured square moving in the class's direction."""
    rng = np.random.default_rng(seed)
    colour = [(0, 0, 255), (0, 255, 0), (255, 0, 0)][label]
    velocity = [(-2, 0), (2, 0), (0, -2)][label]
    writer = cv2.VideoWriter(
        str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48)
    )
    x, y = 24 + int(rng.integers(-4, 4)), 18 + int(rng.integers(-3, 3))
    for t in range(frames):
        image = np.full((48, 64, 3), 90, np.uint8)
        image[::8] = 60  # texture so flow has something to track
        cx, cy = x + velocity[0] * t, y + velocity[1] * t
        cv2.rectangle(image, (cx, cy), (cx + 12, cy + 12), colour, -1)
        writer.write(image)
    writer.release()
    return path


def make_dataset(root: Path, videos_per_class: int = 2) -> dict:
    """Videos, extracted frames (`tsn flow`'s pipeline), rgb and flow lists."""
    (root / "videos").mkdir(parents=True)
    frames_root = root / "frames"
    rgb, flow, paths = [], [], []
    config = FlowConfig(algo="farneback", size=FRAME_SIZE)
    for label in range(len(CLASSES)):
        for i in range(videos_per_class):
            vid = f"v_{CLASSES[label]}_{i}"
            path = write_video(root / "videos" / f"{vid}.avi", label, 12 + 2 * i, seed=i)
            result = extract_video(VideoTask(vid, str(path), str(frames_root), config))
            assert result.status == "done", result.error
            rgb.append(VideoRecord(str(frames_root / vid), result.images, label))
            flow.append(VideoRecord(str(frames_root / vid), result.flows, label))
            paths.append(path)
    return {
        "rgb_list": write_list(root / "rgb_list.txt", rgb),
        "flow_list": write_list(root / "flow_list.txt", flow),
        "videos": paths,
        "frames": frames_root,
        "records": rgb,
    }


def make_checkpoint(path: Path, modality: str = "rgb", seed: int = 0) -> Path:
    """A random tiny-backbone TSN (crop 32) with spread-out fc weights, saved with meta."""
    torch.manual_seed(seed)
    model = create_tsn(
        "tiny",
        len(CLASSES),
        modality=modality,
        num_segments=3,
        new_length=1 if modality == "rgb" else 2,
        dropout=0.5,
    )
    with torch.no_grad():
        model.fc.weight.normal_(0, 1.0)
    meta = {"class_names": CLASSES, "crop_size": 32, "flow": FLOW_META}
    return save_checkpoint(path, model, meta)
