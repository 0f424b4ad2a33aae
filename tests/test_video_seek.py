"""Seeking when a container's index lies: a seek that lands past its target starts again from the
beginning (exact, just slower); one that cannot get before its target is a decode error."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from video_fixtures import make_fixture, sequential_frames

from tsncli.video import sparse
from tsncli.video.backend import VideoDecodeError, open_container
from tsncli.video.sparse import SparseReader
from tsncli.video.timeline import scan_layout


class RunAheadContainer:
    """A container whose seeks land `ahead` frames after the timestamp asked for (an index whose
    times run ahead of its frames); seeks to 0 land on 0 unless `always` is set."""

    def __init__(self, container, timeline, ahead: int, always: bool) -> None:
        self.container, self.timeline = container, timeline
        self.ahead, self.always = ahead, always

    def seek(self, pts, **kwargs):
        index = self.timeline.index_of(pts)
        if index or self.always:
            pts = self.timeline.pts_of(min(index + self.ahead, self.timeline.count - 1))
        return self.container.seek(pts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.container, name)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_fixture(tmp_path_factory.mktemp("seek"), "mpeg4_avi", n=60)  # keyframes every 12


def _lying(monkeypatch, layout, ahead: int, always: bool = False) -> None:
    def open_lying(*args, **kwargs):
        container, stream = open_container(*args, **kwargs)
        return RunAheadContainer(container, layout.timeline, ahead, always), stream

    monkeypatch.setattr(sparse, "open_container", open_lying)


def test_a_seek_that_lands_past_its_target_starts_again_from_the_beginning(
    video, monkeypatch, caplog
):
    layout = scan_layout(video)
    assert 24 in layout.keyframes and 36 in layout.keyframes
    _lying(monkeypatch, layout, ahead=12)  # asked for keyframe 24, lands on 36
    reader = SparseReader(str(video), layout.keyframes, layout.timeline)
    with caplog.at_level(logging.INFO, logger="tsncli.video.sparse"):
        frames = reader.read([30])
    assert np.array_equal(frames[30], sequential_frames(video)[30])
    assert "a seek for frame 30 landed on 36" in caplog.text
    assert reader.decoded + reader.skipped >= 31  # passed from 0, not from keyframe 24


def test_a_seek_that_never_gets_before_its_target_is_a_decode_error_naming_it(video, monkeypatch):
    layout = scan_layout(video)
    _lying(monkeypatch, layout, ahead=36, always=True)  # even a seek to 0 lands on 36
    reader = SparseReader(str(video), layout.keyframes, layout.timeline)
    with pytest.raises(VideoDecodeError, match="seeking does not reach it") as error:
        reader.read([30])
    assert error.value.frame == 30
