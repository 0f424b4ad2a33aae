"""Frozen dataclass configs layered as: dataclass defaults < preset < --config YAML < CLI flags.

Presets ship as YAML in `tsncli/configs/`; the resolved config is saved beside every output.
"""

from __future__ import annotations

import dataclasses
import os
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tsncli.errors import UsageError
from tsncli.fsutil import atomic_write_text

C = TypeVar("C")


def list_presets() -> list[str]:
    """Names of the presets shipped in `tsncli/configs/` (file stems)."""
    folder = resources.files("tsncli") / "configs"
    if not folder.is_dir():
        return []
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """Read a shipped preset by name."""
    if name not in list_presets():
        raise UsageError(f"unknown preset {name!r}; use one of: {', '.join(list_presets())}")
    text = (resources.files("tsncli") / "configs" / f"{name}.yaml").read_text(encoding="utf-8")
    return _parse_mapping(text, f"preset {name}")


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a user YAML config file into a mapping."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"config file {p} does not exist; pass an existing YAML file to --config")
    return _parse_mapping(p.read_text(encoding="utf-8"), str(p))


def _parse_mapping(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "parse error"
        raise UsageError(f"{where} is not valid YAML ({first}); fix the file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{where} must hold a YAML mapping of option: value")
    return data


def _section(data: dict[str, Any], section: str | None) -> dict[str, Any]:
    """A file may hold one flat mapping or one mapping per command (`train: {...}`)."""
    if section and isinstance(data.get(section), dict):
        return dict(data[section])
    return data


def resolve_config(
    cls: type[C],
    *,
    section: str | None = None,
    preset: str | None = None,
    config_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> C:
    """Build `cls` from its defaults, then a preset, then a YAML file, then CLI overrides."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    layers: list[tuple[str, dict[str, Any]]] = []
    if preset:
        layers.append((f"preset {preset}", _section(load_preset(preset), section)))
    if config_file:
        layers.append((str(config_file), _section(load_config_file(config_file), section)))
    layers.append(("command line", overrides or {}))
    for where, layer in layers:
        for key, value in layer.items():
            name = key.replace("-", "_")
            if name not in fields:
                valid = ", ".join(sorted(fields))
                raise UsageError(f"{where}: unknown option {key!r}; valid options: {valid}")
            values[name] = _coerce(value, fields[name])
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"invalid configuration: {exc}") from None


def _coerce(value: Any, field: dataclasses.Field) -> Any:
    default = field.default if field.default is not dataclasses.MISSING else None
    if isinstance(value, list) and (isinstance(default, tuple) or "tuple" in str(field.type)):
        return tuple(value)
    if isinstance(value, Path):
        return str(value)
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain, YAML-safe mapping of a config dataclass (tuples become lists, enum members such
    as a `Modality` their value: yaml.safe_dump refuses a str subclass)."""

    def plain(v: Any) -> Any:
        if isinstance(v, Enum):
            return v.value
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v

    return {k: plain(v) for k, v in dataclasses.asdict(config).items()}


def save_config(config: Any, path: str | os.PathLike[str]) -> Path:
    """Write the resolved config as YAML beside a run's outputs (atomically)."""
    target = Path(path)
    atomic_write_text(target, yaml.safe_dump(config_to_dict(config), sort_keys=False))
    return target
