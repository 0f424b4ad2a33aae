"""What the catalog is made of: a downloadable file and a named entry of files, and the cache
folder where weights and models go."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: its local name, URL and whatever we know to verify it."""

    filename: str  # the name it gets on disk
    url: str
    size: int | None = None  # exact bytes, checked when known
    sha256: str | None = None  # full hex digest, checked when known
    hash_prefix: str | None = None  # leading hex digits of the sha256 (torchvision style)
    approx_bytes: int | None = None  # for display only when the exact size is unknown
    mirrors: tuple[str, ...] = ()  # further URLs of the same file, tried in order after `url`
    checksum_source: str | None = None  # where `size`/`sha256` were published

    @property
    def urls(self) -> tuple[str, ...]:
        """Every URL of this file, in the order `tsn fetch` tries them."""
        return (self.url, *self.mirrors)

    @property
    def remote_name(self) -> str:
        """The file name on the server (what a mirror of the original server holds)."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class CatalogEntry:
    """A named thing `tsn fetch` can get: one or more files and where they go by default."""

    name: str
    kind: str  # "dataset" | "caffe" | "weights"
    description: str
    files: tuple[RemoteFile, ...]

    def default_dest(self) -> Path:
        """`data/<name>/` for datasets, `$TSN_HOME/<kind dir>/` for models and weights."""
        if self.kind == "dataset":
            return Path("data") / self.name
        if self.kind == "weights":
            return cache_dir() / "weights"
        return cache_dir() / self.name


def cache_dir() -> Path:
    """The cache for weights and models: `$TSN_HOME`, default `~/.cache/tsn`."""
    home = os.environ.get("TSN_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "tsn"
