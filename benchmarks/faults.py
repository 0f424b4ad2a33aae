"""Fault cases through the CLI (issue 16): each runs `python -m tsncli ...` in a temp folder on
tiny generated inputs and records the exit code, whether a traceback (or a crash) appeared,
whether a file that existed before was lost or changed, and whether the result is silently wrong
(a case's own check of what it left: mixed frame sizes, a run folder after a refused option, a
checkpoint that does not load, a message that does not name the file).

    python benchmarks/faults.py [--only SUBSTRING] [--keep]

Last line: `faults: N cases, T tracebacks, L lost, W silently wrong` (the target is 0, 0, 0).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import signal
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
    memory: int | None = None  # RLIMIT_AS in bytes: allocations past it fail, as in a full RAM
    parallel: int = 1  # copies started at once (concurrent runs on one output)
    # what is silently wrong in the work folder and stderr afterwards ("" when right)
    check: Callable[[Path, str], str] | None = None
    env: dict[str, str] = field(default_factory=dict)  # over the harness's environment
    terminate_when: str | None = None  # SIGTERM the run once this path (relative) exists
    finishes: str | None = None  # a folder the setup left half done: the case may rewrite it


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
    (work / "cutvids").mkdir()
    video(work / "cutvids" / "whole.avi", frames=40)
    data = (work / "cutvids" / "whole.avi").read_bytes()
    (work / "cutvids" / "cut.avi").write_bytes(data[: len(data) // 2])  # a cut download
    (work / "bom_videos.txt").write_bytes(
        b"\xef\xbb\xbfvideos/run/run_01.avi\nvideos/jump/jump_01.avi\n"
    )
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


def _missing_frame(work: Path) -> None:
    (work / "ds" / "frames" / "c1_v0" / "img_00004.jpg").unlink()  # mid-folder: 1 and 8 stay


FLOW_TVL1 = ["--algo", "tvl1", "--size", "128x96", "--workers", "1"]


def _interrupted_force(work: Path) -> None:
    """f_force extracted at 64x48, then `--force` at 128x96 stopped by Ctrl-C (SIGINT) once its
    first video is redone, so the tree holds both sizes when the case's rerun starts."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TSN_HOME": str(work)}
    tsn = [sys.executable, "-m", "tsncli", "flow", "videos", "f_force"]
    small = ["--algo", "farneback", "--size", "64x48", "--workers", "1"]
    subprocess.run([*tsn, *small], cwd=work, env=env, capture_output=True, check=True)
    proc = subprocess.Popen([*tsn, "--force", *FLOW_TVL1], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    while proc.poll() is None and 128 not in _widths(work / "f_force"):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.wait()
    if set(_widths(work / "f_force")) != {64, 128}:
        print("   (the --force run ended before it was interrupted)", flush=True)


def _widths(root: Path) -> list[int]:
    """Width of each video folder's first frame under `root` (not the hidden temporary ones:
    pathlib's glob matches names starting with a dot)."""
    firsts = sorted(root.glob("*/img_00001.jpg")) if root.is_dir() else []
    firsts = [path for path in firsts if not path.parent.name.startswith(".")]
    images = (cv2.imread(str(path)) for path in firsts)
    return [image.shape[1] for image in images if image is not None]


def _unwritable_home(work: Path) -> None:
    (work / "afile_home").write_text("a file where TSN_HOME's parent should be\n")


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


# --- checks of what a case left: "" when right, else what is silently wrong ----------------------


def _one_size(work: Path, _err: str) -> str:
    widths = _widths(work / "f_force")
    return "" if widths == [128] * 4 else f"frame widths after the rerun: {widths}"


def _partial_named(folder: str, in_message: bool) -> Callable[[Path, str], str]:
    def check(work: Path, err: str) -> str:
        table = work / folder / "partial.tsv"
        if not table.is_file() or "cut" not in table.read_text():
            return f"{table.name} does not list cut.avi"
        if in_message and "partial.tsv" not in err:
            return "the error line does not name partial.tsv"
        return ""

    return check


def _absent(name: str) -> Callable[[Path, str], str]:
    def check(work: Path, _err: str) -> str:
        left = sorted(p.name for p in (work / name).rglob("*")) if (work / name).exists() else []
        return f"{name} holds {left}" if left or (work / name).is_file() else ""

    return check


def _last_loads(work: Path, err: str) -> str:
    from tsncli.models.checkpoint import load_checkpoint

    if "terminated" not in err:
        return "no 'terminated' line"
    if list((work / "r_term").glob(".tsn-*")):
        return "a temporary file was left"
    try:
        load_checkpoint(work / "r_term" / "last.pt")
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        return f"last.pt does not load ({exc})"
    return ""


def _gap_skipped(work: Path, err: str) -> str:
    from tsncli.models.checkpoint import load_checkpoint

    text = " ".join(err.split())
    if text.count("skipping") != 1 or "c1_v0" not in text:
        return "the video is not named once"
    epoch = load_checkpoint(work / "r_gap" / "last.pt")["epoch"]
    return "" if epoch == 3 else f"last.pt is epoch {epoch}"


def _bom_read(work: Path, _err: str) -> str:
    names = sorted(p.name for p in (work / "f_bom").iterdir() if p.is_dir())
    return "" if names == ["jump_01", "run_01"] else f"folders {names}"


def _says(*words: str) -> Callable[[Path, str], str]:
    def check(_work: Path, err: str) -> str:
        text = " ".join(err.split())
        missing = [w for w in words if w not in text]
        return f"the message lacks {missing}" if missing else ""

    return check


def _long_name_written(work: Path, _err: str) -> str:
    """The score file under its 252-byte name, and nothing else of the run left beside it."""
    from tsncli.engine.scores import load_scores

    if not (work / LONG_SCORES).is_file():
        return "no score file"
    left = [p.name for p in work.iterdir() if p.name.startswith(("sss", ".tsn-"))]
    if left != [LONG_SCORES]:
        return f"left {len(left) - 1} other file(s) behind"
    videos = len(load_scores(work / LONG_SCORES).scores)
    return "" if videos == 4 else f"{videos} videos scored, not 4"


def _stopped_at_once(folder: str) -> Callable[[Path, str], str]:
    """A full disk stops the run at the first video: one error naming OUT and the count left,
    no line per video, no half folder (only the settings and the lock)."""

    def check(work: Path, err: str) -> str:
        text = " ".join(err.split())
        if "not extracted" not in text or str(folder) not in text:
            return "the error does not name OUT and the videos left"
        if text.count(" failed: ") > 0:
            return f"{text.count(' failed: ')} per-video failure line(s)"
        names = sorted(p.name for p in (work / folder).iterdir() if p.name != ".tsn-flow.lock")
        return "" if names == ["flow_config.yaml"] else f"{folder} holds {names}"

    return check


def _zip_tree(work: Path) -> None:
    """packzip/: the toy frames as dense_flow's zips, one video's img.zip cut in half."""
    from tsncli.flow.pack import run_pack

    if not (work / "packzip").exists():
        run_pack(work / "ds" / "frames", work / "packzip", to="zip")
    archive = work / "packzip" / "c0_v0" / "img.zip"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])


