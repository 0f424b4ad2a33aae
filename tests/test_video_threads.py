"""`--decode-threads`: train, eval, predict and probe hand the value to every decoder they (and
their workers) open; sparse reads split frames over slice threads, full decodes also frames."""

from __future__ import annotations

import pytest
from video_fixtures import make_fixture

from tsncli.video import backend, probe, sparse
from tsncli.video.backend import THREADS_ENV, open_container, set_decode_threads
from tsncli.video.sparse import SparseReader


@pytest.fixture()
def clean_env(monkeypatch):
    """No $TSN_DECODE_THREADS before the test; whatever the test sets is undone after it."""
    monkeypatch.delenv(THREADS_ENV, raising=False)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_fixture(tmp_path_factory.mktemp("threads"), "h264_bframes", n=60)


def _opened_threads(monkeypatch, module) -> list[tuple[int, str]]:
    """(thread_count, thread_type) of every stream `module` opens from now on."""
    seen: list[tuple[int, str]] = []

    def spy(*args, **kwargs):
        container, stream = open_container(*args, **kwargs)
        seen.append((stream.codec_context.thread_count, stream.codec_context.thread_type.name))
        return container, stream

    monkeypatch.setattr(module, "open_container", spy)
    return seen


@pytest.mark.parametrize(
    "args",
    [
        ["train", "ucf101", "rgb", "--lists-dir", "{tmp}/none", "--gpus", "0"],
        ["eval", "{tmp}/none.pt", "--list", "{tmp}/none.txt", "--save-scores", "{tmp}/s.npz"],
        ["predict", "{tmp}/none.avi", "--checkpoint", "{tmp}/none.pt"],
    ],
    ids=["train", "eval", "predict"],
)
def test_the_option_becomes_the_threads_loader_workers_decode_with(
    runner, cli, clean_env, tmp_path, args
):
    runner.invoke(
        cli, [a.replace("{tmp}", str(tmp_path)) for a in args] + ["--decode-threads", "3"]
    )
    assert backend.decode_threads() == 3  # workers inherit $TSN_DECODE_THREADS


def test_probe_opens_every_video_with_the_threads_given(
    runner, cli, clean_env, monkeypatch, video, tmp_path
):
    full = _opened_threads(monkeypatch, probe)
    frames = _opened_threads(monkeypatch, sparse)
    args = [
        "probe",
        str(video),
        "--frames",
        "5,40",
        "--out",
        str(tmp_path),
        "--decode-threads",
        "2",
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert full and all(count == 2 for count, _type in full)
    assert frames and all(count == 2 for count, _type in frames)


def test_negative_thread_counts_are_refused(runner, cli, video):
    result = runner.invoke(cli, ["probe", str(video), "--decode-threads", "-1"])
    assert result.exit_code == 2
    with pytest.raises(Exception, match="decode-threads"):
        set_decode_threads(-1)


def test_without_the_option_each_video_gets_one_thread(clean_env, monkeypatch, video):
    seen = _opened_threads(monkeypatch, sparse)
    set_decode_threads(None)
    SparseReader(str(video)).read([3])
    assert seen == [(1, "SLICE")]


def test_sparse_reads_use_slice_threads_and_full_decodes_frame_threads(video):
    container, stream = open_container(video, 4)
    assert stream.codec_context.thread_type.name == "SLICE"  # frame threads decode past the target
    container.close()
    container, stream = open_container(video, 4, sequential=True)
    assert stream.codec_context.thread_type.name == "AUTO"  # frame and slice
    container.close()
