"""Initialise a TSN backbone: ImageNet weights (torchvision or the BN-Inception .pth) or another
TSN checkpoint (`--init`), with cross-modality adaptation of the first conv."""

from __future__ import annotations

import dataclasses
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tsncli.acquire.catalog import cached_weights_path
from tsncli.errors import DataError, UsageError
from tsncli.models.backbones import get_backbone
from tsncli.models.tsn import TSN, unwrap_model

# Keys of an ImageNet classifier head: present in the file, absent from our feature extractor.
_HEAD_PREFIXES = ("fc.", "last_linear.", "classifier.")


@dataclasses.dataclass
class LoadReport:
    """What a weight load did: how many tensors loaded, which were dropped or adapted."""

    source: str
    loaded: int
    dropped: list[str]  # the source's classifier head
    adapted: list[str]  # first conv averaged over RGB and repeated to 2L/3L channels


class _Inert:
    """Stands in for a class a foreign checkpoint references (mmengine, numpy...): never runs it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def load_foreign_file(path: str | os.PathLike[str]) -> Any:
    """torch.load without running pickled code: `weights_only`, with other libraries' classes
    (e.g. MMAction2's message hub) replaced by inert stubs. DataError when unreadable."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"file {p} does not exist")
    try:
        try:
            return torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            if not zipfile.is_zipfile(p):
                raise
            names = torch.serialization.get_unsafe_globals_in_checkpoint(p)
            stubs = [(type(n.rsplit(".", 1)[-1], (_Inert,), {}), n) for n in names]
            with torch.serialization.safe_globals(stubs):
                return torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{p} is not a readable weights file ({first[:160]})") from None


def extract_state_dict(data: Any, name: str) -> dict[str, torch.Tensor]:
    """The tensors of a loaded file: plain, or under `state_dict`/`model`; `module.` stripped."""
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not data:
        raise DataError(f"{name} does not hold a state dict")
    tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if len(tensors) != len(data):
        raise DataError(f"{name} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in tensors.items()}


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state dict from a .pth file (plain or under `state_dict`/`model`), `module.` stripped."""
    return extract_state_dict(load_foreign_file(path), str(path))


def imagenet_weights_path(arch: str) -> Path:
    """The cached ImageNet weights for `arch`; DataError naming `tsn fetch weights` if absent."""
    return cached_weights_path(
        arch, f"ImageNet weights for {arch}", ", or train with --pretrained none"
    )


def load_into_backbone(
    backbone: nn.Module,
    first_conv: str,
    source: dict[str, torch.Tensor],
    name: str,
    ignore_prefixes: tuple[str, ...] = (),
) -> LoadReport:
    """Copy `source` into `backbone` by key, strictly: a missing or unknown key is a DataError.

    Keys under `ignore_prefixes` that the backbone lacks are dropped (a classifier head). The
    first conv is adapted when the source has 3 input channels and the backbone 2L or 3L.
    Tensors whose element count matches are reshaped (Caffe stores BN blobs as (1, C, 1, 1)).
    """
    target = backbone.state_dict()
    wanted = {k for k in target if not k.endswith("num_batches_tracked")}
    dropped = sorted(k for k in source if k not in target and k.startswith(ignore_prefixes))
    unknown = sorted(k for k in source if k not in target and k not in dropped)
    missing = sorted(wanted - set(source))
    if unknown or missing:
        raise DataError(
            f"{name} does not fit this backbone: {len(missing)} missing keys {missing[:6]}, "
            f"{len(unknown)} unknown keys {unknown[:6]}; is it for another architecture?"
        )
    adapted, new_state = [], {}
    conv_key = f"{first_conv}.weight"
    for key in wanted:
        value, want = source[key], target[key]
        if key == conv_key and value.shape != want.shape and value.dim() == 4:
            if value.shape[0] != want.shape[0] or value.shape[2:] != want.shape[2:]:
                raise DataError(
                    f"{name}: {key} has shape {tuple(value.shape)}, need {tuple(want.shape)}"
                )
            value = value.float().mean(dim=1, keepdim=True).expand(-1, want.shape[1], -1, -1)
            adapted.append(key)
        elif value.shape != want.shape:
            if value.numel() != want.numel():
                raise DataError(
                    f"{name}: {key} has shape {tuple(value.shape)}, need {tuple(want.shape)}"
                )
            value = value.reshape(want.shape)
        new_state[key] = value.to(want.dtype)
    backbone.load_state_dict(new_state, strict=False)
    return LoadReport(source=name, loaded=len(new_state), dropped=dropped, adapted=adapted)


def load_imagenet_weights(
    model: nn.Module, arch: str | None = None, path: str | os.PathLike[str] | None = None
) -> LoadReport:
    """Load ImageNet weights into a TSN's backbone (or a bare backbone when `arch` is given).

    `path` defaults to the cache that `tsn fetch weights ARCH` fills. torchvision archs read
    torchvision's own state dicts; bninception reads `bn_inception-9f5701afb96c8044.pth`
    (keys are the Caffe layer names with `/` -> `_`). Flow/RGB-diff first convs get the
    cross-modality init from the RGB weights.
    """
    net = unwrap_model(model)
    if isinstance(net, TSN):
        arch = arch or net.arch
        if arch != net.arch:
            raise UsageError(f"weights for {arch} cannot initialise a {net.arch} model")
        backbone = net.backbone
    elif arch is None:
        raise UsageError("load_imagenet_weights needs `arch` for a bare backbone")
    else:
        backbone = net
    spec = get_backbone(arch)
    if spec.weights is None:
        raise UsageError(f"backbone {arch!r} has no ImageNet weights; use --pretrained none")
    file = Path(path) if path is not None else imagenet_weights_path(arch)
    source = read_state_dict(file)
    return load_into_backbone(backbone, spec.first_conv, source, str(file), _HEAD_PREFIXES)


def load_backbone_from_checkpoint(
    model: TSN, ckpt: dict[str, Any], name: str = "checkpoint"
) -> LoadReport:
    """Fine-tune init (`--init`): take the backbone of another TSN checkpoint, keep our new fc.

    The source may have other classes or another modality (its first conv is then adapted
    when it has 3 input channels; otherwise the channel counts must match).
    """
    net = unwrap_model(model)
    meta = ckpt.get("meta", {})
    if meta.get("arch") != net.arch:
        raise UsageError(f"{name} is a {meta.get('arch')} model; this run uses {net.arch}")
    source = {
        k.removeprefix("backbone."): v
        for k, v in ckpt["state_dict"].items()
        if k.startswith("backbone.")
    }
    source = {k: v for k, v in source.items() if not k.endswith("num_batches_tracked")}
    return load_into_backbone(net.backbone, net.spec.first_conv, source, name)
