"""`--shard K/N` and who owns which item: the one rule flow, eval and the video index share, the
one way a shard's file is named beside the whole's, and the one wait for other ranks' parts.

An item (a video id, a path, a chunk name) belongs to shard K of N when crc32(item) % N == K - 1:
every item is in exactly one shard, and an item's owner does not depend on which other items
exist, so shards planned from different listings still agree.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Collection
from typing import TypeVar

from tsncli.errors import DataError, UsageError

Shard = tuple[int, int]  # (K, N), 1 <= K <= N
R = TypeVar("R")

POLL_SECONDS = 1.0  # how often `wait_for_parts` looks again


def parse_shard(text: str | None) -> Shard | None:
    """Parse `--shard K/N` (1 <= K <= N) into (K, N); None or "" -> None."""
    if not text:
        return None
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise UsageError(f"--shard {text!r} is not K/N; use e.g. --shard 1/4") from None
    if n < 1 or not 1 <= k <= n:
        raise UsageError(f"--shard {text!r} needs 1 <= K <= N; use e.g. --shard 1/4 ... 4/4")
    return k, n


def owner(item: str, count: int) -> int:
    """The 0-based shard of `count` that owns `item`."""
    return zlib.crc32(item.encode("utf-8")) % count


def in_shard(item: str, shard: Shard | None) -> bool:
    """Whether `item` belongs to `shard` (K, N); None owns everything."""
    if shard is None:
        return True
    k, n = shard
    return owner(item, n) == k - 1


def part_name(name: str, shard: Shard | None) -> str:
    """The file of shard K of N beside the whole's file `name`: `.K-of-N` goes before the last
    suffix (`failed.tsv` -> `failed.2-of-4.tsv`, `index.json` -> `index.2-of-4.json`, `index`
    -> `index.2-of-4`); None is the whole, `name` itself. Parallel shards never share a file."""
    if shard is None:
        return name
    k, n = shard
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem.strip("."):  # no suffix (`index`, `.lock`): append
        return f"{name}.{k}-of-{n}"
    return f"{stem}.{k}-of-{n}.{suffix}"


def wait_for_parts(
    collect: Callable[[], tuple[R, Collection[int]]],
    *,
    count: int,
    what: str,
    where: str,
    hint: str | Callable[[R], str],
    timeout: float,
    poll_seconds: float = POLL_SECONDS,
) -> R:
    """Poll until the parts of all `count` ranks have arrived; return what they hold.

    `collect()` reads the parts written so far and returns (what they hold, the 1-based ranks
    still missing). After `timeout` seconds a DataError names the missing ranks: "{what} of
    rank(s) 2, 3 of 4 (1-based) did not arrive {where} within T s; {hint}" (`hint` may be made
    from the last collection).
    """
    deadline = time.monotonic() + timeout
    while True:
        held, missing = collect()
        if not missing:
            return held
        if time.monotonic() > deadline:
            ranks = ", ".join(map(str, sorted(missing)))
            advice = hint(held) if callable(hint) else hint
            raise DataError(
                f"{what} of rank(s) {ranks} of {count} (1-based) did not arrive {where} "
                f"within {timeout:.0f} s; {advice}"
            )
        time.sleep(poll_seconds)
