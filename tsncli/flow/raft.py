"""RAFT optical flow (torchvision's `raft_small` / `raft_large`) on grey frame pairs, batched.

The registry entries (`tsncli.specs.flow_algorithms`) name `create_raft_batch` and carry the
weights: torchvision's C_T_V2 (FlyingChairs + FlyingThings), fetched by
`tsn fetch weights NAME` into the weights cache. RAFT flow is not TV-L1 flow: a flow stream must
be trained on the flow it is tested with.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tsncli.errors import UsageError
from tsncli.flow.algorithms import require_cached_weights
from tsncli.specs.flow_algorithms import FLOW_ALGORITHMS, FlowAlgorithm, get_flow_algorithm

RAFT_ITERATIONS = 12  # torchvision's default num_flow_updates
_MULTIPLE = 8  # RAFT works on 1/8-resolution features
_MIN_SIDE = 128  # its correlation pyramid needs 1/8-resolution maps of at least 16
_BUILDER = f"{__name__}:create_raft_batch"  # what RAFT entries name as their torch builder


def create_raft(name: str, *, weights: str | Path | None = "cache") -> nn.Module:
    """Build a registered RAFT (entries named as torchvision's builders) in eval mode.

    `weights`: "cache" (the file `tsn fetch weights NAME` saved; a DataError naming that command
    when it is missing), a path to a state dict, or None for random weights (tests).
    """
    from torchvision.models import optical_flow

    if get_flow_algorithm(name).batch != _BUILDER:
        rafts = [n for n in FLOW_ALGORITHMS if FLOW_ALGORITHMS.get(n).batch == _BUILDER]
        raise UsageError(f"unknown RAFT model {name!r}; use one of: {', '.join(rafts)}")
    model = getattr(optical_flow, name)(weights=None)
    if weights is not None:
        path = require_cached_weights(name) if weights == "cache" else Path(weights)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def create_raft_batch(
    entry: FlowAlgorithm, device: torch.device, weights: str | Path | None = "cache"
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The torch builder RAFT entries name: RAFT on `device`, grey [B, H, W] batches there."""
    model = create_raft(entry.name, weights=weights).to(device)
    return lambda prev, nxt: raft_flow(model, prev, nxt)


def pad_to_multiple(
    images: torch.Tensor, multiple: int = _MULTIPLE, minimum: int = _MIN_SIDE
) -> torch.Tensor:
    """Pad [B, C, H, W] on the right and bottom (replicating the edge) to multiples of 8, and
    to at least `minimum` (RAFT's smallest input)."""
    h, w = images.shape[-2:]
    pad_h = max(minimum - h, (-h) % multiple)
    pad_w = max(minimum - w, (-w) % multiple)
    if pad_h == 0 and pad_w == 0:
        return images
    return F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")


def _as_raft_input(grey: torch.Tensor) -> torch.Tensor:
    """[B, H, W] uint8 (or float 0..1) grey -> [B, 3, H, W] float in [-1, 1], as RAFT expects."""
    x = grey.float() / 255.0 if grey.dtype == torch.uint8 else grey.float()
    return (2.0 * x - 1.0).unsqueeze(1).expand(-1, 3, -1, -1)


def raft_flow(
    model: nn.Module, prev: torch.Tensor, nxt: torch.Tensor, iterations: int = RAFT_ITERATIONS
) -> torch.Tensor:
    """Flow from `prev` to `nxt` ([B, H, W] grey, on the model's device) -> [B, H, W, 2] pixels.

    Frames are padded to a multiple of 8 and at least 128 (replicated edge) and the flow is
    cropped back, so any size works; grey is repeated to RGB.
    """
    if prev.ndim != 3 or prev.shape != nxt.shape:
        raise ValueError(f"raft_flow needs two [B, H, W] batches, got {prev.shape}, {nxt.shape}")
    h, w = prev.shape[-2:]
    with torch.inference_mode():
        a = pad_to_multiple(_as_raft_input(prev))
        b = pad_to_multiple(_as_raft_input(nxt))
        flow = model(a, b, num_flow_updates=iterations)[-1]  # [B, 2, H8, W8], the last update
        return flow[:, :, :h, :w].permute(0, 2, 3, 1).float().contiguous()  # [B, H, W, 2]
