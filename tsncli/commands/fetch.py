"""`tsn fetch`: Download datasets and weights (resumable, verified, with mirrors)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tsncli.acquire.catalog import (
    WEIGHTS_PREFIX,
    entry_names,
    weight_archs,
    weights_entry_name,
)
from tsncli.acquire.weights import released_tsn, url_weight_archs
from tsncli.commands import SUMMARIES
from tsncli.commands._common import example
from tsncli.commands._progress import ProgressView
from tsncli.errors import DownloadError, UsageError
from tsncli.logs import stderr_console
from tsncli.specs.datasets import DATASETS, dataset_version

log = logging.getLogger("tsncli.fetch")

SUMMARY = SUMMARIES["fetch"]
SPECIAL = ("weights", "toy")


def complete_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion: catalog names, `weights`, `toy`; after `weights`, the architectures."""
    typed = ctx.params.get("names") or []
    if typed and typed[0] == "weights":
        choices = list(weight_archs())
    else:
        choices = [n for n in entry_names() if not n.startswith(WEIGHTS_PREFIX)] + list(SPECIAL)
    return [c for c in choices if c.startswith(incomplete)]


def _human(n: int | None, exact: bool) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            text = f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            return text if exact else f"~{text}"
        value /= 1000
    return str(n)


def _render_list(rows: list[dict], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("name", "kind", "size", "status", "where"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["name"],
            row["kind"],
            _human(row["bytes"], row["exact_size"]),
            row["status"],
            row["dest"],
        )
    stderr_console.print(table)
    stderr_console.print("also: `tsn fetch toy` generates a small synthetic dataset locally")


def _fetch_toy(dest: Path | None, videos_per_class: int | None, seed: int | None, force: bool):
    from tsncli.acquire.toy import (
        generate_toy_dataset,  # imported here: only the toy branch needs it
    )

    kwargs: dict[str, Any] = {"force": force}
    if videos_per_class is not None:
        kwargs["videos_per_class"] = videos_per_class
    if seed is not None:
        kwargs["seed"] = seed
    folder = dest or Path("data/toy")
    with ProgressView() as show:
        generate_toy_dataset(folder, on_progress=show, **kwargs)  # logs its own summary
    typer.echo(str(folder))


def _checkable_names() -> list[str]:
    """Every entry but torchvision's weights (their URLs come from torchvision itself)."""
    return [n for n in entry_names() if not n.startswith(WEIGHTS_PREFIX)] + [
        WEIGHTS_PREFIX + arch for arch in url_weight_archs()
    ]


def _check_hosts(items: list, jobs: int, as_json: bool) -> None:
    """`--check`: one line per URL (JSON with --json); exit 1 when a file has no answering URL."""
    from tsncli.acquire.probe import check_hosts, unreachable_files

    checks = check_hosts(items, jobs=max(jobs, 8))
    if as_json:
        typer.echo(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        for c in checks:
            size = "" if c.size is None else f" ({_human(c.size, True)})"
            mark = "ok  " if c.ok else "FAIL"
            typer.echo(f"{mark} {c.entry}: {c.filename}  {c.url}  {c.detail}{size}")
    lost = unreachable_files(checks)
    if lost:
        raise DownloadError(
            f"no URL answers for {len(lost)} file(s) (first: {lost[0]}); fetch them with "
            "--mirror BASE_URL or adopt your own copies with --from PATH"
        )


def _resolve_names(names: list[str]) -> list[str]:
    if names[0] != "weights":
        if "toy" in names or "weights" in names:
            raise UsageError("`toy` and `weights ARCH...` must come first and alone")
        return names
    if len(names) == 1:
        raise UsageError(f"name the weights: tsn fetch weights {{{','.join(weight_archs())}}}")
    return [weights_entry_name(arch) for arch in names[1:]]


def fetch_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Catalog names (see --list), URLs, `weights NAME...` (an architecture's "
            "ImageNet weights, a flow model's, or a released TSN such as "
            "tsn_r50_kinetics400_rgb, converted on arrival) or `toy`.",
            autocompletion=complete_names,
            show_default=False,
        ),
    ] = None,
    dest: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the files (default: data/<name>; models and weights: $TSN_HOME)."
        ),
    ] = None,
    mirror: Annotated[
        str | None,
        typer.Option(envvar="TSN_MIRROR", help="Fetch each file from BASE_URL/<file name>."),
    ] = None,
    from_path: Annotated[
        Path | None,
        typer.Option("--from", help="Adopt a file (or a folder of files) you downloaded yourself."),
    ] = None,
    sha256: Annotated[str | None, typer.Option(help="Expected sha256 of a single file.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Files in parallel.")] = 1,
    force: Annotated[bool, typer.Option(help="Download again even if present.")] = False,
    list_: Annotated[
        bool, typer.Option("--list", help="Show every entry, its size and local status.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Ask every URL of NAMES (default: every dataset and model entry) whether it "
            "answers, with HEAD or a 1-byte GET; download nothing.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --list or --check: JSON on stdout.")
    ] = False,
    videos_per_class: Annotated[
        int | None, typer.Option(min=1, help="toy: videos per class.", show_default=False)
    ] = None,
    seed: Annotated[int | None, typer.Option(help="toy: random seed.", show_default=False)] = None,
    version: Annotated[
        str | None,
        typer.Option(
            help="A dataset's version, for datasets with several (activitynet: 1.3, the default, "
            "or 1.2).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Download datasets and weights (resumable, verified, with mirrors).

    Files land in `<name>.part`, resume after an interruption, are checked for size and sha256,
    then renamed. A released TSN (`weights tsn_r50_kinetics400_rgb`) is then converted to a tsn
    checkpoint beside the download, which is kept. Each finished path (for a released TSN, its
    converted checkpoint) is printed on stdout.
    """
    from tsncli.acquire.fetching import list_catalog, plan_fetch, run_fetch

    if list_:
        _render_list(list_catalog(dest), as_json)
        return
    if check:
        wanted = _resolve_names(names) if names else _checkable_names()
        _check_hosts(plan_fetch(wanted, dest=dest, mirror=mirror), jobs, as_json)
        return
    if not names:
        raise UsageError("name what to fetch (see `tsn fetch --list`), a URL, or `weights ARCH`")
    if names[0] == "toy":
        if len(names) > 1:
            raise UsageError("`tsn fetch toy` takes no other names")
        _fetch_toy(dest, videos_per_class, seed, force)
        return
    if videos_per_class is not None or seed is not None:
        raise UsageError("--videos-per-class and --seed apply to `tsn fetch toy` only")
    if version is not None:
        names = [dataset_version(name, version) for name in names]
    items = plan_fetch(_resolve_names(names), dest=dest, mirror=mirror, sha256=sha256)
    with ProgressView() as show:
        outcomes = run_fetch(items, jobs=jobs, force=force, from_path=from_path, on_progress=show)
    for outcome in outcomes:
        log.info("%s: %s", outcome.status, outcome.path)
        path = outcome.path
        if released_tsn(outcome.entry) is not None:
            from tsncli.models.convert import convert_on_arrival  # torch: only for these

            path = convert_on_arrival(outcome.entry, outcome.path, force=force)
            log.info("converted: %s", path)
        typer.echo(str(path))
    for name in dict.fromkeys(o.entry for o in outcomes):
        note = DATASETS.get(name).videos_note if name in DATASETS else None
        if note:
            stderr_console.print(f"{name}: {note}", markup=False)


def register(app: typer.Typer) -> None:
    app.command(
        name="fetch",
        help=SUMMARY,
        epilog=example(
            "tsn fetch --list",
            "tsn fetch --check hmdb51 kinetics400",
            "tsn fetch ucf101 --mirror https://example.org/tsn",
            "tsn fetch hmdb51 --from ~/Downloads",
            "tsn fetch weights resnet50 bninception",
            "tsn fetch weights tsn_r50_kinetics400_rgb tsn_r50_kinetics400_flow",
            "tsn fetch toy --videos-per-class 10",
        ),
    )(fetch_command)
