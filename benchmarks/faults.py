"""Fault cases through the CLI (issue 16): each runs `python -m tsncli ...` in a temp folder on
tiny generated inputs and records the exit code, whether a traceback (or a crash) appeared, and
whether a file that existed before was lost or changed.

    python benchmarks/faults.py [--only SUBSTRING] [--keep]

Last line: `faults: N cases, T tracebacks, L lost` (the target is 0 and 0).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tsncli.engine.scores import ScoreFile, save_scores  # noqa: E402
from tsncli.lists.listfile import VideoRecord, write_classes, write_list  # noqa: E402

TINY = ["--arch", "tiny", "--pretrained", "none", "--crop-size", "16", "--segments", "2"]
FAST = ["--batch", "4", "--workers", "0", "--gpus", "0", "--eval-every", "0", "--epochs", "1"]
BAD_JPEG = b"\xff\xd8 not a jpeg"


@dataclass
class Case:
    """One fault: a command line (run in the work folder) and the files it must not lose."""

    name: str
    argv: list[str]
    expect: int  # the exit code a correct `tsn` gives
    keep: list[str] = field(default_factory=list)  # paths (relative) that must survive unchanged
    setup: Callable[[Path], None] | None = None
    fsize: int | None = None  # RLIMIT_FSIZE in bytes: a full disk, as the process sees it
    parallel: int = 1  # copies started at once (concurrent runs on one output)


# --- tiny inputs --------------------------------------------------------------------------------


def frames_dataset(root: Path, name: str = "toyds") -> Path:
    """2 classes x 2 videos of 8 RGB/flow JPEG frames; lists and classes under root/lists."""
    rng = np.random.default_rng(0)
    records = []
    for label in range(2):
        for v in range(2):
            folder = root / "frames" / f"c{label}_v{v}"
            folder.mkdir(parents=True)
            for i in range(1, 9):
                rgb = np.clip(80 + 100 * label + rng.integers(-20, 20, (32, 40, 3)), 0, 255)
                cv2.imwrite(str(folder / f"img_{i:05d}.jpg"), rgb.astype(np.uint8))
                for axis in ("x", "y"):
                    grey = np.clip(128 + rng.integers(-10, 10, (32, 40)), 0, 255)
                    cv2.imwrite(str(folder / f"flow_{axis}_{i:05d}.jpg"), grey.astype(np.uint8))
            records.append(VideoRecord(str(folder), 8, label))
    lists = root / "lists"
    lists.mkdir()
    for modality in ("rgb", "flow"):
        for subset in ("train", "val"):
            write_list(lists / f"{name}_{modality}_{subset}_split_1.txt", records)
    write_classes(lists / f"{name}_classes.txt", ["class0", "class1"])
    return lists


def scores(path: Path, videos=("v1", "v2", "v3"), seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(len(videos), 3)).astype(np.float32)
    labels = np.arange(len(videos)) % 3
    save_scores(path, ScoreFile(values, labels, list(videos), ["a", "b", "c"], {}))


def video(path: Path, frames: int = 12) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for t in range(frames):
        image = np.full((48, 64, 3), 90, np.uint8)
        cv2.rectangle(image, (10 + 2 * t, 10), (22 + 2 * t, 22), (0, 0, 255), -1)
        writer.write(image)
    writer.release()


def build_inputs(work: Path) -> None:
    frames_dataset(work / "ds")
    _checkpoint(work)
    scores(work / "a.npz")
    scores(work / "b.npz", seed=1)
    scores(work / "dup.npz", videos=("v1", "v2", "v1"))
    (work / "taken").mkdir()
    (work / "taken" / "keep.txt").write_text("kept\n")
    (work / "afile").write_text("a file, not a folder\n")
    (work / "fused.npz").write_bytes(b"an earlier result")
    (work / "empty_run").mkdir()
    with zipfile.ZipFile(work / "notes.zip", "w") as archive:
        archive.writestr("notes/readme.txt", "from the archive\n")
    (work / "unpacked" / "notes").mkdir(parents=True)
    (work / "unpacked" / "notes" / "readme.txt").write_text("my edits\n")
    (work / "truncated.rar").write_bytes(b"Rar!\x1a\x07\x00 truncated")
    (work / "videos" / "run").mkdir(parents=True)
    video(work / "videos" / "run" / "run_01.avi")
    video(work / "videos" / "run" / "run_02.avi")
    (work / "videos" / "jump").mkdir()
    video(work / "videos" / "jump" / "jump_01.avi")
    video(work / "videos" / "jump" / "jump_02.avi")
    odd = work / "oddnames"
    odd.mkdir()
    shutil.copy(work / "videos" / "run" / "run_01.avi", os.fsencode(odd) + b"/caf\xe9.avi")
    shutil.copy(work / "videos" / "run" / "run_02.avi", odd / "fine.avi")
    (work / "split_latin1.csv").write_bytes(b"run_01,run,train\njump_01,caf\xe9,val\n")
    (work / "split_bom.csv").write_bytes(
        b"\xef\xbb\xbfvideo,label,subset\nrun_01,run,train\njump_01,jump,val\n"
        b"run_02,run,val\njump_02,jump,train\n"
    )
    (work / "split_conflict.csv").write_text("run_01,run,train\njump_01,jump,val\nrun_01,run,val\n")
    (work / "Downloads").mkdir()
    (work / "Downloads" / "hmdb51_org.rar").write_bytes(b"<html>404</html>")
    (work / "Downloads" / "test_train_splits.rar").write_bytes(b"x" * 200_000)


def _latin1_classes(work: Path) -> None:
    (work / "ds" / "lists" / "toyds_classes.txt").write_bytes(b"0 class0\n1 caf\xe9\n")


def _bom_list(work: Path) -> None:
    lists = work / "ds" / "lists"
    for path in lists.glob("toyds_rgb_*_split_1.txt"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def _corrupt_video(work: Path) -> None:
    for image in (work / "ds" / "frames" / "c0_v0").glob("img_*.jpg"):
        image.write_bytes(BAD_JPEG)


def _restore_dataset(work: Path) -> None:
    shutil.rmtree(work / "ds")
    frames_dataset(work / "ds")


def _checkpoint(work: Path) -> None:
    import torch

    from tsncli.models.checkpoint import save_checkpoint
    from tsncli.models.tsn import create_tsn

    torch.manual_seed(0)
    model = create_tsn("tiny", 2, modality="rgb", num_segments=2, new_length=1, dropout=0.5)
    save_checkpoint(work / "tiny.pt", model, {"class_names": ["class0", "class1"], "crop_size": 16})


def cases() -> list[Case]:
    train = ["train", "toyds", "rgb", "--lists-dir", "ds/lists", *TINY, *FAST]
    return [
        Case("train --lr nan", [*train, "--out", "r_nan", "--lr", "nan"], 2),
        Case(
            "train --lr 1e30 (diverges)",
            [*train, "--out", "r_div", "--lr", "1e30", "--epochs", "3"],
            1,
        ),
        Case("train --resume, no run", [*train, "--out", "empty_run", "--resume"], 1),
        Case("train --out is a file", [*train, "--out", "afile"], 1, keep=["afile"]),
        Case("train, checkpoint on a full disk", [*train, "--out", "r_full"], 1, fsize=40_000),
        Case("train, classes not UTF-8", [*train, "--out", "r_cls"], 1, setup=_latin1_classes),
        Case("train, list with a BOM", [*train, "--out", "r_bom"], 0, setup=_bom_list),
        Case("train again without --resume", [*train, "--out", "r_bom"], 1, keep=["r_bom/last.pt"]),
        Case(
            "train, one video's JPEGs corrupt", [*train, "--out", "r_jpg"], 0, setup=_corrupt_video
        ),
        Case("fuse --weights nan", ["fuse", "a.npz", "b.npz", "--weights", "1", "nan"], 1),
        Case("fuse, repeated video ids", ["fuse", "dup.npz", "dup.npz"], 1),
        Case(
            "fuse --out is a folder",
            ["fuse", "a.npz", "--out", "taken"],
            1,
            keep=["taken/keep.txt"],
        ),
        Case(
            "fuse --out under a file", ["fuse", "a.npz", "--out", "afile/x.npz"], 1, keep=["afile"]
        ),
        Case(
            "fuse --out on a full disk",
            ["fuse", "a.npz", "b.npz", "--out", "fused.npz"],
            1,
            keep=["fused.npz"],
            fsize=300,
        ),
        Case(
            "predict --weights inf",
            [
                "predict",
                "v.avi",
                "--checkpoint",
                "a.pt",
                "--checkpoint",
                "b.pt",
                "--weights",
                "1,inf",
            ],
            1,
        ),
        Case(
            "eval --save-scores is a folder",
            ["eval", "x.pt", "--list", "x.txt", "--save-scores", "taken"],
            1,
            keep=["taken/keep.txt"],
        ),
        Case("export -o under a file", ["export", "x.pt", "-o", "afile/m.pt"], 1, keep=["afile"]),
        Case(
            "convert -o under a file",
            ["convert", "mmaction", "x.pth", "-o", "afile/m.pt"],
            1,
            keep=["afile"],
        ),
        Case(
            "unpack over an edited file",
            ["unpack", "notes.zip", "--dest", "unpacked"],
            1,
            keep=["unpacked/notes/readme.txt"],
        ),
        Case("unpack a truncated RAR", ["unpack", "truncated.rar", "--dest", "t_out"], 1),
        Case(
            "unpack, dest is a file", ["unpack", "notes.zip", "--dest", "afile"], 1, keep=["afile"]
        ),
        Case(
            "fetch --from a 16-byte 'archive'",
            ["fetch", "hmdb51", "--from", "Downloads", "--dest", "hmdb"],
            1,
        ),
        Case(
            "lists custom, CSV not UTF-8",
            ["lists", "custom", "ds/frames", "--split-file", "split_latin1.csv", "--out", "l1"],
            1,
        ),
        Case(
            "lists custom, CSV conflict",
            ["lists", "custom", "ds/frames", "--split-file", "split_conflict.csv", "--out", "l2"],
            1,
        ),
        Case(
            "lists custom --out is a file",
            ["lists", "custom", "ds/frames", "--videos", "videos", "--out", "afile"],
            1,
            keep=["afile"],
        ),
        Case(
            "flow OUT is a file",
            ["flow", "videos", "afile", "--algo", "farneback", "--size", "64x48", "--workers", "1"],
            1,
            keep=["afile"],
        ),
        Case(
            "flow, a name not UTF-8",
            [
                "flow",
                "oddnames",
                "f_odd",
                "--algo",
                "farneback",
                "--size",
                "64x48",
                "--workers",
                "1",
            ],
            0,
        ),
        Case(
            "flow on a full disk",
            [
                "flow",
                "videos",
                "f_full",
                "--algo",
                "farneback",
                "--size",
                "64x48",
                "--workers",
                "1",
            ],
            1,
            fsize=300,
        ),
        Case(
            "2 evals at once, one --save-scores",
            [
                "eval",
                "tiny.pt",
                "--list",
                "ds/lists/toyds_rgb_val_split_1.txt",
                "--save-scores",
                "conc.npz",
                # 25 x 10 on two spawned workers holds the lock for seconds, longer than the
                # start-up jitter between the two processes (3 x 1 in-process could finish
                # before the second one reached its lock, and then both rightly exit 0)
                "--segments",
                "25",
                "--crops",
                "10",
                "--workers",
                "2",
            ],
            1,
            parallel=2,
        ),  # fmt: skip
        Case(
            "2 flows at once, one OUT",
            [
                "flow",
                "videos",
                "f_conc",
                # TV-L1 at 128x96 keeps the first run busy for seconds, longer than the start-up
                # jitter between the two processes (Farneback on 64x48 could finish before the
                # second one even reached its lock, and then both rightly exit 0)
                "--algo",
                "tvl1",
                "--size",
                "128x96",
                "--workers",
                "1",
            ],
            1,
            parallel=2,
        ),  # fmt: skip
    ]


# --- running ------------------------------------------------------------------------------------


def snapshot(work: Path) -> dict[str, str]:
    """sha256 of every file under `work` (names as bytes-safe strings)."""
    out = {}
    for root, _dirs, files in os.walk(os.fsencode(work)):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                out[os.fsdecode(path)] = hashlib.sha256(handle.read()).hexdigest()
    return out


def run_case(case: Case, work: Path, timeout: float) -> dict:
    if case.setup is not None:
        case.setup(work)
    before = snapshot(work)
    env = {**os.environ, "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1", "TSN_HOME": str(work)}
    env["PYTHONPATH"] = str(REPO)

    def limit() -> None:
        if case.fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (case.fsize, case.fsize))

    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tsncli", *case.argv],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            preexec_fn=limit,
        )  # fmt: skip
        for _ in range(case.parallel)
    ]
    codes, stderr = [], ""
    for proc in procs:
        try:
            _out, err = proc.communicate(timeout=timeout)
            codes.append(proc.returncode)
            stderr += err
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(-999)
            stderr += "timeout\n"
    code = max(codes) if min(codes) >= 0 else min(codes)
    after = snapshot(work)
    watched = [str(work / k) for k in case.keep] or []
    lost = [p for p in watched if before.get(p) != after.get(p)]
    # any file that existed before and is gone or changed, outside the case's own outputs
    lost += [p for p, h in before.items() if p not in watched and after.get(p, h) != h]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    errors += [line.strip("│ ") for line in stderr.splitlines() if "Invalid value" in line]
    if case.setup is not None and case.setup in (_latin1_classes, _bom_list, _corrupt_video):
        _restore_dataset(work)
    return {
        "case": case.name,
        "exit": code,
        "codes": sorted(codes),
        "expect": case.expect,
        "traceback": "Traceback" in stderr or code < 0 or code == 139,
        "lost": len(lost),
        "lost_paths": lost,
        "seconds": time.perf_counter() - start,
        "message": (errors or stderr.strip().splitlines()[-1:] or [""])[0][:110],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the cases whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tsn-faults-"))
    build_inputs(work)
    rows = []
    for case in cases():
        if args.only and args.only not in case.name:
            continue
        row = run_case(case, work, args.timeout)
        rows.append(row)
        mark = "ok " if row["exit"] == row["expect"] else "!! "
        print(
            f"{mark}{row['case']:<36} exit {row['exit']:>4} (want {row['expect']})  "
            f"{'codes ' + str(row['codes']) + '  ' if len(row['codes']) > 1 else ''}"
            f"traceback {'YES' if row['traceback'] else 'no ':<3}  lost {row['lost']}  "
            f"{row['seconds']:5.1f}s  {row['message']}",
            flush=True,
        )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work folder: {work}")
    tracebacks = sum(r["traceback"] for r in rows)
    lost = sum(r["lost"] > 0 for r in rows)
    unexpected = sum(r["exit"] != r["expect"] for r in rows)
    print(f"unexpected exit codes: {unexpected}")
    print(f"faults: {len(rows)} cases, {tracebacks} tracebacks, {lost} lost")
    return 0 if tracebacks == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
