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


def kill_on_doomed_videos() -> None:
    """Pool initializer: this worker dies (SIGKILL) when it starts decoding a 'doomed' video."""
    from tsncli.flow import extract

    real = extract.iter_video_frames

    def dying(path, **kwargs):
        if "doomed" in str(path):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, **kwargs)

    extract.iter_video_frames = dying


def kill_on_first_shard() -> None:
    """Pool initializer: this worker dies (SIGKILL) when it would save eval's first shard."""
    from tsncli.engine.eval import evaluate

    real = evaluate.save_scores

    def dying(path, shard):
        if shard.meta.get("start") == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, shard)

    evaluate.save_scores = dying


if __name__ == "__main__":  # `python fault_helpers.py LOCK`: hold LOCK until stdin closes
    import sys

    from tsncli.locks import hold_lock

    with hold_lock(sys.argv[1], "a test output"):
        print("held", flush=True)
        sys.stdin.read()
