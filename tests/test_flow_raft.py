"""RAFT through tsncli/flow/raft.py and the torch backend, with random weights (no download):
shapes, padding to a multiple of 8, the batch path, the cache and the missing-weights error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsncli.acquire.catalog import get_entry, weights_path
from tsncli.errors import DataError, UsageError
from tsncli.flow.algorithms import resolve_implementation
from tsncli.flow.backends import create_batch_flow_fn
from tsncli.flow.raft import create_raft, pad_to_multiple, raft_flow


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_raft("raft_small", weights=None)


def _frames(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy((rng.random((batch, height, width)) * 255).astype(np.uint8))


@pytest.mark.parametrize(("height", "width"), [(130, 137), (66, 75)])
def test_flow_has_the_frames_size_for_sizes_that_are_not_multiples_of_8(model, height, width):
    prev, nxt = _frames(2, height, width), _frames(2, height, width, seed=1)
    flow = raft_flow(model, prev, nxt, iterations=1)  # 66x75 is padded up to RAFT's 128
    assert flow.shape == (2, height, width, 2) and flow.dtype == torch.float32
    assert torch.isfinite(flow).all()


def test_padding_replicates_the_last_row_and_column_up_to_a_multiple_of_8():
    images = torch.arange(2 * 3 * 10 * 13, dtype=torch.float32).reshape(2, 3, 10, 13)
    padded = pad_to_multiple(images, minimum=0)
    assert padded.shape == (2, 3, 16, 16)
    assert torch.equal(padded[..., :10, :13], images)
    assert torch.equal(padded[..., 15, :13], images[..., 9, :])
    assert torch.equal(padded[..., :10, 15], images[..., :, 12])
    assert pad_to_multiple(padded, minimum=0) is padded  # already a multiple: untouched
    assert pad_to_multiple(images).shape == (2, 3, 128, 128)  # RAFT's smallest input


def test_a_batch_gives_the_flow_of_each_pair_alone(model):
    prev, nxt = _frames(3, 128, 136), _frames(3, 128, 136, seed=1)
    batch = raft_flow(model, prev, nxt, iterations=1)
    for k in range(3):
        alone = raft_flow(model, prev[k : k + 1], nxt[k : k + 1], iterations=1)[0]
        torch.testing.assert_close(batch[k], alone, atol=1e-4, rtol=1e-4)


def test_missing_weights_name_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TSN_HOME", str(tmp_path))
    with pytest.raises(DataError, match=r"run `tsn fetch weights raft_small` first"):
        create_raft("raft_small")
    with pytest.raises(DataError, match="tsn fetch weights raft_large"):
        create_batch_flow_fn("raft_large", device="cpu")


def test_catalog_lists_torchvisions_raft_files_with_their_hash_prefixes():
    small = get_entry("weights/raft_small").files[0]
    large = get_entry("weights/raft_large").files[0]
    assert small.url == "https://download.pytorch.org/models/raft_small_C_T_V2-01064c6d.pth"
    assert (small.hash_prefix, large.hash_prefix) == ("01064c6d", "1bb1363a")


def test_weights_in_the_cache_run_through_the_batch_backend(model, tmp_path, monkeypatch):
    monkeypatch.setenv("TSN_HOME", str(tmp_path))
    path = weights_path("raft_small")
    path.parent.mkdir(parents=True)
    torch.save(model.state_dict(), path)
    flow_fn = create_batch_flow_fn("raft_small")  # torch is RAFT's only implementation
    prev, nxt = _frames(2, 128, 136).numpy(), _frames(2, 128, 136, seed=1).numpy()
    flow = flow_fn(prev, nxt)
    expected = raft_flow(model, torch.from_numpy(prev), torch.from_numpy(nxt))
    assert flow.shape == (2, 128, 136, 2)
    np.testing.assert_allclose(flow, expected.numpy(), atol=1e-4)


def test_impossible_implementations_are_refused_with_the_fix():
    assert resolve_implementation("tvl1", None, "cpu") == "opencv"
    assert resolve_implementation("tvl1", None, "cuda:0") == "torch"
    assert resolve_implementation("raft_small", None, "cpu") == "torch"
    with pytest.raises(UsageError, match="use --impl torch"):
        resolve_implementation("raft_small", "opencv", "cpu")
    with pytest.raises(UsageError, match="no torch implementation"):
        resolve_implementation("farneback", "torch", "cpu")
    with pytest.raises(UsageError, match="CPU only"):
        resolve_implementation("dis", "opencv", "cuda:0")
