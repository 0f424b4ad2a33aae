"""FrameSettings: one typed record of how frames were made, read back from every shape any tsn
version wrote; and the bug it fixes: `tsn predict` and `tsn eval` on a `tsn convert caffe` model."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from caffe_fixtures import RGB_PROTOTXT, encode_caffemodel, needs_prototxts, synthetic_layers
from video_helpers import make_video

from tsncli.errors import DataError, UsageError
from tsncli.flow.job import FlowConfig, load_flow_settings, save_flow_settings
from tsncli.frame_settings import (
    FrameSettings,
    describe_mismatch,
    load_frame_settings,
    resolve_frame_settings,
    save_frame_settings,
)
from tsncli.layout import FLOW_CONFIG_FILE
from tsncli.lists.builder import ListsConfig

TSN = FrameSettings(size=(340, 256), step=1, flow_algorithm="tvl1", bound=20.0, source="frames")


def test_the_defaults_are_the_frames_tsn_was_trained_on():
    assert FrameSettings() == TSN


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_settings_round_trip_through_yaml_and_json(tmp_path, suffix):
    settings = FrameSettings(None, 128, 2, "farneback", "torch", 15.0, "videos")
    path = save_frame_settings(tmp_path / f"s{suffix}", settings, {"note": "kept beside"})
    assert load_frame_settings(path) == settings
    assert FrameSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


def test_to_dict_writes_the_size_as_one_string():
    assert TSN.to_dict()["size"] == "340x256"


@pytest.mark.parametrize(
    "legacy",
    [
        {"algo": "tvl1", "bound": 20, "size": [340, 256]},  # tsn convert's meta["flow"]
        {"algo": "tvl1", "bound": 20, "size": (340, 256)},
        {"algo": "tvl1", "modality": "both", "size": "340x256", "short_side": None, "step": 1},
        {},  # nothing recorded but a mapping: TSN's defaults
    ],
)
def test_every_legacy_shape_reads_as_the_tsn_frames(legacy):
    assert FrameSettings.from_dict(legacy) == TSN


def test_an_old_video_source_record_keeps_its_on_the_fly_flow():
    old = {"source": "videos", "flow_on_the_fly": "dis", "algo": "dis", "bound": 20.0}
    old |= {"size": None, "short_side": 128, "step": 1}
    settings = FrameSettings.from_dict(old)
    assert (settings.size, settings.short_side, settings.flow_algorithm) == (None, 128, "dis")
    assert settings.source == "videos"


def test_an_old_flow_config_yaml_still_loads(tmp_path):
    (tmp_path / FLOW_CONFIG_FILE).write_text(
        "algo: farneback\nmodality: both\nsize: 320x240\nshort_side: null\nbound: 15.0\n"
        "step: 2\nlayout: 'dense_flow: img_%05d.jpg'\ntsn_version: 0.3.0\n"
    )
    expected = FrameSettings((320, 240), None, 2, "farneback", bound=15.0)
    assert load_frame_settings(tmp_path / FLOW_CONFIG_FILE) == expected
    assert load_flow_settings(tmp_path) == {**expected.to_dict(), "modality": "both"}


def test_tsn_flow_writes_the_record_it_describes(tmp_path):
    config = FlowConfig(algo="dis", short_side=96, bound=10, step=3)
    save_flow_settings(tmp_path, config)
    assert load_frame_settings(tmp_path / FLOW_CONFIG_FILE) == config.frame_settings
    assert config.frame_settings == FrameSettings(None, 96, 3, "dis", bound=10.0)


def test_a_broken_settings_file_names_the_fix(tmp_path):
    (tmp_path / "s.yaml").write_text("size: 340\n")
    with pytest.raises(DataError, match="rerun `tsn flow`"):
        load_frame_settings(tmp_path / "s.yaml")


@pytest.mark.parametrize(
    "kwargs", [{"size": (340, 256), "short_side": 128}, {"step": 0}, {"source": "web"}]
)
def test_impossible_settings_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        FrameSettings(**kwargs)


def test_video_list_headers_carry_the_frame_size(tmp_path):
    header = ListsConfig(dataset="ucf101", source="videos", short_side=128).list_header()
    assert header["short_side"] == "128" and "size" not in header
    assert FrameSettings.from_dict(header) == FrameSettings(None, 128, source="videos")


def test_resolve_takes_each_field_from_the_latest_layer_that_states_it():
    trained = FrameSettings(flow_algorithm="dis", bound=15.0, source="videos")
    header = {"kind": "videos", "index": "x.json", "short_side": "128"}
    resolved = resolve_frame_settings(trained, list_header=header, overrides={"step": 2})
    assert resolved == FrameSettings(None, 128, 2, "dis", bound=15.0, source="videos")
    assert resolve_frame_settings() == TSN


def test_mismatch_compares_like_with_like():
    legacy_converted = FrameSettings.from_dict({"algo": "tvl1", "bound": 20, "size": [340, 256]})
    from_tsn_flow = FlowConfig().frame_settings
    assert describe_mismatch(legacy_converted, from_tsn_flow) == []
    other = FrameSettings(size=(320, 240), flow_algorithm="dis")
    assert describe_mismatch(TSN, other) == [
        "size '320x240' vs '340x256'",
        "flow_algorithm 'dis' vs 'tvl1'",
    ]
    assert describe_mismatch(TSN, other, modality="rgb") == ["size '320x240' vs '340x256'"]
    assert describe_mismatch(None, other) == []


# --- the bug: a converted Caffe model crashed `tsn predict` and made `tsn eval` warn ---------


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """`tsn convert caffe` on a synthetic RGB BN-Inception caffemodel with 3 named classes
    (tests using it carry `needs_prototxts`: skipped without ../shared, failed in CI)."""
    from typer.testing import CliRunner

    from tsncli.cli import app

    root = tmp_path_factory.mktemp("caffe")
    model = root / "rgb.caffemodel"
    layers = synthetic_layers(RGB_PROTOTXT, seed=0, num_classes=3)
    for _name, kind, blobs in layers:  # He-like scale so 100 random layers stay finite
        if kind in ("Convolution", "InnerProduct"):
            blobs[0] /= np.sqrt(blobs[0][0].size)
    model.write_bytes(encode_caffemodel(layers))
    (root / "classInd.txt").write_text("1 Walk\n2 Run\n3 Jump\n")
    args = ["convert", "caffe", str(model), "-o", str(root / "converted.pt")]
    result = CliRunner().invoke(app, [*args, "--classes", str(root / "classInd.txt")])
    assert result.exit_code == 0, result.output
    return root / "converted.pt"


@needs_prototxts[0]
def test_predict_on_a_video_with_a_converted_caffe_model_prints_a_class(
    runner, cli, converted, tmp_path
):
    video = make_video(tmp_path, "clip", n=6, size=(64, 48))
    args = ["predict", str(video), "--checkpoint", str(converted), "--segments", "1"]
    result = runner.invoke(cli, [*args, "--crops", "1", "--top-k", "1", "--json"])
    assert result.exit_code == 0, result.output
    (prediction,) = json.loads(result.stdout)["videos"]
    assert prediction["top"][0]["class"] in ("Walk", "Run", "Jump")


def _frames_folder(root, config: FlowConfig):
    video = root / "frames" / "clip"
    video.mkdir(parents=True)
    for k in (1, 2, 3):
        cv2.imwrite(str(video / f"img_{k:05d}.jpg"), np.full((256, 340, 3), 40 * k, np.uint8))
    save_flow_settings(root / "frames", config)
    (root / "list.txt").write_text(f"{video} 3 0\n")
    return root / "list.txt"


@needs_prototxts[0]
@pytest.mark.parametrize("size,warns", [(None, False), ("320x240", True)])
def test_eval_warns_about_frame_settings_only_when_they_differ(
    runner, cli, converted, tmp_path, size, warns
):
    list_file = _frames_folder(tmp_path, FlowConfig(size=size))
    args = ["eval", str(converted), "--list", str(list_file), "--save-scores"]
    result = runner.invoke(cli, [*args, str(tmp_path / "s.npz"), "--segments", "1", "--crops", "1"])
    assert result.exit_code == 0, result.output
    stderr = " ".join(result.stderr.split())  # Rich wraps the warning
    assert ("other settings than the model was trained on" in stderr) is warns
