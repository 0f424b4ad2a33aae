"""Rendering shared by eval, fuse and predict: the metrics table, top-k tables, JSON, weights."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tsncli.commands._common import parse_finite
from tsncli.errors import UsageError

console = Console()


def print_json(obj: Any) -> None:
    """One JSON document on stdout (machine output only)."""
    typer.echo(json.dumps(obj, indent=2, allow_nan=False))


def print_metrics(metrics: Any, title: str, class_names: list[str] | None, per_class: bool) -> None:
    """The accuracy table (percent); with `per_class`, one row per class after it."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("mean class accuracy", f"{100 * metrics.mean_class_accuracy:.2f}%")
    table.add_row("top-1", f"{100 * metrics.top1:.2f}%")
    table.add_row("top-5", f"{100 * metrics.top5:.2f}%")
    table.add_row("videos", str(metrics.num_videos))
    console.print(table)
    if per_class:
        names = class_names or [str(i) for i in range(len(metrics.per_class))]
        rows = Table(title="per-class accuracy", header_style="bold")
        rows.add_column("class")
        rows.add_column("videos", justify="right")
        rows.add_column("accuracy", justify="right")
        counts = metrics.confusion.sum(axis=1)
        for name, n, acc in zip(names, counts, metrics.per_class, strict=True):
            rows.add_row(name, str(int(n)), "-" if math.isnan(acc) else f"{100 * acc:.2f}%")
        console.print(rows)


def print_untrimmed(metrics: Any, per_class: bool) -> None:
    """ActivityNet's official metrics (percent); with `per_class`, each class's AP."""
    table = Table(title="ActivityNet classification (official metrics)", header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("mAP", f"{100 * metrics.map:.2f}%")
    table.add_row("hit@1", f"{100 * metrics.hit1:.2f}%")
    table.add_row("hit@3", f"{100 * metrics.hit3:.2f}%")
    console.print(table)
    if per_class:
        rows = Table(title="per-class AP", header_style="bold")
        rows.add_column("class")
        rows.add_column("AP", justify="right")
        for name, ap in metrics.per_class_ap.items():
            rows.add_row(name, f"{100 * ap:.2f}%")
        console.print(rows)


def print_topk(title: str, rows: list[tuple[str, float]]) -> None:
    """A table of class names and probabilities, best first."""
    table = Table(title=title, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("class")
    table.add_column("probability", justify="right")
    for rank, (name, prob) in enumerate(rows, start=1):
        table.add_row(str(rank), name, f"{prob:.4f}")
    console.print(table)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def split_weights(
    positional: list[str], weights: list[str] | None
) -> tuple[list[str], list[float] | None]:
    """Accept `--weights 1 1.5` (Click gives one value per option; the rest arrive positional).

    Numbers among the positional arguments that are not existing files become further weights;
    `--weights 1,1.5` and repeated `--weights` work too.
    """
    paths = [p for p in positional if not (_is_number(p) and not Path(p).exists())]
    extra = [p for p in positional if p not in paths]
    if weights is None:
        if extra:
            raise UsageError(
                f"unexpected argument(s) {' '.join(extra)}; weights go after --weights"
            )
        return paths, None
    tokens = [t for w in weights for t in w.split(",") if t.strip()] + extra
    return paths, [parse_finite(t, "--weights") for t in tokens]
