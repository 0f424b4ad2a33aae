"""Read a Caffe `.caffemodel` (a protobuf NetParameter) without Caffe or the protobuf package.

Only what weight conversion needs: each layer's name, type and blobs as float32 arrays. Both
layer encodings are read: new-style `layer` (field 100) and old V1 `layers` (field 2).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from tsncli.errors import DataError

# Wire types
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# V1LayerParameter.LayerType values that matter here (caffe.proto); others keep their number.
_V1_TYPES = {4: "Convolution", 14: "InnerProduct", 6: "Dropout", 17: "Pooling", 18: "ReLU"}


@dataclasses.dataclass
class CaffeLayer:
    """One layer that carries blobs: name, type and the blobs in file order."""

    name: str
    type: str
    blobs: list[np.ndarray]


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise DataError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DataError("varint longer than 10 bytes")


def iter_fields(buf: memoryview):
    """Yield (field_number, wire_type, value) of one message; LEN values are memoryviews."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _I64:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == _I32:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise DataError(f"unsupported protobuf wire type {wire} (field {field})")
        if pos > len(buf):
            raise DataError(f"field {field} runs past the end of its message")
        yield field, wire, value


def _packed_varints(value, wire: int) -> list[int]:
    if wire == _VARINT:
        return [value]
    out, pos = [], 0
    while pos < len(value):
        number, pos = _varint(value, pos)
        out.append(number)
    return out


def _floats(value, wire: int, dtype: str) -> np.ndarray:
    # packed (LEN) or a single unpacked element (I32 / I64)
    return np.frombuffer(bytes(value), dtype=dtype)


def parse_blob(buf: memoryview) -> np.ndarray:
    """BlobProto -> float32 array shaped by `shape.dim` (or legacy num/channels/height/width)."""
    legacy = {}
    shape: list[int] = []
    chunks: list[np.ndarray] = []
    for field, wire, value in iter_fields(buf):
        if field in (1, 2, 3, 4) and wire == _VARINT:
            legacy[field] = value
        elif field == 5:  # data, float32
            chunks.append(_floats(value, wire, "<f4"))
        elif field == 8:  # double_data
            chunks.append(_floats(value, wire, "<f8").astype(np.float32))
        elif field == 7 and wire == _LEN:  # BlobShape
            for sub, sub_wire, sub_value in iter_fields(value):
                if sub == 1:
                    shape.extend(_packed_varints(sub_value, sub_wire))
    data = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if not shape and legacy:
        shape = [legacy.get(i, 1) for i in (1, 2, 3, 4)]
    if int(np.prod(shape)) != data.size:
        raise DataError(f"blob shape {shape} does not match its {data.size} values")
    return data.astype(np.float32, copy=False).reshape(shape)


def _parse_layer(buf: memoryview, v1: bool) -> CaffeLayer:
    name_field, type_field, blob_field = (4, 5, 6) if v1 else (1, 2, 7)
    name, kind, blobs = "", "", []
    for field, wire, value in iter_fields(buf):
        if field == name_field and wire == _LEN:
            name = bytes(value).decode("utf-8", "replace")
        elif field == type_field:
            if v1 and wire == _VARINT:
                kind = _V1_TYPES.get(value, f"V1:{value}")
            elif wire == _LEN:
                kind = bytes(value).decode("utf-8", "replace")
        elif field == blob_field and wire == _LEN:
            blobs.append(parse_blob(value))
    return CaffeLayer(name=name, type=kind, blobs=blobs)


def parse_caffemodel(data: bytes) -> list[CaffeLayer]:
    """All layers of a serialized NetParameter, in file order (layers without blobs included)."""
    layers = []
    for field, wire, value in iter_fields(memoryview(data)):
        if field in (2, 100) and wire == _LEN:
            layers.append(_parse_layer(value, v1=field == 2))
    return layers


def read_caffemodel(path: str | os.PathLike[str]) -> list[CaffeLayer]:
    """Read a .caffemodel file; DataError when it is not one."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"Caffe model {p} does not exist; fetch it with `tsn fetch tsn-reference`")
    try:
        layers = parse_caffemodel(p.read_bytes())
    except DataError as exc:
        raise DataError(f"{p} is not a valid .caffemodel ({exc})") from None
    if not any(layer.blobs for layer in layers):
        raise DataError(f"{p} holds no layers with weights; is it a .caffemodel (not a .prototxt)?")
    return layers
