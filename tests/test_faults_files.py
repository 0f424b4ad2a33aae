"""Atomic writes behave like plain ones: umask modes, and names up to the 255-byte limit work."""

from __future__ import annotations

import os
import stat

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