def _dir_tree(work: Path) -> None:
    """f_fmt/: `tsn flow --format dir` output, to rerun with another format."""
    if not (work / "f_fmt").exists():
        argv = ["flow", "videos", "f_fmt", "--algo", "farneback", "--size", "64x48"]
        env = {**os.environ, "PYTHONPATH": str(REPO), "TSN_HOME": str(work)}
        subprocess.run([sys.executable, "-m", "tsncli", *argv], cwd=work, env=env, check=True,
                       capture_output=True)  # fmt: skip


def _long_videos(work: Path) -> None:
    """longvids/: 4 videos of 240 frames, long enough for TV-L1 to be stopped mid-run."""
    (work / "longvids").mkdir(exist_ok=True)
    for k in range(4):
        if not (work / "longvids" / f"long_{k}.avi").exists():
            video(work / "longvids" / f"long_{k}.avi", frames=240)


def _zips_whole(folder: str) -> Callable[[Path, str], str]:
    """Every video folder under a stopped zip extraction holds all three archives, each valid;
    no temporary archive or folder is left under a final name."""

    def check(work: Path, _err: str) -> str:
        done = [d for d in (work / folder).iterdir() if d.is_dir() and not d.name.startswith(".")]
        for video_dir in done:
            names = sorted(p.name for p in video_dir.iterdir())
            if names != ["flow_x.zip", "flow_y.zip", "img.zip"]:
                return f"{video_dir.name} holds {names}"
            for name in names:
                with zipfile.ZipFile(video_dir / name) as archive:
                    if archive.testzip() is not None or not archive.namelist():
                        return f"{video_dir.name}/{name} is not a whole archive"
        return ""

    return check


def _packed_but_one(work: Path, err: str) -> str:
    """`tsn pack` into OUT: the good videos as folders, the damaged one absent and named."""
    out = work / "packout"
    good = sorted(d.name for d in out.iterdir() if d.is_dir() and not d.name.startswith("."))
    if good != ["c0_v1", "c1_v0", "c1_v1"]:
        return f"packout holds {good}"
    if any(not (out / v / "img_00008.jpg").is_file() for v in good):
        return "a converted video lacks its frames"
    failed = out / "pack_failed.tsv"
    if not failed.is_file() or "c0_v0" not in failed.read_text():
        return "pack_failed.tsv does not name c0_v0"
    return "" if "c0_v0" in " ".join(err.split()) else "the error does not name c0_v0"


