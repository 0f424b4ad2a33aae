"""Several URLs per file: a dead or wrong host falls through to the next with one line, and
`tsn fetch --check` reports which hosts answer without downloading. All on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import logging
import socket

import pytest

from tsncli.acquire import catalog, download, fetching
from tsncli.acquire.catalog import CatalogEntry, RemoteFile, get_entry
from tsncli.acquire.download import Target, download_file
from tsncli.acquire.probe import check_url
from tsncli.errors import DownloadError

DATA = b"mirrored-bytes" * 3000
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(autouse=True)
def fast(monkeypatch, tmp_path):
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.0)
    monkeypatch.setattr(download, "RETRIES", 1)
    monkeypatch.delenv("TSN_MIRROR", raising=False)
    monkeypatch.chdir(tmp_path)


def dead_url(path: str = "/a.bin") -> str:
    """A URL on a 127.0.0.1 port nothing listens on (a defunct host)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def fall_through_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "trying" in r.getMessage()]


def test_a_dead_first_host_falls_through_to_the_next_with_one_line(server, tmp_path, caplog):
    dead, good = dead_url(), server.add("/mirror/a.bin", DATA)
    with caplog.at_level(logging.WARNING, logger="tsncli.download"):
        status = download_file([dead, good], Target(tmp_path / "a.bin", len(DATA), SHA))
    assert status == "downloaded" and (tmp_path / "a.bin").read_bytes() == DATA
    (line,) = fall_through_lines(caplog)
    assert line.startswith(f"{dead} failed (cannot connect") and line.endswith(f"trying {good}")


def test_a_host_answering_with_a_web_page_is_skipped(server, tmp_path, caplog):
    page = server.add("/old/a.bin", b"<html>we moved</html>", content_type="text/html")
    good = server.add("/new/a.bin", DATA)
    with caplog.at_level(logging.WARNING, logger="tsncli.download"):
        download_file([page, good], Target(tmp_path / "a.bin"))  # no checksum known
    assert (tmp_path / "a.bin").read_bytes() == DATA
    assert "web page" in fall_through_lines(caplog)[0]


def test_a_copy_with_the_wrong_checksum_falls_through_but_the_last_one_fails(server, tmp_path):
    wrong = server.add("/bad/a.bin", DATA[::-1])
    good = server.add("/good/a.bin", DATA)
    assert download_file([wrong, good], Target(tmp_path / "a.bin", sha256=SHA)) == "downloaded"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_file([good, wrong], Target(tmp_path / "b.bin", sha256=SHA[::-1]))


def test_every_url_failing_names_them_all(tmp_path):
    first, second = dead_url("/x.bin"), dead_url("/y.bin")
    with pytest.raises(DownloadError) as error:
        download_file([first, second], Target(tmp_path / "x.bin"))
    assert first in str(error.value) and f"also tried {second}" in str(error.value)


def test_catalog_files_are_planned_with_all_their_urls_in_order():
    (videos, splits) = fetching.plan_fetch(["hmdb51"])
    assert videos.urls == videos.file.urls and len(videos.urls) == 2
    assert videos.urls[0].startswith("https://") and videos.urls[1].startswith("http://")
    ucf_splits = get_entry("ucf101").files[1]
    assert ucf_splits.sha256 and ucf_splits.checksum_source and len(ucf_splits.urls) == 2


def test_kinetics_and_sthv2_entries_put_annotations_where_tsn_lists_looks():
    for name in ("kinetics400", "kinetics600", "kinetics700"):
        files = get_entry(name).files
        assert [f.filename for f in files] == ["annotations/train.csv", "annotations/val.csv"]
        assert all(f.url.startswith("https://s3.amazonaws.com/kinetics/") for f in files)
    assert get_entry("sthv2").files[0].filename.startswith("annotations/")


def test_check_url_uses_head_then_a_one_byte_get(server):
    with_head = check_url(server.add("/h.bin", DATA, head=True), len(DATA))
    without_head = check_url(server.add("/g.bin", DATA), len(DATA))
    assert with_head.ok and with_head.size == len(DATA)
    assert without_head.ok and without_head.size == len(DATA)
    assert server.files["/h.bin"].requests == []  # HEAD answered: no GET at all
    assert server.files["/g.bin"].requests == ["bytes=0-0"]


def test_check_url_reports_missing_files_wrong_sizes_and_dead_hosts(server):
    assert check_url(server.base + "/nope.bin").detail.startswith("HTTP 404")
    wrong = check_url(server.add("/s.bin", DATA, head=True), len(DATA) + 1)
    assert not wrong.ok and wrong.detail == f"size {len(DATA)}, expected {len(DATA) + 1}"
    assert check_url(dead_url()).detail.startswith("cannot connect")


@pytest.fixture
def mirrored(monkeypatch, server):
    """A catalog entry `mirrored` whose one file has a dead host first, then a live one."""
    good = server.add("/live/a.bin", DATA, head=True)
    file = RemoteFile("a.bin", dead_url(), size=len(DATA), sha256=SHA, mirrors=(good,))
    entry = CatalogEntry("mirrored", "dataset", "test", (file,))
    monkeypatch.setattr(fetching, "get_entry", lambda n: entry if n == "mirrored" else get_entry(n))
    monkeypatch.setattr(catalog, "get_entry", fetching.get_entry)
    return file


def test_cli_check_lists_each_host_and_downloads_nothing(runner, cli, mirrored, tmp_path):
    result = runner.invoke(cli, ["fetch", "--check", "mirrored"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("FAIL mirrored: a.bin  " + mirrored.url + "  cannot connect")
    assert lines[1].startswith("ok   mirrored: a.bin  " + mirrored.mirrors[0] + "  HTTP 200")
    assert not (tmp_path / "data").exists()


def test_cli_check_json_and_exit_1_when_no_host_answers(runner, cli, mirrored, server):
    result = runner.invoke(cli, ["fetch", "--check", "--json", "mirrored"])
    assert [c["ok"] for c in json.loads(result.stdout)] == [False, True]
    server.files.clear()  # now the live host answers 404 too
    result = runner.invoke(cli, ["fetch", "--check", "mirrored"])
    assert result.exit_code == 1
    assert "no URL answers for 1 file(s) (first: mirrored: a.bin)" in result.output


def test_cli_fetch_falls_through_to_the_mirror(runner, cli, mirrored, tmp_path):
    result = runner.invoke(cli, ["fetch", "mirrored"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data/mirrored/a.bin").read_bytes() == DATA
    assert "trying " + mirrored.mirrors[0] in " ".join(result.output.split())
