"""Shared core helpers: atomic writes, the registry, the flow encoding, the worker pool."""

from __future__ import annotations

import numpy as np
import pytest

from tsncli.errors import UsageError
from tsncli.flow.encoding import decode_flow, encode_flow
from tsncli.fsutil import atomic_dir, atomic_path, atomic_write_text
from tsncli.parallel import current_device, run_pool
from tsncli.registry import Registry


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_write_survives_ctrl_c(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_appears_complete_or_not_at_all(tmp_path):
    target = tmp_path / "video"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "img_00001.jpg").write_bytes(b"x")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(target) as tmp:
        (tmp / "img_00001.jpg").write_bytes(b"x")
    assert [p.name for p in target.iterdir()] == ["img_00001.jpg"]


def test_registry_lists_valid_names_for_unknown_ones():
    reg: Registry[int] = Registry("flow algorithm")
    reg.add("tvl1", 1)
    reg.add("dis", 2)
    assert reg.get("dis") == 2
    assert reg.names() == ["tvl1", "dis"]
    with pytest.raises(UsageError, match="unknown flow algorithm 'brox'; use one of: tvl1, dis"):
        reg.get("brox")
    with pytest.raises(ValueError):
        reg.add("dis", 3)


def test_flow_encoding_matches_dense_flow_formula():
    flow = np.array([-25.0, -20.0, -10.0, 0.0, 0.05, 10.0, 20.0, 30.0], dtype=np.float32)
    expected = np.rint(255 * (np.clip(flow, -20, 20) + 20) / 40).astype(np.uint8)
    assert encode_flow(flow, 20).tolist() == expected.tolist()
    assert encode_flow(np.zeros(1), 20)[0] == 128
    assert encode_flow(np.array([20.0]), 20)[0] == 255
    assert encode_flow(np.array([-20.0]), 20)[0] == 0


def test_flow_decoding_inverts_encoding_within_one_step():
    flow = np.linspace(-19.9, 19.9, 101, dtype=np.float32)
    back = decode_flow(encode_flow(flow, 20), 20)
    assert np.abs(back - flow).max() <= 40 / 255 / 2 + 1e-5


def test_flow_encoding_rejects_nonpositive_bound():
    with pytest.raises(ValueError):
        encode_flow(np.zeros(2), 0)


def _square(x: int) -> tuple[int, str]:
    return x * x, current_device()


def test_pool_runs_inline_with_one_worker():
    results = dict(run_pool(_square, [1, 2, 3], workers=1))
    assert results == {0: (1, "cpu"), 1: (4, "cpu"), 2: (9, "cpu")}


def test_pool_spreads_tasks_over_spawned_workers():
    results = dict(run_pool(_square, range(6), workers=2, threads_per_worker=0))
    assert {i: r[0] for i, r in results.items()} == {i: i * i for i in range(6)}


def _fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("bad task")
    return x


def test_pool_propagates_task_errors():
    with pytest.raises(ValueError, match="bad task"):
        list(run_pool(_fail_on_two, [1, 2, 3], workers=1))
