"""The worker pool survives dead workers: the task a dead worker held is reported, others finish."""

from __future__ import annotations

import pytest
from fault_helpers import exit_on_three, ten_times_or_die

from tsncli.parallel import WorkerDiedError, death_reason, run_pool


def test_a_killed_worker_is_replaced_and_its_task_reported():
    results = dict(
        run_pool(
            ten_times_or_die,
            range(6),
            workers=2,
            threads_per_worker=0,
            on_worker_death=lambda task, reason: f"task {task}: {reason}",
        )
    )
    assert results == {0: 0, 1: 10, 2: "task 2: worker died (signal 9)", 3: 30, 4: 40, 5: 50}


def test_a_worker_exit_code_is_named_when_not_a_signal():
    results = dict(
        run_pool(
            exit_on_three, range(5), workers=2, threads_per_worker=0, on_worker_death=lambda t, r: r
        )
    )
    assert results[3] == "worker exited with code 3"
    assert [results[i] for i in (0, 1, 2, 4)] == [0, 1, 2, 4]


def test_without_a_death_handler_a_dead_worker_is_one_clear_error():
    with pytest.raises(WorkerDiedError, match=r"worker died \(signal 9\) while running task 3"):
        list(run_pool(ten_times_or_die, range(4), workers=2, threads_per_worker=0))


def test_death_reasons_name_the_signal_or_the_code():
    assert death_reason(-11) == "worker died (signal 11)"
    assert death_reason(1) == "worker exited with code 1"
