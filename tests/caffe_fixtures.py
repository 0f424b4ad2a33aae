"""Test helpers: read the reference deploy prototxt (by path, never copied) into layer shapes."""

from __future__ import annotations

import re
from pathlib import Path

from reference import CAFFE, needs_reference

RGB_PROTOTXT = CAFFE / "tsn_bn_inception_rgb_deploy.prototxt"
FLOW_PROTOTXT = CAFFE / "tsn_bn_inception_flow_deploy.prototxt"
# For `pytestmark`: skipped without ../shared, failed in CI.
needs_prototxts = needs_reference(RGB_PROTOTXT), needs_reference(FLOW_PROTOTXT)

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


# --- a minimal protobuf writer for synthetic .caffemodel files -------------------------------

_V1_TYPE_CODES = {"Convolution": 4, "InnerProduct": 14}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes | int) -> bytes:
    key = _varint(number << 3 | wire)
    if wire == 0:
        return key + _varint(payload)
    return key + _varint(len(payload)) + payload


def encode_blob(array, legacy_dims: bool = False) -> bytes:
    """BlobProto: shape (field 7, packed dims) or legacy num/channels/height/width; packed data."""
    import numpy as np

    array = np.asarray(array, dtype="<f4")
    if legacy_dims:
        dims = [1] * (4 - array.ndim) + list(array.shape)
        head = b"".join(_field(i + 1, 0, d) for i, d in enumerate(dims))
    else:
        packed = b"".join(_varint(d) for d in array.shape)
        head = _field(7, 2, _field(1, 2, packed))
    return head + _field(5, 2, array.tobytes())


def encode_caffemodel(layers, v1: bool = False, legacy_dims: bool = False) -> bytes:
    """NetParameter bytes from [(name, type, [arrays])]; V1 layers use field 2 and enum types."""
    out = _field(1, 2, b"BN-Inception")
    for name, kind, blobs in layers:
        blob_bytes = [encode_blob(b, legacy_dims) for b in blobs]
        if v1:
            body = _field(4, 2, name.encode()) + _field(5, 0, _V1_TYPE_CODES.get(kind, 39))
            body += b"".join(_field(6, 2, b) for b in blob_bytes)
            out += _field(2, 2, body)
        else:
            body = _field(1, 2, name.encode()) + _field(2, 2, kind.encode())
            body += _field(3, 2, b"bottom") + b"".join(_field(7, 2, b) for b in blob_bytes)
            out += _field(100, 2, body)
    return out


def synthetic_layers(path: Path, seed: int = 0, num_classes: int | None = None):
    """Random blobs with the exact shapes of a deploy prototxt: [(name, type, [arrays])]."""
    import numpy as np

    rng = np.random.default_rng(seed)
    layers = []
    for layer in layer_shapes(path):
        shapes = list(layer["shapes"])
        if num_classes and layer["type"] == "InnerProduct":
            shapes = [(num_classes, shapes[0][1]), (num_classes,)]
        blobs = [rng.standard_normal(s).astype("f4") for s in shapes]
        if layer["type"] == "BN":
            blobs[3] = np.abs(blobs[3]) + 0.5  # a variance is positive
        layers.append((layer["name"], layer["type"], blobs))
    return layers
