"""`tsn eval`: Test a checkpoint with 25 snippets x 10 crops and save a score file."""

from __future__ import annotations

import typer

from tsncli.commands._common import example
from tsncli.errors import TsnError

SUMMARY = "Test a checkpoint with 25 snippets x 10 crops and save a score file."


def eval_command(ctx: typer.Context) -> None:
    """Test a checkpoint with 25 snippets x 10 crops and save a score file."""
    raise TsnError("`tsn eval` is not built yet (issue #7); nothing was done")


def register(app: typer.Typer) -> None:
    app.command(
        name="eval",
        help=SUMMARY,
        epilog=example(
            "tsn eval runs/ucf101_rgb/best.pt --list data/ucf101_rgb_val_split_1.txt"
            " --save-scores rgb.npz"
        ),
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(eval_command)
