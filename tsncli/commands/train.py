"""`tsn train`: Train a TSN model with the paper's recipes on CPU, one GPU, N GPUs or nodes."""

from __future__ import annotations

import typer

from tsncli.commands._common import example
from tsncli.errors import TsnError

SUMMARY = "Train a TSN model with the paper's recipes on CPU, one GPU, N GPUs or nodes."


def train_command(ctx: typer.Context) -> None:
    """Train a TSN model with the paper's recipes on CPU, one GPU, N GPUs or nodes."""
    raise TsnError("`tsn train` is not built yet (issue #6); nothing was done")


def register(app: typer.Typer) -> None:
    app.command(
        name="train",
        help=SUMMARY,
        epilog=example("tsn train ucf101 rgb --split 2 --gpus 8"),
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(train_command)
