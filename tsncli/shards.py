"""`--shard K/N` and who owns which item: the one rule flow, eval and the video index share, the
one way a shard's file is named beside the whole's, and the one wait for other ranks' parts.

The rule: sort the items (video ids, paths, chunk file names) and deal them round robin, so shard
K of N owns sorted positions K-1, K-1+N, ... Every item is in exactly one shard and the shards
differ in size by at most one item. Every shard must plan from the same listing (the same SRC,
list or index); shards that saw different listings could leave an item to nobody, which a rerun
of any shard then picks up, since finished items are skipped. A hash of the name (crc32, as
before) does not balance: crc32 is linear in the name's bits, so similar names such as eval's
chunk files `shard_0000000.npz`, `shard_0000008.npz`, ... all went to one of two ranks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
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


def owners(items: Iterable[str], count: int) -> dict[str, int]:
    """Each item's 0-based shard of `count`: the distinct items in sorted order, dealt round
    robin."""
    return {item: i % count for i, item in enumerate(sorted(set(items)))}


def take_share(items: Sequence[str], shard: Shard | None) -> list[str]:
    """The items shard (K, N) owns, in their given order; None owns everything."""
    if shard is None:
        return list(items)
    k, n = shard
    owned = owners(items, n)
    return [item for item in items if owned[item] == k - 1]


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
