"""Initialise a TSN backbone: ImageNet weights (torchvision or the BN-Inception .pth), a released
TSN (`--pretrained kinetics400`) or another TSN checkpoint (`--init`), with cross-modality
adaptation of the first conv; and what `--pretrained` names resolve to."""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tsncli.acquire.catalog import cached_weights_path, fetch_weights_command, released_tsn_path
from tsncli.errors import DataError, UsageError
from tsncli.modality import Modality, check_modality, reads_flow
from tsncli.models.backbones import get_backbone
from tsncli.models.checkpoint import FORMAT, load_checkpoint
from tsncli.models.normalize import resolve_convention
from tsncli.models.tsn import TSN, unwrap_model
from tsncli.specs.pretrained import find_pretrained, pretrained_for, pretrained_sources

log = logging.getLogger("tsncli.train")

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
        return _load_with_stubs(p)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, IndexError) as exc:
        # IndexError: the weights-only unpickler on text such as an HTML error page
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{p} is not a readable weights file ({first[:160]})") from None


_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def _load_with_stubs(p: Path) -> Any:
    """torch.load(weights_only) with every foreign global replaced by an inert stub: all at once
    from a zip file's index, one refusal at a time from a legacy (torch < 1.6) file such as
    MMAction2's 2020 releases."""
    stubs: list[tuple[type, str]] = []
    while True:
        try:
            with torch.serialization.safe_globals(stubs):
                return torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if zipfile.is_zipfile(p):
                names = torch.serialization.get_unsafe_globals_in_checkpoint(p)
            else:
                match = _UNSUPPORTED_GLOBAL.search(str(exc))
                names = [match.group(1)] if match else []
            known = {name for _, name in stubs}
            new = [n for n in names if n not in known]
            if not new:  # nothing left to stub: the file itself is unreadable
                raise
            stubs += [(type(n.rsplit(".", 1)[-1], (_Inert,), {}), n) for n in new]


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
    file = Path(path) if path is not None else None
    return _load_imagenet_state(model, arch, file, None)


def _load_imagenet_state(
    model: nn.Module, arch: str | None, file: Path | None, data: Any
) -> LoadReport:
    """`load_imagenet_weights`, with the file's contents `data` when already read."""
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
    file = file if file is not None else imagenet_weights_path(arch)
    source = extract_state_dict(load_foreign_file(file) if data is None else data, str(file))
    return load_into_backbone(backbone, spec.first_conv, source, str(file), _HEAD_PREFIXES)


def load_pretrained_weights(model: TSN, path: str | os.PathLike[str]) -> LoadReport:
    """`--pretrained`'s file into `model`'s backbone: a tsn checkpoint (a released TSN that
    `tsn fetch weights` converted, or one of yours) gives its backbone and the fc stays new, as
    `--init` does; any other weights file is read as ImageNet weights."""
    data = load_foreign_file(path)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return load_backbone_from_checkpoint(model, load_checkpoint(path), name=str(path))
    return _load_imagenet_state(model, None, Path(path), data)


