"""`tsn predict --window`: window arithmetic, the frame ring, scoring one window, timeline files,
smoothing, the summary, the CLI and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import evalkit
import numpy as np
import pytest
from window_fixtures import write_phased_video

from tsncli.engine.predict import predict_videos
from tsncli.engine.timeline import TimelineRow, read_timeline, smooth, summarize, write_timeline
from tsncli.engine.windows import Window, WindowCutter, WindowScorer, plan_windows
from tsncli.errors import DataError, UsageError
from tsncli.video.decode import iter_video_frames

SEG = 3


def _text(output: str) -> str:
    return " ".join(output.split())  # Rich wraps long lines


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("windows")
    out = evalkit.make_dataset(root, videos_per_class=1)
    out["rgb_ckpt"] = evalkit.make_checkpoint(root / "rgb.pt", "rgb", seed=1)
    out["flow_ckpt"] = evalkit.make_checkpoint(root / "flow.pt", "flow", seed=2)
    out["rgbdiff_ckpt"] = evalkit.make_checkpoint(root / "rgbdiff.pt", "rgbdiff", seed=3)
    # 12 s at 10 fps: red_left 4 s, green_right 4 s, blue_up 4 s
    out["long"] = write_phased_video(root / "long.mp4", [(0, 4), (1, 4), (2, 4)])
    return out


# --- window arithmetic --------------------------------------------------------------------
def test_windows_start_every_stride_and_the_last_one_reaches_the_end():
    windows = plan_windows(100, 10.0, window=4, stride=3)  # 10 s
    assert [(w.start_frame, w.end_frame) for w in windows] == [(0, 40), (30, 70), (60, 100)]
    assert [(w.start, w.end) for w in windows] == [(0, 4), (3, 7), (6, 10)]
    assert [w.index for w in windows] == [0, 1, 2]


def test_a_video_that_ends_inside_a_window_gets_a_last_partial_window():
    windows = plan_windows(110, 10.0, window=4, stride=3)  # 11 s
    assert [(w.start_frame, w.end_frame) for w in windows][-1] == (90, 110)
    assert windows[-1].num_frames == 20 and windows[-2].num_frames == 40


def test_a_video_shorter_than_one_window_is_one_window_over_all_of_it():
    assert plan_windows(7, 10.0, window=4, stride=1) == [Window(0, 0, 7, 0.0, 0.7)]


def test_a_stride_longer_than_the_window_leaves_gaps():
    windows = plan_windows(100, 10.0, window=2, stride=3)
    assert [(w.start_frame, w.end_frame) for w in windows] == [
        (0, 20), (30, 50), (60, 80), (90, 100),
    ]  # fmt: skip


def test_a_last_window_too_short_for_flow_is_dropped():
    assert len(plan_windows(41, 10.0, window=2, stride=2)) == 3  # the 41st frame alone
    assert len(plan_windows(41, 10.0, window=2, stride=2, min_frames=2)) == 2


def test_fractional_strides_do_not_drift():
    windows = plan_windows(3000, 29.97, window=2, stride=1)
    assert windows[-1].start_frame == round(windows[-1].index * 29.97)


@pytest.mark.parametrize(
    ("window", "stride", "message"),
    [
        (0, 1, "--window must be a positive"),
        (-2, 1, "--window must be a positive"),
        (2, 0, "--stride must be a positive"),
        (0.01, 1, "--window is shorter than one frame"),
        (2, 0.01, "--stride is shorter than one frame"),
    ],
)
def test_bad_windows_name_the_option(window, stride, message):
    with pytest.raises(UsageError, match=message):
        plan_windows(100, 10.0, window, stride)


@pytest.mark.parametrize(
    ("frames", "window", "stride"),
    [(100, 4, 3), (110, 4, 3), (7, 4, 1), (100, 2, 3), (41, 2, 2), (97, 1.5, 0.7), (40, 4, 4)],
)
def test_the_cutter_cuts_the_planned_windows_holding_at_most_one_window(frames, window, stride):
    fps = 10.0
    cutter = WindowCutter(fps, window, stride)
    got, most = [], 0
    for i in range(frames):
        got += cutter.push(np.array([i]))
        most = max(most, len(cutter.ring))
    got += cutter.finish()
    assert [w for w, _ in got] == plan_windows(frames, fps, window, stride)
    for w, cut in got:
        assert [int(f[0]) for f in cut] == list(range(w.start_frame, w.end_frame))
    assert most <= round(window * fps)


# --- scoring one window ---------------------------------------------------------------------
@pytest.mark.parametrize("modality", ["rgb", "flow", "rgbdiff"])
def test_a_window_over_a_whole_video_scores_what_predict_gives_it(data, modality):
    ckpt, video = data[f"{modality}_ckpt"], str(data["videos"][1])
    expected = next(predict_videos([video], [ckpt], segments=SEG, crops=10)).scores
    scorer = WindowScorer.load([ckpt], segments=SEG, crops=10)
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in iter_video_frames(video)]
    fused, per_model = scorer.score_frames(frames, first_frame=0)
    np.testing.assert_allclose(fused, expected, rtol=1e-5, atol=1e-5)
    assert list(per_model) == [modality]


def test_several_checkpoints_are_fused_with_weights_and_reported_each(data):
    video = str(data["videos"][0])
    ckpts = [data["rgb_ckpt"], data["flow_ckpt"]]
    expected = next(predict_videos([video], ckpts, [1, 1.5], segments=SEG, crops=1)).scores
    scorer = WindowScorer.load(ckpts, [1, 1.5], segments=SEG, crops=1)
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in iter_video_frames(video)]
    fused, per_model = scorer.score_frames(frames)
    np.testing.assert_allclose(fused, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fused, per_model["rgb"] + 1.5 * per_model["flow"], rtol=1e-5)


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_snippets_shared_by_overlapping_windows_are_scored_once(data, modality, monkeypatch):
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in iter_video_frames(str(data["long"]))]
    ckpt = data[f"{modality}_ckpt"]
    cached = WindowScorer.load([ckpt], segments=4, crops=1)
    scored = []
    original = cached.scorers[0].score
    monkeypatch.setattr(
        cached.scorers[0], "score", lambda clips: scored.append(clips.shape[2]) or original(clips)
    )
    windows = plan_windows(len(frames), 10.0, window=2, stride=1)  # 20 frames, snippets 5 apart
    fused = [
        cached.score_frames(frames[w.start_frame : w.end_frame], w.start_frame)[0] for w in windows
    ]
    if modality == "rgb":  # RGB's snippet grid lines up every stride (flow's is a frame short)
        assert scored[0] == 4 and sum(scored) == 4 + 2 * (len(windows) - 1)  # half is new
    for w, got in list(zip(windows, fused, strict=True))[::3]:
        fresh = WindowScorer([original.__self__], crops=[1], segments=4)  # an empty cache
        expected, _ = fresh.score_frames(frames[w.start_frame : w.end_frame], w.start_frame)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_windows_with_dropped_frames_match_cached_snippets_by_frame_number(data, modality):
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in iter_video_frames(str(data["long"]))]
    cached = WindowScorer.load([data[f"{modality}_ckpt"]], segments=4, crops=1)
    cached.score_frames(frames[0:20], 0)
    numbers = [n for n in range(10, 30) if n not in (12, 17)]  # a live source lost two frames
    held = [frames[n] for n in numbers]
    got, _ = cached.score_frames(held, numbers[0], frame_numbers=numbers)
    fresh = WindowScorer(cached.scorers, crops=[1], segments=4)
    expected, _ = fresh.score_frames(held, numbers[0], frame_numbers=numbers)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_one_frame_window_of_a_flow_model_names_the_fix(data):
    scorer = WindowScorer.load([data["flow_ckpt"]], segments=SEG, crops=1)
    with pytest.raises(DataError, match="flow needs at least 2.*longer --window"):
        scorer.score_frames([np.zeros((36, 48, 3), np.uint8)], first_frame=40)


# --- timelines ------------------------------------------------------------------------------
ROWS = [
    TimelineRow(0, 0.0, 2.0, [("a", 0.7), ("b", 0.2)], {"rgb": [("a", 0.6), ("b", 0.3)],
                                                        "flow": [("b", 0.5), ("a", 0.4)]}),
    TimelineRow(1, 1.0, 3.0, [("a", 0.6), ("c", 0.3)], {"rgb": [("a", 0.5), ("c", 0.4)],
                                                        "flow": [("c", 0.6), ("a", 0.3)]}),
    TimelineRow(2, 2.0, 4.0, [("b", 0.9), ("a", 0.05)], {"rgb": [("b", 0.8), ("a", 0.1)],
                                                         "flow": [("b", 0.9), ("c", 0.1)]}),
    TimelineRow(3, 3.0, 4.5, [("a", 0.5), ("b", 0.25)], {"rgb": [("a", 0.5), ("b", 0.2)],
                                                         "flow": [("a", 0.5), ("b", 0.3)]}),
]  # fmt: skip


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_a_timeline_file_reads_back_as_written(tmp_path, suffix):
    path = write_timeline(tmp_path / f"t{suffix}", ROWS, {"video": "v.mp4"})
    assert read_timeline(path) == ROWS
    assert not [p for p in tmp_path.iterdir() if p.name != path.name]  # no temporary left


def test_a_timeline_csv_has_a_column_per_rank_and_modality(tmp_path):
    header = write_timeline(tmp_path / "t.csv", ROWS).read_text().splitlines()[0].split(",")
    assert header[:7] == ["index", "start", "end", "class_1", "score_1", "class_2", "score_2"]
    assert "rgb_class_1" in header and "flow_score_2" in header


def test_a_timeline_of_one_checkpoint_has_no_modality_columns(tmp_path):
    rows = [TimelineRow(0, 0.0, 1.0, [("a", 1.0)])]
    assert read_timeline(write_timeline(tmp_path / "t.csv", rows)) == rows
    assert (
        "modalities"
        not in json.loads(write_timeline(tmp_path / "t.json", rows).read_text())["windows"][0]
    )


def test_a_timeline_needs_a_json_or_csv_name(tmp_path):
    with pytest.raises(UsageError, match=r"name a \.json or \.csv file"):
        write_timeline(tmp_path / "t.txt", ROWS)


def test_smoothing_averages_neighbouring_windows():
    scores = np.array([[0.0], [3.0], [6.0], [9.0]])
    np.testing.assert_allclose(smooth(scores, 3)[:, 0], [1.5, 3.0, 6.0, 7.5])
    np.testing.assert_array_equal(smooth(scores, 1), scores)
    with pytest.raises(UsageError, match="--smooth"):
        smooth(scores, 0)


def test_the_summary_merges_windows_that_agree_over_the_time_each_owns():
    assert summarize(ROWS) == [(0.0, 2.0, "a"), (2.0, 3.0, "b"), (3.0, 4.5, "a")]


def test_the_summary_keeps_gaps_between_windows():
    rows = [TimelineRow(0, 0.0, 1.0, [("a", 1.0)]), TimelineRow(1, 3.0, 4.0, [("a", 1.0)])]
    assert summarize(rows) == [(0.0, 1.0, "a"), (3.0, 4.0, "a")]


# --- the CLI ------------------------------------------------------------------------------
def _windows(runner, cli, data, *extra):
    args = ["predict", str(data["long"]), "--checkpoint", str(data["rgb_ckpt"]), "--window", "2"]
    return runner.invoke(cli, [*args, "--segments", str(SEG), "--crops", "1", *extra])


def test_predict_window_writes_a_row_per_window_and_prints_the_summary(runner, cli, data, tmp_path):
    result = _windows(runner, cli, data, "--stride", "1", "--timeline", str(tmp_path / "t.csv"))
    assert result.exit_code == 0, result.output
    rows = read_timeline(tmp_path / "t.csv")
    assert [(r.start, r.end) for r in rows] == [(float(s), float(s + 2)) for s in range(11)]
    assert all(len(r.top) == 3 and r.top[0][0] in evalkit.CLASSES for r in rows)
    assert "11 windows of 2s every 1s" in result.stdout
    lines = [line for line in result.stdout.splitlines() if "s - " in line]
    assert len(lines) == len(summarize(rows)) and lines[-1].split()[-1] == rows[-1].label


def test_predict_window_json_has_windows_and_segments(runner, cli, data):
    result = _windows(runner, cli, data, "--top-k", "2", "--smooth", "3", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert len(payload["windows"]) == 6 and payload["smooth"] == 3  # stride defaults to 2 s
    assert all(len(w["top"]) == 2 for w in payload["windows"])
    assert payload["segments"][0]["start"] == 0 and payload["segments"][-1]["end"] == 12


def test_predict_window_with_two_checkpoints_reports_each_modality(runner, cli, data, tmp_path):
    flow = ["--checkpoint", str(data["flow_ckpt"]), "--timeline", str(tmp_path / "t.json")]
    result = _windows(runner, cli, data, *flow)
    assert result.exit_code == 0, result.output
    rows = read_timeline(tmp_path / "t.json")
    assert set(rows[0].modalities) == {"rgb", "flow"}


def test_the_per_snippet_list_is_now_snippets(runner, cli, data, tmp_path):
    args = ["predict", str(data["videos"][0]), "--checkpoint", str(data["rgb_ckpt"])]
    result = runner.invoke(cli, [*args, "--timeline", str(tmp_path / "t.json")])
    assert result.exit_code == 1
    assert "--timeline needs --window SECONDS (the per-snippet list is now --snippets)" in _text(
        result.output
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--window", "0"], "--window must be a positive number of seconds"),
        (["--window", "2", "--stride", "-1"], "--stride must be a positive number of seconds"),
        (["--window", "2", "--smooth", "0"], "--smooth must be at least 1 window"),
        (["--window", "2", "--plot", "p.jpg"], "name a .png file"),
        (["--window", "2", "--timeline", "t.txt"], "name a .json or .csv file"),
        (["--window", "2", "--annotate", "a.gif"], "name an output video ending in .mp4"),
        (["--stride", "1"], "--stride needs --window"),
    ],
)
def test_bad_window_options_are_one_line_errors(runner, cli, data, tmp_path, extra, message):
    extra = [str(tmp_path / e) if "." in e and not e[0].isdigit() else e for e in extra]
    args = ["predict", str(data["long"]), "--checkpoint", str(data["rgb_ckpt"]), *extra]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1 and message in _text(result.output), result.output


def test_a_frames_folder_with_window_names_why_not(runner, cli, data):
    folder = str(Path(data["frames"]) / "v_red_left_0")
    args = ["predict", folder, "--checkpoint", str(data["rgb_ckpt"]), "--window", "2"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1 and "records no frame rate" in _text(result.output)
    result = runner.invoke(cli, [*args, "--annotate", "out.mp4"])
    assert result.exit_code == 1 and "--annotate needs the video file" in _text(result.output)


def test_a_corrupt_video_with_window_is_a_one_line_error(runner, cli, data, tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 100)
    args = ["predict", str(corrupt), "--checkpoint", str(data["rgb_ckpt"]), "--window", "2"]
    result = runner.invoke(cli, [*args, "--timeline", str(tmp_path / "t.json")])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(errors) == 1 and str(corrupt) in errors[0]
    assert not (tmp_path / "t.json").exists()


def test_window_scores_one_video_at_a_time(runner, cli, data):
    args = ["predict", str(data["long"]), str(data["long"]), "--checkpoint", str(data["rgb_ckpt"])]
    result = runner.invoke(cli, [*args, "--window", "2"])
    assert result.exit_code == 1 and "one video at a time; got 2" in _text(result.output)
