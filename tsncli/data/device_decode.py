"""JPEG frames decoded in batches on a device (`--decode-device cuda`, issue 27): loader workers
read each clip's JPEG bytes and draw its sampling (frame indices, crop box, flip) exactly as the
CPU loader does (`TSNDataset.sample`, `TSNDataset.train_crop`); the main process decodes a whole
batch with torchvision's `decode_jpeg` (nvJPEG on CUDA) and crops, resizes, flips and stacks
there, into the uint8 layout the model takes: (B, S, C*L, h, w), or (B, N, S, C*L, h, w) in test.

Pixels: the same clips as the CPU loader within 2 levels per pixel. The CPU path decodes with
OpenCV's libjpeg-turbo and resizes with OpenCV's fixed-point bilinear (rounding half up); here
the resize is float bilinear at the same half-pixel centres, rounded half up (at most 1 level
apart), and nvJPEG's IDCT differs from libjpeg-turbo's by at most 1-2 levels. torchvision's CPU
decoder (`device="cpu"`, what the tests run) is libjpeg-turbo too, so there only the resize
rounding differs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from tsncli.data.crops import (
    Box,
    center_crop_box,
    scale_size,
    test_crop_boxes,
    test_resize_size,
)
from tsncli.data.dataset import TSNDataset
from tsncli.data.frames import (
    CorruptFrameError,
    frame_templates,
    read_frame_file,
    zipped_frame_reader,
)
from tsncli.data.snippet_source import FrameFolderSource, retry_on_neighbour
from tsncli.data.transforms import short_side_size
from tsncli.errors import DataError, UsageError
from tsncli.lists.listfile import VideoRecord
from tsncli.modality import reads_flow

DECODE_DEVICES = ("cpu", "cuda")
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers (not DHT/DAC)
_STANDALONE = frozenset(range(0xD0, 0xDA)) | {0x01}  # markers without a length field


def check_decode_device(name: str, compute_device: str = "cuda") -> str:
    """`name` if JPEGs can be decoded there: "cpu" (the loader workers, OpenCV), or "cuda" when
    torch sees a CUDA GPU and the model runs on one (`compute_device`); else a UsageError
    naming the fix."""
    if name not in DECODE_DEVICES:
        raise UsageError(f"--decode-device {name!r} is not one of: {', '.join(DECODE_DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "--decode-device cuda needs a CUDA GPU, and torch sees none; decode on the CPU "
            "with --decode-device cpu (the default)"
        )
    if name == "cuda" and not str(compute_device).startswith("cuda"):
        raise UsageError(
            "--decode-device cuda decodes on the GPU the model runs on, but it runs on the CPU "
            "here (--gpus 0); use --decode-device cpu or give it a GPU"
        )
    return name


def jpeg_size(data: np.ndarray) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header, without decoding; ValueError when `data`
    is not a JPEG or ends before its frame header."""
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if raw[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no start-of-image marker)")
    i, end = 2, len(raw)
    while i + 4 <= end:
        if raw[i] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {i}")
        marker = raw[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker in _SOF_MARKERS and i + 9 <= end:
            height = raw[i + 5] << 8 | raw[i + 6]
            width = raw[i + 7] << 8 | raw[i + 8]
            return width, height
        i += 2 + (raw[i + 2] << 8 | raw[i + 3])
    raise ValueError("the JPEG ends before its frame header")


@dataclass(frozen=True)
class ClipBytes:
    """The JPEG files one clip reads: each distinct file once (`files`), and per image of the
    clip in (snippet, frame, x|y) order the position of its file (`order`: a repeated frame
    is read and decoded once)."""

    files: list[np.ndarray]
    names: list[str]  # the files' paths, for errors
    order: list[int]
    width: int
    height: int


def _collect(base: str, indices: np.ndarray, modality: str, read: Any) -> ClipBytes:
    files: list[np.ndarray] = []
    names: list[str] = []
    order: list[int] = []
    seen: dict[str, int] = {}
    size: tuple[int, int] | None = None
    for index in np.asarray(indices, dtype=np.int64).reshape(-1).tolist():
        for template in frame_templates(modality):
            name = os.path.join(base, template.format(index))
            if name not in seen:
                try:
                    data = read(name)
                except CorruptFrameError as exc:  # a zip entry failing its CRC check
                    exc.index = index  # for the caller's retry on a neighbouring frame
                    raise
                try:
                    found = jpeg_size(data)
                except ValueError as exc:
                    error = CorruptFrameError(
                        f"frame {name} cannot be decoded (corrupt JPEG? {exc}); "
                        "re-extract with `tsn flow`",
                        name,
                    )
                    error.index = index  # for the caller's retry on a neighbouring frame
                    raise error from None
                if size is not None and found != size:
                    raise DataError(
                        f"frames in {base} differ in size ({found[0]}x{found[1]} vs "
                        f"{size[0]}x{size[1]}); re-extract the video with `tsn flow`"
                    )
                size = found
                seen[name] = len(files)
                files.append(data)
                names.append(name)
            order.append(seen[name])
    if size is None:
        raise DataError(f"no frame indices given for {base}")
    return ClipBytes(files, names, order, *size)


def read_clip_bytes(
    source: Any, record: VideoRecord, indices: np.ndarray, modality: str
) -> ClipBytes:
    """The JPEG bytes of the frames `indices` [S, L] (1-based) of `record`: from a frame folder
    or its dense_flow zips (the CPU reader's detection, `frames.zipped_frame_reader`), retrying
    a corrupt frame once on a neighbouring one as `FrameFolderSource` does; or from a source
    with `jpeg_bytes(path)` (a video extracted in memory). Other sources (video lists) are a
    UsageError: their frames are not JPEGs."""
    indices = np.asarray(indices, dtype=np.int64)
    if isinstance(source, FrameFolderSource):
        read = zipped_frame_reader(record.path, modality) or read_frame_file
        return retry_on_neighbour(
            lambda chosen: _collect(record.path, chosen, modality, read), record, indices
        )
    check_jpeg_source(source)
    return _collect(record.path, indices, modality, source.jpeg_bytes)


def check_jpeg_source(source: Any) -> None:
    """UsageError unless `source` holds JPEG frames: a frame folder, or a source with
    `jpeg_bytes(path)` (a video extracted in memory). Video lists decode in the loader."""
    if not isinstance(source, FrameFolderSource) and not hasattr(source, "jpeg_bytes"):
        raise UsageError(
            "--decode-device cuda decodes JPEG frames (frame folders); this list's videos are "
            "decoded by the loader, so use --decode-device cpu"
        )


def encode_test_clip(
    source: Any,
    record: VideoRecord,
    indices: np.ndarray,
    modality: str,
    crop_size: int,
    test_crops: int,
) -> EncodedClip:
    """The test clip of the snippets `indices` [S, L] (`transforms.test_clip`'s, not decoded):
    what dense testing and `tsn features` score, chunk by chunk."""
    clip_bytes = read_clip_bytes(source, record, indices, modality)
    return encode_clip(clip_bytes, "test", len(indices), crop_size, modality, test_crops=test_crops)


@dataclass(frozen=True, eq=False)  # eq=False: the bytes are an array
class EncodedClip:
    """One clip as loader workers hand it over: its JPEG bytes (all files in one array,
    `sizes` bytes each) and every sampling decision, so `decode_clips` needs nothing else."""

    data: np.ndarray  # uint8 [sum(sizes)]
    sizes: tuple[int, ...]
    names: tuple[str, ...]
    order: tuple[int, ...]  # file per image of the clip (see ClipBytes)
    width: int
    height: int
    mode: str  # train | val | test
    snippets: int  # S
    crop_size: int
    flow: bool  # greyscale pairs; x images invert when mirrored
    box: Box | None = None  # train: the crop box
    flipped: bool = False  # train: mirrored
    test_crops: int = 1  # test: crops per snippet (`tsncli.data.crops.TEST_CROPS`)


def encode_clip(
    clip_bytes: ClipBytes,
    mode: str,
    snippets: int,
    crop_size: int,
    modality: str,
    box: Box | None = None,
    flipped: bool = False,
    test_crops: int = 1,
) -> EncodedClip:
    """An `EncodedClip` of `clip_bytes` with its sampling decisions."""
    sizes = tuple(int(f.size) for f in clip_bytes.files)
    data = np.concatenate(clip_bytes.files) if clip_bytes.files else np.zeros(0, np.uint8)
    return EncodedClip(
        data, sizes, tuple(clip_bytes.names), tuple(clip_bytes.order), clip_bytes.width,
        clip_bytes.height, mode, snippets, crop_size, reads_flow(modality), box, flipped,
        test_crops,
    )  # fmt: skip


class EncodedClips(Dataset):
    """`dataset`'s items as `EncodedClip`s: `(clip, label)`, the same frames, crops and flips
    from the same (seed, epoch, index) as `dataset` gives decoded. A source with `report`
    makes an unreadable video a None clip, as `TSNDataset` does."""

    def __init__(self, dataset: TSNDataset) -> None:
        check_jpeg_source(dataset.source)
        self.dataset = dataset

    @property
    def source(self) -> Any:
        return self.dataset.source

    def set_epoch(self, epoch: int) -> None:
        """As `TSNDataset.set_epoch`."""
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def load_clip(self, index: int) -> EncodedClip:
        """Item `index`'s bytes and sampling (`TSNDataset.load_clip`'s, not decoded)."""
        ds = self.dataset
        record = ds.records[index]
        indices, rng = ds.sample(index)
        clip_bytes = read_clip_bytes(ds.source, record, indices, ds.modality)
        box, flipped = None, False
        if ds.mode == "train":
            box, flipped = ds.train_crop(clip_bytes.width, clip_bytes.height, rng)
        return encode_clip(
            clip_bytes, ds.mode, ds.num_segments, ds.crop_size, ds.modality, box, flipped,
            ds.test_crops,
        )  # fmt: skip

    def __getitem__(self, index: int) -> tuple[EncodedClip | None, int]:
        label = self.dataset.records[index].label
        report = getattr(self.dataset.source, "report", None)
        if report is None:
            return self.load_clip(index), label
        try:
            return self.load_clip(index), label
        except DataError as error:
            report(error)
            return None, label


@dataclass(frozen=True)
class EncodedBatch:
    """A batch of `EncodedClip`s (`collate_encoded`); `move_clips` decodes it on a device."""

    clips: list[EncodedClip]

    def __len__(self) -> int:
        return len(self.clips)


def collate_encoded(batch: list[tuple]) -> Any:
    """Collate `(EncodedClip, label[, index])` items: `(EncodedBatch, labels[, indices])`.
    Skipped videos (None clips) are left out; a batch of nothing else is None."""
    kept = [item for item in batch if item[0] is not None]
    if not kept:
        return None
    rest = [torch.tensor([item[k] for item in kept]) for k in range(1, len(kept[0]))]
    return (EncodedBatch([item[0] for item in kept]), *rest)


def move_clips(clips: torch.Tensor | EncodedBatch, device: str | torch.device) -> torch.Tensor:
    """A batch of clips on `device`: decoded there if it holds JPEG bytes (`EncodedBatch`),
    else copied (non-blocking from pinned memory)."""
    if isinstance(clips, EncodedBatch):
        return decode_clips(clips.clips, device)
    return clips.to(device, non_blocking=True)


def _decode(tensors: list[torch.Tensor], names: list[str], gray: bool, device: Any) -> list:
    from torchvision.io import ImageReadMode, decode_jpeg

    mode = ImageReadMode.GRAY if gray else ImageReadMode.RGB
    try:
        return decode_jpeg(tensors, mode=mode, device=device)
    except RuntimeError:  # one bad file fails the batch: name it
        for tensor, name in zip(tensors, names, strict=True):
            try:
                decode_jpeg(tensor, mode=mode, device=device)
            except RuntimeError as exc:
                raise CorruptFrameError(
                    f"frame {name} cannot be decoded on {device} ({' '.join(str(exc).split())});"
                    " re-extract with `tsn flow`, or decode on the CPU (--decode-device cpu), "
                    "which skips such videos",
                    name,
                ) from None
        raise


def decode_clips(clips: Sequence[EncodedClip], device: str | torch.device) -> torch.Tensor:
    """Decode every JPEG of `clips` in one `decode_jpeg` call on `device` and transform each
    clip as the CPU loader does: uint8 (B, S, C*L, h, w), or (B, N, S, C*L, h, w) in test."""
    tensors: list[torch.Tensor] = []
    names: list[str] = []
    starts: list[int] = []
    for clip in clips:
        starts.append(len(tensors))
        tensors.extend(torch.from_numpy(clip.data).split(list(clip.sizes)))
        names.extend(clip.names)
    images = _decode(tensors, names, clips[0].flow, device)  # (1|3, H, W) each
    out = []
    for clip, start in zip(clips, starts, strict=True):
        files = images[start : start + len(clip.sizes)]
        group = torch.cat([files[k] for k in clip.order])  # (K, H, W), K = S*L*C
        out.append(transform_clip(clip, group))
    return torch.stack(out)


def resize_planes(planes: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Bilinear resize of uint8 (K, H, W) to (K, height, width) at OpenCV's pixel centres
    (align_corners=False, no antialiasing), in float, rounded half up as OpenCV's uint8 path
    rounds: within 1 level of `transforms.resize`."""
    if planes.shape[-1] == width and planes.shape[-2] == height:
        return planes
    scaled = F.interpolate(
        planes[None].float(), size=(height, width), mode="bilinear", align_corners=False
    )[0]
    return scaled.add_(0.5).floor_().clamp_(0, 255).to(torch.uint8)


def flip_planes(planes: torch.Tensor, flow: bool) -> torch.Tensor:
    """Mirror (K, H, W) left-right; flow x images (even K) become 255 - v: THE flow flip of
    `transforms.flip_horizontal`, on planes."""
    out = planes.flip(-1)
    if flow:
        out[0::2] = 255 - out[0::2]
    return out


def transform_clip(clip: EncodedClip, group: torch.Tensor) -> torch.Tensor:
    """The decoded frames (K, H, W) of `clip` as the model's input, as `TSNDataset.load_clip`
    makes it: train crop-resize-flip, val centre crop, or the test crops."""
    size, snippets = clip.crop_size, clip.snippets
    if clip.mode == "train":
        assert clip.box is not None
        x, y, w, h = clip.box
        out = resize_planes(group[:, y : y + h, x : x + w], size, size)
        if clip.flipped:
            out = flip_planes(out, clip.flow)
        return out.contiguous().reshape(snippets, -1, size, size)
    height, width = group.shape[-2:]
    if clip.mode == "val":
        new_w, new_h = short_side_size(width, height, scale_size(size))
        scaled = resize_planes(group, new_w, new_h)
        x, y, _, _ = center_crop_box(new_w, new_h, size)
        return scaled[:, y : y + size, x : x + size].contiguous().reshape(snippets, -1, size, size)
    new_w, new_h = short_side_size(width, height, test_resize_size(size, clip.test_crops))
    scaled = resize_planes(group, new_w, new_h)
    crops = []
    for (x, y, w, h), flipped in test_crop_boxes(new_w, new_h, size, clip.test_crops):
        view = scaled[:, y : y + h, x : x + w]
        crops.append(flip_planes(view, clip.flow) if flipped else view)
    return torch.stack(crops).reshape(len(crops), snippets, -1, size, size)
