"""`tsn predict --stream`: live windows from a real-time sender on 127.0.0.1 (TCP) and from a
pipe on stdin, the lag bound on the sender's own clock, dropping frames when inference is slow,
Ctrl-C and SIGTERM with the timeline, and the one-line errors."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import evalkit
import numpy as np
import pytest
from stream_sender import RealTimeSender, encode_mpegts, moving_square

from tsncli.engine.live import StreamSettings, _slow_warning, _Windows, predict_stream
from tsncli.engine.timeline import read_timeline
from tsncli.engine.windows import WindowScorer
from tsncli.errors import DataError, UsageError
from tsncli.video.live import (
    FrameReader,
    LiveFrame,
    _StreamClock,
    open_live_source,
    redact_url,
    resolve_live_source,
)

# seconds: a frame's way from the sender's clock through the encoder, the socket, the demuxer and
# the decoder (about 0.1 s here), and the wait for the frame that completes a window, on a
# shared machine. A reader that queued every window instead of dropping would be seconds behind.
SLACK = 1.0
FAST = ["--segments", "3", "--crops", "1"]
# every JSON line carries the window, its labels and how live it was
LINE_KEYS = {"index", "start", "end", "top", "frames", "lag", "dropped", "inference"}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream_ckpt")
    return {
        "rgb": evalkit.make_checkpoint(root / "rgb.pt", "rgb", seed=1),
        "flow": evalkit.make_checkpoint(root / "flow.pt", "flow", seed=2),
    }


def _text(output: str) -> str:
    return " ".join(output.split())  # Rich wraps long lines


def _tsn(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tsncli", "predict", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def _read_lines(proc: subprocess.Popen, sender: RealTimeSender, received: list) -> None:
    """Collect (sender clock on arrival, JSON line) as the lines come."""
    for line in proc.stdout:
        received.append((sender.clock(), json.loads(line)))


def _check_lines(lines: list[dict], window: float) -> None:
    """Each line is a labelled window, in order."""
    assert lines, "no window was labelled"
    for line in lines:
        assert LINE_KEYS <= set(line), line
        assert line["end"] - line["start"] <= window + 1e-6 and line["frames"] > 0
        assert line["top"][0]["class"] in evalkit.CLASSES
    assert [x["end"] for x in lines] == sorted(x["end"] for x in lines)


def _check_live(received: list, window: float) -> None:
    """Each line is a labelled window, no more than one window plus one inference behind the
    sender's clock when it arrived; the reported lag tells the same story."""
    _check_lines([line for _, line in received], window)
    for clock, line in received:
        behind = clock - line["start"]  # how old the window's first frame is, sender's clock
        assert behind <= window + line["inference"] + SLACK, (clock, line)
        assert 0 <= line["lag"] <= clock - line["end"] + SLACK, (clock, line)


def _same_rows(timeline: Path, lines: list[dict]) -> None:
    rows = read_timeline(timeline)
    assert [(r.index, r.start, r.end) for r in rows] == [
        (x["index"], x["start"], x["end"]) for x in lines
    ]
    assert [r.top for r in rows] == [[(t["class"], t["score"]) for t in x["top"]] for x in lines]


def test_stream_labels_a_real_time_tcp_sender_live_and_writes_the_timeline(checkpoints, tmp_path):
    timeline = tmp_path / "t.json"
    with RealTimeSender(moving_square(125)) as sender:  # 5 s, longer than the run
        port = sender.serve_tcp()
        proc = _tsn(
            "--stream", f"tcp://127.0.0.1:{port}", "--checkpoint", str(checkpoints["rgb"]),
            "--max-seconds", "3", "--json", "--timeline", str(timeline),
            "--window", "1", "--stride", "0.5", *FAST,
        )  # fmt: skip
        received: list = []
        _read_lines(proc, sender, received)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    _check_live(received, window=1.0)
    assert len(received) >= 3  # 3 s of a 0.5 s stride
    _same_rows(timeline, [line for _, line in received])
    meta = json.loads(timeline.read_text())
    assert meta["stopped"] == "max-seconds" and meta["stream"] == f"tcp://127.0.0.1:{port}"
    assert meta["window"] == 1.0 and meta["stride"] == 0.5 and meta["frames"] > 0


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 0), (signal.SIGTERM, 143)])
def test_stream_from_a_stdin_pipe_stops_on_a_signal_with_a_complete_timeline(
    checkpoints, tmp_path, sig, code
):
    timeline = tmp_path / "t.csv"
    sender = RealTimeSender(moving_square(250))  # 10 s: the signal comes first
    proc = _tsn(
        "--stream", "-", "--checkpoint", str(checkpoints["rgb"]), "--json",
        "--timeline", str(timeline), "--window", "1", "--stride", "0.5", *FAST,
        stdin=subprocess.PIPE,
    )  # fmt: skip
    sender.write_to(proc.stdin.buffer if hasattr(proc.stdin, "buffer") else proc.stdin)
    received: list = []
    for line in proc.stdout:
        received.append((sender.clock(), json.loads(line)))
        if len(received) == 2:
            proc.send_signal(sig)
            break
    received += [(sender.clock(), json.loads(line)) for line in proc.stdout]
    assert proc.wait(timeout=60) == code, proc.stderr.read()
    # (no lag bound here: the pipe holds what the sender wrote while tsn was starting)
    _check_lines([line for _, line in received], window=1.0)
    _same_rows(timeline, [line for _, line in received])  # every printed window, complete
    assert not list(tmp_path.glob(".tsn-*"))  # no temporary file left behind


