"""The progress protocol: core loops emit ProgressEvents; the one renderer draws them on stderr."""

from __future__ import annotations

import hashlib
import logging
import threading
import zipfile

import pytest
from flow_helpers import moving_video

from tsncli.acquire import download
from tsncli.acquire.archives import extract_archive
from tsncli.acquire.catalog import RemoteFile
from tsncli.acquire.download import Target, download_file
from tsncli.acquire.fetching import FetchItem, run_fetch
from tsncli.commands._progress import ProgressView
from tsncli.engine.train.loop import step_events
from tsncli.flow.batch import run_flow_extraction
from tsncli.flow.job import FlowConfig
from tsncli.progress import ProgressEvent, Tracker

DATA = bytes(range(256)) * 1024  # 256 KiB: four 64 KiB chunks


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(download, "CHUNK_BYTES", 64 * 1024)


@pytest.fixture
def quiet():
    logger = logging.getLogger("tsncli")
    level = logger.level
    logger.setLevel(logging.WARNING)  # what -q does
    yield
    logger.setLevel(level)


def test_a_tracker_reports_every_step_in_order_with_its_total_and_unit():
    seen: list[ProgressEvent] = []
    tracker = Tracker(seen.append, "files", total=3, unit="bytes")
    tracker.start()
    tracker.advance()
    tracker.advance(2, message="last")
    assert seen == [
        ProgressEvent("files", 0, 3, "bytes"),
        ProgressEvent("files", 1, 3, "bytes"),
        ProgressEvent("files", 3, 3, "bytes", "last"),
    ]


def test_a_tracker_without_a_callback_still_counts():
    tracker = Tracker(None, "files", total=2)
    tracker.advance()
    tracker.update(2, total=5)
    assert (tracker.done, tracker.total) == (2, 5)


def test_a_download_reports_growing_bytes_under_the_file_name(server, small_chunks, tmp_path):
    url = server.add("/a.bin", DATA)
    seen: list[ProgressEvent] = []
    download_file([url], Target(tmp_path / "a.bin"), on_progress=seen.append)
    assert {(e.task, e.total, e.unit) for e in seen} == {("a.bin", len(DATA), "bytes")}
    assert [e.done for e in seen] == [64 * 1024 * k for k in range(1, 5)]


def test_adopting_a_file_reports_hashing_under_the_target_name(tmp_path):
    source = tmp_path / "downloaded.bin"
    source.write_bytes(DATA)
    target = Target(tmp_path / "data" / "a.bin", len(DATA), hashlib.sha256(DATA).hexdigest())
    seen: list[ProgressEvent] = []
    download.adopt_file(source, target, seen.append)
    assert seen[-1] == ProgressEvent("a.bin", len(DATA), len(DATA), "bytes")


def test_parallel_fetches_report_each_file_as_its_own_task(server, small_chunks, tmp_path):
    items = []
    for name in ("a.bin", "b.bin"):
        url = server.add(f"/{name}", DATA)
        target = Target(tmp_path / name)
        items.append(FetchItem("url", RemoteFile(name, url), target, (url,)))
    seen: list[ProgressEvent] = []
    run_fetch(items, jobs=2, on_progress=seen.append)
    for name in ("a.bin", "b.bin"):
        done = [e.done for e in seen if e.task == name]
        assert done == sorted(done) and done[-1] == len(DATA)


def test_extracting_an_archive_counts_its_members(tmp_path):
    archive = tmp_path / "clips.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(3):
            zf.writestr(f"clips/{i}.txt", "x")
    seen: list[ProgressEvent] = []
    extract_archive(archive, tmp_path / "out", on_progress=seen.append)
    assert [(e.task, e.done, e.total) for e in seen] == [("clips.zip", k, 3) for k in (1, 2, 3)]


