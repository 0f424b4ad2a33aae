"""Segmental consensus: per-snippet logits (B, S, K) -> video logits (B, K), chosen by name."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tsncli.errors import UsageError
from tsncli.registry import Registry

# name -> factory(num_segments) -> module
CONSENSUS: Registry[Callable[[int], nn.Module]] = Registry("consensus")


@CONSENSUS.register("avg")
class AverageConsensus(nn.Module):
    """Mean over snippets (the paper's choice). Works for any number of snippets."""

    def __init__(self, num_segments: int) -> None:
        super().__init__()

    def forward(self, logits: torch.Tensor) -> torch.Tensor:  # (B, S, K) -> (B, K)
        return logits.mean(dim=1)


@CONSENSUS.register("max")
class MaxConsensus(nn.Module):
    """Max over snippets per class; the gradient flows to the winning snippet."""

    def __init__(self, num_segments: int) -> None:
        super().__init__()

    def forward(self, logits: torch.Tensor) -> torch.Tensor:  # (B, S, K) -> (B, K)
        return logits.max(dim=1).values


@CONSENSUS.register("weighted")
class WeightedConsensus(nn.Module):
    """Learned weighted average: softmax(w) over the S segment positions, starting as the mean."""

    def __init__(self, num_segments: int) -> None:
        super().__init__()
        self.num_segments = num_segments
        self.weight = nn.Parameter(torch.zeros(num_segments))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:  # (B, S, K) -> (B, K)
        if logits.shape[1] != self.num_segments:
            raise UsageError(
                f"weighted consensus was trained for {self.num_segments} segments but got "
                f"{logits.shape[1]}; evaluate with --segments {self.num_segments} or use avg"
            )
        weights = torch.softmax(self.weight, dim=0).to(logits.dtype)  # (S,)
        return torch.einsum("bsk,s->bk", logits, weights)


@CONSENSUS.register("identity")
class IdentityConsensus(nn.Module):
    """No consensus: per-snippet logits (B, S, K), e.g. for test-time aggregation elsewhere."""

    def __init__(self, num_segments: int) -> None:
        super().__init__()

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits


def create_consensus(name: str, num_segments: int) -> nn.Module:
    """Build the consensus module registered as `name`."""
    return CONSENSUS.get(name)(num_segments)
