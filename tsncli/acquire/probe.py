"""`tsn fetch --check`: ask every URL of the planned files whether it answers, downloading nothing.

A HEAD request first; hosts that refuse HEAD get a GET for one byte (`Range: bytes=0-0`). An
answer counts when it is a success, not a web page standing in for the file, and (when the
catalog knows it) of the right size.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tsncli import __version__

TIMEOUT_S = 15.0
_RANGE_TOTAL = re.compile(r"bytes \d+-\d+/(\d+)")


@dataclass(frozen=True)
class HostCheck:
    """How one URL of one file answered."""

    entry: str
    filename: str
    url: str
    ok: bool
    detail: str  # "HTTP 200", "HTTP 404 Not Found", "cannot connect (...)", "web page", ...
    size: int | None = None  # what the host says the file holds, when it says

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _open(url: str, method: str, timeout: float) -> Any:
    headers = {"User-Agent": f"tsn/{__version__}", "Accept-Encoding": "identity"}
    if method == "GET":
        headers["Range"] = "bytes=0-0"
    request = urllib.request.Request(url, headers=headers, method=method)
    return urllib.request.urlopen(request, timeout=timeout)


def _answer(url: str, timeout: float) -> tuple[int, Any, int | None]:
    """(status, headers, size) from HEAD, or from a 1-byte GET where HEAD is refused."""
    try:
        with _open(url, "HEAD", timeout) as response:
            length = response.headers.get("Content-Length")
            return response.status, response.headers, int(length) if length else None
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code not in (400, 403, 405, 501):  # a real answer about the file (404, 410, 5xx)
            raise
    with _open(url, "GET", timeout) as response:
        response.read(1)
        match = _RANGE_TOTAL.match(response.headers.get("Content-Range") or "")
        length = response.headers.get("Content-Length")
        size = int(match.group(1)) if match else (int(length) if length else None)
        return response.status, response.headers, size


def check_url(
    url: str,
    expected_size: int | None = None,
    *,
    entry: str = "",
    filename: str = "",
    timeout: float = TIMEOUT_S,
) -> HostCheck:
    """Whether `url` serves the file, without downloading it."""
    try:
        status, headers, size = _answer(url, timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        return HostCheck(entry, filename, url, False, f"HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        return HostCheck(entry, filename, url, False, f"cannot connect ({reason})")
    if headers.get_content_type() in ("text/html", "application/xhtml+xml") and not (
        filename.lower().endswith((".html", ".htm"))
    ):
        return HostCheck(entry, filename, url, False, "web page, not the file", size)
    if expected_size is not None and size is not None and size != expected_size:
        detail = f"size {size}, expected {expected_size}"
        return HostCheck(entry, filename, url, False, detail, size)
    return HostCheck(entry, filename, url, True, f"HTTP {status}", size)


def check_hosts(items: Sequence[Any], jobs: int = 8, timeout: float = TIMEOUT_S) -> list[HostCheck]:
    """Check every URL of every planned file (`FetchItem`s), `jobs` at a time; in plan order."""
    work = [
        (item.entry, item.file.filename, url, item.target.size)
        for item in items
        for url in item.urls
    ]

    def one(job: tuple[str, str, str, int | None]) -> HostCheck:
        entry, filename, url, size = job
        return check_url(url, size, entry=entry, filename=filename, timeout=timeout)

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="tsn-check") as pool:
        return list(pool.map(one, work))


def unreachable_files(checks: Sequence[HostCheck]) -> list[str]:
    """Files none of whose URLs answered, in order."""
    answered: dict[str, bool] = {}
    for check in checks:
        name = f"{check.entry}: {check.filename}"
        answered[name] = answered.get(name, False) or check.ok
    return [name for name, ok in answered.items() if not ok]
