"""The training and validation loader gives the same pixels as the per-image pipeline it replaced.

The reference below is a frozen copy of that pipeline (issue 27's "before"): decode, merge a flow
pair into one (H, W, 2) image, crop, resize the multi-channel image, mirror with flow x inverted,
transpose into the planar clip. The loader now crops and resizes each flow channel alone straight
into the clip; the two must agree bit for bit on real JPEG frames for every crop and flip.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from frame_helpers import textured_frame_folders

from tsncli.data import transforms
from tsncli.data.crops import center_crop_box, scale_size
from tsncli.data.dataset import TSNDataset, keep_heap_pages
from tsncli.lists.listfile import VideoRecord

FRAMES = 12


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[VideoRecord]:
    """Two frame folders of textured JPEGs (340x256 and 171x128), like dense_flow's."""
    return textured_frame_folders(
        tmp_path_factory.mktemp("frames"), [(340, 256, FRAMES), (171, 128, FRAMES)]
    )


def _read(folder: str, index: int, modality: str) -> np.ndarray:
    if modality == "rgb":
        return cv2.imread(f"{folder}/img_{index:05d}.jpg", cv2.IMREAD_COLOR_RGB)
    x = cv2.imread(f"{folder}/flow_x_{index:05d}.jpg", cv2.IMREAD_GRAYSCALE)
    y = cv2.imread(f"{folder}/flow_y_{index:05d}.jpg", cv2.IMREAD_GRAYSCALE)
    return cv2.merge([x, y])


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def _reference_clip(dataset: TSNDataset, index: int) -> np.ndarray:
    """The per-image pipeline as it was before issue 27 (frozen; do not route to production)."""
    record, size, flow = dataset.records[index], dataset.crop_size, dataset.modality == "flow"
    rng = np.random.default_rng([dataset.seed, dataset.epoch, index])
    indices = dataset.frame_indices(index, rng)
    frames = [_read(record.path, int(i), dataset.modality) for i in indices.reshape(-1)]
    height, width = frames[0].shape[:2]
    if dataset.mode == "train":
        box, flipped = transforms.sample_train_crop(width, height, size, dataset.modality, rng)
    out = []
    for frame in frames:
        if dataset.mode == "train":
            x, y, w, h = box
            image = _resize(frame[y : y + h, x : x + w], size, size)
            if flipped:
                image = image[:, ::-1].copy()
                if flow:
                    image[:, :, 0::2] = 255 - image[:, :, 0::2]
        else:
            short = scale_size(size)
            if width <= height:
                image = _resize(frame, short, int(short * height / width))
            else:
                image = _resize(frame, int(short * width / height), short)
            x, y, w, h = center_crop_box(image.shape[1], image.shape[0], size)
            image = image[y : y + h, x : x + w]
        out.append(image.transpose(2, 0, 1))
    return np.concatenate(out).reshape(dataset.num_segments, -1, size, size)


@pytest.mark.parametrize("modality", ["flow", "rgb"])
@pytest.mark.parametrize("crop_size", [224, 112])
def test_train_clips_match_the_per_image_pipeline(
    videos: list[VideoRecord], modality: str, crop_size: int
) -> None:
    length = 5 if modality == "flow" else 1
    seen: set[tuple[tuple[int, int, int, int], bool]] = set()
    for seed in range(6):
        dataset = TSNDataset(videos, modality, 3, length, "train", crop_size, seed=seed)
        for epoch in range(3):
            dataset.set_epoch(epoch)
            for index in range(len(videos)):
                clip = dataset.load_clip(index)
                expected = _reference_clip(dataset, index)
                assert clip.shape == expected.shape and clip.dtype == np.uint8
                assert np.array_equal(clip, expected), (modality, seed, epoch, index)
                rng = np.random.default_rng([seed, epoch, index])
                dataset.frame_indices(index, rng)
                width, height = (340, 256) if index == 0 else (171, 128)
                seen.add(transforms.sample_train_crop(width, height, crop_size, modality, rng))
    assert {flipped for _, flipped in seen} == {False, True}
    assert len({box[2:] for box, _ in seen}) >= 4  # several crop scales, not one
    if (
        crop_size == 112 and modality == "flow"
    ):  # OpenCV's exact-halving resize, which rounds 1 and 2 channels apart
        assert any(transforms.halves_exactly(box, crop_size) for box, _ in seen)


@pytest.mark.parametrize("modality", ["flow", "rgb"])
@pytest.mark.parametrize("crop_size", [224, 112])
def test_val_clips_match_the_per_image_pipeline(
    videos: list[VideoRecord], modality: str, crop_size: int
) -> None:
    length = 5 if modality == "flow" else 1
    dataset = TSNDataset(videos, modality, 3, length, "val", crop_size)
    for index in range(len(videos)):
        assert np.array_equal(dataset.load_clip(index), _reference_clip(dataset, index))


def test_keep_heap_pages_runs_in_this_process() -> None:
    keep_heap_pages()  # glibc's M_TOP_PAD; a no-op where mallopt is missing
