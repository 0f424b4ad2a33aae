"""`tsn explain`'s core: Grad-CAM (Selvaraju et al., 2017) per segment of a TSN checkpoint on
one video: the target layer (the backbone registry's `cam_layer`, or a dotted name), one map
per segment for the fused prediction or a named class, and the RGB crop each map covers.

The segment-aware part: the backbone sees the segments as a batch (B*S, C, H, W) and the
consensus averages their logits, so the gradient of the fused class score reaches each
segment's own feature map; channel weights are taken per segment from that segment's gradient
alone, and every segment gets its own map.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tsncli.data.frames import stack_frames
from tsncli.data.transforms import test_clip
from tsncli.engine.eval.inference import load_scorer
from tsncli.engine.predict import load_test_input
from tsncli.errors import DataError, UsageError
from tsncli.fsutil import atomic_path
from tsncli.modality import Modality, reads_flow
from tsncli.models.tsn import TSN
from tsncli.video.decode import probe_video

DEFAULT_SEGMENTS = 8  # maps shown; eval and predict test 25, which makes a long overlay
PART_SEPARATOR = "+"  # a layer made of modules whose outputs are concatenated (BN-Inception)


@dataclass(frozen=True)
class CamLayer:
    """The module(s) Grad-CAM reads: one, or several whose outputs the network concatenates
    along channels (their maps add up to the map of the concatenation)."""

    name: str
    modules: tuple[nn.Module, ...]


@dataclass(frozen=True)
class CamResult:
    """Grad-CAM of one clip: per-segment maps and the scores they explain."""

    maps: np.ndarray  # [S, H, W] float32 in [0, 1], H x W the model's input size
    class_index: int
    probabilities: np.ndarray  # [K] softmax of the fused (consensus) logits
    snippet_probabilities: np.ndarray  # [S, K] softmax of each segment's own logits


@dataclass(frozen=True)
class Explanation:
    """What `explain_video` found: the maps, the class they explain and the frames beneath."""

    video: str
    layer: str
    modality: str
    class_index: int
    class_name: str
    probability: float  # the class's probability, fused over the segments
    snippet_probabilities: np.ndarray  # [S] the class's probability per segment
    maps: np.ndarray  # [S, H, W] float32 in [0, 1]
    frames: np.ndarray  # [S, H, W, 3] uint8 RGB: the crop each map covers
    frame_numbers: list[int]  # per segment, the 1-based video frame of `frames`
    fps: float  # 0 for a frames folder


def short_layer_name(name: str) -> str:
    """A layer name for display: a concatenation by its parts' common prefix (BN-Inception's
    four branch ends read `inception_5b`), a single module as it is."""
    parts = name.split(PART_SEPARATOR)
    if len(parts) == 1:
        return name
    return os.path.commonprefix(parts).rstrip("_.") or name


def _module_names(backbone: nn.Module) -> list[str]:
    return [name for name, _ in backbone.named_modules() if name]


def resolve_cam_layer(model: TSN, layer: str | None = None) -> CamLayer:
    """The target layer: `layer` (dotted names inside the backbone, `backbone.` optional, joined
    by "+" for a concatenation; the short name of the registry's layer means that layer), else
    the backbone registry's `cam_layer`. A name the model does not have is a UsageError listing
    close valid names."""
    default = model.spec.cam_layer
    name = layer if layer is not None else default
    if default and name == short_layer_name(default):  # `inception_5b`: the registry's parts
        name = default
    if not name:
        raise UsageError(
            f"backbone {model.arch} names no Grad-CAM layer; pass --layer with a module name, "
            f"e.g. {', '.join(_module_names(model.backbone)[-3:])}"
        )
    modules = []
    for part in name.split(PART_SEPARATOR):
        dotted = part.strip().removeprefix("backbone.")
        try:
            module = model.backbone.get_submodule(dotted) if dotted else None
        except AttributeError:
            module = None
        if module is None:
            names = _module_names(model.backbone)
            close = difflib.get_close_matches(dotted, names, n=4, cutoff=0.5)
            shown = close or [n for n in names if "." not in n][-4:]
            raise UsageError(
                f"this {model.arch} checkpoint has no layer {part.strip()!r}; valid names "
                f"include {', '.join(shown)} (default: {short_layer_name(default or '-')})"
            )
        modules.append(module)
    return CamLayer(name, tuple(modules))


def grad_cam(
    model: TSN, inputs: torch.Tensor, layer: CamLayer, class_index: int | None = None
) -> CamResult:
    """Grad-CAM of one normalised clip `inputs` (1, S, C*L, H, W) for `class_index` (None: the
    fused prediction). Per segment s and channel c of the layer's output A (S, C, h, w):
    alpha[s, c] = mean over h, w of d score / d A[s, c]; map[s] = ReLU(sum_c alpha[s, c] A[s, c]),
    upsampled to H x W and divided by its maximum (a map that is zero everywhere, where no
    channel speaks for the class, stays zero)."""
    if inputs.dim() != 5 or inputs.shape[0] != 1:
        raise ValueError(f"inputs must be (1, S, C*L, H, W), got {tuple(inputs.shape)}")
    segments, height, width = inputs.shape[1], inputs.shape[-2], inputs.shape[-1]
    captured: list[list[torch.Tensor]] = [[] for _ in layer.modules]
    hooks = [
        module.register_forward_hook(lambda _m, _i, out, box=box: box.append(out))
        for module, box in zip(layer.modules, captured, strict=True)
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            # the input asks for gradients so a graph exists even with frozen weights
            x = inputs.detach().clone().requires_grad_(True)
            snippet_logits = model.snippet_logits(x)  # (1, S, K)
            fused = model.consensus(snippet_logits)
            if fused.dim() == 3:  # identity consensus: the mean, as eval aggregates
                fused = fused.mean(dim=1)
            target = int(fused[0].argmax()) if class_index is None else int(class_index)
            for box in captured:
                if len(box) != 1:
                    raise UsageError(
                        f"layer {layer.name!r} runs {len(box)} times per forward pass; choose "
                        "a module that runs once (a conv, BN or block, not a shared activation)"
                    )
            # each module's output after the forward pass: where the network modified it in
            # place (a ReLU after a BN), that rectified version is what later layers read
            activations = [box[0] for box in captured]
            gradients = torch.autograd.grad(fused[0, target], activations)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    cam = None
    for act, grad in zip(activations, gradients, strict=True):
        if act.dim() != 4 or act.shape[0] != segments:
            raise UsageError(
                f"layer {layer.name!r} gives {tuple(act.shape)}, not a feature map per segment "
                "(S, C, h, w); choose a convolutional layer"
            )
        # (S, C, h, w): row s is segment s's own map and gradient (the batch is B*S, B = 1)
        alpha = grad.mean(dim=(2, 3), keepdim=True)  # (S, C, 1, 1)
        part = (alpha * act).sum(dim=1)  # (S, h, w)
        if cam is not None and part.shape != cam.shape:
            raise UsageError(
                f"the parts of layer {layer.name!r} have different sizes "
                f"({tuple(cam.shape[1:])} and {tuple(part.shape[1:])}); name one module"
            )
        cam = part if cam is None else cam + part
    assert cam is not None
    cam = F.relu(cam.detach().float())[:, None]  # (S, 1, h, w)
    cam = F.interpolate(cam, size=(height, width), mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny)
    maps = (cam / peak[:, None, None]).clamp_(0, 1)  # an all-zero map stays zero
    return CamResult(
        maps=maps.cpu().numpy().astype(np.float32),
        class_index=target,
        probabilities=torch.softmax(fused[0].detach().float(), dim=0).cpu().numpy(),
        snippet_probabilities=torch.softmax(snippet_logits[0].detach().float(), -1).cpu().numpy(),
    )


def resolve_class(class_names: list[str], name: str | None) -> int | None:
    """The index of class `name` (None: None, the prediction decides); an unknown name is a
    UsageError with the close matches."""
    if name is None:
        return None
    if name in class_names:
        return class_names.index(name)
    folded = [c for c in class_names if c.casefold() == name.casefold()]
    if len(folded) == 1:
        return class_names.index(folded[0])
    close = difflib.get_close_matches(name, class_names, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else f"e.g. {', '.join(class_names[:3])}"
    raise UsageError(f"class {name!r} is not one of this checkpoint's classes; {hint}")


def _middle(indices: np.ndarray) -> np.ndarray:
    """[S, 1]: the middle frame of each snippet's stack (the one the overlay shows)."""
    return indices[:, indices.shape[1] // 2 : indices.shape[1] // 2 + 1]


def explain_video(
    video: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    segments: int = DEFAULT_SEGMENTS,
    class_name: str | None = None,
    layer: str | None = None,
    device: str = "cpu",
    ignore_rotation: bool = False,
) -> Explanation:
    """Grad-CAM of `checkpoint` on `segments` evenly spaced snippets of `video` (a file or a
    frames folder, read as `tsn predict` reads it), one centre crop each, for `class_name` or
    the fused prediction. Flow and RGB-diff maps cover their input too and are shown over the
    RGB frame in the middle of each snippet."""
    path = str(video)
    if segments < 1:
        raise UsageError(f"--segments must be at least 1, got {segments}")
    if not Path(path).exists():
        raise DataError(f"{path} does not exist; pass a video file or a frames folder")
    scorer = load_scorer(checkpoint, device)
    model = scorer.model
    if not isinstance(model, TSN):  # pragma: no cover - load_scorer builds a TSN
        raise UsageError(f"{checkpoint} is not a TSN checkpoint")
    class_index = resolve_class(scorer.class_names, class_name)
    cam_layer = resolve_cam_layer(model, layer)
    try:
        record, source, step = load_test_input(path, scorer, ignore_rotation)
        dataset = scorer.test_dataset([record], source, segments, 1)
        clip = dataset.load_clip(0)  # (1, S, C*L, h, w) uint8: one centre crop
        indices = dataset.frame_indices(0)  # [S, L] 1-based
        shown = _middle(indices)
        if reads_flow(scorer.modality):
            rgb = source.read_frames(record, shown, Modality.RGB)
            frames = test_clip(stack_frames(rgb), scorer.crop_size, 1, Modality.RGB, segments)[0]
        else:  # the middle frame of the snippet's own stack
            middle = indices.shape[1] // 2
            frames = clip[0][:, 3 * middle : 3 * middle + 3]  # (S, 3, h, w)
        fps = 0.0 if Path(path).is_dir() else probe_video(path).fps
    except (cv2.error, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"cannot read {path}: {reason}; check that it is a video file") from None
    inputs = scorer.normalize(torch.as_tensor(clip).to(scorer.device))
    result = grad_cam(model, inputs, cam_layer, class_index)
    target = result.class_index
    return Explanation(
        video=path,
        layer=cam_layer.name,
        modality=str(scorer.modality),
        class_index=target,
        class_name=scorer.class_names[target],
        probability=float(result.probabilities[target]),
        snippet_probabilities=result.snippet_probabilities[:, target].astype(np.float32),
        maps=result.maps,
        frames=np.ascontiguousarray(np.asarray(frames).transpose(0, 2, 3, 1)),
        frame_numbers=[(int(i) - 1) * step + 1 for i in shown[:, 0]],
        fps=fps,
    )


def save_maps(path: str | os.PathLike[str], maps: np.ndarray) -> Path:
    """Write the maps [S, H, W] float32 as .npy, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.asarray(maps, dtype=np.float32))
    return Path(path)
