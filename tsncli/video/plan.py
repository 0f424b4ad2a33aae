"""The decode planner: for the sorted frames a clip needs and a keyframe layout, where to seek
and how far to decode, so the fewest frames are decoded and none after the last one needed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tsncli.video.timeline import keyframe_at_or_before


@dataclass(frozen=True)
class DecodeStep:
    """Reach frame `target`: first seek to keyframe `seek_to` (None: keep decoding from where the
    decoder is), then decode `decoded` frames, the last of which is `target`."""

    target: int
    seek_to: int | None
    decoded: int


@dataclass(frozen=True)
class DecodePlan:
    """The steps for one clip, in frame order."""

    steps: tuple[DecodeStep, ...]

    @property
    def decoded(self) -> int:
        """Frames decoded by following the plan."""
        return sum(step.decoded for step in self.steps)

    @property
    def seeks(self) -> int:
        return sum(step.seek_to is not None for step in self.steps)


def plan_decode(
    needed: Iterable[int], keyframes: Sequence[int] | None, position: int = 0
) -> DecodePlan:
    """Plan decoding the 0-based display positions `needed`, starting with the decoder at
    `position` (the next frame it returns; 0 for a freshly opened file).

    Reaching frame t costs t - s + 1 decoded frames, where s is where decoding starts: the
    current position, or after a seek the keyframe k at or before t. Seeking pays off exactly
    when k > position, and each frame reached leaves the decoder at t + 1 whatever was chosen,
    so choosing per gap is optimal for the whole clip. Without keyframes it never seeks.
    """
    steps: list[DecodeStep] = []
    for target in sorted({int(n) for n in needed}):
        if target < position:
            raise ValueError(f"frame {target} is behind the decoder (at {position})")
        key = keyframe_at_or_before(keyframes, target) if keyframes else 0
        seek_to = key if key > position else None
        start = position if seek_to is None else seek_to
        steps.append(DecodeStep(target, seek_to, target - start + 1))
        position = target + 1
    return DecodePlan(tuple(steps))
