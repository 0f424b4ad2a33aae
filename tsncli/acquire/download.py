"""Resumable HTTP downloads in constant memory: `<name>.part`, Range resume, retries, mirrors.

A download streams into `<name>.part` (resumed with an HTTP Range request), is checked for size
and sha256 (hashed on a second thread while it streams, only when a checksum is known), and
only then renamed. Verification and adoption of user files live in `tsncli.acquire.verify`.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import queue
import re
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tsncli import __version__
from tsncli.acquire.verify import (  # noqa: F401  (re-exported: the whole download API in one place)
    REMEDY,
    ProgressFn,
    Target,
    adopt_file,
    check_target,
    hash_file,
    local_status,
    part_path,
    record_path,
    verify_existing,
    write_record,
)
from tsncli.errors import DownloadError
from tsncli.progress import Tracker

log = logging.getLogger("tsncli.download")

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 30.0
RETRIES = 4  # extra attempts per URL after the first, for connection errors and 5xx
RETRY_BACKOFF_S = 1.0  # doubled after each failed attempt


class _Retry(Exception):
    """A transient failure: try the same URL again (resuming)."""


class _Fatal(Exception):
    """A failure retrying this URL cannot fix (404, 403...)."""


class _Sink:
    """The .part file plus (when a checksum is expected) a running sha256 kept in step."""

    def __init__(self, part: Path, hashing: bool) -> None:
        self.part = part
        self.hashing = hashing
        self.hasher = hashlib.sha256() if hashing else None
        self.count = 0

    def start(self, offset: int) -> None:
        if offset == 0:
            self.part.parent.mkdir(parents=True, exist_ok=True)
            open_part(self.part, "wb").close()
            self.hasher, self.count = (hashlib.sha256() if self.hashing else None), 0
        elif offset != self.count:  # resuming a .part left by an earlier run
            self.count = offset
            self.hasher = hash_file(self.part, limit=offset) if self.hashing else None


class _BackgroundHash:
    """Hash chunks on a second thread (hashlib drops the GIL) with a fixed pool of buffers."""

    def __init__(self, hasher, buffers: int = 4) -> None:
        self.hasher = hasher
        self.free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(buffers):
            self.free.put(bytearray(CHUNK_BYTES))
        self.todo: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="tsn-sha256", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.todo.get()) is not None:
            buffer, n = item
            self.hasher.update(memoryview(buffer)[:n])
            self.free.put(buffer)

    def close(self) -> None:
        """Wait until every submitted chunk is hashed."""
        self.todo.put(None)
        self.thread.join()


def open_part(path: Path, mode: str):
    """Open the .part file (a seam for tests that simulate a full disk)."""
    return open(path, mode)


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-", value or "")
    return int(match.group(1)) if match else None


def _is_web_page(response, part: Path) -> bool:
    """An HTML answer for a file that is not HTML: a defunct host's landing page."""
    html = response.headers.get_content_type() in ("text/html", "application/xhtml+xml")
    return html and not part.name.lower().endswith((".html.part", ".htm.part"))


