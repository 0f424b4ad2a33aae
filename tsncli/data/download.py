"""Resumable, verified HTTP downloads in constant memory, and adopting files downloaded by hand.

A download streams into `<name>.part` (resumed with an HTTP Range request), is checked for size
and sha256, and only then renamed. A hidden `.<name>.verified` record beside a finished file
lets later runs (and `tsn fetch --list`) skip re-hashing it.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import logging
import os
import queue
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tsncli import __version__
from tsncli.errors import DownloadError

log = logging.getLogger("tsncli.download")

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 30.0
RETRIES = 4  # extra attempts per URL after the first, for connection errors and 5xx
RETRY_BACKOFF_S = 1.0  # doubled after each failed attempt
REMEDY = "use --mirror BASE_URL (or TSN_MIRROR), or download it yourself and pass --from PATH"

ProgressFn = Callable[[int, "int | None"], None]  # (bytes done, bytes total or None)


@dataclass(frozen=True)
class Target:
    """A file to put on disk and what is known to verify it."""

    path: Path
    size: int | None = None
    sha256: str | None = None
    hash_prefix: str | None = None


def part_path(path: Path) -> Path:
    """The in-progress name of `path`."""
    return path.with_name(path.name + ".part")


def record_path(path: Path) -> Path:
    """The hidden record saying `path` was verified (size, mtime, sha256)."""
    return path.with_name(f".{path.name}.verified")


def local_status(target: Target) -> str:
    """`verified`, `unverified` (present, not checked), `partial` (a .part) or `missing`."""
    if target.path.is_file():
        return "verified" if _record_matches(target.path) else "unverified"
    return "partial" if part_path(target.path).is_file() else "missing"


def _record_matches(path: Path) -> bool:
    try:
        record = json.loads(record_path(path).read_text(encoding="utf-8"))
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns


def _write_record(path: Path, sha256: str | None) -> None:
    stat = path.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    record_path(path).write_text(json.dumps(record) + "\n", encoding="utf-8")


def _check(
    target: Target,
    size: int,
    digest: str | None,
    source: str,
    fix: str = "the bad file was removed",
) -> None:
    """Raise DownloadError when size or checksum disagree with what the target expects."""
    name = target.path.name
    if target.size is not None and size != target.size:
        raise DownloadError(
            f"size mismatch for {name} from {source}: expected {target.size} bytes, got {size}; "
            f"{fix}; {REMEDY}"
        )
    expected = target.sha256 or target.hash_prefix
    if expected and not (digest or "").startswith(expected.lower()):
        got = (digest or "")[: max(len(expected), 16)]
        raise DownloadError(
            f"checksum mismatch for {name} from {source}: expected sha256 {expected}, "
            f"got {got}; {fix}; {REMEDY}"
        )


def hash_file(path: Path, on_progress: ProgressFn | None = None, limit: int | None = None):
    """A sha256 object over the first `limit` bytes of `path` (all when None), read in chunks."""
    hasher = hashlib.sha256()
    total = path.stat().st_size if limit is None else limit
    done = 0
    with open(path, "rb") as f:
        while done < total:
            block = f.read(min(CHUNK_BYTES, total - done))
            if not block:
                break
            hasher.update(block)
            done += len(block)
            if on_progress:
                on_progress(done, total)
    return hasher


def verify_existing(target: Target, on_progress: ProgressFn | None = None) -> bool:
    """True when the finished file exists and passes every known check (recording the result)."""
    path = target.path
    if not path.is_file():
        return False
    if _record_matches(path):
        return True
    fix = "delete it or rerun with --force to download it again"
    if not (target.sha256 or target.hash_prefix):
        _check(target, path.stat().st_size, None, str(path), fix)
        return True  # nothing else to check against: a complete file is accepted as is
    digest = hash_file(path, on_progress).hexdigest()
    _check(target, path.stat().st_size, digest, str(path), fix)
    _write_record(path, digest)
    return True


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


def _fetch_once(url: str, sink: _Sink, on_progress: ProgressFn | None) -> None:
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
        _stream(response, sink, total, on_progress)
        if total is not None and sink.count != total:
            raise _Retry(f"connection closed after {sink.count} of {total} bytes")


def _stream(response, sink: _Sink, total: int | None, on_progress: ProgressFn | None) -> None:
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
                if on_progress:
                    on_progress(sink.count, total)
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


def _fetch_with_retries(url: str, sink: _Sink, on_progress: ProgressFn | None) -> None:
    attempt = 0
    while True:
        before = sink.count
        try:
            _fetch_once(url, sink, on_progress)
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
    the .part for resuming.
    """
    path, part = target.path, part_path(target.path)
    if force:
        for stale in (path, part, record_path(path)):
            stale.unlink(missing_ok=True)
    elif verify_existing(target):
        return "skipped"
    sink = _Sink(part, hashing=bool(target.sha256 or target.hash_prefix))
    failures = []
    for url in urls:
        try:
            _fetch_with_retries(url, sink, on_progress)
        except _Fatal as exc:
            failures.append(f"{url}: {exc}")
            continue
        digest = sink.hasher.hexdigest() if sink.hasher is not None else None
        try:
            _check(target, sink.count, digest, url)
        except DownloadError:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, path)
        _write_record(path, digest)
        return "downloaded"
    others = f" (also tried {'; '.join(failures[1:])})" if len(failures) > 1 else ""
    raise DownloadError(f"could not download {path.name} from {failures[0]}{others}; {REMEDY}")


def adopt_file(source: Path, target: Target, on_progress: ProgressFn | None = None) -> str:
    """Verify a file the user downloaded, then hard-link (or copy) it into place: `adopted`."""
    source = Path(source)
    if not source.is_file():
        raise DownloadError(f"--from {source}: no such file")
    expects_hash = bool(target.sha256 or target.hash_prefix)
    digest = hash_file(source, on_progress).hexdigest() if expects_hash else None
    _check(target, source.stat().st_size, digest, str(source), "it was left where it is")
    path = target.path
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path.exists() and os.path.samefile(source, path)):
        part = part_path(path)
        part.unlink(missing_ok=True)
        try:
            os.link(source, part)  # no second copy of a multi-GB file when on the same disk
        except OSError:
            shutil.copyfile(source, part)
        os.replace(part, path)
    _write_record(path, digest)
    return "adopted"
