"""`FrameSettings`: the one typed record of how frames were made (size, step, flow, bound,
source, rotation, on-disk format), its YAML/JSON round trip, the resolver train/eval/predict
share, and the mismatch check.

Writers: `tsn flow` (flow_config.yaml), video lists (`# tsn-list:` header), checkpoints (meta
"frames"), `tsn convert` (the released models' frames). Old shapes still load (`from_dict`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tsncli.errors import DataError, UsageError
from tsncli.fsutil import atomic_write_text
from tsncli.layout import FRAME_FORMATS
from tsncli.modality import reads_flow

DEFAULT_SIZE: tuple[int, int] = (340, 256)  # TSN's dense_flow frames (TSN-FACTS.md)
DEFAULT_ALGORITHM = "tvl1"
DEFAULT_IMPLEMENTATION = "opencv"
DEFAULT_BOUND = 20.0
SOURCES = ("frames", "videos")
# older spellings of a field -> the field (flow_config.yaml, checkpoint meta, list headers)
_LEGACY_KEYS = {
    "algo": "flow_algorithm",
    "flow_on_the_fly": "flow_algorithm",
    "algorithm": "flow_algorithm",
    "implementation": "flow_implementation",
    "kind": "source",
}


def parse_size(text: str) -> tuple[int, int]:
    """Parse "WxH" (e.g. "340x256") into (width, height)."""
    parts = str(text).lower().replace("*", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise UsageError(f"size {text!r} is not WxH; use e.g. 340x256") from None
    if width <= 0 or height <= 0:
        raise UsageError(f"size {text!r} must have positive width and height; use e.g. 340x256")
    return width, height


def as_size(value: Any) -> tuple[int, int] | None:
    """A size in any recorded shape -- "340x256", [340, 256], (340, 256) or None -> (w, h)."""
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise UsageError(f"size {list(value)!r} is not [width, height]; use e.g. 340x256")
        return parse_size(f"{value[0]}x{value[1]}")
    return parse_size(value)


def as_flag(value: Any) -> bool:
    """A recorded yes/no -- True, "1", "true", "yes" (a list header's strings) -> True."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("", "0", "false", "no", "off", "none"):
            return False
        raise UsageError(f"{value!r} is not a yes/no value; use 1 or 0")
    return bool(value)


def format_size(size: tuple[int, int] | None) -> str | None:
    """(340, 256) -> "340x256"; None stays None."""
    return None if size is None else f"{size[0]}x{size[1]}"


@dataclass(frozen=True)
class FrameSettings:
    """How frames were made. `size` (w, h) and `short_side` are exclusive; both None keeps the
    video's own size. `flow_algorithm` None: no flow was computed (an RGB video list).
    `ignore_rotation`: frames kept the stored orientation of rotated (phone) videos, as tsn
    decoded them before it applied the display rotation (`--ignore-rotation`); records written
    before the field existed read as False, which equals them for every unrotated video.
    `format`: how `tsn flow` stored the frames (`layout.FRAME_FORMATS`: one JPEG file each, or
    dense_flow's zips); the pixels are the same either way, and records written before the
    field existed read as "dir", the only layout tsn wrote then."""

    size: tuple[int, int] | None = DEFAULT_SIZE
    short_side: int | None = None
    step: int = 1
    flow_algorithm: str | None = DEFAULT_ALGORITHM
    flow_implementation: str = DEFAULT_IMPLEMENTATION
    bound: float = DEFAULT_BOUND
    source: str = "frames"
    ignore_rotation: bool = False
    format: str = FRAME_FORMATS[0]

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", as_size(self.size))
        if self.size is not None and self.short_side is not None:
            raise UsageError("give either a size (WxH) or a short side, not both")
        if self.short_side is not None and int(self.short_side) <= 0:
            raise UsageError(f"short side must be positive, got {self.short_side}")
        if int(self.step) < 1:
            raise UsageError(f"step must be >= 1, got {self.step}")
        if float(self.bound) <= 0:
            raise UsageError(f"bound must be positive, got {self.bound}")
        if self.source not in SOURCES:
            raise UsageError(f"frame source {self.source!r} is not one of: {', '.join(SOURCES)}")
        object.__setattr__(self, "step", int(self.step))
        object.__setattr__(self, "bound", float(self.bound))
        object.__setattr__(self, "ignore_rotation", as_flag(self.ignore_rotation))
        if self.format not in FRAME_FORMATS:
            valid = ", ".join(FRAME_FORMATS)
            raise UsageError(f"frame format {self.format!r} is not one of: {valid}")
        object.__setattr__(self, "format", str(self.format))
        if self.short_side is not None:
            object.__setattr__(self, "short_side", int(self.short_side))

    def to_dict(self) -> dict[str, Any]:
        """A YAML/JSON-safe mapping (size as "340x256"); `from_dict` reads it back."""
        data = dataclasses.asdict(self)
        data["size"] = format_size(self.size)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> FrameSettings:
        """Read any recorded shape: this record's `to_dict`, old flow_config.yaml and checkpoint
        "flow" dicts (`algo`, size as [340, 256]), list headers (strings); missing keys default."""
        return cls(**_fields(data or {}))

    def header_fields(self) -> dict[str, str]:
        """The `# tsn-list:` key=value fields of a video list (values without spaces)."""
        fields = {"short_side": str(self.short_side)} if self.short_side else {}
        if self.size is not None:
            fields["size"] = format_size(self.size) or ""
        if self.step != 1:
            fields["step"] = str(self.step)
        if self.ignore_rotation:
            fields["ignore_rotation"] = "1"
        return fields


def _fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The FrameSettings fields `data` states explicitly, under their current names and types."""
    names = {f.name for f in dataclasses.fields(FrameSettings)}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = _LEGACY_KEYS.get(key, key)
        if name not in names or (key != name and name in data):
            continue  # unknown key (modality, layout, ...), or a legacy twin of a current key
        if name == "flow_algorithm" and value is None and out.get(name):
            continue  # {"flow_on_the_fly": None, "algo": "tvl1"} keeps tvl1
        out[name] = value
    if out.get("short_side") in ("", "None", "none"):
        out["short_side"] = None
    if out.get("short_side") is not None:
        out["short_side"] = int(out["short_side"])
        out["size"] = None
    elif "size" in out:
        out["short_side"] = None
        out["size"] = as_size(out["size"]) or (None if "short_side" in data else DEFAULT_SIZE)
    for key, kind in (("step", int), ("bound", float)):
        if out.get(key) is not None:
            out[key] = kind(out[key])
        else:
            out.pop(key, None)
    return out


def resolve_frame_settings(
    trained: FrameSettings | Mapping[str, Any] | None = None,
    frames: FrameSettings | Mapping[str, Any] | None = None,
    list_header: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> FrameSettings:
    """The FrameSettings train/eval/predict decode with (after timm's resolve_data_config).

    Later layers win, field by field: defaults < `trained` (the checkpoint's record) < `frames`
    (a frames folder's flow_config.yaml) < `list_header` (a video list) < explicit `overrides`.
    Only the fields a layer states count, so a list header's size keeps the model's flow algorithm.
    A video list's header always states the orientation: the loader decodes its videos turned
    unless the header says `ignore_rotation=1` (the header writes only that case).
    """
    if list_header is not None:
        list_header = {"ignore_rotation": False, **list_header}
    merged: dict[str, Any] = {}
    for layer in (trained, frames, list_header, overrides):
        if isinstance(layer, FrameSettings):
            layer = layer.to_dict()
        merged.update(_fields(layer or {}))
    return FrameSettings(**merged)


_FLOW_ONLY = ("flow_algorithm", "bound")
# Another implementation of the same algorithm is a note, not a mismatch: OpenCV's and the
# torch TV-L1 agree to a mean endpoint difference of <= 0.027 px at 340x256 (test_flow_tvl1_torch).
SAME_FLOW_NOTE = "implementations of one flow algorithm agree closely (TV-L1: <= 0.03 px)"


def describe_mismatch(
    trained: FrameSettings | None, actual: FrameSettings | None, modality: str | None = None
) -> list[str]:
    """How the frames `actual` differ from those the model was `trained` on, one "field
    'actual' vs 'trained'" per difference; [] when either is unknown. Flow fields count only
    for flow models (or when `modality` is None); the source (files or folders) never does."""
    if trained is None or actual is None:
        return []
    ours, theirs = actual.to_dict(), trained.to_dict()
    keys = ["size", "short_side", "step", "ignore_rotation"]
    if modality is None or reads_flow(modality):
        keys += list(_FLOW_ONLY)
    return [f"{k} {ours[k]!r} vs {theirs[k]!r}" for k in keys if ours[k] != theirs[k]]


def describe_implementation_change(
    trained: FrameSettings | None, actual: FrameSettings | None, modality: str | None = None
) -> list[str]:
    """The same flow algorithm made by another implementation (opencv vs torch), as
    "flow_implementation 'actual' vs 'trained'"; [] otherwise or for non-flow models."""
    if trained is None or actual is None or not (modality is None or reads_flow(modality)):
        return []
    if actual.flow_algorithm != trained.flow_algorithm:
        return []  # a mismatch already (describe_mismatch)
    ours, theirs = actual.flow_implementation, trained.flow_implementation
    return [] if ours == theirs else [f"flow_implementation {ours!r} vs {theirs!r}"]


def log_frames_mismatch(
    log: logging.Logger,
    where: str | Path,
    trained: FrameSettings | None,
    actual: FrameSettings | None,
    modality: str | None = None,
) -> None:
    """Warn when the frames in `where` differ from those the model was trained on; another
    implementation of the same flow algorithm is one info line (eval and predict share this)."""
    differ = describe_mismatch(trained, actual, modality)
    if differ:
        log.warning(
            "frames in %s were extracted with other settings than the model was trained on "
            "(%s); accuracy may suffer",
            where,
            ", ".join(differ),
        )
    notes = describe_implementation_change(trained, actual, modality)
    if notes:
        log.info("frames in %s: %s; %s", where, ", ".join(notes), SAME_FLOW_NOTE)


def save_frame_settings(
    path: str | Path, settings: FrameSettings, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write `settings` (plus `extra` notes) atomically: JSON for *.json, YAML otherwise."""
    data = {**settings.to_dict(), **(extra or {})}
    target = Path(path)
    if target.suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False)
    atomic_write_text(target, text)
    return target


def read_settings_file(path: str | Path) -> dict[str, Any] | None:
    """The raw mapping of a YAML or JSON settings file; None when there is no file."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))  # JSON is YAML too
    except yaml.YAMLError:
        raise DataError(f"{p} is not valid YAML; delete it and rerun `tsn flow`") from None
    if not isinstance(data, dict):
        raise DataError(f"{p} is not a mapping; delete it and rerun `tsn flow`")
    return data


def load_frame_settings(path: str | Path) -> FrameSettings | None:
    """The FrameSettings a YAML/JSON file records (any version's shape); None without a file."""
    data = read_settings_file(path)
    if data is None:
        return None
    try:
        return FrameSettings.from_dict(data)
    except UsageError as exc:
        raise DataError(f"{path}: {exc}; delete it and rerun `tsn flow`") from None
