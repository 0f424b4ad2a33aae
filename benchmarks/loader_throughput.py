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

It also measures, alternating with the others, what a loader worker does per clip under
`--decode-device cuda` (read the JPEG bytes and draw the sampling, `EncodedClips`; the decoding
is then the GPU's), and prints the loader cores one GPU needs at `--gpu-rate` clips/s for
each. The default rate is a published figure, not this project's measurement: ResNet-50 v1.5
training with mixed precision on one A100 80GB, 2470 images/s (NVIDIA DeepLearningExamples,
PyTorch/Classification/ConvNets/resnet50v1.5/README.md, "Training performance: NVIDIA DGX A100",
pytorch-21.03 container), divided by the 3 snippets of a TSN clip: 823 clips/s. BN-Inception (TSN's
backbone, about half ResNet-50's FLOPs) and newer GPUs train faster, so it is a floor; measure
your own with `benchmarks/model_throughput.py --device cuda` and pass it.

`--layout zip` reads the same frames from dense_flow's zips (img.zip, flow_x.zip, flow_y.zip,
entries img_/x_/y_%05d.jpg; built from the folders with Python's zipfile, stored, under
ZIP_DIR, default LIST_DIR/zips) through the production reader; its decode-only limit is
`cv2.imdecode` of the entries' bytes, read beforehand. Both layouts' file counts and bytes
are printed.

    .venv/bin/python benchmarks/loader_throughput.py LIST_FILE --modality rgb|flow [--seconds S]
    .venv/bin/python benchmarks/loader_throughput.py --make-frames /tmp/bench --modality flow
    .venv/bin/python benchmarks/loader_throughput.py --make-frames /tmp/bench --layout zip

LIST_FILE is in the original list format with dense_flow frame folders. --make-frames DIR
writes 8 synthetic 340x256 videos (60 frames) first and uses them. The machine is shared, so
figures vary (the load average is printed); the last line is `clips_per_s=<float>` (plus
baseline figures); the line before it is `decode_limit_clips_per_s=<float> share=<float>`.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsncli.data import sampling  # noqa: E402
from tsncli.data.dataset import TSNDataset, worker_init  # noqa: E402
from tsncli.data.device_decode import EncodedClips  # noqa: E402
from tsncli.data.frames import frame_templates  # noqa: E402
from tsncli.layout import zip_entry  # noqa: E402
from tsncli.lists.listfile import VideoRecord, read_list, write_list  # noqa: E402

SEGMENTS = 3
CROP = 224
PASSES = 5  # best-of passes of the loader and of the decode-only limit, alternating
# ResNet-50 v1.5, AMP, one A100 80GB: 2470 images/s (NVIDIA DeepLearningExamples' README, see
# the module doc) / 3 snippets per clip
GPU_RATE = 2470 / SEGMENTS
GPU_RATE_SOURCE = (
    "ResNet-50 AMP training on one A100 80GB, 2470 img/s (NVIDIA DeepLearningExamples), "
    "/ 3 snippets; a floor for BN-Inception"
)


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


def zipped_entries(clips: list[list[str]]) -> list[list[np.ndarray]]:
    """The bytes of each clip's frames read from its video's zips (for the zip layout's
    decode-only limit, which times `cv2.imdecode` alone)."""
    out = []
    for files in clips:
        entries = []
        for path in files:
            zip_name, entry = zip_entry(os.path.basename(path))
            with zipfile.ZipFile(os.path.join(os.path.dirname(path), zip_name)) as archive:
                entries.append(np.frombuffer(archive.read(entry), np.uint8))
        out.append(entries)
    return out


def imdecode_limit(clips: list[list[np.ndarray]], modality: str, seconds: float) -> float:
    """Clips/s of decoding alone for one pass: `cv2.imdecode` of each clip's entries' bytes."""
    flags = cv2.IMREAD_GRAYSCALE if modality == "flow" else cv2.IMREAD_COLOR_RGB

    def decode(i: int) -> None:
        for data in clips[i]:
            cv2.imdecode(data, flags)

    return measure(decode, len(clips), seconds)


def make_zips(records: list[VideoRecord], root: Path) -> list[VideoRecord]:
    """Each record's frame folder as dense_flow's zips under `root/<video>` (stored, entries
    named by `layout.zip_entry`); made once, then reused."""
    out = []
    for record in records:
        folder = Path(record.path)
        target = root / folder.name
        if not target.is_dir():
            partial = root / f".{folder.name}.partial"
            partial.mkdir(parents=True, exist_ok=True)
            archives: dict[str, zipfile.ZipFile] = {}
            for path in sorted(folder.iterdir()):
                where = zip_entry(path.name)
                if where is None or not path.name.endswith(".jpg"):
                    continue
                if where[0] not in archives:
                    archives[where[0]] = zipfile.ZipFile(partial / where[0], "w")  # stored
                archives[where[0]].write(path, where[1])
            for archive in archives.values():
                archive.close()
            partial.rename(target)
        out.append(VideoRecord(str(target), record.num_frames, record.label, record.offset))
    return out


def layout_size(records: list[VideoRecord]) -> tuple[int, int]:
    """(files, bytes) under the records' video folders."""
    files = size = 0
    for record in records:
        for entry in os.scandir(record.path):
            if entry.is_file():
                files += 1
                size += entry.stat().st_size
    return files, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("list_file", nargs="?", help="list file (original TSN format)")
    parser.add_argument("--modality", choices=("rgb", "flow"), default="rgb")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--make-frames", type=Path, help="generate synthetic frames here")
    parser.add_argument("--no-baseline", action="store_true", help="skip the PIL port loader")
    parser.add_argument("--layout", choices=("dir", "zip"), default="dir")
    parser.add_argument("--zip-dir", type=Path, help="where --layout zip builds the zips")
    parser.add_argument(
        "--gpu-rate",
        type=float,
        default=GPU_RATE,
        help=f"clips/s one GPU trains ({GPU_RATE_SOURCE})",
    )
    args = parser.parse_args()
    worker_init(0)  # one thread, and whatever else a loader worker sets up
    if args.make_frames:
        list_file = make_frames(args.make_frames)
    elif args.list_file:
        list_file = Path(args.list_file)
    else:
        parser.error("give LIST_FILE or --make-frames DIR")
    folders = read_list(list_file)
    records = folders
    if args.layout == "zip":
        records = make_zips(folders, args.zip_dir or Path(list_file).parent / "zips")
    for name, layout in (("dir", folders), ("zip", records if args.layout == "zip" else None)):
        if layout is not None:
            files, size = layout_size(layout)
            print(f"layout {name}: {files} files, {size / 2**20:.1f} MiB in {len(layout)} videos")
    length = 1 if args.modality == "rgb" else 5
    dataset = TSNDataset(records, args.modality, SEGMENTS, length, "train", CROP, seed=0)
    encoded = EncodedClips(dataset)
    clips = [clip_files(dataset, i) for i in range(len(records))]
    entries = zipped_entries(clips) if args.layout == "zip" else None
    # loader and decode-only passes alternate, best of 5 each: the machine is shared, so both
    # see the same load and the share compares like with like
    ours = limit = nbytes = 0.0
    for _ in range(PASSES):
        ours = max(ours, measure(lambda i: dataset[i], len(records), args.seconds / PASSES))
        if entries is None:
            limit = max(limit, decode_limit(clips, args.modality, args.seconds / PASSES))
        else:
            limit = max(limit, imdecode_limit(entries, args.modality, args.seconds / PASSES))
        nbytes = max(nbytes, measure(encoded.load_clip, len(records), args.seconds / PASSES))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; layout {args.layout}")
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
    decoder = "cv2.imread" if entries is None else "cv2.imdecode"
    print(f"{f'decode only ({decoder})':<28}{limit:>10.1f}   (one thread, warm cache, best pass)")
    print(f"{'bytes for --decode-device':<28}{nbytes:>10.1f}   (a worker's part; the GPU decodes)")
    print(f"loader cores per GPU at {args.gpu_rate:.0f} clips/s ({GPU_RATE_SOURCE}):")
    for name, rate in (("CPU decoding (tsn)", ours), ("--decode-device cuda", nbytes)):
        print(f"  {name:<26}{args.gpu_rate / rate:>10.1f}")
    extra = ""
    if base:
        print(f"speed-up {ours / base:.2f}x")
        extra += f" baseline_clips_per_s={base:.2f} speedup={ours / base:.3f}"
    print(f"peak_rss_mib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}{extra}")
    print(
        f"layout={args.layout} gpu_rate={args.gpu_rate:.1f}"
        f" cores_per_gpu={args.gpu_rate / ours:.2f} bytes_clips_per_s={nbytes:.2f}"
        f" cores_per_gpu_device_decode={args.gpu_rate / nbytes:.2f}"
    )
    print(f"decode_limit_clips_per_s={limit:.2f} share={ours / limit:.3f}")
    print(f"clips_per_s={ours:.2f}")


if __name__ == "__main__":
    main()
