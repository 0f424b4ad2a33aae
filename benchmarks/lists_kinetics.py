"""Time `tsn lists kinetics400` at Kinetics-400 size, and the video frame-count index.

Usage: python benchmarks/lists_kinetics.py [--videos 240000] [--index-videos 1000] [--keep DIR]

1. Lists: official-format train/validate CSVs (400 classes, labels with spaces, commas and
   parentheses, an `is_cc` column) and a tree of empty files, train videos in
   `train/<label>/<id>_<start>_<end>.mp4`, val videos flat; 2% of the rows have no file. Empty
   files cannot be decoded, so their frame counts are put in the video index first (what a
   rerun finds); the build then reads the CSVs, scans the tree (one stat per video, which the
   index's freshness check reuses), matches every row, loads the index (version 3 columns) and
   writes the lists. Checked: entries per list, the missing count, labels against an
   independent reading of the CSVs.
2. Index: `--index-videos` tiny generated videos (MJPG, 64x48, 16 frames) indexed from scratch
   with 1 and 2 processes (the cold cost the lists build pays once per dataset).
Prints a table, then `key=value` pairs as the last line.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path

CLASSES = 400
VAL_SHARE = 20_000 / 240_000  # Kinetics-400: ~240k train, ~20k validate
MISSING_SHARE = 0.02


def class_names() -> list[str]:
    """400 labels shaped like Kinetics' (spaces, a comma, parentheses)."""
    names = [f"action {i:03d}" for i in range(CLASSES)]
    names[7] = "playing cards, magic"
    names[8] = "passing American football (in game)"
    return names


def write_dataset(root: Path, videos: int, seed: int = 0) -> dict[str, list[tuple[str, int]]]:
    """CSVs and empty video files; returns subset -> [(clip name, label index)] of present files."""
    rng = random.Random(seed)
    names = class_names()
    label_of = {name: i for i, name in enumerate(sorted(names))}
    (root / "annotations").mkdir(parents=True)
    present: dict[str, list[tuple[str, int]]] = {"train": [], "val": []}
    rows = int(videos / (1 - MISSING_SHARE))
    made_dirs: set[Path] = set()
    writers = {}
    files = {}
    for subset, fname in (("train", "train.csv"), ("val", "validate.csv")):
        files[subset] = open(root / "annotations" / fname, "w", newline="", encoding="utf-8")
        writers[subset] = csv.writer(files[subset])
        writers[subset].writerow(
            ["label", "youtube_id", "time_start", "time_end", "split", "is_cc"]
        )
    for i in range(rows):
        subset = "val" if rng.random() < VAL_SHARE else "train"
        label = names[i % CLASSES]
        youtube_id = f"{i:08d}-{rng.randrange(36**3):03x}"
        start = rng.randrange(0, 300)
        clip = f"{youtube_id}_{start:06d}_{start + 10:06d}"
        split_name = "validate" if subset == "val" else "train"
        writers[subset].writerow([label, youtube_id, start, start + 10, split_name, 0])
        if rng.random() < MISSING_SHARE:
            continue
        folder = root / "videos" / ("train" / Path(label) if subset == "train" else Path("val"))
        if folder not in made_dirs:
            folder.mkdir(parents=True, exist_ok=True)
            made_dirs.add(folder)
        open(folder / f"{clip}.mp4", "wb").close()
        present[subset].append((clip, label_of[label]))
    for f in files.values():
        f.close()
    return present


def prebuild_index(root: Path, out: Path) -> int:
    """Frame counts for every empty file, as a finished earlier run would have left them."""
    from tsncli.video.index import VideoIndex
    from tsncli.video.index_store import VideoEntry
    from tsncli.video.timeline import Timeline

    timeline = Timeline(250, 0, 512)  # a constant-rate stream, stored compactly as real ones are

    index = VideoIndex(out / "kinetics400_video_index.json")
    for folder, _dirs, files in os.walk(root / "videos"):
        for name in files:
            path = os.path.abspath(os.path.join(folder, name))
            st = os.stat(path)
            index.entries[path] = VideoEntry(
                path=path,
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                num_frames=250,
                container_frames=250,
                keyframes=(0, 125),
                counted=False,
                width=340,
                height=256,
                fps=25.0,
                timeline=timeline,
            )
    index.save()
    return len(index.entries)


