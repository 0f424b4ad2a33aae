"""Run a checkpoint on test clips: its test dataset, clips prefetched, per-snippet per-crop
logits out. Shared by `tsn eval` and `tsn predict`, so both load, crop, normalise, batch and
score identically. One `Scorer` per (checkpoint, device) is cached per process.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch

from tsncli.data.dataset import TSNDataset
from tsncli.data.device_decode import (
    EncodedClip,
    EncodedClips,
    check_jpeg_source,
    decode_clips,
    encode_test_clip,
)
from tsncli.data.snippet_source import SnippetSource
from tsncli.errors import DataError
from tsncli.lists.listfile import VideoRecord
from tsncli.modality import Modality, check_modality, input_frames
from tsncli.models.normalize import Normalize

IMAGES_PER_FORWARD_CPU = 50
IMAGES_PER_FORWARD_CUDA = 1000
_CACHE: dict[tuple[str, str], Scorer] = {}


@dataclass
class Scorer:
    """A TSN model in eval mode on one device, with its input normalisation and meta."""

    model: torch.nn.Module
    meta: dict[str, Any]
    device: torch.device
    normalize: torch.nn.Module = field(init=False)

    def __post_init__(self) -> None:
        # frames.py and predict decode RGB; Normalize reorders to the backbone's convention
        self.normalize = Normalize(self.modality, self.meta["input"], input_order="rgb")
        self.normalize.to(self.device)

    @property
    def modality(self) -> Modality:
        return check_modality(self.meta["modality"])

    @property
    def new_length(self) -> int:
        return int(self.meta["new_length"])

    @property
    def frames_per_snippet(self) -> int:
        """Consecutive frames read per snippet (L, or L + 1 for RGB-diff)."""
        return input_frames(self.modality, self.new_length)

    @property
    def crop_size(self) -> int:
        return int(self.meta.get("crop_size", 224))

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    def test_dataset(
        self, records: Sequence[VideoRecord], source: SnippetSource, segments: int, crops: int
    ) -> TSNDataset:
        """The test set eval and predict score: `segments` snippets x `crops` crops per video,
        items uint8 (N, S, C*L, h, w), read through `source`."""
        return TSNDataset(
            records,
            self.modality,
            num_segments=segments,
            new_length=self.new_length,  # the dataset reads L + 1 frames for RGB-diff itself
            mode="test",
            crop_size=self.crop_size,
            test_crops=crops,
            source=source,
        )

    def score(self, clips: np.ndarray | torch.Tensor, layer: str = "logits") -> np.ndarray:
        """uint8 clips (B, N, S, C*L, h, w) -> logits (B, S, N, K) float32 on the CPU; with
        `layer="pool"` the backbone's pooled vectors (B, S, N, D) instead (`tsn features`)."""
        forward = self.model.snippet_features if layer == "pool" else self.model.snippet_logits
        x = torch.as_tensor(clips)
        b, n, s = x.shape[:3]
        cuda = self.device.type == "cuda"
        if cuda and x.device.type == "cpu":  # clips decoded on the GPU are there already
            x = x.pin_memory().to(self.device, non_blocking=True)
        amp = torch.autocast("cuda", dtype=torch.float16) if cuda else contextlib.nullcontext()
        x = x.flatten(0, 1)  # (B*N, S, C*L, h, w) uint8
        # Bounded images per forward: on a CPU, 250 images of 224 at once peak at ~2.5 GB of
        # activations for no speed gain; a GPU gets large batches.
        step = max(1, (IMAGES_PER_FORWARD_CUDA if cuda else IMAGES_PER_FORWARD_CPU) // s)
        parts = []
        with torch.inference_mode(), amp:
            for chunk in x.split(step):
                parts.append(forward(self.normalize(chunk)).float())
        logits = torch.cat(parts)  # (B*N, S, K)
        out = logits.reshape(b, n, s, -1).permute(0, 2, 1, 3)  # (B, S, N, K)
        return out.cpu().numpy()


def load_scorer(checkpoint: str | os.PathLike[str], device: str = "cpu") -> Scorer:
    """The cached Scorer for `checkpoint` on `device` (loaded on first use)."""
    from tsncli.models.checkpoint import create_model_from_checkpoint

    key = (str(Path(checkpoint).resolve()), device)
    if key not in _CACHE:
        model, meta = create_model_from_checkpoint(checkpoint, device)
        _CACHE[key] = Scorer(model, meta, torch.device(device))
    return _CACHE[key]


class Clips(Protocol):
    """What `prefetched_clips` loads from: a `TSNDataset` in test mode, or dense testing's
    chunks (`tsncli.engine.eval.dense.DenseClips`)."""

    def __len__(self) -> int: ...

    def load_clip(self, index: int) -> np.ndarray: ...


class EncodedDenseClips:
    """Dense testing's chunks (`tsncli.engine.eval.dense.DenseClips`) as `EncodedClip`s:
    the same snippets and crops, decoded later on the scorer's device (`stack_clips`)."""

    def __init__(self, clips: Any) -> None:
        check_jpeg_source(clips.source)
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def load_clip(self, index: int) -> EncodedClip:
        c = self.clips
        chunk = c.chunks[index]
        indices = c.indices[chunk.video][chunk.start : chunk.stop]
        record = c.records[chunk.video]
        return encode_test_clip(c.source, record, indices, c.modality, c.crop_size, c.crops)


def device_clips(clips: Any, decode_device: str) -> Clips:
    """`clips` (a test `TSNDataset` or dense chunks) as they load for `decode_device`: decoded
    arrays ("cpu"), or JPEG bytes and their sampling, which `stack_clips` decodes in a batch on
    the scorer's device (`--decode-device cuda`)."""
    if decode_device == "cpu":
        return clips
    if isinstance(clips, TSNDataset):
        return EncodedClips(clips)
    return EncodedDenseClips(clips)


def stack_clips(clips: Sequence[Any], device: torch.device) -> np.ndarray | torch.Tensor:
    """A batch (B, N, S, C*L, h, w) of loaded clips: stacked arrays, or `EncodedClip`s decoded
    on `device` (the scorer's)."""
    if clips and isinstance(clips[0], EncodedClip):
        return decode_clips(clips, device)
    return np.stack(clips)


def _load_clip(dataset: Clips, index: int) -> tuple[np.ndarray | None, str | None]:
    try:
        return dataset.load_clip(index), None
    except (DataError, cv2.error, OSError, ValueError) as exc:
        return None, " ".join(str(exc).split()) or type(exc).__name__


def prefetched_clips(dataset: Clips, threads: int) -> Iterator[tuple[int, Any, Any]]:
    """Yield (index, clip, error) in order while the next clips load on threads (decoding and
    resizing release the GIL, so loading overlaps the forward pass). At most threads+1 ahead."""
    with ThreadPoolExecutor(max(1, threads)) as pool:
        ahead: deque = deque()
        indices = iter(range(len(dataset)))
        for index in indices:
            ahead.append((index, pool.submit(_load_clip, dataset, index)))
            if len(ahead) > threads:
                break
        while ahead:
            index, future = ahead.popleft()
            nxt = next(indices, None)
            if nxt is not None:
                ahead.append((nxt, pool.submit(_load_clip, dataset, nxt)))
            yield index, *future.result()
