"""On-the-fly flow (predict's in-memory extraction, video lists) uses the flow implementation a
checkpoint's FrameSettings record, so `tsn predict` computes the flow `tsn flow` wrote."""

from __future__ import annotations

import logging
import shutil

import cv2
import evalkit
import numpy as np
import pytest
import torch

from tsncli.data import memory_source
from tsncli.data.memory_source import MemoryFrameSource
from tsncli.data.video_source import VideoFileSource
from tsncli.engine.eval.evaluate import EvalSettings, evaluate
from tsncli.engine.predict import predict_videos
from tsncli.flow import backends
from tsncli.flow.backends import create_pair_flow_fn
from tsncli.flow.encoding import encode_flow
from tsncli.flow.job import FlowConfig, save_flow_settings
from tsncli.flow.stream import encode_jpeg
from tsncli.frame_settings import (
    FrameSettings,
    describe_implementation_change,
    describe_mismatch,
)
from tsncli.models.checkpoint import save_checkpoint
from tsncli.models.tsn import create_tsn

TORCH_TVL1 = FrameSettings(size=(48, 36), flow_algorithm="tvl1", flow_implementation="torch")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("implflow")
    return evalkit.make_dataset(root, videos_per_class=1)


def _spy(monkeypatch, module):
    calls = []
    real = create_pair_flow_fn

    def spy(algo, impl=None, device="cpu"):
        calls.append((algo, impl, device))
        return real(algo, impl, device)

    monkeypatch.setattr(module, "create_pair_flow_fn", spy)
    return calls


def _grey_pair(video: str) -> list[np.ndarray]:
    frames = list(MemoryFrameSource(TORCH_TVL1)._frames(video))[:2]
    return [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]


def test_in_memory_extraction_computes_the_recorded_torch_tvl1(data, monkeypatch):
    calls = _spy(monkeypatch, memory_source)
    video = str(data["videos"][0])
    files = MemoryFrameSource(TORCH_TVL1).extract(video, np.array([[1]]), "flow")
    assert calls == [("tvl1", "torch", "cpu")]
    torch_x = encode_flow(create_pair_flow_fn("tvl1", "torch")(*_grey_pair(video)), 20.0)[..., 0]
    assert files[f"{video}/flow_x_00001.jpg"] == encode_jpeg(np.ascontiguousarray(torch_x))


def _flow_checkpoint(path, frames: FrameSettings):
    torch.manual_seed(2)
    model = create_tsn("tiny", 3, modality="flow", num_segments=3, new_length=2, dropout=0.5)
    meta = {"class_names": evalkit.CLASSES, "crop_size": 32, "frames": frames.to_dict()}
    return save_checkpoint(path, model, meta)


def test_predict_uses_the_implementation_its_checkpoint_records(data, tmp_path, monkeypatch):
    ckpt = _flow_checkpoint(tmp_path / "flow.pt", TORCH_TVL1)
    calls = _spy(monkeypatch, memory_source)
    predictions = list(predict_videos(data["videos"][:1], [ckpt], segments=2, crops=1))
    assert predictions[0].error is None, predictions[0].error
    assert calls == [("tvl1", "torch", "cpu")]


def test_opencv_flow_stays_on_the_cpu_when_the_model_runs_on_cuda(data, monkeypatch):
    calls = _spy(monkeypatch, memory_source)
    settings = FrameSettings(size=(48, 36), flow_algorithm="farneback")
    MemoryFrameSource(settings, device="cuda").extract(
        str(data["videos"][0]), np.array([[1]]), "flow"
    )
    assert calls == [("farneback", "opencv", "cpu")]


def test_a_video_list_source_keeps_the_recorded_implementation(data, monkeypatch):
    from tsncli.lists.listfile import VideoRecord

    settings = FrameSettings(size=(48, 36), flow_algorithm="dis", source="videos")
    source = VideoFileSource.from_settings(settings)
    assert source.frame_settings == settings
    calls = _spy(monkeypatch, backends)  # read_frames imports it when flow is first needed
    record = VideoRecord(str(data["videos"][0]), 10, 0)
    assert source.read_frames(record, np.array([[2]]), "flow")[0].shape == (36, 48, 2)
    assert calls == [("dis", "opencv", "cpu")]


# --- a flow model tested on frames made with another flow: warned; another implementation: noted


def test_another_implementation_of_the_same_algorithm_is_a_note_not_a_mismatch():
    opencv = FrameSettings(flow_algorithm="tvl1", flow_implementation="opencv")
    torch_made = FrameSettings(flow_algorithm="tvl1", flow_implementation="torch")
    raft = FrameSettings(flow_algorithm="raft_small", flow_implementation="torch")
    assert describe_mismatch(opencv, torch_made) == []
    assert describe_implementation_change(opencv, torch_made) == [
        "flow_implementation 'torch' vs 'opencv'"
    ]
    assert describe_implementation_change(opencv, torch_made, modality="rgb") == []
    assert describe_mismatch(opencv, raft) == ["flow_algorithm 'raft_small' vs 'tvl1'"]
    assert describe_implementation_change(opencv, raft) == []  # already a mismatch


def _frames_made_with(data, root, config: FlowConfig):
    shutil.copytree(data["frames"] / "v_red_left_0", root / "v_red_left_0")
    save_flow_settings(root, config)
    return root / "v_red_left_0"


def test_predict_warns_when_a_frames_folder_has_another_flow(data, tmp_path, caplog):
    raft = FrameSettings(size=(48, 36), flow_algorithm="raft_small", flow_implementation="torch")
    ckpt = _flow_checkpoint(tmp_path / "raft.pt", raft)
    made = FlowConfig(algo="farneback", size="48x36")
    folder = _frames_made_with(data, tmp_path / "frames", made)
    with caplog.at_level(logging.INFO, logger="tsncli"):
        assert next(predict_videos([folder], [ckpt], segments=2, crops=1)).error is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("flow_algorithm 'farneback' vs 'raft_small'" in m for m in warnings), warnings


def test_eval_notes_tvl1_frames_made_by_the_other_implementation(data, tmp_path, caplog):
    ckpt = _flow_checkpoint(tmp_path / "torch.pt", TORCH_TVL1)
    folder = _frames_made_with(data, tmp_path / "frames", FlowConfig(algo="tvl1", size="48x36"))
    list_file = tmp_path / "one.txt"
    list_file.write_text(f"{folder} 11 0\n")
    with caplog.at_level(logging.INFO, logger="tsncli"):
        evaluate(ckpt, list_file, tmp_path / "s.npz", EvalSettings(segments=1, crops=1))
    by_level = {r.levelno: r.getMessage() for r in caplog.records if "frames in" in r.getMessage()}
    assert logging.WARNING not in by_level, by_level
    assert "flow_implementation 'opencv' vs 'torch'" in by_level[logging.INFO]
