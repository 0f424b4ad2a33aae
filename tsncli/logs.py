"""Logging setup: a Rich handler on stderr; stdout stays for machine-readable output."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

stderr_console = Console(stderr=True)


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Configure the `tsncli` logger: -q warnings only, default info, -v debug."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logger = logging.getLogger("tsncli")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = RichHandler(
        console=Console(stderr=True),
        show_time=False,
        show_path=verbose > 1,
        markup=False,
        rich_tracebacks=False,
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def is_quiet() -> bool:
    """True when -q was given (progress bars are then hidden)."""
    return logging.getLogger("tsncli").level > logging.INFO


def print_error(message: str) -> None:
    """Print `error: <message>` on stderr as exactly one line (folded, never wrapped)."""
    text = " ".join(str(message).split())
    stderr_console.print(f"error: {text}", markup=False, highlight=False, soft_wrap=True)
