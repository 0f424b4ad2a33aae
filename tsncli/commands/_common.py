"""Helpers shared by command modules: config layering from flags, examples, option checks
(finite numbers, writable outputs).

Progress bars are drawn by the one renderer in `tsncli.commands._progress`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from tsncli.errors import UsageError


def example(*lines: str) -> str:
    """An epilog for `--help` showing example invocations."""
    body = "\n\n".join(f"  $ {line}" for line in lines)
    return f"[bold]Example[/bold]\n\n{body}"


def cli_overrides(ctx: typer.Context, *, exclude: tuple[str, ...] = ("config",)) -> dict[str, Any]:
    """The options the user actually typed (or set by env), to layer over config files."""
    out: dict[str, Any] = {}
    for name, value in ctx.params.items():
        if name in exclude:
            continue
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            out[name] = value
    return out


def finite(ctx: typer.Context, param: typer.CallbackParam, value: float | None) -> float | None:
    """Typer callback for float options: nan and inf are refused (a nan lr trains a nan model)."""
    if value is not None and not math.isfinite(value):
        name = (param.opts or [param.name or "value"])[0]
        raise typer.BadParameter(f"{name} must be a finite number, got {value}")
    return value


def parse_finite(token: str, what: str) -> float:
    """A float from text for `what` (e.g. "--weights"); UsageError for words, nan and inf."""
    try:
        value = float(token)
    except ValueError:
        raise UsageError(f"{what} must be numbers, got {token!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"{what} must be finite numbers, got {token!r}")
    return value


def check_output_path(path: Path, option: str, *, folder: bool = False) -> None:
    """Refuse, before any work, an output that cannot be written: a folder where a file goes
    (or the reverse), a file in the way of a parent folder, or a parent without write access."""
    if path.is_dir() and not folder:
        raise UsageError(f"{option} {path} is a folder; give a file path, e.g. {path / 'out'}")
    if path.exists() and not path.is_dir() and folder:
        raise UsageError(f"{option} {path} is a file; give a folder path")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        # access() also fails on a read-only mount, where permissions are not the cause
        if os.statvfs(parent).f_flag & os.ST_RDONLY:
            raise UsageError(
                f"cannot write {option} {path}: {parent} is on a read-only file system; "
                "choose another output path"
            )
        raise UsageError(f"cannot write {option} {path}: no permission to write in {parent}")


def output_file(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Typer callback for file outputs (-o, --save-scores): `check_output_path` at parse time."""
    if value is not None:
        check_output_path(Path(value), _param_name(param))
    return value


def output_folder(
    ctx: typer.Context, param: typer.CallbackParam, value: Path | None
) -> Path | None:
    """Typer callback for folder outputs (--out): `check_output_path(folder=True)`."""
    if value is not None:
        check_output_path(Path(value), _param_name(param), folder=True)
    return value


def _param_name(param: typer.CallbackParam) -> str:
    """`--out` for an option, `OUT` for an argument, as `--help` shows them."""
    if param.param_type_name == "argument":
        return (param.name or "path").upper()
    return (param.opts or [param.name or "output"])[0]


# `--decode-threads` of the commands that decode video (train, eval, predict, probe)
DecodeThreads = Annotated[
    int | None,
    typer.Option(
        min=0, help="Decoder threads per video (default 1 or $TSN_DECODE_THREADS; 0: one per core)."
    ),
]

# `--decode-device` of the commands that load JPEG frames for a model (train, eval, features)
DecodeDevice = Annotated[
    str,
    typer.Option(
        help="Where frame JPEGs are decoded: cpu (loader workers) or cuda (batched on the "
        "model's GPU with nvJPEG; frame folders; pixels within 2 levels of cpu's).",
    ),
]

# `--report DIR` of the commands that score a labelled set (eval, fuse)
ReportDir = Annotated[
    Path | None,
    typer.Option(
        help="Write DIR/per_class.csv, DIR/confusions.csv (the 20 most common) and "
        "DIR/confusion.png (sorted by class accuracy).",
        callback=output_folder,
        metavar="DIR",
    ),
]

# `--ignore-rotation` of the commands that decode video files into frames (flow, lists, predict)
IgnoreRotation = Annotated[
    bool,
    typer.Option(
        "--ignore-rotation",
        help="Keep rotated (phone) videos' stored orientation instead of turning frames as "
        "players show them, as older tsn did (recorded in the frame settings).",
    ),
]
