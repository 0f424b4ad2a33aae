"""Module-level task functions for the fault tests (spawned pool workers must import them)."""

from __future__ import annotations

import os
import signal


def ten_times_or_die(x: int) -> int:
    """Kill the worker process itself on task 2 (as the OOM killer would), else return 10 * x."""
    if x == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return 10 * x


def exit_on_three(x: int) -> int:
    """Leave the worker with exit code 3 on task 3 (a crash that is not a signal)."""
    if x == 3:
        os._exit(3)
    return x
