"""`tsn convert caffe`: a synthetic wire-format .caffemodel loads blob for blob, BN included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import typer
from caffe_fixtures import (
    FLOW_PROTOTXT,
    RGB_PROTOTXT,
    encode_caffemodel,
    needs_prototxts,
    synthetic_layers,
)

from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import FrameSettings
from tsncli.models.bninception import caffe_to_module_name
from tsncli.models.caffemodel import parse_caffemodel, read_caffemodel
from tsncli.models.checkpoint import create_model_from_checkpoint, load_checkpoint, read_meta
from tsncli.models.convert import convert_caffe

torch.set_num_threads(1)
pytestmark = list(needs_prototxts)


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    layers = synthetic_layers(RGB_PROTOTXT, seed=0, num_classes=4)
    path = tmp_path_factory.mktemp("caffe") / "rgb.caffemodel"
    path.write_bytes(encode_caffemodel(layers))
    return path, layers


@pytest.fixture(scope="module")
def converted_rgb(rgb_model, tmp_path_factory):
    path, layers = rgb_model
    out = tmp_path_factory.mktemp("out") / "rgb.pt"
    report = convert_caffe(path, out)
    return report, create_model_from_checkpoint(out), layers


def test_wire_reader_round_trips_shapes_and_values():
    blobs = [np.arange(24, dtype="f4").reshape(2, 3, 2, 2), np.array([1.5, -2.0], dtype="f4")]
    for v1 in (False, True):
        for legacy in (False, True):
            data = encode_caffemodel([("conv1/7x7_s2", "Convolution", blobs)], v1, legacy)
            (layer,) = parse_caffemodel(data)
            assert layer.name == "conv1/7x7_s2" and layer.type == "Convolution"
            assert np.array_equal(layer.blobs[0], blobs[0])
            assert np.array_equal(layer.blobs[1].reshape(-1), blobs[1])


def test_every_blob_lands_in_its_parameter_bn_included(converted_rgb):
    report, (model, meta), layers = converted_rgb
    assert report.modality == "rgb" and report.num_classes == 4 and report.unused == []
    state = model.state_dict()
    for name, kind, blobs in layers:
        if kind == "InnerProduct":
            keys = ["fc.weight", "fc.bias"]
        elif kind == "BN":
            keys = [
                f"backbone.{caffe_to_module_name(name)}.{s}"
                for s in ("weight", "bias", "running_mean", "running_var")
            ]
        else:
            keys = [f"backbone.{caffe_to_module_name(name)}.{s}" for s in ("weight", "bias")]
        for key, blob in zip(keys, blobs, strict=True):
            assert np.array_equal(state[key].numpy(), blob.reshape(state[key].shape)), key
    assert report.mapped == sum(len(b) for _, _, b in layers)


def test_converted_checkpoint_keeps_the_caffe_input_convention(converted_rgb):
    _, (_model, meta), _ = converted_rgb
    assert meta["input"]["channel_order"] == "bgr"
    assert meta["input"]["mean"] == [104.0, 117.0, 123.0] or tuple(meta["input"]["mean"]) == (
        104.0,
        117.0,
        123.0,
    )
    assert meta["input"]["scale"] == 1.0 and meta["input"]["flow_mean"] == 128.0
    assert meta["arch"] == "bninception" and meta["crop_size"] == 224


def test_bn_blobs_act_as_scale_shift_mean_var(converted_rgb):
    _, (model, _), layers = converted_rgb
    name, _, (scale, shift, mean, var) = next(la for la in layers if la[0] == "inception_3a/1x1_bn")
    bn = model.backbone.inception_3a_1x1_bn.eval()
    x = torch.randn(1, scale.size, 2, 2)
    c = lambda a: torch.from_numpy(a.reshape(1, -1, 1, 1))  # noqa: E731
    expected = c(scale) * (x - c(mean)) / torch.sqrt(c(var) + 1e-5) + c(shift)
    assert torch.allclose(bn(x), expected, atol=1e-4)


def test_v1_flow_model_with_legacy_dims_converts_as_flow(tmp_path):
    layers = synthetic_layers(FLOW_PROTOTXT, seed=1, num_classes=3)
    path = tmp_path / "flow.caffemodel"
    path.write_bytes(encode_caffemodel(layers, v1=True, legacy_dims=True))
    classes = tmp_path / "classInd.txt"
    classes.write_text("1 Walk\r\n2 Run\r\n3 Jump\r\n")
    report = convert_caffe(path, tmp_path / "flow.pt", classes=classes, num_segments=25)
    assert (report.modality, report.new_length) == ("flow", 5)
    ckpt = load_checkpoint(tmp_path / "flow.pt")
    assert ckpt["meta"]["class_names"] == ["Walk", "Run", "Jump"]
    assert ckpt["meta"]["num_segments"] == 25
    frames = read_meta(ckpt).frames
    assert frames == FrameSettings(size=(340, 256), flow_algorithm="tvl1", bound=20.0)
    assert ckpt["meta"]["frames"]["size"] == "340x256"  # one shape: the one parse_size reads
    conv1 = ckpt["state_dict"]["backbone.conv1_7x7_s2.weight"]
    assert torch.equal(conv1, torch.from_numpy(layers[0][2][0]))


def test_extra_blobs_are_reported_by_name(rgb_model, tmp_path):
    _, layers = rgb_model
    extra = [*layers, ("mystery/branch", "Convolution", [np.zeros((2, 2, 1, 1), "f4")])]
    path = tmp_path / "extra.caffemodel"
    path.write_bytes(encode_caffemodel(extra))
    with pytest.raises(DataError, match=r"mystery/branch\[0\].*--allow-unused"):
        convert_caffe(path, tmp_path / "x.pt")
    report = convert_caffe(path, tmp_path / "x.pt", allow_unused=True)
    assert report.unused == ["mystery/branch[0]"]


def test_missing_layer_is_reported_by_parameter(rgb_model, tmp_path):
    _, layers = rgb_model
    path = tmp_path / "short.caffemodel"
    path.write_bytes(encode_caffemodel([la for la in layers if la[0] != "inception_4c/3x3"]))
    with pytest.raises(DataError, match=r"lacks 2 parameters: backbone.inception_4c_3x3.bias"):
        convert_caffe(path, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_wrong_modality_and_class_count_are_usage_errors(rgb_model, tmp_path):
    path, _ = rgb_model
    with pytest.raises(UsageError, match="not a flow model"):
        convert_caffe(path, tmp_path / "x.pt", modality="flow")
    names = tmp_path / "names.txt"
    names.write_text("a\nb\n")
    with pytest.raises(UsageError, match="names 2 classes but the model has 4"):
        convert_caffe(path, tmp_path / "x.pt", classes=names)


def test_a_text_file_is_not_a_caffemodel(tmp_path):
    bad = tmp_path / "deploy.prototxt"
    bad.write_text(RGB_PROTOTXT.read_text()[:2000])
    with pytest.raises(DataError, match="not a valid .caffemodel|no layers with weights"):
        read_caffemodel(bad)


def _app():
    from tsncli.cli import TsnGroup
    from tsncli.commands import convert

    app = typer.Typer(cls=TsnGroup)

    @app.callback()
    def main() -> None:
        """test app"""

    convert.register(app)
    return app


def test_cli_converts_and_prints_the_checkpoint_path(runner, rgb_model, tmp_path):
    path, _ = rgb_model
    out = tmp_path / "cli.pt"
    result = runner.invoke(_app(), ["convert", "caffe", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("cli.pt") and out.exists()


def test_cli_error_is_one_line_with_exit_1(runner, tmp_path):
    result = runner.invoke(
        _app(), ["convert", "caffe", str(tmp_path / "nope.caffemodel"), "-o", "x.pt"]
    )
    assert result.exit_code == 1
    assert "error:" in result.output and "tsn fetch tsn-reference" in result.output
