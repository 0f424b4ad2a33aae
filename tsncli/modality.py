"""The one definition of TSN's input modalities (`Modality`) and the per-modality facts every step
shares: channels per frame, the default new_length L, frames read per snippet, which extracted
frames it reads, and the default dropout.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tsncli.errors import UsageError


class Modality(str, Enum):
    """A TSN input stream. A `str`, so a member equals, hashes and formats as its name ("rgb"):
    plain names read back from YAML, lists or checkpoint meta compare equal to the members. Files
    store `.value` (YAML and torch's safe load refuse the enum type)."""

    RGB = "rgb"
    FLOW = "flow"
    RGBDIFF = "rgbdiff"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass(frozen=True)
class ModalityFacts:
    """Everything about one modality that is not a step's own choice."""

    channels: int  # per frame: 3 colour channels, or 2 for flow's x and y
    new_length: int  # the paper's L per snippet (TSN-FACTS.md)
    dropout: float  # before the new fc (TSN-FACTS.md)
    extra_frames: int  # frames read beyond L: RGB-diff takes L differences of L + 1 frames
    frames: Modality  # which extracted frames it reads: rgb images or flow_x/flow_y pairs


# one entry per member (a test iterates the enum); adding a modality is one member and one entry
_FACTS: dict[Modality, ModalityFacts] = {
    Modality.RGB: ModalityFacts(
        channels=3, new_length=1, dropout=0.8, extra_frames=0, frames=Modality.RGB
    ),
    Modality.FLOW: ModalityFacts(
        channels=2, new_length=5, dropout=0.7, extra_frames=0, frames=Modality.FLOW
    ),
    Modality.RGBDIFF: ModalityFacts(
        channels=3, new_length=5, dropout=0.8, extra_frames=1, frames=Modality.RGB
    ),
}

MODALITIES: tuple[Modality, ...] = tuple(Modality)
# what a list counts per entry: rgb images or flow_x images (rgbdiff models read rgb lists)
LIST_MODALITIES: tuple[Modality, ...] = (Modality.RGB, Modality.FLOW)


def check_modality(modality: str) -> Modality:
    """`modality` as a `Modality` member, or a UsageError naming the valid ones."""
    try:
        return Modality(modality)
    except ValueError:
        valid = ", ".join(m.value for m in Modality)
        raise UsageError(f"unknown modality {modality!r}; use one of: {valid}") from None


def check_list_modalities(modality: tuple[str, ...]) -> tuple[Modality, ...]:
    """`modality` as members when it is a non-empty choice of rgb and flow (what lists count), or
    a UsageError naming what `--modality` takes."""
    if not modality or any(m not in LIST_MODALITIES for m in modality):
        choices = f"{Modality.RGB}, {Modality.FLOW} or {Modality.RGB},{Modality.FLOW}"
        raise UsageError(f"--modality takes {choices}; got {','.join(modality)}")
    return tuple(Modality(m) for m in modality)


def modality_facts(modality: str) -> ModalityFacts:
    """The facts of `modality` (a member or its name); UsageError for an unknown name."""
    return _FACTS[check_modality(modality)]


def channels_per_frame(modality: str) -> int:
    """Channels one frame contributes: 3 for RGB and RGB-diff, 2 (x, y) for flow."""
    return modality_facts(modality).channels


def default_new_length(modality: str) -> int:
    """L per snippet: 1 frame for RGB, 5 for flow and RGB-diff (the paper's defaults)."""
    return modality_facts(modality).new_length


def default_dropout(modality: str) -> float:
    """Dropout before the classifier: 0.8 for RGB and RGB-diff, 0.7 for flow (the paper's)."""
    return modality_facts(modality).dropout


def frames_read(modality: str) -> Modality:
    """The extracted frames `modality` reads, one of LIST_MODALITIES: flow reads flow_x/flow_y
    pairs, RGB and RGB-diff read rgb images (and rgb lists)."""
    return modality_facts(modality).frames


def reads_flow(modality: str) -> bool:
    """True when `modality` reads flow frames (2 grey channels, x and y), False when it reads
    rgb images; UsageError for an unknown name, so a typo never falls into the rgb branch."""
    return frames_read(modality) is Modality.FLOW


def input_frames(modality: str, new_length: int) -> int:
    """Consecutive frames the loader reads per snippet: L, or L + 1 for RGB-diff."""
    return new_length + modality_facts(modality).extra_frames


def input_channels(modality: str, new_length: int) -> int:
    """Channels per snippet in the model input: 3L rgb, 2L flow, 3(L + 1) rgbdiff."""
    return channels_per_frame(modality) * input_frames(modality, new_length)


def backbone_channels(modality: str, new_length: int) -> int:
    """Input channels of the backbone's first conv: 3L rgb/rgbdiff, 2L flow (RGB-diff's model
    takes the L differences of its L + 1 frames itself)."""
    return channels_per_frame(modality) * new_length
