"""The one definition of TSN's input modalities and the per-modality facts every step shares:
channels per frame, the default new_length L, frames read per snippet, and the default dropout.
"""

from __future__ import annotations

from tsncli.errors import UsageError

MODALITIES: tuple[str, ...] = ("rgb", "flow", "rgbdiff")
# what a list counts per entry: rgb images or flow_x images (rgbdiff models read rgb lists)
LIST_MODALITIES: tuple[str, ...] = ("rgb", "flow")

_CHANNELS = {"rgb": 3, "flow": 2, "rgbdiff": 3}
_NEW_LENGTH = {"rgb": 1, "flow": 5, "rgbdiff": 5}  # the paper's L (TSN-FACTS.md)
_DROPOUT = {"rgb": 0.8, "flow": 0.7, "rgbdiff": 0.8}  # before the new fc (TSN-FACTS.md)


def check_modality(modality: str) -> str:
    """`modality` unchanged, or a UsageError naming the valid ones."""
    if modality not in MODALITIES:
        raise UsageError(f"unknown modality {modality!r}; use one of: {', '.join(MODALITIES)}")
    return modality


def check_list_modalities(modality: tuple[str, ...]) -> tuple[str, ...]:
    """`modality` unchanged when it is a non-empty choice of rgb and flow (what lists count), or a
    UsageError naming what `--modality` takes."""
    if not modality or any(m not in LIST_MODALITIES for m in modality):
        raise UsageError(f"--modality takes rgb, flow or rgb,flow; got {','.join(modality)}")
    return modality


def channels_per_frame(modality: str) -> int:
    """Channels one frame contributes: 3 for RGB and RGB-diff, 2 (x, y) for flow."""
    return _CHANNELS[check_modality(modality)]


def default_new_length(modality: str) -> int:
    """L per snippet: 1 frame for RGB, 5 for flow and RGB-diff (the paper's defaults)."""
    return _NEW_LENGTH[check_modality(modality)]


def default_dropout(modality: str) -> float:
    """Dropout before the classifier: 0.8 for RGB and RGB-diff, 0.7 for flow (the paper's)."""
    return _DROPOUT[check_modality(modality)]


def input_frames(modality: str, new_length: int) -> int:
    """Consecutive frames the loader reads per snippet: L, or L + 1 for RGB-diff."""
    return new_length + 1 if check_modality(modality) == "rgbdiff" else new_length


def input_channels(modality: str, new_length: int) -> int:
    """Channels per snippet in the model input: 3L rgb, 2L flow, 3(L + 1) rgbdiff."""
    return channels_per_frame(modality) * input_frames(modality, new_length)


def backbone_channels(modality: str, new_length: int) -> int:
    """Input channels of the backbone's first conv: 3L rgb/rgbdiff, 2L flow (RGB-diff's model
    takes the L differences of its L + 1 frames itself)."""
    return channels_per_frame(modality) * new_length