def test_ctrl_c_while_the_stream_opens_stops_cleanly_with_an_empty_timeline(checkpoints, tmp_path):
    timeline = tmp_path / "t.json"
    with socket.socket() as server:  # accepts, then sends nothing: FFmpeg waits to probe
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        proc = _tsn(
            "--stream", f"tcp://127.0.0.1:{port}", "--checkpoint", str(checkpoints["rgb"]),
            "--timeline", str(timeline),
        )  # fmt: skip
        server.settimeout(60)
        connection, _ = server.accept()  # tsn is opening the stream now
        with connection:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 0, proc.stderr.read()
    meta = json.loads(timeline.read_text())
    assert meta["stopped"] == "interrupted" and meta["windows"] == [] and meta["frames"] == 0


class _SlowScorer:
    """A WindowScorer whose inference takes `delay` seconds longer: slower than the stream."""

    def __init__(self, scorer: WindowScorer, delay: float) -> None:
        self.scorer, self.delay = scorer, delay
        self.numbers: list[list[int]] = []

    def __getattr__(self, name: str):
        return getattr(self.scorer, name)

    def score_frames(self, frames, first_frame=0, frame_numbers=None):
        time.sleep(self.delay)
        assert frame_numbers is not None and len(frame_numbers) == len(frames)
        self.numbers.append(list(frame_numbers))
        return self.scorer.score_frames(frames, first_frame, frame_numbers)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_slow_inference_drops_frames_and_labels_the_newest_window(checkpoints):
    scorer = _SlowScorer(WindowScorer.load([checkpoints["rgb"]], segments=3, crops=1), 0.6)
    window, stride = 0.5, 0.25
    records = _Records()
    logging.getLogger("tsncli.engine.live").addHandler(records)
    received: list = []
    try:
        with RealTimeSender(moving_square(75)) as sender:  # 3 s
            port = sender.serve_tcp()
            result = predict_stream(
                f"tcp://127.0.0.1:{port}",
                scorer,
                StreamSettings(window, stride, top_k=2),
                on_window=lambda w: received.append((sender.clock(), w.to_json())),
            )
    finally:
        logging.getLogger("tsncli.engine.live").removeHandler(records)
    assert result.stopped == "end of stream" and result.error is None
    _check_live(received, window)
    lines = [line for _, line in received]
    live = lines[:-1]  # (the last window ends with the stream, however soon after the one before)
    assert all(b["end"] - a["end"] >= stride - 1e-3 for a, b in zip(live, live[1:], strict=False))
    assert lines[-1]["end"] == pytest.approx(3.0, abs=0.05)
    assert result.dropped > 0 and lines[-1]["dropped"] <= result.dropped
    assert [x["dropped"] for x in lines] == sorted(x["dropped"] for x in lines)
    assert result.decoded == 75
    # each window is scored with its frames' own numbers (a cached snippet is matched by them)
    assert scorer.numbers and all(n == sorted(set(n)) for n in scorer.numbers)
    assert all(0 <= n[0] and n[-1] < 75 for n in scorer.numbers)
    (warning,) = [m for m in records.messages if "stride" in m]
    assert "longer than the 0.25 s stride" in warning and "--gpu" in warning


def test_a_flow_model_that_cannot_keep_up_is_told_why(checkpoints):
    scorer = WindowScorer.load([checkpoints["rgb"], checkpoints["flow"]], segments=3, crops=1)
    algorithm = scorer.settings[1].flow_algorithm
    message = _slow_warning(scorer, 1.23, StreamSettings(2.0, 0.5))
    assert "inference takes 1.23 s per window (flow is computed for every window)" in message
    assert (
        "--stride 1.3 or more" in message and f"faster flow algorithm than {algorithm}" in message
    )


