"""SGD with TSN's parameter-group multipliers and a per-step lr schedule (step/cosine + warmup)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from tsncli.models.tsn import parameter_groups


def create_optimizer(
    model: nn.Module, lr: float, momentum: float, weight_decay: float, modality: str
) -> torch.optim.SGD:
    """SGD over the model's parameter groups: lr = lr * lr_mult, wd = weight_decay * decay_mult."""
    groups = []
    for group in parameter_groups(model, modality):
        groups.append(
            {
                "params": group["params"],
                "name": group["name"],
                "lr": lr * group["lr_mult"],
                "weight_decay": weight_decay * group["decay_mult"],
                "lr_mult": group["lr_mult"],
                "decay_mult": group["decay_mult"],
            }
        )
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)


def lr_factor(
    step: int,
    steps_per_epoch: int,
    total_epochs: int,
    schedule: str,
    milestones: Sequence[float],
    gamma: float,
    warmup_epochs: float = 0.0,
) -> float:
    """Multiplier of the base lr before optimizer step `step` (0-based).

    step: gamma ** (milestones passed), milestones in epochs (fractions allowed);
    cosine: half a cosine from 1 to 0 over all epochs. A linear warmup scales either.
    """
    epoch = step / max(steps_per_epoch, 1)
    if schedule == "cosine":
        factor = 0.5 * (1.0 + math.cos(math.pi * min(epoch / max(total_epochs, 1), 1.0)))
    else:
        factor = gamma ** sum(1 for m in milestones if epoch >= m)
    if warmup_epochs > 0 and epoch < warmup_epochs:
        factor *= (step + 1) / (warmup_epochs * steps_per_epoch)
    return factor


def create_scheduler(
    optimizer: torch.optim.Optimizer,
    steps_per_epoch: int,
    total_epochs: int,
    schedule: str,
    milestones: Sequence[float],
    gamma: float,
    warmup_epochs: float = 0.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepped once per optimizer step (its state_dict resumes exactly)."""

    def factor(step: int) -> float:
        return lr_factor(
            step, steps_per_epoch, total_epochs, schedule, milestones, gamma, warmup_epochs
        )

    fn: Callable[[int], float] = factor
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
