"""Decoding checks behind the video index: the last group of frames decodes as the timeline
lists it (a seek plus one GOP), and the full count when a container's listing cannot be trusted."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from tsncli.errors import DataError
from tsncli.video.backend import AV_ERRORS, open_container, short_error
from tsncli.video.fallback import opencv_frame_count, use_opencv_instead
from tsncli.video.timeline import Timeline

log = logging.getLogger("tsncli.video.check")


def ends_as_listed(
    path: str | os.PathLike[str], timeline: Timeline, keyframes: Sequence[int]
) -> bool:
    """Seeking to the last keyframe and decoding to the end gives exactly the frames the
    timeline lists from there (so the count is right and the last frame decodes)."""
    last_key = keyframes[-1] if keyframes else 0
    try:
        container, stream = open_container(path)
    except DataError:
        return False
    seen: list[int | None] = []
    try:
        if last_key:
            container.seek(timeline.pts_of(last_key), stream=stream)
        for frame in container.decode(stream):
            index = timeline.index_of(frame.pts)
            if index is None or index >= last_key:  # leading frames of an open GOP are dropped
                seen.append(index)
    except AV_ERRORS as exc:
        log.info("%s: decoding its last frames failed (%s)", path, short_error(exc))
        return False
    finally:
        container.close()
    return seen == list(range(last_key, timeline.count))


def count_decoded_frames(path: str | os.PathLike[str]) -> int:
    """Frames a full decode from the start returns (stopping at the first decode error);
    OpenCV counts when PyAV cannot open the file."""
    try:
        container, stream = open_container(path, sequential=True)
    except DataError as exc:
        if not use_opencv_instead(path, exc):
            raise
        log.warning("%s: PyAV cannot open it (%s); counting with OpenCV", path, exc)
        return opencv_frame_count(path)
    count = 0
    try:
        for _frame in container.decode(stream):
            count += 1
    except AV_ERRORS as exc:
        log.info("%s: decoding stopped at frame %d (%s)", path, count, short_error(exc))
    finally:
        container.close()
    return count
