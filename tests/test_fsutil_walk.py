"""One folder walker for flow, probe and lists (issue 28, item 9): links to folders are followed,
each real folder once, and a loop is one warning line naming it, the same everywhere."""

from __future__ import annotations

import logging

import pytest

from tsncli.errors import DataError
from tsncli.fsutil import walk_files, walk_tree
from tsncli.lists.custom_split import scan_video_root
from tsncli.lists.video_tree import VideoTree
from tsncli.video.files import list_videos


def _videos(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def _linked_class_root(tmp_path):
    """VIDEOS/Run is a folder; VIDEOS/Walk is a link to a class folder kept elsewhere."""
    _videos(tmp_path / "videos" / "Run", "run0.avi", "run1.avi")
    _videos(tmp_path / "elsewhere" / "Walk", "walk0.avi", "walk1.avi")
    (tmp_path / "videos" / "Walk").symlink_to(tmp_path / "elsewhere" / "Walk")
    return tmp_path / "videos"


def test_a_class_folder_that_is_a_link_is_found_by_flow_and_lists_alike(tmp_path):
    root = _linked_class_root(tmp_path)
    flow_videos = sorted(p.stem for p in list_videos(root))  # what tsn flow and tsn probe take
    assert flow_videos == ["run0", "run1", "walk0", "walk1"]
    assert scan_video_root(root) == {"Run": ["run0", "run1"], "Walk": ["walk0", "walk1"]}
    assert sorted(VideoTree(root).paths) == flow_videos


def _loop_root(tmp_path):
    """Run/back links to the root (a loop); Zagain links to Run (a second link to one folder)."""
    root = tmp_path / "videos"
    _videos(root / "Run", "run0.avi")
    (root / "Run" / "back").symlink_to(root)
    (root / "Zagain").symlink_to(root / "Run")
    return root


def test_a_loop_is_walked_once_and_named_in_one_warning(tmp_path, caplog):
    root = _loop_root(tmp_path)
    walk = walk_tree(root)
    assert walk.files == [str(root / "Run" / "run0.avi")]
    assert walk.loops == [
        (str(root / "Run" / "back"), str(root)),
        (str(root / "Zagain"), str(root / "Run")),
    ]
    with caplog.at_level(logging.WARNING):
        videos = list_videos(root)
        tree = VideoTree(root)
    assert [v.name for v in videos] == ["run0.avi"] and list(tree.paths) == ["run0"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one line each for flow's walk and the lists' walk
    assert all(w == warnings[0] for w in warnings)
    assert "skipped 2 folder link(s)" in warnings[0] and str(root / "Run" / "back") in warnings[0]


def test_a_link_to_itself_is_dangling_and_does_not_hang(tmp_path):
    _videos(tmp_path / "src", "a.avi")
    (tmp_path / "src" / "self").symlink_to(tmp_path / "src" / "self")
    assert walk_files(tmp_path / "src") == (
        [str(tmp_path / "src" / "a.avi")],
        [str(tmp_path / "src" / "self")],
    )


def test_two_class_folders_that_are_one_folder_are_an_error_naming_both(tmp_path):
    root = _linked_class_root(tmp_path)
    (root / "Stroll").symlink_to(tmp_path / "elsewhere" / "Walk")
    with pytest.raises(DataError, match=r"class folder .*Walk is the folder .*Stroll again"):
        scan_video_root(root)


def test_max_depth_stops_the_walk(tmp_path):
    _videos(tmp_path / "Run" / "deeper", "x.avi")
    _videos(tmp_path / "Run", "run0.avi")
    assert walk_tree(tmp_path, max_depth=2).files == [str(tmp_path / "Run" / "run0.avi")]
    assert walk_tree(tmp_path, max_depth=2).folders == [str(tmp_path / "Run")]


def test_video_lists_of_split_datasets_follow_a_linked_class_folder(tmp_path):
    import os

    from tsncli.lists.video_lists import VideoFileFinder

    real = tmp_path / "elsewhere" / "YoYo"
    real.mkdir(parents=True)
    (real / "v_YoYo_g01_c01.avi").write_bytes(b"x")
    videos = tmp_path / "videos"
    videos.mkdir()
    os.symlink(real, videos / "YoYo")  # a class folder kept on another disk
    os.symlink(videos, videos / "loop")  # and a loop, walked once
    finder = VideoFileFinder(videos, tmp_path / "index.json")
    assert finder.find("v_YoYo_g01_c01") is not None and len(finder) == 1
