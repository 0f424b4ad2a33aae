"""Logging setup: a Rich handler on stderr; stdout stays for machine-readable output."""

from __future__ import annotations

import logging
import os
import sys

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
    if not verbose:
        quiet_native_logs()


# OpenCV's own log level, and the level of the FFmpeg it bundles (-8: AV_LOG_QUIET)
_NATIVE_QUIET = {"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "-8"}


def quiet_native_logs() -> None:
    """Keep OpenCV's and its FFmpeg's log lines ("[ WARN:0@0.01] ... imread_('x.jpg')", "[mov
    @ 0x55...] moov atom not found") off stderr, where they printed ahead of our own line about
    the same file; `-v` leaves them on. Set in the environment, so that spawned workers and a
    later `import cv2` (start-up imports neither cv2 nor av) inherit it; an OpenCV imported
    already is told directly, as it reads OPENCV_LOG_LEVEL once. PyAV's libav logging is off
    unless asked for (av.logging), so it needs nothing. A value the user set is kept."""
    ours = [name for name in _NATIVE_QUIET if name not in os.environ]
    for name in ours:
        os.environ[name] = _NATIVE_QUIET[name]
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and "OPENCV_LOG_LEVEL" in ours:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def is_quiet() -> bool:
    """True when -q was given (progress bars are then hidden)."""
    return logging.getLogger("tsncli").level > logging.INFO


def print_error(message: str) -> None:
    """Print `error: <message>` on stderr as exactly one line (folded, never wrapped)."""
    text = " ".join(str(message).split())
    stderr_console.print(f"error: {text}", markup=False, highlight=False, soft_wrap=True)
