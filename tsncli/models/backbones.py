"""Backbones built from their entries in `tsncli.specs.backbones` (the registry: builder, first
conv/BN, convention, weights), plus TinyCNN, the test backbone that entry names.

Each backbone keeps the source model's module names (torchvision's, or the Caffe layer names for
BN-Inception) so published weights load by key. TSN swaps the first conv for flow/RGB-diff.
"""

from __future__ import annotations

import importlib

from torch import nn

from tsncli.specs.backbones import BACKBONES, BackboneSpec


def get_backbone(name: str) -> BackboneSpec:
    """The spec registered under `name` (unknown names list the valid ones)."""
    return BACKBONES.get(name)


def create_backbone(name: str) -> nn.Module:
    """Build the named backbone with random weights (load ImageNet weights separately)."""
    build = get_backbone(name).build
    if isinstance(build, str):  # "module:attr" of a builder in a layer above the table
        module, _, attr = build.partition(":")
        build = getattr(importlib.import_module(module), attr)
    return build()


def set_submodule(root: nn.Module, dotted: str, module: nn.Module) -> None:
    """Replace the submodule at a dotted name."""
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


class TinyCNN(nn.Module):
    """A 3-conv network for tests and demos: fast on CPU, has BN, learns toy data."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.conv3 = nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1)
        self.bn3 = nn.BatchNorm2d(4 * width)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):  # (N, 3, H, W) -> (N, 4*width)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.relu(self.bn3(self.conv3(x)))
        return self.pool(x).flatten(1)
