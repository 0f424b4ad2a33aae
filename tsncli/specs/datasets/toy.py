"""The toy dataset: synthetic videos `tsn fetch toy` renders locally, laid out as UCF101 is."""

from __future__ import annotations

from tsncli.specs.datasets import DatasetSpec
from tsncli.specs.datasets.ucf101 import EXAMPLE_FILES, UCF101_SPLITS

SPECS = (
    DatasetSpec(
        "toy",
        "the synthetic toy dataset from tsn fetch toy (UCF101 format)",
        splits=UCF101_SPLITS,
        presets=("toy_rgb", "toy_flow"),
        example_files=EXAMPLE_FILES,
    ),
)