def _fetch_once(url: str, sink: _Sink, tracker: Tracker) -> None:
    """One HTTP attempt appending to the .part; returns when the body is complete."""
    offset = sink.part.stat().st_size if sink.part.exists() else 0
    headers = {"User-Agent": f"tsn/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            match = re.match(r"bytes \*/(\d+)", exc.headers.get("Content-Range") or "")
            if match and int(match.group(1)) == offset:
                sink.start(offset)  # the .part is already the whole file
                return
            sink.start(0)  # our .part does not fit what the server has: start over
            raise _Retry("the server refused to resume; restarting") from None
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from None
        raise _Fatal(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Retry(f"cannot connect ({reason})") from None
    with response:
        if _is_web_page(response, sink.part):
            raise _Fatal("the host answered with a web page, not the file (moved or defunct?)")
        if offset and response.status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != offset:
                log.warning("server resumed at %s, not %s; restarting %s", start, offset, url)
                sink.start(0)
                raise _Retry("the server resumed at the wrong offset")
        elif offset:
            log.info("server ignored the Range request; restarting %s", sink.part.name)
            offset = 0
        sink.start(offset)
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        tracker.total = total if total is not None else tracker.total
        _stream(response, sink, tracker)
        if total is not None and sink.count != total:
            raise _Retry(f"connection closed after {sink.count} of {total} bytes")


def _stream(response, sink: _Sink, tracker: Tracker) -> None:
    hashing = _BackgroundHash(sink.hasher) if sink.hasher is not None else None
    spare = bytearray(CHUNK_BYTES)
    try:
        with open_part(sink.part, "ab") as out:
            while True:
                buffer = hashing.free.get() if hashing else spare
                try:
                    n = response.readinto(buffer)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Retry(f"connection lost after {sink.count} bytes ({exc!r})") from None
                if not n:
                    return
                _write(out, memoryview(buffer)[:n], sink)
                if hashing:
                    hashing.todo.put((buffer, n))
                sink.count += n
                tracker.update(sink.count)
    finally:
        if hashing:
            hashing.close()


def _write(out, data: memoryview, sink: _Sink) -> None:
    try:
        out.write(data)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DownloadError(
                f"disk full while writing {sink.part} ({sink.count} bytes kept); "
                "free some space and run the same command again to resume"
            ) from None
        raise


def _fetch_with_retries(url: str, sink: _Sink, tracker: Tracker) -> None:
    attempt = 0
    while True:
        before = sink.count
        try:
            _fetch_once(url, sink, tracker)
            return
        except _Retry as exc:
            if sink.count > before:
                attempt = 0  # progress was made: a dropped connection is not a dead server
            if attempt >= RETRIES:
                raise _Fatal(f"{exc} after {RETRIES + 1} attempts") from None
            delay = RETRY_BACKOFF_S * 2**attempt
            log.info("%s: %s; retrying in %.1fs", url, exc, delay)
            time.sleep(delay)
            attempt += 1


def check_writable(folder: Path) -> None:
    """DownloadError naming `folder` unless a file can be created in it, checked before any
    request (an unwritable $TSN_HOME used to cost every retry of every URL first)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".tsn-", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DownloadError(
            f"cannot write to {folder} ({reason.lower()}); pass --dest DIR or set TSN_HOME "
            "to a folder you can write"
        ) from None


def download_file(
    urls: Sequence[str],
    target: Target,
    *,
    force: bool = False,
    on_progress: ProgressFn | None = None,
) -> str:
    """Download `target` from the first URL that works; return `downloaded` or `skipped`.

    A complete, verified file is skipped unless `force`. Failures raise DownloadError in one line
    naming the URL and the remedy; a checksum mismatch removes the bad file, a full disk keeps
    the .part for resuming. Progress goes to `on_progress` in bytes, under the file's name.
    """
    path, part = target.path, part_path(target.path)
    if force:
        for stale in (path, part, record_path(path)):
            stale.unlink(missing_ok=True)
    elif verify_existing(target):
        return "skipped"
    check_writable(path.parent)
    sink = _Sink(part, hashing=bool(target.sha256 or target.hash_prefix))
    tracker = Tracker(on_progress, path.name, target.size, "bytes")
    failures = []
    for number, url in enumerate(urls, start=1):
        try:
            _fetch_with_retries(url, sink, tracker)
            digest = sink.hasher.hexdigest() if sink.hasher is not None else None
            try:
                check_target(target, sink.count, digest, url)
            except DownloadError as exc:
                part.unlink(missing_ok=True)
                if number == len(urls):
                    raise
                reason = str(exc).split(";")[0].replace(f" from {url}", "")
                raise _Fatal(reason) from None  # a wrong copy: try the next URL
        except _Fatal as exc:
            failures.append(f"{url}: {exc}")
            if number < len(urls):  # the one line a fall-through prints
                log.warning("%s failed (%s); trying %s", url, exc, urls[number])
            continue
        os.replace(part, path)
        write_record(path, digest)
        return "downloaded"
    others = f" (also tried {'; '.join(failures[1:])})" if len(failures) > 1 else ""
    raise DownloadError(f"could not download {path.name} from {failures[0]}{others}; {REMEDY}")
