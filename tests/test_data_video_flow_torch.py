"""A flow model trained on torch flow (TV-L1, RAFT) evaluates a video list by computing that flow
on the fly on each eval worker's device, built once per process; OpenCV TV-L1 stays refused."""

from __future__ import annotations

import pickle

import evalkit
import numpy as np
import pytest
import torch

from tsncli.acquire.catalog import weights_path
from tsncli.data import video_source
from tsncli.data.snippet_source import create_snippet_source
from tsncli.data.video_source import VideoFileSource
from tsncli.engine.eval.evaluate import EvalSettings, evaluate
from tsncli.errors import DataError, UsageError
from tsncli.flow import backends
from tsncli.flow.raft import create_raft
from tsncli.frame_settings import FrameSettings
from tsncli.lists.listfile import VideoRecord, read_list, write_list
from tsncli.models.checkpoint import save_checkpoint
from tsncli.models.tsn import create_tsn


@pytest.fixture(scope="module")
def video_list(tmp_path_factory):
    root = tmp_path_factory.mktemp("torchflow")
    (root / "videos").mkdir()
    records = [
        VideoRecord(str(evalkit.write_video(root / "videos" / f"v{k}.avi", k, 12, seed=k)), 11, k)
        for k in range(len(evalkit.CLASSES))
    ]
    header = {"kind": "videos", "size": "48x36", "index": "idx.json"}
    return write_list(root / "videos.txt", records, header=header)


def _checkpoint(path, algo: str, impl: str):
    torch.manual_seed(3)
    model = create_tsn("tiny", 3, modality="flow", num_segments=3, new_length=2, dropout=0.5)
    frames = FrameSettings((48, 36), flow_algorithm=algo, flow_implementation=impl, source="videos")
    meta = {"class_names": evalkit.CLASSES, "crop_size": 32, "frames": frames.to_dict()}
    return save_checkpoint(path, model, meta)


@pytest.fixture
def builds(monkeypatch):
    """Each flow function built (algo, impl, device), starting from an empty per-process cache."""
    calls = []
    real = backends.create_pair_flow_fn

    def spy(algo, impl=None, device="cpu"):
        calls.append((algo, impl, device))
        return real(algo, impl, device)

    monkeypatch.setattr(backends, "_SHARED", {})
    monkeypatch.setattr(backends, "create_pair_flow_fn", spy)
    return calls


def _evaluates_every_video(ckpt, video_list, out) -> None:
    result = evaluate(ckpt, video_list, out, EvalSettings(segments=2, crops=1))
    assert result is not None and result.failures == []
    assert len(np.load(out)["scores"]) == len(evalkit.CLASSES)


def test_a_torch_tvl1_model_evaluates_a_video_list_building_its_flow_once(
    video_list, tmp_path, builds
):
    ckpt = _checkpoint(tmp_path / "tvl1.pt", "tvl1", "torch")
    _evaluates_every_video(ckpt, video_list, tmp_path / "scores.npz")
    assert builds == [("tvl1", "torch", "cpu")]  # one build for every clip of every video


def test_a_raft_model_evaluates_a_video_list_loading_its_weights_once(
    video_list, tmp_path, builds, monkeypatch
):
    monkeypatch.setenv("TSN_HOME", str(tmp_path / "home"))
    path = weights_path("raft_small")
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(create_raft("raft_small", weights=None).state_dict(), path)  # random weights
    ckpt = _checkpoint(tmp_path / "raft.pt", "raft_small", "opencv")  # RAFT is torch whatever
    _evaluates_every_video(ckpt, video_list, tmp_path / "scores.npz")
    assert builds == [("raft_small", "torch", "cpu")]


def test_a_raft_model_without_its_weights_names_the_fetch_command(
    video_list, tmp_path, monkeypatch
):
    monkeypatch.setenv("TSN_HOME", str(tmp_path))
    trained = FrameSettings(flow_algorithm="raft_large", flow_implementation="torch")
    with pytest.raises(DataError, match="tsn fetch weights raft_large"):
        create_snippet_source(video_list, read_list(video_list), "flow", trained=trained)


def test_an_opencv_tvl1_model_on_a_video_list_is_refused_naming_tsn_flow(video_list):
    for algo in ("tvl1", "warp_tvl1"):
        trained = FrameSettings(flow_algorithm=algo, flow_implementation="opencv")
        with pytest.raises(UsageError, match=f"`tsn flow --algo {algo}`.*--impl torch") as err:
            create_snippet_source(video_list, read_list(video_list), "flow", trained=trained)
        assert "\n" not in str(err.value)


def test_the_flow_runs_on_the_pool_workers_device_found_after_unpickling(
    video_list, builds, monkeypatch
):
    trained = FrameSettings(flow_algorithm="warp_tvl1", flow_implementation="torch")
    source = create_snippet_source(video_list, read_list(video_list), "flow", trained=trained)
    assert (source.flow_impl, source.flow_device) == ("torch", None)
    in_worker = pickle.loads(pickle.dumps(source))  # what a spawned eval worker receives
    monkeypatch.setattr(video_source, "current_device", lambda: "cuda:1")
    monkeypatch.setattr(backends, "create_pair_flow_fn", lambda *a: builds.append(a) or None)
    in_worker._flow_fn("warp_tvl1")
    in_worker._flow_fn("warp_tvl1")
    assert builds == [("warp_tvl1", "torch", "cuda:1")]


def test_opencv_flow_is_built_fresh_per_read_and_stays_on_the_cpu(builds, monkeypatch):
    source = VideoFileSource(flow_algo="dis")
    monkeypatch.setattr(video_source, "current_device", lambda: "cuda:0")
    source._flow_fn("dis")
    source._flow_fn("dis")
    assert builds == [("dis", "opencv", "cpu")] * 2  # DIS keeps state between calls
