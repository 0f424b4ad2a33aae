"""`tsn fetch` core: turn catalog names or URLs into download jobs, run them, report status."""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tsncli.acquire.catalog import CatalogEntry, RemoteFile, entry_names, get_entry
from tsncli.acquire.download import Target, adopt_file, download_file, local_status
from tsncli.errors import DownloadError, UsageError
from tsncli.progress import ProgressEvent, ProgressFn

log = logging.getLogger("tsncli.fetch")


@dataclass(frozen=True)
class FetchItem:
    """One file to get: where from (in order of preference) and where to."""

    entry: str  # catalog name, or "url"
    file: RemoteFile
    target: Target
    urls: tuple[str, ...]


@dataclass(frozen=True)
class FetchOutcome:
    """What happened to one file: `downloaded`, `skipped` or `adopted`."""

    path: Path
    status: str
    entry: str = ""  # the catalog name it belongs to ("url" for a plain URL)


def is_url(name: str) -> bool:
    """True for `scheme://...` names (fetched as plain URLs rather than catalog entries)."""
    return "://" in name


def mirror_urls(file: RemoteFile, mirror: str | None) -> tuple[str, ...]:
    """`BASE_URL/<file name>` for a mirror (server name first, then local name), else the URL."""
    if not mirror:
        return file.urls
    base = mirror.rstrip("/")
    names = dict.fromkeys([file.remote_name, file.filename])
    return tuple(f"{base}/{urllib.parse.quote(name)}" for name in names)


def _url_file(url: str, sha256: str | None) -> RemoteFile:
    name = urllib.parse.unquote(urllib.parse.urlparse(url).path.rstrip("/").rsplit("/", 1)[-1])
    if not name:
        raise UsageError(f"cannot tell a file name from {url}; give a URL that ends in one")
    return RemoteFile(name, url, sha256=sha256)


def plan_fetch(
    names: Sequence[str],
    *,
    dest: Path | None = None,
    mirror: str | None = None,
    sha256: str | None = None,
) -> list[FetchItem]:
    """Resolve catalog names and URLs into one FetchItem per file (unknown name -> UsageError)."""
    items = []
    for name in names:
        if is_url(name):
            entry = CatalogEntry(name, "url", name, (_url_file(name, sha256),))
            folder = dest or Path("data")
        else:
            entry = get_entry(name)
            folder = dest or entry.default_dest()
        for file in entry.files:
            target = Target(folder / file.filename, file.size, file.sha256, file.hash_prefix)
            items.append(FetchItem(entry.name, file, target, mirror_urls(file, mirror)))
    if sha256:
        if len(items) != 1:
            raise UsageError(f"--sha256 checks one file, but {len(items)} were asked for")
        item = items[0]
        target = Target(item.target.path, item.target.size, sha256.lower(), None)
        items[0] = FetchItem(item.entry, item.file, target, item.urls)
    return items


def _source_for(item: FetchItem, from_path: Path | None, items: Sequence[FetchItem]) -> Path | None:
    """The user's own copy of `item` under --from (a folder or a single file), if any."""
    if from_path is None:
        return None
    names = (item.file.filename, item.file.remote_name)
    if from_path.is_dir():
        return next((from_path / n for n in names if (from_path / n).is_file()), None)
    if not from_path.is_file():
        raise UsageError(f"--from {from_path}: no such file or folder")
    if from_path.name in names or len(items) == 1:
        return from_path
    if not any(from_path.name in (i.file.filename, i.file.remote_name) for i in items):
        wanted = ", ".join(i.file.filename for i in items)
        raise UsageError(
            f"--from {from_path}: cannot tell which file it is; name it one of: {wanted}"
        )
    return None


def check_approx_size(source: Path, item: FetchItem) -> None:
    """Without an exact size or checksum, a file to adopt must be within 2x of the catalog's
    approximate size (a 10-byte error page is not a 6 GB archive)."""
    target, approx = item.target, item.file.approx_bytes
    if target.size or target.sha256 or target.hash_prefix or not approx:
        return
    size = source.stat().st_size
    if not approx / 2 <= size <= approx * 2:
        raise DownloadError(
            f"--from {source} is {size:,} bytes, but {item.file.filename} is about {approx:,}; "
            "is it the complete, right file? (--sha256 HASH adopts it by checksum instead)"
        )


def run_fetch(
    items: Sequence[FetchItem],
    *,
    jobs: int = 1,
    force: bool = False,
    from_path: Path | None = None,
    on_progress: ProgressFn | None = None,
) -> list[FetchOutcome]:
    """Download (or adopt from `from_path`) every item, `jobs` at a time; outcomes in order.

    Every file is attempted; the first failure is raised afterwards (the others are logged).
    Progress goes to `on_progress` in bytes, one task per file name.
    """
    cancel = threading.Event()
    sources = [_source_for(item, from_path, items) for item in items]
    for item, source in zip(items, sources, strict=True):
        if source is not None:
            check_approx_size(source, item)

    def one(index: int) -> FetchOutcome:
        item, source = items[index], sources[index]
        name = item.target.path.name

        def progress(event: ProgressEvent) -> None:
            if cancel.is_set():
                raise DownloadError(f"{name}: cancelled (the .part file is kept for resuming)")
            if on_progress:
                on_progress(event)

        if source is not None:
            status = adopt_file(source, item.target, progress)
            return FetchOutcome(item.target.path, status, item.entry)
        status = download_file(item.urls, item.target, force=force, on_progress=progress)
        return FetchOutcome(item.target.path, status, item.entry)

    results: list[FetchOutcome | BaseException] = []
    if jobs <= 1 or len(items) <= 1:
        for index in range(len(items)):
            try:
                results.append(one(index))
            except DownloadError as exc:
                results.append(exc)
    else:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="tsn-fetch") as pool:
            futures = [pool.submit(one, i) for i in range(len(items))]
            try:
                for future in futures:
                    try:
                        results.append(future.result())
                    except DownloadError as exc:
                        results.append(exc)
            except KeyboardInterrupt:
                cancel.set()
                raise
    errors = [r for r in results if isinstance(r, BaseException)]
    for extra in errors[1:]:
        log.error("%s", extra)
    if errors:
        raise errors[0]
    return [r for r in results if isinstance(r, FetchOutcome)]


def _entry_status(statuses: list[str]) -> str:
    if all(s == "verified" for s in statuses):
        return "verified"
    if all(s == "missing" for s in statuses):
        return "missing"
    if all(s in ("verified", "unverified") for s in statuses):
        return "unverified"
    return "partial"


def list_catalog(dest: Path | None = None) -> list[dict]:
    """Every catalog entry with its size, local status and per-file detail (for `--list`)."""
    rows = []
    for name in entry_names():
        entry = get_entry(name)
        folder = dest or entry.default_dest()
        files = []
        for file in entry.files:
            path = folder / file.filename
            target = Target(path, file.size, file.sha256, file.hash_prefix)
            files.append({"name": file.filename, "path": str(path), "status": local_status(target)})
        sizes = [f.size or f.approx_bytes for f in entry.files]
        rows.append(
            {
                "name": name,
                "kind": entry.kind,
                "description": entry.description,
                "bytes": sum(sizes) if all(sizes) else None,
                "exact_size": all(f.size for f in entry.files),
                "status": _entry_status([f["status"] for f in files]),
                "files": files,
                "dest": str(folder),
            }
        )
    return rows