def test_stream_from_stdin_fuses_rgb_and_flow_computed_on_the_fly(runner, cli, checkpoints):
    data, _ = encode_mpegts(moving_square(50))  # 2 s, all at once: the last windows are live
    args = ["predict", "--stream", "-", "--json", "--window", "1", "--stride", "0.5", *FAST]
    args += ["--checkpoint", str(checkpoints["rgb"]), "--checkpoint", str(checkpoints["flow"])]
    result = runner.invoke(cli, args, input=data)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all(set(x["modalities"]) == {"rgb", "flow"} for x in lines)
    assert lines[-1]["end"] == pytest.approx(2.0, abs=0.05)  # the end of the stream


def test_stream_prints_a_line_per_window(runner, cli, checkpoints):
    data, _ = encode_mpegts(moving_square(50))
    args = ["predict", "--stream", "-", "--checkpoint", str(checkpoints["rgb"]), *FAST]
    result = runner.invoke(cli, args, input=data)
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[-1]
    assert "s-2.0" in line and "lag" in line and "dropped" in line
    assert any(name in line for name in evalkit.CLASSES)


# --- errors: one line, exit 1 -----------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fails_with(runner, cli, args: list[str], *needles: str, stdin: bytes | None = None) -> None:
    result = runner.invoke(cli, ["predict", *args], input=stdin)
    assert result.exit_code == 1, result.output
    assert result.stderr.count("error:") == 1
    for needle in needles:
        assert needle in _text(result.stderr), result.stderr


def test_a_stream_that_does_not_open_names_the_url_and_ffmpegs_reason(runner, cli, checkpoints):
    url = f"tcp://127.0.0.1:{_closed_port()}"
    args = ["--stream", url, "--checkpoint", str(checkpoints["rgb"])]
    _fails_with(runner, cli, args, f"cannot open stream {url}", "Connection refused")


def test_a_stream_url_with_a_password_keeps_it_out_of_the_error(runner, cli, checkpoints):
    url = f"rtsp://me:secret@127.0.0.1:{_closed_port()}/cam"
    args = ["--stream", url, "--checkpoint", str(checkpoints["rgb"])]
    _fails_with(runner, cli, args, "rtsp://me:***@127.0.0.1")
    assert redact_url("http://host/x") == "http://host/x"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="cameras are v4l2 devices")
@pytest.mark.parametrize("camera", ["9", "/dev/video9"])
def test_a_camera_that_does_not_exist_is_one_line(runner, cli, checkpoints, camera):
    if os.path.exists("/dev/video9"):
        pytest.skip("this machine has a /dev/video9")
    args = ["--stream", camera, "--checkpoint", str(checkpoints["rgb"])]
    _fails_with(runner, cli, args, "/dev/video9", "does not exist")


def test_a_stream_that_sends_no_video_is_one_line(runner, cli, checkpoints):
    args = ["--stream", "-", "--checkpoint", str(checkpoints["rgb"])]
    _fails_with(runner, cli, args, "cannot open stream stdin", "pipe a video stream", stdin=b"")
    headers_only = encode_mpegts(moving_square(10))[0][:564]  # tables, then the sender stops
    _fails_with(runner, cli, args, "stdin sent no video frames", stdin=headers_only)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["VIDEO"], "--stream reads a live source, not video files"),
        (["--plot", "p.png"], "--plot needs a video file"),
        (["--smooth", "3"], "--smooth needs a video file"),
        (["--window", "0"], "--window must be a positive number"),
        (["--max-seconds", "-1"], "--max-seconds must be a positive number"),
        (["--timeline", "t.txt"], "name a .json or .csv file"),
    ],
)
def test_stream_refuses_options_that_do_not_fit(runner, cli, checkpoints, tmp_path, extra, needle):
    if "VIDEO" in extra:
        extra = [str(evalkit.write_video(tmp_path / "v.avi", 0))]
    args = ["--stream", "-", "--checkpoint", str(checkpoints["rgb"]), *extra]
    _fails_with(runner, cli, args, needle, stdin=b"")


def test_max_seconds_needs_a_stream(runner, cli, checkpoints, tmp_path):
    video = evalkit.write_video(tmp_path / "v.avi", 0)
    args = [str(video), "--checkpoint", str(checkpoints["rgb"]), "--max-seconds", "3"]
    _fails_with(runner, cli, args, "--max-seconds needs --stream")


def test_a_file_is_not_a_live_stream(tmp_path):
    video = evalkit.write_video(tmp_path / "v.avi", 0)
    with pytest.raises(UsageError, match="a file is not a live stream"):
        resolve_live_source(str(video))
    with pytest.raises(UsageError, match="not a camera index, camera device, URL or '-'"):
        resolve_live_source("no_such_thing")


