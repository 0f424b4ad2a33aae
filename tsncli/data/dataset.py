"""The TSN dataset over list files: sampling -> frames -> group transforms -> uint8 tensors.

Items are uint8 (S, C*L, H, W) and stay uint8 through the loader (4x less to copy and pin than
float); normalisation happens batched on the device (`tsncli.models.normalize`). Randomness
comes from (seed, epoch, index) alone, so any worker count and any resume gives the same clips.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tsncli.data import sampling, transforms
from tsncli.data.crops import Box
from tsncli.data.frames import frame_templates, stack_frames
from tsncli.data.snippet_source import FRAME_FOLDERS, SnippetSource, collate_present
from tsncli.errors import DataError, UsageError
from tsncli.lists.listfile import VideoRecord
from tsncli.modality import channels_per_frame, input_frames, reads_flow

MODES = ("train", "val", "test")


class TSNDataset(Dataset):
    """TSN clips from a list of frame folders.

    train: random offset per segment + multi-scale crop + flip; val: segment centres + centre
    crop; test: `num_segments` evenly spaced snippets and `test_crops` crops
    (item shape (N, S, C*L, H, W)). Items are `(clip, label)`. `new_length` is the model's L;
    RGB-diff reads L + 1 frames per snippet (`tsncli.modality.input_frames`).

    `source` decodes the frames (`tsncli.data.snippet_source`): dense_flow folders by default,
    video files, or a video extracted in memory. A source with `report(error)` makes
    undecodable videos items with a None clip (reported, then dropped by the loader's
    `collate_fn`) instead of errors.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        modality: str,
        num_segments: int = 3,
        new_length: int = 1,
        mode: str = "train",
        crop_size: int = 224,
        seed: int = 0,
        test_crops: int = 10,
        source: SnippetSource = FRAME_FOLDERS,
        flip: bool = True,
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"unknown dataset mode {mode!r}; use one of: {', '.join(MODES)}")
        frame_templates(modality)  # validates the modality name
        if num_segments < 1 or new_length < 1 or crop_size < 8:
            raise UsageError("segments and new_length must be >= 1 and the crop size >= 8")
        self.records = list(records)
        self.modality = modality
        self.num_segments = num_segments
        self.new_length = new_length
        self.frames_per_snippet = input_frames(modality, new_length)
        self.mode = mode
        self.crop_size = crop_size
        self.seed = seed
        self.test_crops = test_crops
        self.source = source
        self.flip = flip  # False: never mirror (classes that are not mirror-invariant)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random offsets, crops and flips `__getitem__` draws."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    @property
    def channels(self) -> int:
        """Input channels per snippet, C*L (3 for RGB, 10 for flow with L = 5, 18 RGB-diff)."""
        return channels_per_frame(self.modality) * self.frames_per_snippet

    def frame_indices(self, index: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """1-based frame numbers [S, L] of the video this item reads (train draws from `rng`),
        inside the record's `[offset, offset + num_frames)`: sampling works on the entry's own
        frames, then its offset (a trimmed instance's first frame) moves them into the video."""
        record = self.records[index]
        n, s, length = record.num_frames, self.num_segments, self.frames_per_snippet
        if self.mode == "train":
            rng = rng if rng is not None else self._rng(index)
            offsets = sampling.train_offsets(n, s, length, rng)
        elif self.mode == "val":
            offsets = sampling.val_offsets(n, s, length)
        else:
            offsets = sampling.test_offsets(n, s, length)
        return sampling.snippet_frame_indices(offsets, length, n) + record.offset

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def sample(self, index: int) -> tuple[np.ndarray, np.random.Generator]:
        """The frame numbers [S, L] item `index` reads and the generator its training crop and
        flip are drawn from next (`train_crop`), once the frame size is known. Every decode
        path (here and `tsncli.data.device_decode`) samples through this and `train_crop`, so
        one seed gives one clip."""
        rng = self._rng(index)
        return self.frame_indices(index, rng), rng

    def train_crop(self, width: int, height: int, rng: np.random.Generator) -> tuple[Box, bool]:
        """The training crop box and flip decision for width x height frames, drawn from `rng`
        after the frame indices (`sample`)."""
        flip = 0.5 if self.flip else 0.0
        return transforms.sample_train_crop(width, height, self.crop_size, self.modality, rng, flip)

    def load_clip(self, index: int) -> np.ndarray:
        """The transformed clip as numpy uint8: (S, C*L, H, W), or (N, S, C*L, H, W) in test."""
        record = self.records[index]
        indices, rng = self.sample(index)
        frames = self.source.read_frames(record, indices, self.modality)
        if self.mode == "test":
            group = stack_frames(frames)  # (H, W, S*L*C)
            return transforms.test_clip(
                group, self.crop_size, self.test_crops, self.modality, self.num_segments
            )
        # train/val: transform frame by frame with one shared box and flip, writing straight
        # into the planar output (no (H, W, S*L*C) interleaving: 3-5x less copying)
        channels = frames[0].shape[2]
        size = self.crop_size
        out = np.empty((len(frames) * channels, size, size), dtype=np.uint8)
        if self.mode == "train":
            height, width = frames[0].shape[:2]
            box, flipped = self.train_crop(width, height, rng)
        # flow frames from folders keep each channel one contiguous image: train crops and
        # resizes each straight into the clip (the JPEG-decode limit, issue 27), except where
        # the crop halves exactly and OpenCV rounds 1 and 2 channels apart
        by_plane = self.mode == "train" and not transforms.halves_exactly(box, size)
        flow = reads_flow(self.modality)
        scratch = np.empty((size, size), dtype=np.uint8)
        for j, frame in enumerate(frames):
            target = out[j * channels : (j + 1) * channels]
            if by_plane and _planar(frame):
                for c in range(channels):
                    invert = flow and c % 2 == 0  # flow x channels
                    transforms.crop_resize_flip_plane(
                        frame[:, :, c], box, size, flipped, invert, target[c], scratch
                    )
                continue
            if self.mode == "train":
                image = transforms.crop_resize_flip(frame, box, size, flipped, self.modality)
            else:
                image = transforms.val_transform(frame, size)
            # (h, w, C) -> its C planes of the clip: OpenCV's split writes into the views,
            # 5x faster than numpy's strided transposing copy (about 9% of an RGB clip)
            cv2.split(image, list(target))
        return out.reshape(self.num_segments, -1, size, size)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int]:
        label = self.records[index].label
        report = getattr(self.source, "report", None)
        if report is None:
            return torch.from_numpy(self.load_clip(index)), label
        try:
            return torch.from_numpy(self.load_clip(index)), label
        except DataError as error:
            report(error)
            return None, label


