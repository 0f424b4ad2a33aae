"""Native BN-Inception: every weighted Caffe layer of the released deploy prototxt maps 1:1."""

from __future__ import annotations

import pytest
import torch
from caffe_fixtures import FLOW_PROTOTXT, RGB_PROTOTXT, layer_shapes, needs_prototxts

from tsncli.models.bninception import BNInception, caffe_to_module_name
from tsncli.models.tsn import TSN

torch.set_num_threads(1)

pytestmark = list(needs_prototxts)


def _torch_shapes(layer):
    if layer["type"] == "BN":
        channels = layer["shapes"][0][1]
        return {s: (channels,) for s in ("weight", "bias", "running_mean", "running_var")}
    return {"weight": layer["shapes"][0], "bias": layer["shapes"][1]}


@pytest.mark.parametrize(("prototxt", "modality"), [(RGB_PROTOTXT, "rgb"), (FLOW_PROTOTXT, "flow")])
def test_every_caffe_layer_with_weights_maps_to_a_parameter_of_the_same_shape(prototxt, modality):
    layers = layer_shapes(prototxt)
    assert len(layers) > 130  # 69 convolutions, 69 BN layers, fc-action
    num_classes = next(la for la in layers if la["type"] == "InnerProduct")["shapes"][0][0]
    model = TSN(num_classes=num_classes, modality=modality, arch="bninception")
    state = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    mapped = set()
    for layer in layers:
        prefix = (
            "fc"
            if layer["name"] == "fc-action"
            else "backbone." + caffe_to_module_name(layer["name"])
        )
        for suffix, shape in _torch_shapes(layer).items():
            key = f"{prefix}.{suffix}"
            assert state.get(key) == shape, (layer["name"], key, state.get(key), shape)
            mapped.add(key)
    unmapped = {k for k in state if k not in mapped and not k.endswith("num_batches_tracked")}
    assert unmapped == set()


def test_convolution_strides_and_padding_match_the_prototxt():
    net = BNInception()
    for layer in layer_shapes(RGB_PROTOTXT):
        if layer["type"] == "Convolution":
            conv = getattr(net, caffe_to_module_name(layer["name"]))
            assert conv.stride == (layer["stride"],) * 2, layer["name"]
            assert conv.padding == (layer["pad"],) * 2, layer["name"]


def test_bninception_runs_at_224_and_at_smaller_sizes():
    net = BNInception().eval()
    with torch.no_grad():
        for size in (224, 112, 96, 57):
            assert net(torch.randn(1, 3, size, size)).shape == (1, 1024)


def test_first_bn_is_the_conv1_bn_under_partial_bn():
    model = TSN(num_classes=3, arch="bninception").train()
    assert model.backbone.conv1_7x7_s2_bn.training
    assert not model.backbone.inception_5b_pool_proj_bn.training
    assert len(model.frozen_bn_names()) == 68


def test_inception_branches_concatenate_in_caffe_order():
    from caffe_fixtures import parse_prototxt

    from tsncli.models.bninception import _BLOCKS

    net = parse_prototxt(RGB_PROTOTXT.read_text())
    concats = {la["name"][0]: la["bottom"] for la in net["layer"] if la["type"][0] == "Concat"}
    for name, c1, *_rest, proj, _stride in _BLOCKS:
        expected = [f"{name}/1x1_bn"] if c1 else []
        expected += [f"{name}/3x3_bn", f"{name}/double_3x3_2_bn"]
        expected.append(f"{name}/pool_proj_bn" if proj else f"{name}/pool")
        assert concats[f"{name}/output"] == expected
