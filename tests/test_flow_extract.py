"""The per-video pipeline: file counts, encoding on disk, atomicity, resume, saved settings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from flow_helpers import moving_video

from tsncli.errors import UsageError
from tsncli.flow import extract as extract_module
from tsncli.flow.encoding import decode_flow
from tsncli.flow.extract import extract_video
from tsncli.flow.job import FlowConfig, VideoTask, load_flow_settings, save_flow_settings

SMALL = FlowConfig(algo="dis", size="64x48")


def _run(tmp_path, n=5, config=SMALL, name="v", **video):
    video_path = moving_video(tmp_path / "videos" / f"{name}.avi", n=n, **video)
    out = tmp_path / "out"
    result = extract_video(VideoTask(name, str(video_path), str(out), config))
    return result, out / name


def _names(folder, prefix):
    return sorted(p.name for p in folder.glob(f"{prefix}_*.jpg"))


def test_video_of_n_frames_gives_n_images_and_n_minus_one_flows(tmp_path):
    result, folder = _run(tmp_path, n=5)
    assert result.status == "done" and (result.frames, result.images, result.flows) == (5, 5, 4)
    assert _names(folder, "img") == [f"img_{k:05d}.jpg" for k in range(1, 6)]
    assert _names(folder, "flow_x") == [f"flow_x_{k:05d}.jpg" for k in range(1, 5)]
    assert _names(folder, "flow_y") == [f"flow_y_{k:05d}.jpg" for k in range(1, 5)]


def test_step_keeps_every_step_th_frame_for_images_and_flows(tmp_path):
    result, folder = _run(tmp_path, n=7, config=FlowConfig(algo="dis", size="64x48", step=2))
    assert (result.images, result.flows) == (4, 3)  # frames 1, 3, 5, 7
    assert len(_names(folder, "flow_x")) == 3


@pytest.mark.parametrize("modality,images,flows", [("rgb", 4, 0), ("flow", 0, 3)])
def test_modality_writes_only_what_was_asked(tmp_path, modality, images, flows):
    result, folder = _run(tmp_path, n=4, config=FlowConfig(algo="dis", modality=modality))
    assert (len(_names(folder, "img")), len(_names(folder, "flow_x"))) == (images, flows)
    assert (result.images, result.flows) == (images, flows)


def test_frames_are_resized_before_saving(tmp_path):
    _, folder = _run(tmp_path, n=2, config=FlowConfig(algo="dis", size="40x30"))
    assert cv2.imread(str(folder / "img_00001.jpg")).shape == (30, 40, 3)
    assert cv2.imread(str(folder / "flow_x_00001.jpg"), cv2.IMREAD_GRAYSCALE).shape == (30, 40)


def test_rightward_motion_is_written_as_flow_x_above_128(tmp_path):
    _, folder = _run(tmp_path, n=3, width=96, height=72, dx=3, config=FlowConfig(algo="dis"))
    fx = cv2.imread(str(folder / "flow_x_00001.jpg"), cv2.IMREAD_GRAYSCALE)
    fy = cv2.imread(str(folder / "flow_y_00001.jpg"), cv2.IMREAD_GRAYSCALE)
    interior = (slice(20, -20), slice(20, -20))
    assert np.median(fx[interior]) > 128
    # 96x72 is resized to 340x256, so 3 px become 3 * 340 / 96 = 10.6 px.
    assert np.median(decode_flow(fx[interior])) == pytest.approx(3 * 340 / 96, abs=0.8)
    assert abs(np.median(decode_flow(fy[interior]))) < 0.5


def test_corrupt_video_fails_with_a_reason_and_leaves_no_folder(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"\x00garbage" * 100)
    result = extract_video(VideoTask("bad", str(bad), str(tmp_path / "out"), SMALL))
    assert result.status == "failed" and "corrupt" in result.error
    assert list((tmp_path / "out").iterdir()) == []


def test_single_frame_video_fails_for_flow_instead_of_an_empty_folder(tmp_path):
    result, folder = _run(tmp_path, n=1)
    assert result.status == "failed" and "at least 2" in result.error
    assert not folder.exists()


def test_interrupt_mid_video_leaves_no_half_written_folder(tmp_path, monkeypatch):
    calls = {"n": 0}

    def exploding_flow_fn(name):
        def fn(a, b):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            return np.zeros((*a.shape, 2), np.float32)

        return fn

    monkeypatch.setattr(extract_module, "create_flow_fn", exploding_flow_fn)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, n=5)
    assert list((tmp_path / "out").iterdir()) == []


def test_worker_interrupted_by_ctrl_c_cancels_its_queued_videos(tmp_path, monkeypatch):
    def interrupting_flow_fn(name):
        def fn(a, b):
            raise KeyboardInterrupt

        return fn

    monkeypatch.setattr(extract_module, "create_flow_fn", interrupting_flow_fn)
    monkeypatch.setattr(extract_module.multiprocessing, "parent_process", lambda: object())
    monkeypatch.setattr(extract_module, "_INTERRUPTED", False)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, n=3, name="first")
    result, folder = _run(tmp_path, n=3, name="queued")
    assert result.status == "cancelled" and result.frames == 0 and not folder.exists()


def test_leftover_temp_folder_of_a_killed_run_is_removed_and_the_video_redone(tmp_path):
    out = tmp_path / "out"
    stale = out / ".v.abc123.tmp"
    stale.mkdir(parents=True)
    (stale / "img_00001.jpg").write_bytes(b"half")
    result, folder = _run(tmp_path, n=3)
    assert result.status == "done" and not stale.exists()
    assert len(_names(folder, "img")) == 3


def test_flow_settings_round_trip_through_the_frames_folder(tmp_path):
    assert load_flow_settings(tmp_path) is None
    save_flow_settings(tmp_path, FlowConfig(algo="farneback", short_side=128, bound=15))
    settings = load_flow_settings(tmp_path)
    assert settings["flow_algorithm"] == "farneback" and settings["bound"] == 15.0
    assert settings["size"] is None and settings["short_side"] == 128 and settings["step"] == 1


def test_default_size_is_tsn_340x256():
    assert FlowConfig().frame_size == (340, 256)
    assert FlowConfig().settings()["size"] == "340x256"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"size": "64x48", "short_side": 48}, "not both"),
        ({"algo": "brox"}, "use one of"),
        ({"modality": "depth"}, "rgb, flow, both"),
        ({"bound": 0}, "positive"),
        ({"step": 0}, ">= 1"),
    ],
)
def test_invalid_settings_name_the_fix(kwargs, message):
    with pytest.raises(UsageError, match=message):
        FlowConfig(**kwargs)


def test_the_shared_frame_loop_yields_exactly_the_files_tsn_flow_writes(tmp_path):
    from tsncli.flow.algorithms import create_flow_fn
    from tsncli.flow.stream import encode_jpeg, stream_flow
    from tsncli.video.decode import iter_video_frames

    result, folder = _run(tmp_path, n=5)
    frames = iter_video_frames(tmp_path / "videos" / "v.avi", size=SMALL.frame_size)
    streamed = {
        name: encode_jpeg(image)
        for step in stream_flow(frames, create_flow_fn(SMALL.algo), SMALL.bound)
        for name, image in step.images()
    }
    written = {p.name: p.read_bytes() for p in folder.glob("*.jpg")}
    assert result.status == "done" and len(written) == 5 + 2 * 4
    assert streamed == written


def test_the_shared_frame_loop_computes_only_the_wanted_flows(tmp_path):
    from tsncli.flow.stream import stream_flow

    calls = []

    def flow_fn(a, b):
        calls.append(1)
        return np.zeros((*a.shape, 2), np.float32)

    frames = [np.full((8, 8, 3), v, np.uint8) for v in range(5)]
    steps = list(stream_flow(frames, flow_fn, wanted={2, 4}))
    assert [s.index for s in steps] == [1, 2, 3, 4, 5] and len(calls) == 2
    assert [s.flow is not None for s in steps] == [False, False, True, False, True]
    assert steps[2].flow.shape == (8, 8, 2) and (steps[2].flow == 128).all()  # zero flow
    names = [name for name, _ in steps[2].images(rgb=False)]
    assert names == ["flow_x_00002.jpg", "flow_y_00002.jpg"]


# --- one wrapper for both paths: per pair (OpenCV) and batched (torch) ---

PATHS = {  # config, and the name in flow.extract that builds its flow function
    "per pair": (SMALL, "create_flow_fn"),
    "batched": (FlowConfig(algo="tvl1", impl="torch", size="64x48"), "_batch_flow_fn"),
}


def _flow_that(monkeypatch, path, flow):
    """The config of `path`, with its flow function replaced by `flow`."""
    config, builder = PATHS[path]
    monkeypatch.setattr(extract_module, builder, lambda *args: flow)
    return config


def test_the_batched_path_runs_only_for_torch_flow():
    assert PATHS["batched"][0].batched and not PATHS["per pair"][0].batched
    assert not FlowConfig(algo="tvl1", impl="torch", modality="rgb").batched  # no flow


@pytest.mark.parametrize("path", PATHS)
def test_both_paths_cancel_the_queued_videos_of_an_interrupted_worker(tmp_path, monkeypatch, path):
    def interrupting(a, b):
        raise KeyboardInterrupt

    config = _flow_that(monkeypatch, path, interrupting)
    monkeypatch.setattr(extract_module.multiprocessing, "parent_process", lambda: object())
    monkeypatch.setattr(extract_module, "_INTERRUPTED", False)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, n=3, name="first", config=config)
    assert list((tmp_path / "out").iterdir()) == []  # no half-written folder
    result, folder = _run(tmp_path, n=3, name="queued", config=config)
    assert result.status == "cancelled" and result.frames == 0 and not folder.exists()


@pytest.mark.parametrize("path", PATHS)
def test_both_paths_say_opencv_failed_when_it_did(tmp_path, monkeypatch, path):
    def failing(a, b):
        raise cv2.error("bad pair")

    result, folder = _run(tmp_path, n=3, config=_flow_that(monkeypatch, path, failing))
    assert result.status == "failed" and not folder.exists()
    assert result.error.startswith("OpenCV could not process") and "bad pair" in result.error


@pytest.mark.parametrize("path", PATHS)
def test_both_paths_refuse_flow_from_a_single_frame(tmp_path, monkeypatch, path):
    def never(a, b):
        raise AssertionError("one frame has no pair")

    result, folder = _run(tmp_path, n=1, config=_flow_that(monkeypatch, path, never))
    assert result.status == "failed" and "flow needs at least 2" in result.error
    assert not folder.exists()
