"""Downloads: resume, restart, retries, verification, adoption, all against a 127.0.0.1 server."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest
from fetch_server import FileServer

from tsncli.acquire import download
from tsncli.acquire.download import (
    Target,
    adopt_file,
    download_file,
    local_status,
    part_path,
    verify_existing,
)
from tsncli.errors import DownloadError

DATA = bytes(range(256)) * 4096 + b"tail"  # ~1 MiB, more than one chunk with small CHUNK_BYTES
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.0)
    monkeypatch.setattr(download, "CHUNK_BYTES", 64 * 1024)
    monkeypatch.setattr(download, "TIMEOUT_S", 5.0)


def test_download_writes_the_file_and_records_it_verified(server, tmp_path):
    url = server.add("/a.bin", DATA)
    target = Target(tmp_path / "a.bin", len(DATA), SHA)
    assert download_file([url], target) == "downloaded"
    assert target.path.read_bytes() == DATA
    assert not part_path(target.path).exists()
    assert local_status(target) == "verified"


def test_download_resumes_a_part_file_with_a_range_request(server, tmp_path):
    url = server.add("/a.bin", DATA)
    target = Target(tmp_path / "a.bin", len(DATA), SHA)
    part_path(target.path).write_bytes(DATA[:300_000])
    assert local_status(target) == "partial"
    download_file([url], target)
    assert target.path.read_bytes() == DATA
    assert server.files["/a.bin"].requests == ["bytes=300000-"]


def test_download_restarts_cleanly_when_the_server_ignores_range(server, tmp_path):
    url = server.add("/a.bin", DATA, ranges=False)
    target = Target(tmp_path / "a.bin", None, SHA)
    part_path(target.path).write_bytes(b"x" * 1000)  # wrong bytes: appending would corrupt
    download_file([url], target)
    assert target.path.read_bytes() == DATA


def test_download_resumes_after_the_connection_drops_mid_body(server, tmp_path):
    url = server.add("/a.bin", DATA, drop_after=200_000)
    target = Target(tmp_path / "a.bin", None, SHA)
    download_file([url], target)
    assert target.path.read_bytes() == DATA
    requests = server.files["/a.bin"].requests
    assert requests[0] is None and requests[1].startswith("bytes=")


def test_download_retries_a_server_error_then_succeeds(server, tmp_path):
    url = server.add("/a.bin", DATA, fail_first=2)
    target = Target(tmp_path / "a.bin", None, SHA)
    assert download_file([url], target) == "downloaded"
    assert len(server.files["/a.bin"].requests) == 3


def test_download_gives_up_after_repeated_server_errors(server, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "RETRIES", 1)
    url = server.add("/a.bin", DATA, fail_first=10)
    with pytest.raises(DownloadError, match="HTTP 500"):
        download_file([url], Target(tmp_path / "a.bin"))


def test_checksum_mismatch_removes_the_bad_file_and_names_the_remedy(server, tmp_path):
    url = server.add("/a.bin", DATA)
    target = Target(tmp_path / "a.bin", None, "0" * 64)
    with pytest.raises(DownloadError) as info:
        download_file([url], target)
    message = str(info.value)
    assert "checksum mismatch" in message and url in message and "--mirror" in message
    assert not target.path.exists() and not part_path(target.path).exists()


def test_hash_prefix_is_checked_like_torchvision(server, tmp_path):
    url = server.add("/a.bin", DATA)
    download_file([url], Target(tmp_path / "ok.bin", hash_prefix=SHA[:8]))
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_file([url], Target(tmp_path / "bad.bin", hash_prefix="deadbeef"))


def test_404_fails_at_once_with_the_url_and_remedy(server, tmp_path):
    url = server.base + "/missing.bin"
    with pytest.raises(DownloadError) as info:
        download_file([url], Target(tmp_path / "missing.bin"))
    message = str(info.value)
    assert "HTTP 404" in message and url in message and "--from PATH" in message
    assert "\n" not in message


def test_unreachable_host_is_reported_as_cannot_connect(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "RETRIES", 0)
    server = FileServer()
    url = server.base + "/a.bin"
    server.close()  # nothing listens on that port now
    with pytest.raises(DownloadError, match="cannot connect"):
        download_file([url], Target(tmp_path / "a.bin"))


def test_next_url_is_tried_when_the_first_is_missing(server, tmp_path):
    good = server.add("/mirror/a.bin", DATA)
    assert download_file([server.base + "/gone.bin", good], Target(tmp_path / "a.bin")) == (
        "downloaded"
    )


def test_complete_file_is_skipped_without_a_request(server, tmp_path):
    url = server.add("/a.bin", DATA)
    target = Target(tmp_path / "a.bin", len(DATA), SHA)
    download_file([url], target)
    assert download_file([url], target) == "skipped"
    assert len(server.files["/a.bin"].requests) == 1


def test_force_downloads_again(server, tmp_path):
    url = server.add("/a.bin", DATA)
    target = Target(tmp_path / "a.bin")
    download_file([url], target)
    assert download_file([url], target, force=True) == "downloaded"
    assert len(server.files["/a.bin"].requests) == 2


def test_disk_full_keeps_the_part_file_and_says_so(server, tmp_path, monkeypatch):
    url = server.add("/a.bin", DATA)
    real_open = download.open_part

    class FullDisk:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            if self.written >= 128 * 1024:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return self.f.write(data)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def close(self):
            self.f.close()

    monkeypatch.setattr(download, "open_part", lambda p, m: FullDisk(real_open(p, m)))
    target = Target(tmp_path / "a.bin")
    with pytest.raises(DownloadError, match="disk full") as info:
        download_file([url], target)
    assert "resume" in str(info.value)
    assert part_path(target.path).stat().st_size == 128 * 1024
    assert not target.path.exists()


def test_progress_reports_bytes_and_total(server, tmp_path):
    url = server.add("/a.bin", DATA)
    seen = []
    download_file([url], Target(tmp_path / "a.bin"), on_progress=seen.append)
    last = seen[-1]
    assert (last.task, last.done, last.total, last.unit) == ("a.bin", len(DATA), len(DATA), "bytes")


def test_adopt_links_a_verified_file_into_place(tmp_path):
    source = tmp_path / "downloads" / "a.bin"
    source.parent.mkdir()
    source.write_bytes(DATA)
    target = Target(tmp_path / "data" / "a.bin", len(DATA), SHA)
    assert adopt_file(source, target) == "adopted"
    assert target.path.read_bytes() == DATA
    assert os.path.samefile(source, target.path)  # a hard link, no second copy
    assert local_status(target) == "verified"


def test_adopt_refuses_a_file_with_the_wrong_checksum_and_leaves_it(tmp_path):
    source = tmp_path / "a.bin"
    source.write_bytes(DATA)
    target = Target(tmp_path / "data" / "a.bin", None, "1" * 64)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        adopt_file(source, target)
    assert source.exists() and not target.path.exists()


def test_existing_file_placed_by_hand_is_verified_once(tmp_path):
    target = Target(tmp_path / "a.bin", len(DATA), SHA)
    target.path.write_bytes(DATA)
    assert local_status(target) == "unverified"
    assert verify_existing(target)
    assert local_status(target) == "verified"


def test_existing_file_that_fails_its_checksum_is_reported_not_trusted(server, tmp_path):
    url = server.add("/a.bin", DATA)
    target = Target(tmp_path / "a.bin", None, SHA)
    target.path.write_bytes(b"something else")
    with pytest.raises(DownloadError, match="--force"):
        download_file([url], target)
    assert download_file([url], target, force=True) == "downloaded"
    assert target.path.read_bytes() == DATA


def test_files_without_a_known_checksum_are_not_hashed(server, tmp_path, monkeypatch):
    url = server.add("/a.bin", DATA)
    monkeypatch.setattr(download.hashlib, "sha256", None)  # any hashing would now fail
    assert download_file([url], Target(tmp_path / "a.bin", len(DATA))) == "downloaded"


def test_jobs_download_files_at_the_same_time(server, tmp_path):
    import threading

    from tsncli.acquire.fetching import plan_fetch, run_fetch

    both = threading.Barrier(2, timeout=10)  # each answer waits until both requests arrived
    urls = [server.add(f"/{n}.bin", DATA, barrier=both) for n in ("one", "two")]
    outcomes = run_fetch(plan_fetch(urls, dest=tmp_path), jobs=2)
    assert [o.status for o in outcomes] == ["downloaded", "downloaded"]
    assert (tmp_path / "two.bin").read_bytes() == DATA


def test_a_part_that_is_already_whole_is_finished_without_downloading_again(server, tmp_path):
    url = server.add("/a.bin", DATA)
    target = Target(tmp_path / "a.bin", len(DATA), SHA)
    part_path(target.path).write_bytes(DATA)
    assert download_file([url], target) == "downloaded"
    assert target.path.read_bytes() == DATA
    assert server.files["/a.bin"].requests == [f"bytes={len(DATA)}-"]


def test_a_part_longer_than_the_file_is_discarded_and_downloaded_again(server, tmp_path):
    url = server.add("/a.bin", DATA)
    target = Target(tmp_path / "a.bin", None, SHA)
    part_path(target.path).write_bytes(DATA + b"junk")
    download_file([url], target)
    assert target.path.read_bytes() == DATA
