"""Rotated (phone) videos: a display matrix of 90 degrees turns every decoded frame as ffmpeg
shows it (PyAV's reader, sparse reads, the OpenCV fallback, sizes on the turned frame), `tsn
probe` reports it, flow follows the scene, and `--ignore-rotation` keeps the stored orientation
and is recorded in the frame settings."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from flow_helpers import shifted_frames

from tsncli.data.video_source import VideoFileSource
from tsncli.frame_settings import FrameSettings, describe_mismatch, load_frame_settings
from tsncli.layout import FLOW_CONFIG_FILE
from tsncli.video.decode import iter_video_frames, probe_rotation
from tsncli.video.fallback import iter_opencv_frames, read_opencv_frames
from tsncli.video.probe import ProbeRequest, probe_file
from tsncli.video.sparse import SparseReader

W, H, N = 64, 48, 12  # stored (coded) size: landscape
BLOCK = (slice(0, 12), slice(0, 16))  # a white block in the stored frame's top-left corner


def encode_rotated(path: Path, rotation: int | None) -> Path:
    """H.264 frames of a texture moving 2 px right per frame, a white block top-left, with a
    display matrix of `rotation` degrees counter-clockwise (as a phone writes; None: none)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "10"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for image in shifted_frames(N, W, H, 2, 0, seed=3, channels=3):
            image[BLOCK] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def rotated(tmp_path_factory) -> Path:
    return encode_rotated(tmp_path_factory.mktemp("rotation") / "phone.mp4", 90)


def stored_frames(path: Path) -> list[np.ndarray]:
    """The frames as stored, from a plain PyAV decode (no rotation applied)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def white_corner(image: np.ndarray) -> str:
    """Which corner holds the white block: 'top-left', 'bottom-left', ..."""
    h, w = image.shape[:2]
    corners = {
        "top-left": image[: h // 5, : w // 5], "top-right": image[: h // 5, -w // 5 :],
        "bottom-left": image[-h // 5 :, : w // 5], "bottom-right": image[-h // 5 :, -w // 5 :],
    }  # fmt: skip
    return max(corners, key=lambda k: float(corners[k].mean()))


def test_pyav_reads_the_rotation_the_test_writes(rotated):
    with av.open(str(rotated)) as container:
        assert next(container.decode(video=0)).rotation == 90
    assert probe_rotation(rotated) == 90


def test_frames_come_out_portrait_as_ffmpeg_shows_them(rotated):
    frames = list(iter_video_frames(rotated, size=None))
    assert len(frames) == N and frames[0].shape == (W, H, 3)  # portrait: 48 wide, 64 high
    # ffmpeg (checked by hand with ffmpeg 5.1) shows np.rot90(stored): the stored top-left
    # corner ends bottom-left
    assert white_corner(frames[0]) == "bottom-left"
    for frame, stored in zip(frames, stored_frames(rotated), strict=True):
        assert np.array_equal(frame, np.rot90(stored))


def test_ignore_rotation_keeps_the_stored_orientation(rotated):
    frames = list(iter_video_frames(rotated, size=None, ignore_rotation=True))
    assert frames[0].shape == (H, W, 3) and white_corner(frames[0]) == "top-left"
    for frame, stored in zip(frames, stored_frames(rotated), strict=True):
        assert np.array_equal(frame, stored)


def test_sizes_apply_to_the_turned_frame(rotated):
    assert next(iter_video_frames(rotated, short_side=24)).shape == (32, 24, 3)
    assert next(iter_video_frames(rotated, size=(30, 40))).shape == (40, 30, 3)
    raw = next(iter_video_frames(rotated, short_side=24, ignore_rotation=True))
    assert raw.shape == (24, 32, 3)


def test_sparse_reads_and_video_lists_turn_frames_the_same_way(rotated):
    full = list(iter_video_frames(rotated, size=None))
    read = SparseReader(str(rotated)).read([0, 5, 11])
    assert all(np.array_equal(read[k], full[k]) for k in (0, 5, 11))
    raw = SparseReader(str(rotated), ignore_rotation=True).read([5])[5]
    assert np.array_equal(raw, stored_frames(rotated)[5])
    source = VideoFileSource.from_settings(FrameSettings(size=None, source="videos"))
    assert source.reader(str(rotated)).read([0])[0].shape == (W, H, 3)
    kept = VideoFileSource.from_settings(
        FrameSettings(size=None, source="videos", ignore_rotation=True)
    )
    assert kept.reader(str(rotated)).read([0])[0].shape == (H, W, 3)
    assert kept.frame_settings.ignore_rotation


def test_the_opencv_fallback_agrees_with_pyav(rotated):
    for ignore in (False, True):
        ours = list(iter_video_frames(rotated, size=None, ignore_rotation=ignore))
        theirs = list(iter_opencv_frames(rotated, ignore_rotation=ignore))
        assert [f.shape for f in theirs] == [f.shape for f in ours]
        assert white_corner(theirs[0]) == white_corner(ours[0])
        assert np.abs(theirs[3].astype(int) - ours[3]).mean() < 2  # one FFmpeg, two builds
        picked, _ = read_opencv_frames(rotated, [3], ignore_rotation=ignore)
        assert picked[3].shape == ours[3].shape


def test_an_unrotated_video_is_unchanged(tmp_path):
    plain = encode_rotated(tmp_path / "plain.mp4", None)
    frames = list(iter_video_frames(plain, size=None))
    assert frames[0].shape == (H, W, 3)
    assert all(np.array_equal(a, b) for a, b in zip(frames, stored_frames(plain), strict=True))
    assert probe_file(ProbeRequest(str(plain))).rotation == 0


@pytest.mark.parametrize("degrees", [180, -90])
def test_half_and_clockwise_turns(tmp_path, degrees):
    video = encode_rotated(tmp_path / f"r{degrees}.mp4", degrees)
    frame = next(iter_video_frames(video, size=None))
    turns = (degrees // 90) % 4
    assert np.array_equal(frame, np.rot90(stored_frames(video)[0], turns))
    assert probe_rotation(video) == turns * 90


def test_probe_reports_the_rotation(runner, cli, rotated):
    assert probe_file(ProbeRequest(str(rotated))).rotation == 90
    result = runner.invoke(cli, ["probe", str(rotated), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["videos"][0]["rotation"] == 90
    table = runner.invoke(cli, ["probe", str(rotated)])
    assert table.exit_code == 0, table.output
    assert "rotated 90 degrees" in table.output and "48x64" in table.output


def _mean_flow(folder: Path) -> tuple[float, float]:
    """Median flow (x, y) in pixels over the video's flow JPEGs (bound 20)."""
    xs = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(folder.glob("flow_x_*.jpg"))]
    ys = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(folder.glob("flow_y_*.jpg"))]
    to_px = 40.0 / 255.0
    return (float(np.median(xs)) * to_px - 20.0, float(np.median(ys)) * to_px - 20.0)