def time_lists(root: Path, out: Path) -> tuple[float, object]:
    from tsncli.lists.annotated import AnnotatedListsConfig, build_lists_from_annotations

    config = AnnotatedListsConfig(
        dataset="kinetics400",
        videos=str(root / "videos"),
        annotations=str(root / "annotations"),
        out=str(out),
        modality=("rgb",),
        workers=1,
    )
    start = time.perf_counter()
    result = build_lists_from_annotations(config)
    return time.perf_counter() - start, result


def check_lists(out: Path, present: dict[str, list[tuple[str, int]]], rows: int) -> None:
    from tsncli.lists.listfile import read_list

    for subset in ("train", "val"):
        records = read_list(out / f"kinetics400_rgb_{subset}_split_1.txt")
        got = sorted((Path(r.path).stem, r.label) for r in records)
        if got != sorted(present[subset]):
            sys.exit(f"{subset}: the list does not match the CSV rows with files")
    missing = rows - sum(len(v) for v in present.values())
    first = (out / "kinetics400_missing.txt").read_text().splitlines()[0]
    if not first.startswith(f"# {missing} "):
        sys.exit(f"missing file says {first!r}, expected {missing}")


def time_index(folder: Path, count: int) -> dict[int, float]:
    """Seconds to index `count` tiny videos from scratch with 1 and 2 processes."""
    import cv2
    import numpy as np

    from tsncli.video.index import VideoIndex

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"v{i:04d}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
        for _ in range(16):
            writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        writer.release()
        paths.append(str(path))
    times = {}
    for workers in (1, 2):
        index = VideoIndex(folder / f"index_{workers}.json")
        start = time.perf_counter()
        entries, errors = index.ensure(paths, workers=workers)
        times[workers] = time.perf_counter() - start
        if errors or len(entries) != count or {e.num_frames for e in entries.values()} != {16}:
            sys.exit(f"index with {workers} process(es): {len(errors)} errors")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=240_000)
    parser.add_argument("--index-videos", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="build here and keep the files")
    args = parser.parse_args()
    logging.getLogger("tsncli").setLevel(logging.ERROR)  # the missing-videos warning is expected
    with tempfile.TemporaryDirectory(prefix="tsn-k400-") as tmp:
        root = args.keep or Path(tmp)
        start = time.perf_counter()
        present = write_dataset(root, args.videos)
        rows = sum(1 for _ in open(root / "annotations" / "train.csv")) - 1
        rows += sum(1 for _ in open(root / "annotations" / "validate.csv")) - 1
        made = time.perf_counter() - start
        out = root / "lists"
        indexed = prebuild_index(root, out)
        seconds, result = time_lists(root, out)
        check_lists(out, present, rows)
        index_times = time_index(root / "index_videos", args.index_videos)
    files = sum(len(v) for v in present.values())
    print(f"{'step':<52}{'seconds':>10}")
    print(f"{'generate CSVs + ' + str(files) + ' empty files (not timed)':<52}{made:>10.2f}")
    print(f"{'tsn lists kinetics400 (' + str(rows) + ' rows, warm index)':<52}{seconds:>10.2f}")
    for workers, t in index_times.items():
        label = f"index {args.index_videos} videos, {workers} process(es)"
        print(f"{label:<52}{t:>10.2f}")
    pairs = {
        "rows": rows,
        "files": files,
        "indexed": indexed,
        "missing": result.dropped,
        "lists_s": f"{seconds:.2f}",
        "index_1p_s": f"{index_times[1]:.2f}",
        "index_2p_s": f"{index_times[2]:.2f}",
    }
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))


if __name__ == "__main__":
    main()