def load_backbone_from_checkpoint(
    model: TSN, ckpt: dict[str, Any], name: str = "checkpoint"
) -> LoadReport:
    """Fine-tune init (`--init`, `--pretrained kinetics400`): take the backbone of another TSN
    checkpoint, keep our new fc.

    The source may have other classes or another modality (its first conv is then adapted
    when it has 3 input channels; otherwise the channel counts must match). When the source
    was trained on the same modality with another input std (MMAction2's flow: (x - 128) / 128;
    ours for torchvision backbones: (x - 128) / 16), the first conv is rescaled so it computes
    what it computed before on the run's input.
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
    conv_key = f"{net.spec.first_conv}.weight"
    factors = _input_rescale(meta, net)
    if factors is not None and conv_key in source:
        weight = source[conv_key]  # (out, C*L, kh, kw), C channels per frame
        repeat = weight.shape[1] // factors.numel()
        if repeat * factors.numel() == weight.shape[1]:
            scale = factors.repeat(repeat).view(1, -1, 1, 1).to(weight.dtype)
            source[conv_key] = weight * scale
    return load_into_backbone(net.backbone, net.spec.first_conv, source, name)


def _input_rescale(meta: dict[str, Any], net: TSN) -> torch.Tensor | None:
    """Per-channel factors (one frame's channels) that carry a first conv trained on the
    source's input scale over to the run's, or None when the two are the same or differ in
    more than their std (another mean or colour order is left to fine-tuning)."""
    modality = check_modality(net.modality)
    if not meta.get("input") or meta.get("modality") != modality.value:
        return None
    if modality not in (Modality.RGB, Modality.FLOW):  # rgb-diff's first conv sees differences
        return None
    src = resolve_convention(meta["input"])
    dst = resolve_convention(net.spec.convention)
    if reads_flow(net.modality):
        src_mean, dst_mean = [src.flow_mean], [dst.flow_mean]
        src_std, dst_std = [src.flow_std], [dst.flow_std]
    else:
        if src.channel_order != dst.channel_order:
            return None
        src_mean, dst_mean = [m * src.scale for m in src.mean], [m * dst.scale for m in dst.mean]
        src_std, dst_std = [v * src.scale for v in src.std], [v * dst.scale for v in dst.std]
    if not torch.allclose(torch.tensor(src_mean), torch.tensor(dst_mean), atol=1e-3):
        return None
    factors = torch.tensor(dst_std, dtype=torch.float64) / torch.tensor(src_std)
    return None if torch.allclose(factors, torch.ones_like(factors)) else factors


def pretrained_choices() -> list[str]:
    """What `--pretrained` takes by name: imagenet, the released sources, none."""
    return ["imagenet", *pretrained_sources(), "none"]


def resolve_pretrained_weights(choice: str | None, arch: str, modality: str) -> str | None:
    """The file `--pretrained CHOICE` loads into an `arch` `modality` run; None for random init.

    imagenet: the cached ImageNet weights (DataError naming `tsn fetch weights ARCH`). A released
    source (kinetics400): the checkpoint `tsn fetch weights NAME` converted; when it is not in
    the cache, or none was released for this arch and modality, the ImageNet weights and a
    one-line warning that names the command or the released ones. none: None.
    Anything else is a weights file (ImageNet-style state dict or tsn checkpoint).
    """
    if choice in ("none", "", None):
        return None
    if choice == "imagenet":
        if get_backbone(arch).weights is None:
            raise UsageError(f"{arch} has no ImageNet weights; use --pretrained none")
        return str(imagenet_weights_path(arch))  # error names `tsn fetch weights ARCH`
    if choice in pretrained_sources():
        return _released_or_imagenet(choice, arch, modality)
    if not Path(choice).is_file():
        names = ", ".join(pretrained_choices())
        raise UsageError(f"--pretrained {choice}: no such file; use {names} or a weights file")
    return str(choice)


def _released_or_imagenet(source: str, arch: str, modality: str) -> str | None:
    """The converted released TSN for the run, else ImageNet weights and one warning that says
    why (not fetched: the command that fetches it; none released: the ones that are)."""
    spec = find_pretrained(source, arch, modality)
    if spec is None:
        have = ", ".join(f"{s.arch} {s.modality}" for s in pretrained_for(source))
        log.warning(
            "there is no %s TSN for %s %s (there is for %s): starting from ImageNet weights "
            "instead",
            source,
            arch,
            modality,
            have,
        )
        return resolve_pretrained_weights("imagenet", arch, modality)
    path = released_tsn_path(spec.name)
    if path.is_file():
        return str(path)
    log.warning(
        "%s TSN weights for %s %s are not in the cache (%s): starting from ImageNet weights "
        "instead; run `%s` to start from %s",
        source,
        arch,
        modality,
        path,
        fetch_weights_command(spec.name),
        source,
    )
    return resolve_pretrained_weights("imagenet", arch, modality)