def test_flow_follows_the_scene_and_ignore_rotation_is_recorded(runner, cli, rotated, tmp_path):
    turned, raw = tmp_path / "turned", tmp_path / "raw"
    common = ["--algo", "farneback", "--size", "48x64", "--workers", "1"]
    result = runner.invoke(cli, ["flow", str(rotated), str(turned), *common])
    assert result.exit_code == 0, result.output
    # moving right in the stored frame is moving up on screen: flow y < 0, x about 0
    x, y = _mean_flow(turned / "phone")
    assert y < -1.0 and abs(x) < 0.5
    assert cv2.imread(str(turned / "phone" / "img_00001.jpg")).shape == (64, 48, 3)
    assert load_frame_settings(turned / FLOW_CONFIG_FILE).ignore_rotation is False

    common[3] = "64x48"
    result = runner.invoke(cli, ["flow", str(rotated), str(raw), *common, "--ignore-rotation"])
    assert result.exit_code == 0, result.output
    x, y = _mean_flow(raw / "phone")
    assert x > 1.0 and abs(y) < 0.5
    assert load_frame_settings(raw / FLOW_CONFIG_FILE).ignore_rotation is True


def test_frame_settings_record_ignore_rotation():
    old = FrameSettings.from_dict({"size": [340, 256], "algo": "tvl1"})  # before the field
    assert old.ignore_rotation is False
    kept = FrameSettings(ignore_rotation=True)
    assert FrameSettings.from_dict(kept.to_dict()) == kept
    assert kept.header_fields()["ignore_rotation"] == "1"
    assert "ignore_rotation" not in FrameSettings().header_fields()
    assert FrameSettings.from_dict({"ignore_rotation": "1"}).ignore_rotation is True
    # a model trained on stored-orientation frames is warned about turned ones (any modality)
    assert describe_mismatch(kept, FrameSettings(), "rgb") == ["ignore_rotation False vs True"]


def test_video_lists_record_ignore_rotation(tmp_path):
    from tsncli.lists.builder import ListsConfig

    header = ListsConfig(source="videos", ignore_rotation=True).list_header()
    assert header is not None and header["ignore_rotation"] == "1"
    assert "ignore_rotation" not in (ListsConfig(source="videos").list_header() or {})


def test_an_eval_video_list_states_its_orientation():
    from tsncli.frame_settings import resolve_frame_settings

    trained = FrameSettings(source="videos", ignore_rotation=True)
    header = {"kind": "videos", "size": "340x256"}  # a list built without --ignore-rotation
    actual = resolve_frame_settings(trained, list_header=header)
    assert actual.ignore_rotation is False
    assert describe_mismatch(trained, actual, "rgb") == ["ignore_rotation False vs True"]
    kept = resolve_frame_settings(trained, list_header={**header, "ignore_rotation": "1"})
    assert describe_mismatch(trained, kept, "rgb") == []


def test_predict_warns_when_ignore_rotation_differs_from_training(runner, cli, rotated, tmp_path):
    import evalkit

    ckpt = evalkit.make_checkpoint(tmp_path / "rgb.pt", "rgb", seed=1)
    args = ["predict", str(rotated), "--checkpoint", str(ckpt), "--segments", "2", "--crops", "1"]
    plain = runner.invoke(cli, args)
    assert plain.exit_code == 0, plain.output
    assert "ignore_rotation" not in plain.stderr
    kept = runner.invoke(cli, [*args, "--ignore-rotation"])
    assert kept.exit_code == 0, kept.output
    assert "ignore_rotation True vs False" in " ".join(kept.stderr.split())
