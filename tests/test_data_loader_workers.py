"""Loader workers start even when the process that creates the loader already ran OpenCV on its
thread pool (a forked worker's `cv2.setNumThreads(1)` used to wait forever on the pool's copy)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import cv2, numpy as np
    from tsncli.data.dataset import create_loader
    cv2.GaussianBlur(np.random.rand(1024, 1024, 3).astype(np.float32), (0, 0), 3)  # pool starts
    batches = list(create_loader(list(range(4)), 2, workers=1))
    print(len(batches))
    """
)


def test_workers_start_after_opencv_used_its_threads_here():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
