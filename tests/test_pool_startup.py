"""The worker pool's start-up cost: a CPU-only run never imports torch (issue 14: ~4 CPU s)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

RUN_POOL = textwrap.dedent(
    """
    import sys
    from tsncli.parallel import run_pool

    if __name__ == "__main__":
        results = sorted(run_pool(abs, [-1, -2, -3], workers=2))
        print(results, "torch" in sys.modules)
    """
)


def test_a_two_worker_pool_runs_its_tasks_without_importing_torch(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(RUN_POOL)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.split("\n")[0] == "[(0, 1), (1, 2), (2, 3)] False"