def _pack_stopped_at_once(work: Path, err: str) -> str:
    """A full disk stops `tsn pack` at the first video: one line with the count left, no video
    folder and no temporary file under OUT."""
    text = " ".join(err.split())
    if "not converted" not in text or text.count("error:") != 1:
        return "the error does not say once how many videos were not converted"
    left = sorted(p.name for p in (work / "p_full").iterdir() if p.name != ".tsn-flow.lock")
    return f"p_full holds {left}" if left else ""


def _moov_cut(work: Path) -> None:
    """An mp4 cut before its index (a download stopped early): FFmpeg logs 'moov atom not
    found' itself, as OpenCV's bundled copy does."""
    import av

    (work / "cut_videos").mkdir(exist_ok=True)
    whole = work / "whole.mp4"
    with av.open(str(whole), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = whole.read_bytes()
    whole.unlink()
    (work / "cut_videos" / "cut.mp4").write_bytes(data[: data.find(b"moov") - 4])


def _quiet_native(folder: str) -> Callable[[Path, str], str]:
    def check(work: Path, err: str) -> str:
        if "moov atom" in err or "[ WARN" in err:
            return "an OpenCV/FFmpeg log line reached stderr"
        return "" if (work / folder / "failed.tsv").is_file() else "no failed.tsv"

    return check


LONG_SCORES = "s" * 248 + ".npz"  # 252 bytes: its lock name would be 257


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
            # 600 bytes: the settings (~310) are written, each video's first JPEG (~900) is not
            "flow, disk full at the first video",
            ["flow", "videos", "f_full1", "--algo", "farneback", "--size", "64x48"],
            1,
            fsize=600,
            check=_stopped_at_once("f_full1"),
        ),
        Case(
            "flow, disk full, 2 workers",
            [
                "flow",
                "videos",
                "f_full2",
                "--algo",
                "farneback",
                "--size",
                "64x48",
                "--workers",
                "2",
            ],
            1,
            fsize=600,
            check=_stopped_at_once("f_full2"),
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
        # --- issue 28 ---
        Case(
            "flow --force interrupted, then rerun",
            ["flow", "videos", "f_force", *FLOW_TVL1],
            0,
            setup=_interrupted_force,
            check=_one_size,
            finishes="f_force",
        ),
        Case(
            "flow on a cut AVI",
            ["flow", "cutvids", "f_cut", "--algo", "farneback", "--size", "64x48"],
            1,
            check=_partial_named("f_cut", in_message=True),
        ),
        Case(
            "flow on a cut AVI --allow-partial",
            [
                "flow",
                "cutvids",
                "f_cut2",
                "--algo",
                "farneback",
                "--size",
                "64x48",
                "--allow-partial",
            ],
            0,
            check=_partial_named("f_cut2", in_message=False),
        ),  # fmt: skip
        Case(
            "train --lr -1", [*train, "--out", "r_lrneg", "--lr", "-1"], 1, check=_absent("r_lrneg")
        ),
        Case(
            "train, SIGTERM after a checkpoint",
            [*train, "--out", "r_term", "--epochs", "200"],
            143,
            check=_last_loads,
            terminate_when="r_term/last.pt",
        ),
        Case(
            "export on a full disk",
            ["export", "tiny.pt", "-o", "exp/m.pt"],
            1,
            fsize=4096,
            check=_absent("exp"),
        ),
        Case(
            "flow, video list with a BOM",
            ["flow", "bom_videos.txt", "f_bom", "--algo", "farneback", "--size", "64x48"],
            0,
            check=_bom_read,
        ),
        Case(
            "train, a frame missing mid-folder",
            [*train, "--out", "r_gap", "--epochs", "3", "--segments", "8"],
            0,
            setup=_missing_frame,
            check=_gap_skipped,
        ),
        Case(
            "predict on a URL",
            ["predict", "https://example.com/a.mp4", "--checkpoint", "tiny.pt"],
            1,
            check=_says("URLs are not supported", "tsn fetch https://example.com/a.mp4"),
        ),
        Case(
            "fetch weights, TSN_HOME not writable",
            ["fetch", "weights", "resnet18"],
            1,
            setup=_unwritable_home,
            env={"TSN_HOME": "afile_home/home"},
            check=_says("cannot write to", "afile_home/home"),
        ),
        Case(
            # about 1.5 GB of address space left once torch is loaded; 8 clips of 2048x2048
            # need more, so the CPU allocator fails (DefaultCPUAllocator: can't allocate memory)
            "train, CPU out of memory",
            [*train, "--out", "r_oom", "--crop-size", "2048"],
            1,
            memory=5_000_000_000,
            check=_says("out of CPU memory", "--batch-size", "--micro-batch"),
        ),
        Case(
            "flow, a video cut before its index",
            ["flow", "cut_videos", "f_cut_moov", "--algo", "farneback", "--size", "64x48"],
            1,
            setup=_moov_cut,
            check=_quiet_native("f_cut_moov"),
        ),
        Case(
            "flow --format zip, SIGTERM mid-run",
            [
                "flow",
                "longvids",
                "f_zipterm",
                "--format",
                "zip",
                "--algo",
                "tvl1",
                "--size",
                "64x48",
            ],
            143,
            setup=_long_videos,
            check=_zips_whole("f_zipterm"),
            terminate_when="f_zipterm/long_0",  # one video done, the next half written
        ),  # fmt: skip
        Case(
            "flow --format zip over a dir tree",
            [
                "flow",
                "videos",
                "f_fmt",
                "--format",
                "zip",
                "--algo",
                "farneback",
                "--size",
                "64x48",
            ],
            1,
            keep=["f_fmt/run_01/img_00001.jpg", "f_fmt/flow_config.yaml"],
            setup=_dir_tree,
            check=_says("tsn pack", "--force"),
        ),  # fmt: skip
        Case(
            "pack to dir, one archive cut",
            ["pack", "packzip", "packout", "--to", "dir"],
            1,
            setup=_zip_tree,
            check=_packed_but_one,
        ),
        Case(
            "pack on a full disk",
            ["pack", "ds/frames", "p_full", "--to", "zip"],
            1,
            fsize=3_000,
            check=_pack_stopped_at_once,
        ),
        Case(
            "predict --stream, nothing listening",
            ["predict", "--stream", "tcp://127.0.0.1:9", "--checkpoint", "tiny.pt"],
            1,
            check=_says("cannot open stream", "tcp://127.0.0.1:9"),
        ),
        Case(
            "predict --window on a frames folder",
            ["predict", "ds/frames/c0_v0", "--checkpoint", "tiny.pt", "--window", "2"],
            1,
        ),
        Case(
            "explain --layer it lacks",
            [
                "explain",
                "videos/run/run_01.avi",
                "--checkpoint",
                "tiny.pt",
                "--out",
                "cam.mp4",
                "--layer",
                "nope",
            ],
            1,
            check=_absent("cam.mp4"),
        ),  # fmt: skip
        Case(
            # the lock (NAME.lock) and eval's shard folder are hashed short: the name works
            "eval --save-scores, a 252-byte name",
            [
                "eval",
                "tiny.pt",
                "--list",
                "ds/lists/toyds_rgb_val_split_1.txt",
                "--save-scores",
                LONG_SCORES,
                "--segments",
                "2",
                "--crops",
                "1",
            ],
            0,
            check=_long_name_written,
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
    env.update({k: str(work / v) if k == "TSN_HOME" else v for k, v in case.env.items()})

    def limit() -> None:
        if case.fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (case.fsize, case.fsize))
        if case.memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (case.memory, case.memory))

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
    if case.terminate_when is not None:
        trigger, deadline = work / case.terminate_when, time.monotonic() + timeout
        while procs[0].poll() is None and not trigger.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        procs[0].send_signal(signal.SIGTERM)
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
    own = str(work / case.finishes) + os.sep if case.finishes else None
    lost += [
        p
        for p, h in before.items()
        if p not in watched and after.get(p, h) != h and not (own and p.startswith(own))
    ]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    errors += [line.strip("│ ") for line in stderr.splitlines() if "Invalid value" in line]
    wrong = case.check(work, stderr) if case.check is not None else ""
    restored = (_latin1_classes, _bom_list, _corrupt_video, _missing_frame)
    if case.setup is not None and case.setup in restored:
        _restore_dataset(work)
    return {
        "case": case.name,
        "exit": code,
        "codes": sorted(codes),
        "expect": case.expect,
        "traceback": "Traceback" in stderr or code < 0 or code == 139,
        "lost": len(lost),
        "lost_paths": lost,
        "wrong": wrong,
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
            f"wrong {'YES' if row['wrong'] else 'no ':<3}  "
            f"{row['seconds']:5.1f}s  {row['message']}",
            flush=True,
        )
        if row["wrong"]:
            print(f"   silently wrong: {row['wrong']}", flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work folder: {work}")
    tracebacks = sum(r["traceback"] for r in rows)
    lost = sum(r["lost"] > 0 for r in rows)
    wrong = sum(bool(r["wrong"]) for r in rows)
    unexpected = sum(r["exit"] != r["expect"] for r in rows)
    print(f"unexpected exit codes: {unexpected}")
    print(
        f"faults: {len(rows)} cases, {tracebacks} tracebacks, {lost} lost, {wrong} silently wrong"
    )
    return 0 if tracebacks == 0 and lost == 0 and wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
