"""Training-loader throughput on one core: decode, TSN sampling, multi-scale crop, flip, tensor.

Measures `TSNDataset(mode="train")` items per second in this process, set up as a loader
worker (`worker_init`: one thread, the heap keeps its pages), with
3 segments and 224 crops, against a re-implementation of the PyTorch port's PIL loader
(PIL decode, GroupMultiScaleCrop, flip, Stack, ToTorchFormatTensor, GroupNormalize) on the same
frames. Beside the result it prints the decode-only limit: one thread `cv2.imread` of exactly
the JPEGs each measured clip reads (3 segments x 5 pairs x flow x and y, or 3 RGB frames; a
frame a clip repeats is read once, as the loader does), warm page cache, and the loader's
share of that limit. Loader and decode-only passes alternate, best of 5 each (the port's loader:
best of 5 too). Training-step throughput of the models is `benchmarks/model_throughput.py`.

    .venv/bin/python benchmarks/loader_throughput.py LIST_FILE --modality rgb|flow [--seconds S]
    .venv/bin/python benchmarks/loader_throughput.py --make-frames /tmp/bench --modality flow

LIST_FILE is in the original list format with dense_flow frame folders. --make-frames DIR
writes 8 synthetic 340x256 videos (60 frames) first and uses them. The machine is shared, so
figures vary; the last line is `clips_per_s=<float>` (plus baseline figures); the line before
it is `decode_limit_clips_per_s=<float> share=<float>`.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsncli.data import sampling  # noqa: E402
from tsncli.data.dataset import TSNDataset, worker_init  # noqa: E402
from tsncli.data.frames import frame_templates  # noqa: E402
from tsncli.lists.listfile import VideoRecord, read_list, write_list  # noqa: E402

SEGMENTS = 3
CROP = 224
PASSES = 5  # best-of passes of the loader and of the decode-only limit, alternating


def make_frames(root: Path, videos: int = 8, frames: int = 60) -> Path:
    """Synthetic 340x256 frame folders (smooth textures, like real JPEG entropy) + a list."""
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur((rng.random((256, 420, 3)) * 255).astype(np.uint8), (0, 0), 2)
    grey = cv2.GaussianBlur((rng.random((256, 420)) * 60 + 98).astype(np.uint8), (0, 0), 3)
    records = []
    for v in range(videos):
        folder = root / f"video_{v:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(1, frames + 1):
            cv2.imwrite(str(folder / f"img_{k:05d}.jpg"), np.roll(base, 2 * k + v, 1)[:, :340])
            cv2.imwrite(str(folder / f"flow_x_{k:05d}.jpg"), np.roll(grey, k, 1)[:, :340])
            cv2.imwrite(str(folder / f"flow_y_{k:05d}.jpg"), np.roll(grey, -k, 1)[:, :340])
        records.append(VideoRecord(str(folder), frames, v))
    return write_list(root / "bench_list.txt", records)


class PortLoader:
    """The tsn-pytorch TSNDataSet + transforms (PIL), trimmed to what a train item does."""

    def __init__(self, records: list[VideoRecord], modality: str) -> None:
        from PIL import Image, ImageOps

        self.Image, self.ImageOps = Image, ImageOps
        self.records, self.modality = records, modality
        self.new_length = 1 if modality == "rgb" else 5
        self.scales = [1, 0.875, 0.75, 0.66] if modality == "rgb" else [1, 0.875, 0.75]

    def _load(self, folder: str, idx: int) -> list:
        if self.modality == "rgb":
            return [self.Image.open(f"{folder}/img_{idx:05d}.jpg").convert("RGB")]
        x = self.Image.open(f"{folder}/flow_x_{idx:05d}.jpg").convert("L")
        y = self.Image.open(f"{folder}/flow_y_{idx:05d}.jpg").convert("L")
        return [x, y]

    def __getitem__(self, index: int) -> torch.Tensor:
        record = self.records[index]
        offsets = sampling.train_offsets(
            record.num_frames, SEGMENTS, self.new_length, np.random.default_rng(index)
        )
        images = []
        for seg in sampling.snippet_frame_indices(offsets, self.new_length, record.num_frames):
            for i in seg:
                images.extend(self._load(record.path, int(i)))
        w, h = images[0].size
        base = min(w, h)
        sizes = [int(base * s) for s in self.scales]
        sizes = [CROP if abs(s - CROP) < 3 else s for s in sizes]
        pairs = [
            (a, b) for i, b in enumerate(sizes) for j, a in enumerate(sizes) if abs(i - j) <= 1
        ]
        cw, ch = random.choice(pairs)
        x0 = random.choice([0, (w - cw) // 4 * 2, (w - cw) // 4 * 4])
        y0 = random.choice([0, (h - ch) // 4 * 2, (h - ch) // 4 * 4])
        images = [
            im.crop((x0, y0, x0 + cw, y0 + ch)).resize((CROP, CROP), self.Image.BILINEAR)
            for im in images
        ]
        if random.random() < 0.5:
            images = [self.ImageOps.mirror(im) for im in images]
            if self.modality == "flow":
                images = [
                    self.ImageOps.invert(im) if i % 2 == 0 else im for i, im in enumerate(images)
                ]
        if self.modality == "rgb":
            stacked = np.concatenate([np.array(im) for im in images], axis=2)
        else:
            stacked = np.concatenate([np.expand_dims(im, 2) for im in images], axis=2)
        tensor = torch.from_numpy(stacked).permute(2, 0, 1).contiguous().float().div(255)
        return tensor.sub_(0.5).div_(0.25)  # GroupNormalize (mean/std values do not matter)


def measure(get, count: int, seconds: float) -> float:
    """Items per second of `get(i)` over `seconds` (at least 2 items)."""
    get(0)  # warm up caches and lazy imports
    done, start = 0, time.perf_counter()
    while done < 2 or time.perf_counter() - start < seconds:
        get(done % count)
        done += 1
    return done / (time.perf_counter() - start)


def clip_files(dataset: TSNDataset, index: int) -> list[str]:
    """The JPEG paths item `index` of `dataset` reads (its epoch's indices, repeats once)."""
    record = dataset.records[index]
    numbers = dict.fromkeys(dataset.frame_indices(index).reshape(-1).tolist())
    templates = frame_templates(dataset.modality)
    return [f"{record.path}/{t.format(n)}" for n in numbers for t in templates]


def decode_limit(clips: list[list[str]], modality: str, seconds: float) -> float:
    """Clips/s of decoding alone for one pass: `cv2.imread` of each clip's files."""
    flags = cv2.IMREAD_GRAYSCALE if modality == "flow" else cv2.IMREAD_COLOR_RGB

    def decode(i: int) -> None:
        for path in clips[i]:
            cv2.imread(path, flags)

    return measure(decode, len(clips), seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("list_file", nargs="?", help="list file (original TSN format)")
    parser.add_argument("--modality", choices=("rgb", "flow"), default="rgb")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--make-frames", type=Path, help="generate synthetic frames here")
    parser.add_argument("--no-baseline", action="store_true", help="skip the PIL port loader")
    args = parser.parse_args()
    worker_init(0)  # one thread, and whatever else a loader worker sets up
    if args.make_frames:
        list_file = make_frames(args.make_frames)
    elif args.list_file:
        list_file = Path(args.list_file)
    else:
        parser.error("give LIST_FILE or --make-frames DIR")
    records = read_list(list_file)
    length = 1 if args.modality == "rgb" else 5
    dataset = TSNDataset(records, args.modality, SEGMENTS, length, "train", CROP, seed=0)
    clips = [clip_files(dataset, i) for i in range(len(records))]
    # loader and decode-only passes alternate, best of 5 each: the machine is shared, so both
    # see the same load and the share compares like with like
    ours = limit = 0.0
    for _ in range(PASSES):
        ours = max(ours, measure(lambda i: dataset[i], len(records), args.seconds / PASSES))
        limit = max(limit, decode_limit(clips, args.modality, args.seconds / PASSES))
    rows = [("tsn (OpenCV, uint8)", ours)]
    base = None
    if not args.no_baseline:
        port = PortLoader(records, args.modality)
        base = max(
            measure(port.__getitem__, len(records), args.seconds / PASSES) for _ in range(PASSES)
        )
        rows.append(("PyTorch port (PIL, float)", base))
    print(f"{'loader':<28}{'clips/s':>10}   ({args.modality}, {SEGMENTS} segments, {CROP} crops)")
    for name, rate in rows:
        print(f"{name:<28}{rate:>10.1f}   {rate / limit:.2f} of the limit")
    print(f"{'decode only (cv2.imread)':<28}{limit:>10.1f}   (one thread, warm cache, best pass)")
    extra = ""
    if base:
        print(f"speed-up {ours / base:.2f}x")
        extra += f" baseline_clips_per_s={base:.2f} speedup={ours / base:.3f}"
    print(f"peak_rss_mib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}{extra}")
    print(f"decode_limit_clips_per_s={limit:.2f} share={ours / limit:.3f}")
    print(f"clips_per_s={ours:.2f}")


if __name__ == "__main__":
    main()
