"""`--shard K/N` and who owns which item: the one rule flow, eval and the video index share.

An item (a video id, a path, a chunk name) belongs to shard K of N when crc32(item) % N == K - 1:
every item is in exactly one shard, and an item's owner does not depend on which other items
exist, so shards planned from different listings still agree.
"""

from __future__ import annotations

import zlib

from tsncli.errors import UsageError

Shard = tuple[int, int]  # (K, N), 1 <= K <= N


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
