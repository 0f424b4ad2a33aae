"""Unreadable inputs say "permission denied", and what a scan cannot read is warned about, not
skipped silently (issue 16). chmod tests skip as root (root reads anything); the same message
logic is also tested with os.access / os.scandir patched, so it runs everywhere."""

from __future__ import annotations

import errno
import logging
import os

import pytest
from flow_helpers import moving_video

from tsncli.data import frames as frames_module
from tsncli.errors import DataError
from tsncli.fsutil import walk_files
from tsncli.lists.custom_split import scan_video_root
from tsncli.lists.frame_index import FrameIndex
from tsncli.lists.video_tree import VideoTree
from tsncli.video import backend
from tsncli.video.files import list_videos

as_root = pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode"
)


def _deny(monkeypatch, module, denied: str) -> None:
    real = os.access
    monkeypatch.setattr(module.os, "access", lambda p, mode: str(p) != denied and real(p, mode))


def _extract_error(video) -> str | None:
    from tsncli.flow.extract import extract_video
    from tsncli.flow.job import FlowConfig, VideoTask

    task = VideoTask("v", str(video), str(video.parent / "frames"), FlowConfig(algo="dis"))
    return extract_video(task).error


@as_root
def test_a_video_without_read_permission_says_permission_denied(tmp_path):
    video = moving_video(tmp_path / "v.avi", n=3)
    video.chmod(0)
    assert "permission denied" in _extract_error(video)


def test_a_video_the_process_may_not_read_says_permission_denied(tmp_path, monkeypatch):
    video = moving_video(tmp_path / "v.avi", n=3)
    _deny(monkeypatch, backend, str(video))
    error = _extract_error(video)
    assert "permission denied" in error and "corrupt" not in error


def test_a_frame_the_process_may_not_read_says_permission_denied(tmp_path, monkeypatch):
    frame = tmp_path / "img_00001.jpg"
    frame.write_bytes(b"\xff\xd8 any bytes")
    _deny(monkeypatch, frames_module, str(frame))
    monkeypatch.setattr(frames_module.cv2, "imread", lambda path, flags: None)  # as if unreadable
    with pytest.raises(DataError, match="permission denied"):
        frames_module.read_image(str(frame), False)


def test_a_dangling_link_under_src_is_warned_about_once(tmp_path, caplog):
    moving_video(tmp_path / "src" / "a.avi", n=3)
    (tmp_path / "src" / "gone.avi").symlink_to(tmp_path / "nowhere.avi")
    with caplog.at_level(logging.WARNING):
        videos = list_videos(tmp_path / "src")
    assert [v.name for v in videos] == ["a.avi"]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "skipped 1 unreadable item(s)" in warning and "gone.avi" in warning


def _deny_listing(monkeypatch, denied: str) -> None:
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == denied:
            raise PermissionError(13, "Permission denied", denied)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_a_folder_that_cannot_be_listed_is_reported_by_the_walk(tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir()
    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "a.avi").write_bytes(b"")
    _deny_listing(monkeypatch, str(tmp_path / "locked"))
    assert walk_files(tmp_path) == ([str(tmp_path / "open" / "a.avi")], [str(tmp_path / "locked")])


@as_root
def test_a_folder_without_permission_under_src_is_warned_about(tmp_path, caplog):
    (tmp_path / "src" / "locked").mkdir(parents=True)
    moving_video(tmp_path / "src" / "a.avi", n=3)
    (tmp_path / "src" / "locked").chmod(0)
    try:
        with caplog.at_level(logging.WARNING):
            list_videos(tmp_path / "src")
    finally:
        (tmp_path / "src" / "locked").chmod(0o755)
    assert "locked" in caplog.text


def test_lists_warn_about_class_folders_they_cannot_list(tmp_path, monkeypatch, caplog):
    (tmp_path / "Run").mkdir()
    (tmp_path / "Run" / "run0.avi").write_bytes(b"")
    (tmp_path / "Walk").mkdir()
    _deny_listing(monkeypatch, str(tmp_path / "Walk"))
    with caplog.at_level(logging.WARNING):
        tree = VideoTree(tmp_path)
    assert tree.find("run0") and f"{tmp_path / 'Walk'}" in caplog.text


def test_lists_warn_about_dangling_frame_folder_links(tmp_path, caplog):
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").symlink_to(tmp_path / "elsewhere")
    with caplog.at_level(logging.WARNING):
        index = FrameIndex(tmp_path)
    assert len(index) == 1 and "skipped 1 unreadable item(s)" in caplog.text


def test_a_custom_class_folder_that_cannot_be_read_is_an_error_naming_it(tmp_path, monkeypatch):
    for cls in ("Run", "Walk"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / f"{cls.lower()}0.avi").write_bytes(b"")
    _deny_listing(monkeypatch, str(tmp_path / "Walk"))  # the one walker lists with os.scandir
    with pytest.raises(DataError, match=r"class folder .*Walk cannot be read \(Permission"):
        scan_video_root(tmp_path)


def test_a_dangling_video_link_in_a_custom_class_folder_is_warned_about(tmp_path, caplog):
    (tmp_path / "Run").mkdir()
    (tmp_path / "Run" / "run0.avi").write_bytes(b"")
    (tmp_path / "Run" / "run1.avi").symlink_to(tmp_path / "gone.avi")
    with caplog.at_level(logging.WARNING):
        assert scan_video_root(tmp_path) == {"Run": ["run0"]}
    assert "skipped 1 unreadable item(s)" in caplog.text and "run1.avi" in caplog.text


def test_an_output_on_a_read_only_file_system_says_so_not_no_permission(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from tsncli.commands._common import check_output_path
    from tsncli.errors import UsageError

    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    monkeypatch.setattr(os, "statvfs", lambda path: SimpleNamespace(f_flag=os.ST_RDONLY))
    with pytest.raises(UsageError, match="read-only file system") as caught:
        check_output_path(tmp_path / "scores.npz", "--save-scores")
    assert "no permission" not in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_an_output_without_write_permission_still_says_no_permission(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from tsncli.commands._common import check_output_path
    from tsncli.errors import UsageError

    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    monkeypatch.setattr(os, "statvfs", lambda path: SimpleNamespace(f_flag=0))
    with pytest.raises(UsageError, match="no permission to write"):
        check_output_path(tmp_path / "scores.npz", "--save-scores")


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_a_lock_file_that_cannot_be_written_names_its_path(tmp_path, monkeypatch, code):
    from tsncli import locks
    from tsncli.cli import describe_os_error

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(locks.os, "pwrite", fail)
    lock = tmp_path / "scores.npz.lock"
    with pytest.raises(OSError) as caught, locks.hold_lock(lock, "scores.npz"):
        pass
    line = describe_os_error(caught.value, "eval")
    assert str(lock) in line and os.strerror(code) in line
    assert "a file" not in line
    assert not lock.exists()
