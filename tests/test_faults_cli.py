"""Unwritable outputs end in one `error:` line naming the path and the fix, never a traceback;
outputs are checked before the work; nothing already written is lost. Also: fuse refuses
duplicate video ids and non-finite weights."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tsncli.engine.scores import ScoreFile, save_scores
from tsncli.models.checkpoint import save_checkpoint
from tsncli.models.tsn import create_tsn

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["a", "b", "c"]


def _scores(path: Path, videos=("v1", "v2", "v3"), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(len(videos), len(CLASSES))).astype(np.float32)
    labels = np.arange(len(videos)) % len(CLASSES)
    return save_scores(path, ScoreFile(scores, labels, list(videos), CLASSES, {}))


def _run(runner, cli, *args):
    result = runner.invoke(cli, [str(a) for a in args])
    result.errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    return result


def test_fuse_out_onto_a_folder_fails_before_the_work_with_one_line(runner, cli, tmp_path):
    score = _scores(tmp_path / "rgb.npz")
    (tmp_path / "taken").mkdir()
    result = _run(runner, cli, "fuse", score, "--out", tmp_path / "taken")
    assert result.exit_code == 1
    assert len(result.errors) == 1 and "is a folder; give a file path" in result.errors[0]
    assert "Traceback" not in result.output


def test_eval_save_scores_onto_a_folder_fails_before_loading_anything(runner, cli, tmp_path):
    (tmp_path / "scores").mkdir()
    missing = tmp_path / "no-such-checkpoint.pt"  # never read: the output is checked first
    args = ["eval", missing, "--list", tmp_path / "no-list.txt", "--save-scores"]
    result = _run(runner, cli, *args, tmp_path / "scores")
    assert result.exit_code == 1
    assert "--save-scores" in result.output and "is a folder" in result.output


@pytest.mark.parametrize("command", [["export"], ["convert", "mmaction"]])
def test_an_output_under_a_file_is_refused_before_the_work(runner, cli, tmp_path, command):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "model.pt"
    result = _run(runner, cli, *command, tmp_path / "in.pt", "-o", out)
    assert result.exit_code == 1, result.output
    assert "is a file, not a folder" in " ".join(result.output.split())


def test_a_full_disk_while_saving_is_one_line_and_the_old_file_survives(
    runner, cli, tmp_path, monkeypatch
):
    score = _scores(tmp_path / "rgb.npz")
    out = tmp_path / "fused.npz"
    out.write_bytes(b"previous result")

    def full_disk(handle, **arrays):
        handle.write(b"PK partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    result = _run(runner, cli, "fuse", score, "--out", out)
    assert result.exit_code == 1
    assert len(result.errors) == 1
    assert (
        f"error: tsn fuse: cannot write {out}: No space left on device "
        "(free some space or choose another output path)"
    ) in " ".join(result.output.split())
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fused.npz", "rgb.npz"]  # no temp left


def test_a_real_file_size_limit_is_one_line_without_a_traceback(tmp_path):
    a = _scores(tmp_path / "a.npz", seed=0)
    b = _scores(tmp_path / "b.npz", seed=1)
    out = tmp_path / "fused.npz"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))  # smaller than any score file

    # no bytecode: Python would write truncated .pyc files under the limit
    env = {**os.environ, "COLUMNS": "300", "PYTHONDONTWRITEBYTECODE": "1"}

    proc = subprocess.run(
        [sys.executable, "-m", "tsncli", "fuse", str(a), str(b), "--out", str(out)],
        capture_output=True, text=True, cwd=REPO, preexec_fn=limit, env=env,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"cannot write {out}: File too large" in " ".join(proc.stderr.split())
    assert not out.exists()


def test_a_failed_checkpoint_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    model = create_tsn("tiny", 3, modality="rgb", num_segments=2, new_length=1, dropout=0.5)
    path = save_checkpoint(tmp_path / "last.pt", model, {"class_names": CLASSES})
    before = path.read_bytes()

    def torch_full_disk(payload, target):
        Path(target).write_bytes(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", torch_full_disk)
    with pytest.raises(OSError) as caught:
        save_checkpoint(path, model, {"class_names": CLASSES})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert "the old file is kept" in str(caught.value)
    assert path.read_bytes() == before


def test_fuse_refuses_a_score_file_with_a_video_twice(runner, cli, tmp_path):
    a = _scores(tmp_path / "a.npz", videos=("v1", "v2", "v1"))
    b = _scores(tmp_path / "b.npz", videos=("v1", "v2", "v1"), seed=1)
    result = _run(runner, cli, "fuse", a, b)
    assert result.exit_code == 1
    assert "holds video 'v1' twice" in " ".join(result.output.split())


def test_fuse_warns_when_the_same_file_is_given_twice(runner, cli, tmp_path):
    a = _scores(tmp_path / "a.npz")
    result = _run(runner, cli, "fuse", a, a)
    assert result.exit_code == 0, result.output
    assert "is given more than once" in " ".join(result.output.split())


@pytest.mark.parametrize("weight", ["nan", "inf"])
def test_fuse_and_predict_refuse_non_finite_weights(runner, cli, tmp_path, weight):
    a, b = _scores(tmp_path / "a.npz"), _scores(tmp_path / "b.npz", seed=1)
    fused = _run(runner, cli, "fuse", a, b, "--weights", "1", weight)
    assert fused.exit_code == 1 and "--weights must be finite numbers" in fused.output
    args = ["predict", tmp_path / "v.avi", "--checkpoint", a, "--checkpoint", b]
    predicted = _run(runner, cli, *args, "--weights", f"1,{weight}")
    assert predicted.exit_code == 1 and "--weights must be finite numbers" in predicted.output


@pytest.mark.parametrize(
    "argv",
    [
        ["flow", "videos", "{file}"],
        ["lists", "toy", "--out", "{file}"],
        ["unpack", "a.zip", "--dest", "{file}"],
        ["train", "toyds", "rgb", "--out", "{file}"],
    ],
)
def test_an_output_folder_that_is_a_file_is_refused_before_the_work(runner, cli, tmp_path, argv):
    taken = tmp_path / "taken"
    taken.write_text("mine\n")
    result = _run(runner, cli, *[a.replace("{file}", str(taken)) for a in argv])
    assert result.exit_code == 1, result.output
    assert "is a file; give a folder path" in " ".join(result.output.split())
    assert taken.read_text() == "mine\n"


def test_permission_denied_while_writing_is_one_line_naming_the_fix(
    runner, cli, tmp_path, monkeypatch
):
    score = _scores(tmp_path / "rgb.npz")
    out = tmp_path / "fused.npz"

    def denied(handle, **arrays):
        raise PermissionError(errno.EACCES, "Permission denied")  # as root, chmod cannot do it

    monkeypatch.setattr(np, "savez", denied)
    result = _run(runner, cli, "fuse", score, "--out", out)
    assert result.exit_code == 1 and len(result.errors) == 1
    assert (
        f"error: tsn fuse: cannot access {out}: Permission denied (check the permissions, or "
        "choose a folder you can write to)"
    ) in " ".join(result.output.split())
    assert not out.exists()


def _mp4_without_moov(path: Path) -> Path:
    """An mp4 cut before its index (a download stopped early): FFmpeg logs 'moov atom not
    found' on its own, through OpenCV's bundled copy too."""
    import av

    good = path.with_name("whole.mp4")
    with av.open(str(good), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = good.read_bytes()
    good.unlink()
    path.write_bytes(data[: data.find(b"moov") - 4])
    return path


@pytest.mark.parametrize("verbose", [False, True])
def test_opencv_and_ffmpeg_log_lines_stay_off_stderr_unless_verbose(tmp_path, verbose):
    src = tmp_path / "src"
    src.mkdir()
    _mp4_without_moov(src / "cut.mp4")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    args = [sys.executable, "-m", "tsncli", *(["-v"] if verbose else [])]
    done = subprocess.run(
        [*args, "flow", str(src), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert "cut failed" in " ".join(done.stderr.split())
    assert ("moov atom not found" in done.stderr) == verbose, done.stderr


def test_opencv_warnings_on_a_missing_image_stay_off_stderr(tmp_path):
    # cv2 imported before logging is set up, as a command module may import it
    code = (
        "import cv2\n"
        "from tsncli.logs import setup_logging\n"
        "setup_logging()\n"
        f"assert cv2.imread({str(tmp_path / 'missing.jpg')!r}) is None\n"
        "import subprocess, sys\n"  # and a child process, as spawned workers are
        f"child = 'import cv2; cv2.imread(' + repr({str(tmp_path / 'gone.jpg')!r}) + ')'\n"
        "subprocess.run([sys.executable, '-c', child])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "WARN" not in done.stderr and "imread_" not in done.stderr, done.stderr
