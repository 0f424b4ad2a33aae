"""`custom`: the user's own videos, split by class folders or a `video,label,subset` CSV."""

from __future__ import annotations

from tsncli.specs.datasets import DatasetSpec

SPECS = (
    DatasetSpec(
        "custom",
        "your own videos: class folders or a video,label,subset CSV",
        lists_examples=("data/mine/frames --videos data/mine/videos --val-ratio 0.2",),
    ),
)