def test_sources_are_told_apart(tmp_path):
    assert resolve_live_source("-").kind == "stdin"
    assert resolve_live_source("udp://@:5000").kind == "url"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert resolve_live_source(str(fifo)).kind == "url"  # a named pipe is live
    if sys.platform.startswith("linux"):
        camera = resolve_live_source("2")
        assert (camera.kind, camera.target, camera.format) == ("camera", "/dev/video2", "v4l2")


# --- the window cutter and the stream clock ---------------------------------------------------
def _frames(times: list[float]) -> list[LiveFrame]:
    image = np.zeros((2, 2, 3), np.uint8)
    return [LiveFrame(i, t, t, image) for i, t in enumerate(times)]


def test_windows_follow_the_stride_while_the_consumer_keeps_up():
    cutter = _Windows(window=1.0, stride=0.5)
    frames = _frames([i / 10 for i in range(31)])  # 10 fps, 0.0 .. 3.0 s
    cuts = []
    for frame in frames:  # one frame at a time: the consumer is always waiting
        cutter.add([frame])
        cut = cutter.complete()
        if cut is not None:
            cuts.append(cut)
    assert [(w.start, w.end) for w, _ in cuts] == [(0, 1), (0.5, 1.5), (1, 2), (1.5, 2.5), (2, 3)]
    assert all(len(held) == 10 for _, held in cuts) and cutter.skipped == 0
    assert [f.index for f in cuts[1][1]] == list(range(5, 15))


def test_windows_jump_to_the_newest_frame_when_the_consumer_falls_behind():
    cutter = _Windows(window=1.0, stride=0.5)
    cutter.add(_frames([i / 10 for i in range(11)]))  # 0.0 .. 1.0: the first window is done
    window, _ = cutter.complete()
    assert (window.start, window.end) == (0.0, 1.0)
    cutter.add(_frames([i / 10 for i in range(11, 41)])[0:])  # 2 s more arrived while busy
    window, held = cutter.complete()
    assert window.end == pytest.approx(4.1) and held[-1].seconds == pytest.approx(4.0)
    assert window.start == pytest.approx(3.1) and len(held) == 10
    assert cutter.skipped == 21  # 1.0 .. 3.0 s: in no window
    assert cutter.complete() is None


def test_the_stream_clock_counts_from_the_first_frame_and_survives_a_jump():
    clock = _StreamClock()
    assert clock.seconds(1.4, arrived=100.0) == 0.0
    assert clock.seconds(1.44, arrived=100.04) == pytest.approx(0.04)
    assert clock.seconds(95000.0, arrived=100.08) == pytest.approx(0.08)  # a clock jump
    assert clock.seconds(95000.04, arrived=100.12) == pytest.approx(0.12)
    assert clock.seconds(None, arrived=100.2) == pytest.approx(0.2)  # no timestamp


def test_the_reader_keeps_the_newest_frames_when_nobody_takes_them():
    data, _ = encode_mpegts(moving_square(20))
    source = resolve_live_source("-", io.BytesIO(data))
    reader = FrameReader(*open_live_source(source), capacity=4, size=(32, 24)).start()
    for _ in range(1000):  # until the stream has ended (a bounded wait, not a timing)
        if reader.ended:
            break
        time.sleep(0.01)
    frames = reader.take(0)
    assert reader.ended and reader.error is None and reader.decoded == 20
    assert [f.index for f in frames] == [16, 17, 18, 19] and reader.dropped == 16
    assert frames[-1].image.shape == (24, 32, 3) and frames[-1].seconds == pytest.approx(0.76)
    assert reader.stream_now() == pytest.approx(0.76)  # a sender that stopped: its last frame
    reader.close()


def test_a_reader_with_no_frames_yet_has_no_stream_clock():
    class _Stub:
        average_rate = guessed_rate = None

    reader = FrameReader(None, _Stub(), capacity=4)
    assert reader.stream_now() is None and reader.fps == 0.0
    with pytest.raises(ValueError):
        FrameReader(None, _Stub(), capacity=0)


def test_predict_stream_refuses_a_bad_timeline_before_opening(checkpoints):
    scorer = WindowScorer.load([checkpoints["rgb"]], segments=3, crops=1)
    with pytest.raises(UsageError, match=".json or .csv"):
        predict_stream("-", scorer, StreamSettings(), timeline="t.txt")
    with pytest.raises(DataError, match="cannot open stream"):
        predict_stream("-", scorer, StreamSettings(), stdin=_EmptyPipe())


class _EmptyPipe:
    def read1(self, n: int) -> bytes:
        return b""

    read = read1
