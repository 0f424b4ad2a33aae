"""Convert released models into tsn checkpoints: Caffe TSN, MMAction2 TSN, tsn-pytorch; and the
released TSNs of `tsncli.specs.pretrained` as `tsn fetch weights` brings them.

Every source tensor must land in a model parameter and every parameter must be filled; what is
left over on either side is reported by name (an error unless the caller allows unused blobs).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tsncli.acquire.weights import converted_checkpoint_path, released_tsn
from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import FrameSettings
from tsncli.modality import Modality, channels_per_frame, check_modality
from tsncli.models.backbones import get_backbone
from tsncli.models.bninception import caffe_to_module_name
from tsncli.models.caffemodel import read_caffemodel
from tsncli.models.checkpoint import save_checkpoint
from tsncli.models.pretrained import extract_state_dict, load_foreign_file
from tsncli.models.tsn import TSN, create_tsn
from tsncli.specs.backbones import CONVENTIONS
from tsncli.textio import read_text_lines

# The frames the released TSN models were trained on (dense_flow, TSN-FACTS.md).
TSN_FLOW = FrameSettings(
    size=(340, 256), step=1, flow_algorithm="tvl1", bound=20.0, source="frames"
)


@dataclasses.dataclass
class ConversionReport:
    """The result of a conversion, for the command to print."""

    source: str
    output: Path
    arch: str
    modality: Modality
    num_classes: int
    new_length: int
    mapped: int  # tensors copied
    unused: list[str]  # source blobs/keys that no parameter took (allowed with allow_unused)


def read_class_names(path: str | os.PathLike[str] | None, num_classes: int) -> list[str]:
    """Class names from `<index> <name>` lines (0- or 1-based, e.g. UCF's classInd.txt) or one
    name per line; numbers 0..K-1 when no file is given. The count must match the model."""
    if path is None:
        return [str(i) for i in range(num_classes)]
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"classes file {p} does not exist")
    lines = [ln.strip() for ln in read_text_lines(p, "classes file") if ln.strip()]
    pairs = [re.match(r"^(\d+)\s+(.+)$", ln) for ln in lines]
    if lines and all(pairs):
        by_index = {int(m.group(1)): m.group(2).strip() for m in pairs}
        start = min(by_index)
        if sorted(by_index) != list(range(start, start + len(by_index))) or start > 1:
            raise DataError(f"{p}: class indices must run 0..K-1 or 1..K without gaps")
        names = [by_index[i] for i in range(start, start + len(by_index))]
    else:
        names = lines
    if len(names) != num_classes:
        raise UsageError(f"{p} names {len(names)} classes but the model has {num_classes}")
    return names


def infer_modality(in_channels: int, modality: str | None) -> tuple[Modality, int]:
    """(modality, new_length) from the first conv's input channels, checking a given modality."""
    if modality is None:
        if in_channels == 3:
            modality = Modality.RGB
        elif in_channels % 2 == 0 and in_channels % 3:
            modality = Modality.FLOW
        elif in_channels % 3 == 0 and in_channels % 2:
            modality = Modality.RGBDIFF
        else:
            raise UsageError(f"conv1 takes {in_channels} channels; pass --modality flow or rgbdiff")
    modality = check_modality(modality)
    per_frame = channels_per_frame(modality)
    if in_channels % per_frame or (modality is Modality.RGB and in_channels != 3):
        raise UsageError(
            f"conv1 takes {in_channels} channels, which is not a {modality} model; "
            "pass the right --modality (rgb = 3, flow = 2L, rgbdiff = 3L)"
        )
    return modality, in_channels // per_frame


def _fill(model: TSN, tensors: dict[str, torch.Tensor], where: str) -> int:
    """Copy tensors into the model by name, reshaping equal-sized ones; all must be filled."""
    state = model.state_dict()
    wanted = {k for k in state if not k.endswith("num_batches_tracked")}
    missing = sorted(wanted - set(tensors))
    if missing:
        raise DataError(f"{where} lacks {len(missing)} parameters: {', '.join(missing[:8])}")
    new = {}
    for key in wanted:
        value, want = tensors[key], state[key]
        if value.numel() != want.numel():
            raise DataError(
                f"{where}: {key} has shape {tuple(value.shape)}, need {tuple(want.shape)}"
            )
        new[key] = value.reshape(want.shape).to(want.dtype)
    model.load_state_dict(new, strict=False)
    return len(new)


def _check_unused(unused: list[str], allow_unused: bool, where: str) -> None:
    if unused and not allow_unused:
        raise DataError(
            f"{where} has {len(unused)} tensors no parameter takes: {', '.join(unused[:8])}; "
            "check --arch, or pass --allow-unused to drop them"
        )


def caffe_tensors(
    layers: list[Any], model_keys: set[str]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map Caffe layers onto TSN keys: conv [weight, bias]; BN [scale, shift, mean, var];
    `fc-action` (or the one InnerProduct) -> fc. Returns (tensors, unused blob names)."""
    tensors: dict[str, torch.Tensor] = {}
    unused: list[str] = []
    for layer in layers:
        if not layer.blobs:
            continue
        module = caffe_to_module_name(layer.name)
        prefix = "fc" if layer.type == "InnerProduct" else f"backbone.{module}"
        if len(layer.blobs) == 4:
            suffixes = ("weight", "bias", "running_mean", "running_var")
        else:
            suffixes = ("weight", "bias")[: len(layer.blobs)]
        keys = [f"{prefix}.{s}" for s in suffixes]
        if len(layer.blobs) > 4 or not all(k in model_keys for k in keys):
            unused += [f"{layer.name}[{i}]" for i in range(len(layer.blobs))]
            continue
        for key, blob in zip(keys, layer.blobs, strict=True):
            tensors[key] = torch.from_numpy(np.ascontiguousarray(blob))
    return tensors, unused


def convert_caffe(
    model_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    modality: str | None = None,
    classes: str | os.PathLike[str] | None = None,
    num_segments: int = 3,
    allow_unused: bool = False,
) -> ConversionReport:
    """A released TSN BN-Inception .caffemodel -> tsn checkpoint (BGR 0..255, means 104/117/123)."""
    where = str(model_path)
    layers = read_caffemodel(model_path)
    conv1 = next((la for la in layers if la.name == "conv1/7x7_s2" and la.blobs), None)
    fcs = [la for la in layers if la.type == "InnerProduct" and la.blobs]
    if conv1 is None or len(fcs) != 1:
        raise DataError(f"{where} is not a TSN BN-Inception model (need conv1/7x7_s2 and one fc)")
    if conv1.blobs[0].ndim != 4:
        raise DataError(f"{where}: conv1/7x7_s2 weights are not 4-D ({conv1.blobs[0].shape})")
    modality, new_length = infer_modality(conv1.blobs[0].shape[1], modality)
    num_classes = int(fcs[0].blobs[-1].size)
    names = read_class_names(classes, num_classes)
    model = create_tsn("bninception", num_classes, modality, num_segments, new_length)
    tensors, unused = caffe_tensors(layers, set(model.state_dict()))
    _check_unused(unused, allow_unused, where)
    mapped = _fill(model, tensors, where)
    meta = {
        "class_names": names,
        "input": CONVENTIONS["caffe_bgr255"].to_dict(),
        "frames": TSN_FLOW.to_dict(),
        "crop_size": 224,
        "config": {"source": "caffe", "source_file": Path(model_path).name},
    }
    out = save_checkpoint(output, model, meta)
    return ConversionReport(
        where, out, "bninception", modality, num_classes, new_length, mapped, unused
    )


def mmaction_key(key: str) -> str | None:
    """MMAction2 TSN ResNet key -> tsn key (None: not a model weight we know)."""
    if key.startswith("cls_head.fc_cls."):
        return "fc." + key.removeprefix("cls_head.fc_cls.")
    if not key.startswith("backbone."):
        return None
    k = key.removeprefix("backbone.")
    k = re.sub(r"^conv1\.conv\.", "conv1.", k)
    k = re.sub(r"^conv1\.bn\.", "bn1.", k)
    k = re.sub(r"\.conv(\d)\.conv\.", r".conv\1.", k)
    k = re.sub(r"\.conv(\d)\.bn\.", r".bn\1.", k)
    k = k.replace(".downsample.conv.", ".downsample.0.").replace(
        ".downsample.bn.", ".downsample.1."
    )
    return "backbone." + k


def tsn_pytorch_key(key: str) -> str | None:
    """tsn-pytorch key (after `module.`) -> tsn key."""
    if key.startswith("new_fc."):
        return "fc." + key.removeprefix("new_fc.")
    if key.startswith("base_model."):
        return "backbone." + key.removeprefix("base_model.")
    return None


_PORT_ARCHS = {"BNInception": "bninception"}
_IGNORED = ("data_preprocessor.",)  # MMAction2 keeps its input mean/std here, not weights


def convert_checkpoint(
    kind: str,
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    arch: str | None = None,
    modality: str | None = None,
    classes: str | os.PathLike[str] | None = None,
    num_segments: int = 3,
) -> ConversionReport:
    """An MMAction2 (`mmaction`) or tsn-pytorch (`tsn-pytorch`) checkpoint -> a tsn checkpoint.

    Any source key left unmapped is an error that lists it.
    """
    if kind not in ("mmaction", "tsn-pytorch"):
        raise UsageError(f"unknown checkpoint kind {kind!r}; use mmaction or tsn-pytorch")
    where = str(path)
    raw = load_foreign_file(path)
    source = extract_state_dict(raw, where)
    if arch is None and kind == "tsn-pytorch" and isinstance(raw, dict):
        arch = _PORT_ARCHS.get(str(raw.get("arch")), raw.get("arch"))
    if arch is None:
        raise UsageError("name the backbone with --arch (e.g. resnet50, bninception)")
    rename = mmaction_key if kind == "mmaction" else tsn_pytorch_key
    tensors, origin, unused = {}, {}, []
    for key, value in source.items():
        new = rename(key)
        if new is None or new.endswith("num_batches_tracked"):
            if new is None and not key.startswith(_IGNORED):
                unused.append(key)
            continue
        tensors[new], origin[new] = value, key
    if "fc.weight" not in tensors and "backbone.fc.weight" in tensors:  # port with dropout 0
        for suffix in ("weight", "bias"):
            tensors[f"fc.{suffix}"] = tensors.pop(f"backbone.fc.{suffix}")
            origin[f"fc.{suffix}"] = origin[f"backbone.fc.{suffix}"]
    conv_key = f"backbone.{get_backbone(arch).first_conv}.weight"
    if conv_key not in tensors or "fc.weight" not in tensors:
        raise DataError(f"{where} has no {conv_key} or classifier; is it a {kind} {arch} TSN?")
    modality, new_length = infer_modality(tensors[conv_key].shape[1], modality)
    num_classes = tensors["fc.weight"].shape[0]
    model = create_tsn(arch, num_classes, modality, num_segments, new_length)
    model_keys = set(model.state_dict())
    unused += sorted(origin[k] for k in tensors if k not in model_keys)
    _check_unused(unused, False, where)
    mapped = _fill(model, tensors, where)
    meta = {
        "class_names": read_class_names(classes, num_classes),
        "input": _source_convention(kind, model.spec.convention),
        "crop_size": 224,
        "config": {"source": kind, "source_file": Path(path).name},
    }
    out = save_checkpoint(output, model, meta)
    return ConversionReport(where, out, arch, modality, num_classes, new_length, mapped, [])


def _source_convention(kind: str, convention: str) -> dict[str, Any]:
    """The input normalisation the source framework trained with."""
    base = CONVENTIONS[convention].to_dict()
    if kind == "mmaction":  # flow: mean 128, std 128 on 0..255 (MMAction2 TSN flow configs)
        return {**base, "name": "mmaction_rgb", "flow_mean": 128.0, "flow_std": 128.0}
    if convention == "caffe_bgr255":  # the port's BN-Inception means
        return {**base, "name": "tsn_pytorch_bgr255", "mean": [104.0, 117.0, 128.0]}
    # the port's torchvision backbones: flow (x/255 - 0.5) / mean(ImageNet std)
    return {**base, "name": "tsn_pytorch_rgb01", "flow_mean": 127.5, "flow_std": 0.226 * 255}


def convert_on_arrival(entry: str, download: Path, force: bool = False) -> Path:
    """The file a fetched catalog `entry` leaves for its users. A released TSN's download
    (`tsncli.specs.pretrained`) is converted with its `tsn convert` kind to a tsn checkpoint
    beside it (written atomically, once; again with `force`) and the download is kept, so a
    second fetch verifies it instead of downloading again. Any other entry's file is itself."""
    spec = released_tsn(entry)
    if spec is None:
        return download
    output = converted_checkpoint_path(download)
    if output.is_file() and not force:
        return output
    convert_checkpoint(spec.converter, download, output, arch=spec.arch, modality=spec.modality)
    return output
