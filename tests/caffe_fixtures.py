"""Test helpers: read the reference deploy prototxt (by path, never copied) into layer shapes."""

from __future__ import annotations

import re
from pathlib import Path

REFERENCE = Path("/work/shared/reference/caffe")
RGB_PROTOTXT = REFERENCE / "tsn_bn_inception_rgb_deploy.prototxt"
FLOW_PROTOTXT = REFERENCE / "tsn_bn_inception_flow_deploy.prototxt"

_TOKEN = re.compile(r'"[^"]*"|[{}:]|[^\s{}:"]+')


def parse_prototxt(text: str) -> dict:
    """Protobuf text format -> nested dict; every key maps to a list of values."""
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    tokens = _TOKEN.findall(text)
    pos = 0

    def block() -> dict:
        nonlocal pos
        out: dict = {}
        while pos < len(tokens) and tokens[pos] != "}":
            key = tokens[pos]
            pos += 1
            if tokens[pos] == ":":
                pos += 1
                value = tokens[pos].strip('"')
                pos += 1
            else:
                assert tokens[pos] == "{", key
                pos += 1
                value = block()
                assert tokens[pos] == "}"
                pos += 1
            out.setdefault(key, []).append(value)
        return out

    return block()


def layer_shapes(path: Path) -> list[dict]:
    """Each layer with weights: name, type, blob shapes as Caffe stores them, stride, pad."""
    net = parse_prototxt(path.read_text())
    channels = {"data": int(net["input_dim"][1])}
    layers = []
    for layer in net["layer"]:
        name, kind = layer["name"][0], layer["type"][0]
        bottoms, top = layer.get("bottom", []), layer.get("top", [None])[0]
        cin = channels.get(bottoms[0]) if bottoms else None
        if kind == "Convolution":
            param = layer["convolution_param"][0]
            out, k = int(param["num_output"][0]), int(param["kernel_size"][0])
            layers.append(
                {
                    "name": name,
                    "type": kind,
                    "shapes": [(out, cin, k, k), (out,)],
                    "stride": int(param.get("stride", [1])[0]),
                    "pad": int(param.get("pad", [0])[0]),
                }
            )
            channels[top] = out
        elif kind == "BN":
            layers.append({"name": name, "type": kind, "shapes": [(1, cin, 1, 1)] * 4})
            channels[top] = cin
        elif kind == "InnerProduct":
            out = int(layer["inner_product_param"][0]["num_output"][0])
            layers.append({"name": name, "type": kind, "shapes": [(out, cin), (out,)]})
            channels[top] = out
        elif kind == "Concat":
            channels[top] = sum(channels[b] for b in bottoms)
        else:
            channels[top] = cin
    return layers
