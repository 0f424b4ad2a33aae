"""`tsn predict --window --annotate OUT.mp4`: the input again with each window's top label drawn,
same frame count and rate, H.264 or MPEG-4 by what PyAV has, written atomically."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import evalkit
import numpy as np
import pytest
from window_fixtures import write_phased_video

from tsncli.engine.annotate import annotate_video
from tsncli.engine.drawing import class_colour
from tsncli.engine.timeline import TimelineRow
from tsncli.engine.timeline_plot import render_timeline, save_timeline_plot
from tsncli.errors import UsageError
from tsncli.video import encode

CLASSES = evalkit.CLASSES
ROWS = [
    TimelineRow(0, 0.0, 2.0, [("red_left", 0.9), ("blue_up", 0.1)]),
    TimelineRow(1, 2.0, 4.0, [("green_right", 0.6), ("red_left", 0.3)]),
]


def _decode(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
        return frames, stream.average_rate, stream.codec_context.name


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("annotate")
    return {
        "video": write_phased_video(root / "in.mp4", [(0, 2), (1, 2)], fps=10),
        "rgb_ckpt": evalkit.make_checkpoint(root / "rgb.pt", "rgb", seed=1),
    }


def test_predict_annotate_keeps_frame_count_and_rate_and_draws_labels(runner, cli, data, tmp_path):
    out = tmp_path / "labelled.mp4"
    args = ["predict", str(data["video"]), "--checkpoint", str(data["rgb_ckpt"]), "--window", "1"]
    result = runner.invoke(cli, [*args, "--segments", "2", "--crops", "1", "--annotate", str(out)])
    assert result.exit_code == 0, result.output
    original, rate, _ = _decode(data["video"])
    labelled, labelled_rate, _ = _decode(out)
    assert len(labelled) == len(original) == 40 and labelled_rate == rate == 10
    # the label box darkens the top-left corner; the rest of the frame is the video
    corner = (slice(1, 8), slice(1, 30))
    assert labelled[5][corner].mean() < original[5][corner].mean() - 30
    assert abs(float(labelled[5][40:].mean()) - float(original[5][40:].mean())) < 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labelled.mp4"]


def test_each_frame_shows_the_window_that_owns_it(data, tmp_path):
    rows = [ROWS[0], TimelineRow(1, 3.0, 4.0, [("green_right", 0.6)])]  # 2 s to 3 s: no window
    annotate_video(data["video"], tmp_path / "a.mp4", rows, CLASSES, fps=10.0)
    frames, _, _ = _decode(tmp_path / "a.mp4")
    swatch = (slice(6, 10), slice(6, 10))  # inside the colour square before the label
    first, none, second = (frames[i][swatch].mean(axis=(0, 1)) for i in (5, 25, 35))
    assert np.abs(first - class_colour(0)).max() < 40  # red_left's colour
    assert np.abs(second - class_colour(1)).max() < 40  # green_right's
    assert none.max() - none.min() < 30  # no swatch: grey text on the darkened box only


def test_without_h264_the_video_is_mpeg4(data, tmp_path, monkeypatch):
    monkeypatch.setattr(encode, "ENCODERS", ("no_such_encoder", "mpeg4"))
    annotate_video(data["video"], tmp_path / "a.mp4", ROWS, CLASSES, fps=10.0)
    frames, rate, codec = _decode(tmp_path / "a.mp4")
    assert codec == "mpeg4" and len(frames) == 40 and rate == 10


def test_odd_frame_sizes_are_cut_to_even_ones(tmp_path):
    path = tmp_path / "odd.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = 65, 49, "yuv444p"
        for i in range(7):
            image = np.full((49, 65, 3), 20 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    written = annotate_video(path, tmp_path / "a.mp4", ROWS, CLASSES, fps=30000 / 1001)
    frames, rate, _ = _decode(tmp_path / "a.mp4")
    assert written == len(frames) == 7 and frames[0].shape == (48, 64, 3)
    assert rate == Fraction(30000, 1001)


def test_a_failed_annotation_leaves_no_file(data, tmp_path, monkeypatch):
    from tsncli.engine import annotate

    calls = []

    def failing(image, row, seconds, colour_index):
        calls.append(seconds)
        if len(calls) == 10:
            raise RuntimeError("the drawing failed")

    monkeypatch.setattr(annotate, "draw_window_label", failing)
    with pytest.raises(RuntimeError, match="the drawing failed"):
        annotate_video(data["video"], tmp_path / "a.mp4", ROWS, CLASSES, fps=10.0)
    assert list(tmp_path.iterdir()) == []


def test_annotation_reports_progress_to_the_last_frame(data, tmp_path):
    events = []
    annotate_video(
        data["video"], tmp_path / "a.mp4", ROWS, CLASSES, 10.0, on_progress=events.append
    )
    assert events[0].done == 0 and events[-1].done == events[-1].total == 40
    assert {e.task for e in events} == {"annotate"}


def test_annotating_onto_the_input_is_refused(data):
    with pytest.raises(UsageError, match="is the input video"):
        annotate_video(data["video"], data["video"], ROWS, CLASSES, fps=10.0)


def test_the_plot_colours_the_band_by_top_class_and_names_it(tmp_path):
    image = render_timeline(ROWS, CLASSES, "in.mp4")
    band = image[55:90]  # the band's rows (see render_timeline's layout)
    x_red, x_green = image.shape[1] // 4, 3 * image.shape[1] // 4
    b, g, r = band[:, x_red].mean(axis=0)
    assert r > g and r > b  # red_left's colour, strongly (probability 0.9)
    b2, g2, r2 = band[:, x_green].mean(axis=0)
    assert (b2, g2, r2) != (b, g, r)
    path = save_timeline_plot(tmp_path / "t.png", ROWS, CLASSES, "in.mp4")
    assert cv2.imread(str(path)).shape == image.shape
    with pytest.raises(UsageError, match="name a .png file"):
        save_timeline_plot(tmp_path / "t.jpg", ROWS, CLASSES)


def test_predict_plot_writes_a_png(runner, cli, data, tmp_path):
    args = ["predict", str(data["video"]), "--checkpoint", str(data["rgb_ckpt"]), "--window", "1"]
    result = runner.invoke(
        cli, [*args, "--segments", "2", "--crops", "1", "--plot", str(tmp_path / "t.png")]
    )
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "t.png")).shape[1] == 1280


def test_low_probabilities_get_a_taller_axis_instead_of_lying_on_the_floor():
    rows = [TimelineRow(k, float(k), k + 1.0, [("red_left", 0.01)]) for k in range(4)]
    probabilities = np.full((4, 3), 0.01)  # e.g. a 100-class model that is unsure
    image = render_timeline(rows, CLASSES, "", probabilities)
    column = image[100:440, image.shape[1] // 2].astype(int)  # the curves' area and the axis
    red = np.flatnonzero(np.abs(column - class_colour(0)).max(axis=1) < 40) + 100
    assert red.size and abs(red.mean() - 270) < 6  # 0.01 of a 0.02 axis: half way up
