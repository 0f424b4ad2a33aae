"""`tsn predict --annotate`: the input video again, each frame labelled with the top class and
score of the window that speaks for it (`owned_spans`), encoded by `tsncli.video.encode` with
the input's frame count and rate."""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from tsncli.engine.drawing import class_colour, put_label, text_size
from tsncli.engine.timeline import TimelineRow, owned_spans
from tsncli.errors import UsageError
from tsncli.progress import ProgressFn, Tracker
from tsncli.video.backend import open_container
from tsncli.video.decode import iter_video_frames
from tsncli.video.encode import check_video_output, open_video_encoder


def video_rate(path: str | os.PathLike[str]) -> tuple[Fraction, int]:
    """(frame rate as the container states it, estimated frame count) of a video file."""
    container, stream = open_container(path)
    try:
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        return Fraction(rate), int(stream.frames or 0)
    finally:
        container.close()


def draw_window_label(
    image: np.ndarray, row: TimelineRow | None, seconds: float, colour_index: int
) -> None:
    """Draw the window's top class and score (or "no window") and the time, top left."""
    height, width = image.shape[:2]
    margin = max(2, height // 60)
    if row is None:
        text, swatch = f"{seconds:.2f}s  no window", None
    else:
        text, swatch = f"{row.label} {row.score:.2f}", class_colour(colour_index)
    scale = max(0.3, height / 480)
    thickness = 1 if scale < 0.8 else 2
    # shrink the text of a long class name on a small frame until the box fits the width
    text_width, text_height, _ = text_size(text, scale, thickness)
    box_width = text_width + 2.7 * text_height if swatch else text_width
    if box_width > width - 2 * margin:
        scale = max(0.25, scale * (width - 2 * margin) / box_width)
    _, box_h = put_label(image, text, (margin, margin), scale, swatch, thickness)
    if row is not None:
        put_label(image, f"{seconds:.2f}s", (margin, margin + box_h + 2), scale * 0.7)


def annotate_video(
    video: str | os.PathLike[str],
    out: str | os.PathLike[str],
    rows: Sequence[TimelineRow],
    classes: Sequence[str],
    fps: float,
    ignore_rotation: bool = False,
    on_progress: ProgressFn | None = None,
) -> int:
    """Decode `video` again and write `out` with every frame labelled; returns the frames
    written. `fps` is the rate the windows were placed with (frame i is at i / fps seconds)."""
    check_video_output(out)
    if Path(video).resolve() == Path(out).resolve():
        raise UsageError(f"--annotate {out} is the input video; name another file")
    rate, estimate = video_rate(video)
    index = {name: i for i, name in enumerate(classes)}
    # each window's frames by number, so frame i's owner is found without float rounding
    spans = [(round(s * fps), round(e * fps)) for s, e in owned_spans(rows)]
    tracker = Tracker(on_progress, "annotate", total=estimate or None)
    tracker.start()
    frames = iter_video_frames(video, ignore_rotation=ignore_rotation)
    first = next(frames)
    height, width = first.shape[:2]
    current = 0
    with open_video_encoder(out, rate, width, height) as encoder:
        for i, frame in enumerate(_chain(first, frames)):
            while current < len(spans) and spans[current][1] <= i:
                current += 1
            owner = current < len(spans) and spans[current][0] <= i < spans[current][1]
            row = rows[current] if owner else None
            image = frame.copy() if not frame.flags.writeable else frame
            draw_window_label(image, row, i / fps, index.get(row.label, 0) if row else 0)
            encoder.write(image)
            if (i + 1) % 25 == 0:
                tracker.update(i + 1)
        tracker.update(encoder.frames, total=encoder.frames)
        return encoder.frames


def _chain(first: np.ndarray, rest):
    yield first
    yield from rest
