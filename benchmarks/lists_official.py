"""Check and time `tsn lists` against the official split files on a fake frame tree.

Usage: python benchmarks/lists_official.py SPLITS_DIR [--runs 3] [--keep DIR]

SPLITS_DIR holds `ucf101/` (classInd.txt, trainlist0k.txt, testlist0k.txt) and/or `hmdb51/`
(<class>_test_split<k>.txt, optional class_list.txt), e.g. ../shared/reference/splits. For each,
a temporary tree gets one folder per video named in the split files (13,320 / 6,766) holding
k = 1..3 empty img_/flow_x_/flow_y_ files, then the lists for every split and both modalities are
built and checked against an independent reading of the split files: sizes, labels (classInd.txt
or class_list.txt order) and frame counts. Prints a table, then `key=value` pairs as the last line.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tsncli.lists.builder import ListsConfig, build_lists

EXPECTED = {
    "ucf101": {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)},
    "hmdb51": {1: (3570, 1530), 2: (3570, 1530), 3: (3570, 1530)},
}
VIDEOS = {"ucf101": 13320, "hmdb51": 6766}


def _lines(path: Path) -> list[str]:
    return [s.strip() for s in path.read_bytes().decode("utf-8-sig").splitlines() if s.strip()]


def expected_ucf101(folder: Path) -> tuple[set[str], dict[int, dict[str, list[tuple[str, int]]]]]:
    """All video ids and, per split, [(video id, label)] read straight from the files."""
    index = {}
    for line in _lines(folder / "classInd.txt"):
        number, name = line.split()
        index[name] = int(number) - 1
    out: dict[int, dict[str, list[tuple[str, int]]]] = {}
    ids: set[str] = set()
    for k in (1, 2, 3):
        out[k] = {}
        for subset, stem in (("train", "trainlist"), ("val", "testlist")):
            rows = []
            for line in _lines(folder / f"{stem}{k:02d}.txt"):
                entry = line.split()[0]
                cls, video = entry.split("/")
                rows.append((video.rsplit(".", 1)[0], index[cls]))
            out[k][subset] = rows
            ids |= {v for v, _ in rows}
    return ids, out


def expected_hmdb51(folder: Path) -> tuple[set[str], dict[int, dict[str, list[tuple[str, int]]]]]:
    """All video ids (flag 0 included) and, per split, [(video id, label)] by class order."""
    names = sorted({p.name.rsplit("_test_split", 1)[0] for p in folder.glob("*_test_split1.txt")})
    if (folder / "class_list.txt").is_file():
        names = _lines(folder / "class_list.txt")
    out: dict[int, dict[str, list[tuple[str, int]]]] = {}
    ids: set[str] = set()
    for k in (1, 2, 3):
        out[k] = {"train": [], "val": []}
        for label, name in enumerate(names):
            for line in _lines(folder / f"{name}_test_split{k}.txt"):
                video, flag = line.split()
                vid = video.rsplit(".", 1)[0]
                ids.add(vid)
                if flag in ("1", "2"):
                    out[k]["train" if flag == "1" else "val"].append((vid, label))
    return ids, out


def make_tree(root: Path, ids: set[str]) -> dict[str, int]:
    """One folder per video with n = 1..3 empty files of each kind; returns id -> n."""
    counts = {}
    for i, video_id in enumerate(sorted(ids)):
        n = 1 + i % 3
        folder = root / video_id
        folder.mkdir(parents=True)
        for j in range(1, n + 1):
            for prefix in ("img_", "flow_x_", "flow_y_"):
                (folder / f"{prefix}{j:05d}.jpg").touch()
        counts[video_id] = n
    return counts


def check(dataset: str, splits: Path, work: Path, runs: int) -> dict[str, object]:
    reader = expected_ucf101 if dataset == "ucf101" else expected_hmdb51
    ids, expected = reader(splits)
    start = time.perf_counter()
    counts = make_tree(work / "frames", ids)
    tree_s = time.perf_counter() - start
    config = ListsConfig(
        dataset=dataset, frames=str(work / "frames"), splits=str(splits), out=str(work / "out")
    )
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        build_lists(config)
        times.append(time.perf_counter() - start)
    problems = []
    for k, (n_train, n_val) in EXPECTED[dataset].items():
        for subset, n in (("train", n_train), ("val", n_val)):
            want = expected[k][subset]
            if len(want) != n:
                problems.append(f"split files: split {k} {subset} has {len(want)}, expected {n}")
            for modality in ("rgb", "flow"):
                path = work / "out" / f"{dataset}_{modality}_{subset}_split_{k}.txt"
                got = []
                for line in path.read_text().splitlines():
                    folder, frames, label = line.rsplit(" ", 2)
                    got.append((Path(folder).name, int(label)))
                    if int(frames) != counts[Path(folder).name]:
                        problems.append(f"{path.name}: wrong frame count for {folder}")
                if got != want:
                    problems.append(f"{path.name}: entries or labels differ from the split files")
    return {
        "dataset": dataset,
        "videos": len(ids),
        "expected_videos": VIDEOS[dataset],
        "sizes": " ".join(f"{a}/{b}" for a, b in EXPECTED[dataset].values()),
        "tree_s": tree_s,
        "lists_s": min(times),
        "lists_median_s": statistics.median(times),
        "ok": not problems and len(ids) == VIDEOS[dataset],
        "problems": problems,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("splits_dir", type=Path, help="folder holding ucf101/ and/or hmdb51/")
    parser.add_argument("--runs", type=int, default=3, help="timed builds per dataset")
    parser.add_argument("--keep", type=Path, help="build the trees here and keep them")
    args = parser.parse_args()
    results = []
    for dataset in ("ucf101", "hmdb51"):
        splits = args.splits_dir / dataset
        if not splits.is_dir():
            continue
        with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
            results.append(check(dataset, splits, Path(tmp), args.runs))
    if not results:
        print(f"no ucf101/ or hmdb51/ under {args.splits_dir}", file=sys.stderr)
        return 2
    print(f"{'dataset':8} {'videos':>7} {'train/val per split':>32} {'tree s':>7} "
          f"{'lists s (min)':>13} {'median':>7}  ok")  # fmt: skip
    for r in results:
        print(f"{r['dataset']:8} {r['videos']:>7} {r['sizes']:>32} {r['tree_s']:>7.2f} "
              f"{r['lists_s']:>13.3f} {r['lists_median_s']:>7.3f}  {r['ok']}")  # fmt: skip
        for problem in r["problems"][:10]:
            print(f"  {problem}")
    pairs = []
    for r in results:
        d = r["dataset"]
        pairs += [f"{d}_videos={r['videos']}", f"{d}_lists_s={r['lists_s']:.3f}",
                  f"{d}_ok={int(bool(r['ok']))}"]  # fmt: skip
    print(" ".join(pairs))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