def _planar(frame: np.ndarray) -> bool:
    """Whether each channel of a 2-channel (H, W, 2) flow frame is a contiguous (H, W) image
    (frames read from folders), so it is cropped and resized alone into the planar output."""
    return (
        frame.ndim == 3
        and frame.shape[2] == 2  # flow; 3-channel OpenCV resizes are not checked per channel
        and frame.strides[1] == frame.itemsize
        and frame.strides[0] == frame.shape[1] * frame.itemsize
    )


_M_TOP_PAD = -2  # glibc mallopt parameter
HEAP_PAD_BYTES = 16 << 20


def keep_heap_pages() -> None:
    """Let this process's heap keep 16 MiB of freed memory rather than hand it back to the
    kernel after each free. A flow clip allocates and frees about 7 MB (30 decoded JPEGs, the
    frames, the clip), and glibc's default trimmed the heap after each clip, so every clip
    page-faulted its memory in again: about a quarter of a loader worker's time (issue 27).
    glibc only; elsewhere a no-op."""
    try:
        ctypes.CDLL(None).mallopt(_M_TOP_PAD, HEAP_PAD_BYTES)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def worker_init(_worker_id: int) -> None:
    """Loader workers decode on one thread each (parallelism comes from the workers) and keep
    their heap's pages (`keep_heap_pages`)."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    keep_heap_pages()


def collate_skipping(batch: list[tuple]) -> Any:
    """Collate items of a source that skips undecodable videos: their None clips are left out,
    and a batch holding nothing else becomes None (training and validation step over it)."""
    if all(item[0] is None for item in batch):
        return None
    return collate_present(batch)


def create_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    workers: int = 0,
    sampler: Sampler | None = None,
    pin_memory: bool = False,
    drop_last: bool = False,
    seed: int = 0,
    collate_fn: Callable[[list], Any] | None = None,
) -> DataLoader:
    """A DataLoader for TSN clips; pinned memory and prefetching when workers > 0.

    A dataset whose source skips undecodable videos gets a collate that leaves them out.
    """
    source = getattr(dataset, "source", getattr(getattr(dataset, "dataset", None), "source", None))
    if collate_fn is None and getattr(source, "report", None) is not None:
        collate_fn = collate_skipping
    generator = torch.Generator()
    generator.manual_seed(seed)
    if workers > 0:
        # a forked worker's `cv2.setNumThreads(1)` (worker_init) deadlocks on the copy of a
        # thread pool this process started; set here first, the workers' call changes nothing.
        # This process then runs OpenCV on one thread (its loader workers decode).
        cv2.setNumThreads(1)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        worker_init_fn=worker_init if workers > 0 else None,
        prefetch_factor=4 if workers > 0 else None,
        persistent_workers=False,  # workers must see each epoch's `set_epoch`
        generator=generator,
        collate_fn=collate_fn,
    )


def default_workers(processes: int = 1) -> int:
    """Loader workers per training process: this machine's CPUs shared by `processes`, minus
    one for the process itself, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(0, min(8, cpus // max(processes, 1) - 1))
