"""Atomic writes behave like plain ones: umask modes, and names up to the 255-byte limit work."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tsncli import fsutil
from tsncli.fsutil import atomic_dir, atomic_write_text, stale_temp_paths


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    fsutil.current_umask.cache_clear()
    yield
    os.umask(previous)
    fsutil.current_umask.cache_clear()


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_and_folders_get_the_umask_modes_not_private_ones(tmp_path, umask_022):
    atomic_write_text(tmp_path / "list.txt", "x")
    with atomic_dir(tmp_path / "video") as tmp:
        (tmp / "img_00001.jpg").write_bytes(b"x")
    assert _mode(tmp_path / "list.txt") == 0o644
    assert _mode(tmp_path / "video") == 0o755


def test_the_umask_is_read_without_changing_it(umask_022):
    assert fsutil.current_umask() == 0o022
    assert os.umask(0o022) == 0o022


def test_a_250_character_name_can_be_written_atomically(tmp_path):
    name = "v" * 246 + ".txt"
    atomic_write_text(tmp_path / name, "x")
    with atomic_dir(tmp_path / ("d" * 250)) as tmp:
        (tmp / "img_00001.jpg").write_bytes(b"x")
    assert sorted(len(p.name) for p in tmp_path.iterdir()) == [250, 250]


def test_leftovers_of_an_interrupted_write_are_found_by_their_target(tmp_path):
    with atomic_dir(tmp_path / "b") as tmp:
        left = tmp_path / (tmp.name[: -len(".tmp")] + "x.tmp")  # as a killed run leaves one
        left.mkdir()
    assert stale_temp_paths(tmp_path / "b") == [left]
    assert stale_temp_paths(tmp_path / "c") == []


def _record_sync_and_rename(monkeypatch):
    """Log ("fsync", path) and ("replace", target) in the order they happen."""
    events = []
    real_fsync, real_replace, real_open = os.fsync, os.replace, os.open
    opened = {}

    def fake_open(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        opened[fd] = os.fspath(path)
        return fd

    def fake_fsync(fd):
        events.append(("fsync", opened.get(fd, fd)))
        return real_fsync(fd)

    def fake_replace(src, dst):
        events.append(("replace", os.fspath(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "fsync", fake_fsync)
    monkeypatch.setattr(os, "replace", fake_replace)
    return events


def test_an_atomic_write_reaches_the_disk_before_and_after_its_rename(tmp_path, monkeypatch):
    events = _record_sync_and_rename(monkeypatch)
    target = tmp_path / "scores.npz"
    atomic_write_text(target, "done")
    kinds = [kind for kind, _ in events]
    # the file's data first (a rename alone can leave an empty file after a power cut), then the
    # rename, then the folder that holds the new name
    assert kinds == ["fsync", "replace", "fsync"]
    assert events[0][1].endswith(".tmp") and events[1][1] == str(target)
    assert events[2][1] == str(tmp_path)


def test_an_atomic_folder_syncs_its_files_unless_told_not_to(tmp_path, monkeypatch):
    events = _record_sync_and_rename(monkeypatch)
    with atomic_dir(tmp_path / "video") as tmp:
        (tmp / "a.jpg").write_bytes(b"a")
        (tmp / "b.jpg").write_bytes(b"b")
    synced = [Path(p).name for kind, p in events if kind == "fsync"]
    assert {"a.jpg", "b.jpg"} <= set(synced) and synced[-1] == tmp_path.name
    events.clear()
    with atomic_dir(tmp_path / "frames", sync_files=False) as tmp:
        (tmp / "c.jpg").write_bytes(b"c")
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"]  # the folder, the rename, its parent
    assert (tmp_path / "frames" / "c.jpg").read_bytes() == b"c"


@pytest.mark.parametrize("workers", [1, 2])
def test_flow_on_a_full_disk_stops_at_the_first_video_naming_the_path(tmp_path, workers):
    import resource
    import signal
    import subprocess
    import sys

    from flow_helpers import moving_video

    src = tmp_path / "src"
    src.mkdir()
    for k in range(6):
        moving_video(src / f"v{k}.avi", n=4, width=96, height=72, dx=3 + k)
    out = tmp_path / "out"

    def limit_file_size():  # writes past 600 bytes fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (600, 600))

    done = subprocess.run(
        [sys.executable, "-m", "tsncli", "flow", str(src), str(out), "--workers", str(workers)],
        preexec_fn=limit_file_size,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error")]
    assert len(errors) == 1, done.stderr
    assert "File too large" in errors[0] and str(out) in errors[0]
    assert "6 video(s) not extracted" in errors[0] or "5 video(s)" in errors[0], errors[0]
    assert not any("failed:" in line for line in lines), done.stderr  # not one line per video
    assert "Traceback" not in done.stderr
    # no half folder: only the settings, no video folder and no temporary one
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".tsn-flow")) == [
        "flow_config.yaml"
    ]


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_ctrl_c_right_after_the_temporary_name_is_made_leaves_nothing(tmp_path, monkeypatch, kind):
    import signal

    name = "open" if kind == "file" else "mkdir"
    make = getattr(os, name)

    def interrupted_after_making(path, *args, **kwargs):
        result = make(path, *args, **kwargs)  # the temporary name exists on disk now
        if os.fspath(path).endswith(".tmp"):
            os.kill(os.getpid(), signal.SIGINT)  # and Ctrl-C lands at once
        return result

    monkeypatch.setattr(os, name, interrupted_after_making)
    target = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        if kind == "file":
            atomic_write_text(target, "x")
        else:
            with atomic_dir(target) as tmp:
                (tmp / "a").write_text("a")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_temporary_name_taken_by_someone_else_is_skipped_and_kept(tmp_path, monkeypatch):
    from tsncli import fsutil as F

    target = tmp_path / "out.txt"
    theirs = tmp_path / f"{F.temp_prefix(target)}aaaaaaaa.tmp"
    theirs.write_text("another writer's")
    names = iter(["aaaaaaaa", "bbbbbbbb"])
    monkeypatch.setattr(F.secrets, "token_hex", lambda n: next(names))
    atomic_write_text(target, "mine")
    assert target.read_text() == "mine" and theirs.read_text() == "another writer's"