def test_flow_extraction_reports_each_video_with_the_frames_so_far(tmp_path):
    src, out = tmp_path / "videos", tmp_path / "frames"
    for name in ("a", "b"):
        moving_video(src / f"{name}.avi", n=3)
    seen: list[ProgressEvent] = []
    config = FlowConfig(algo="dis", size="64x48")
    summary = run_flow_extraction(src, out, config, on_progress=seen.append)
    assert [(e.task, e.done, e.total) for e in seen] == [("videos", k, 2) for k in (0, 1, 2)]
    assert seen[-1].message == f"{summary.frames} frames" and summary.frames == 6
    again: list[ProgressEvent] = []
    run_flow_extraction(src, out, config, on_progress=again.append)  # all done: skipped at once
    assert [(e.done, e.total) for e in again] == [(2, 2)]


def test_a_training_step_becomes_a_run_bar_and_an_epoch_bar():
    run, epoch = step_events(epoch=2, epochs=3, step=4, steps=10, loss=0.5, lr=0.01, clips_per_s=8)
    assert (run.task, run.done, run.total, run.message) == ("training", 14, 30, "epoch 2/3")
    assert (epoch.task, epoch.done, epoch.total) == ("epoch", 4, 10)
    assert epoch.message == "loss 0.5000  lr 1.00e-02  8.0 clips/s"
    assert run.kind == "step" and run.stats["lr"] == 0.01


def test_a_validation_adds_no_bar_and_leaves_the_run_bar_where_it_was():
    (run, epoch) = step_events(
        epoch=2, epochs=3, step=10, steps=10, loss=0.5, lr=0.01, clips_per_s=8
    )
    with ProgressView(enabled=True) as show:
        show(run)
        show(epoch)
        before = [(t.description, t.completed, t.fields["message"]) for t in show.progress.tasks]
        show(ProgressEvent("training", 20, 30, message="epoch 2/3", kind="val", stats={"best": 1}))
        after = [(t.description, t.completed, t.fields["message"]) for t in show.progress.tasks]
    assert after == before


def test_an_info_event_is_a_log_line_and_no_bar(caplog):
    with caplog.at_level(logging.INFO, logger="tsncli"), ProgressView(enabled=True) as show:
        show(ProgressEvent("training", 0, kind="info", message="run folder runs/x"))
        tasks = list(show.progress.tasks)
    assert tasks == [] and "run folder runs/x" in caplog.text


def test_the_renderer_draws_items_and_bytes_on_stderr_and_nothing_on_stdout(capsys):
    with ProgressView(enabled=True) as show:
        show(ProgressEvent("videos", 2, 4, message="60 frames"))
        show(ProgressEvent("ucf101.rar", 1_500_000, 3_000_000, "bytes"))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "videos" in captured.err and "2/4" in captured.err and "60 frames" in captured.err
    assert "ucf101.rar" in captured.err and "1.5/3.0 MB" in captured.err


def test_the_renderer_draws_nothing_with_quiet(capsys, quiet):
    with ProgressView() as show:
        show(ProgressEvent("videos", 1, 2))
    assert capsys.readouterr() == ("", "")


def test_the_renderer_keeps_one_bar_per_task_and_restarts_it_when_the_count_goes_back():
    with ProgressView(enabled=True) as show:
        show(ProgressEvent("epoch", 9, 10))
        show(ProgressEvent("epoch", 1, 10, message="2/3"))
        tasks = show.progress.tasks
    assert len(tasks) == 1
    assert (tasks[0].completed, tasks[0].fields["message"]) == (1, "2/3")


def test_the_renderer_adds_one_bar_per_task_from_many_threads():
    with ProgressView(enabled=True) as show:

        def report(i: int) -> None:
            for done in range(1, 51):
                show(ProgressEvent(f"file {i % 4}", done, 50, "bytes"))

        threads = [threading.Thread(target=report, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        names = sorted(t.description for t in show.progress.tasks)
    assert names == [f"file {i}" for i in range(4)]


def test_fetch_prints_only_paths_on_stdout_and_its_bar_on_stderr(runner, cli, server, tmp_path):
    url = server.add("/f/a.bin", DATA)
    result = runner.invoke(cli, ["fetch", url, "--dest", str(tmp_path / "dl")])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "dl" / "a.bin")
    assert "a.bin" in result.stderr and "262.1/262.1 kB" in result.stderr
