"""`--shard K/N`, who owns which item, how a shard's file is named, and waiting for the parts
of the other ranks: the one contract flow, eval and the video index share."""

from __future__ import annotations

import pytest

from tsncli.errors import DataError, UsageError
from tsncli.shards import owners, parse_shard, part_name, take_share, wait_for_parts


def test_shard_text_parses_into_k_and_n():
    assert parse_shard("2/4") == (2, 4)
    assert parse_shard("1/1") == (1, 1)
    assert parse_shard(None) is None and parse_shard("") is None


@pytest.mark.parametrize("text", ["2", "a/b", "1/2/3", "2-4"])
def test_shard_text_that_is_not_k_over_n_names_the_form(text):
    with pytest.raises(UsageError, match="is not K/N; use e.g. --shard 1/4"):
        parse_shard(text)


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "-1/4"])
def test_shard_out_of_range_names_the_valid_range(text):
    with pytest.raises(UsageError, match="needs 1 <= K <= N"):
        parse_shard(text)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_every_item_is_in_exactly_one_shard_and_shards_differ_by_at_most_one(count):
    items = [f"video_{i:04d}" for i in range(500)] + ["", "ünïcode", "a/b c.avi"]
    shares = [take_share(items, (k, count)) for k in range(1, count + 1)]
    assert sorted(item for share in shares for item in share) == sorted(items)
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1


def test_similar_names_are_balanced():
    # eval's chunk files differ in a few digits; crc32 put all of these on one of two ranks
    chunks = [f"shard_{start:07d}.npz" for start in range(0, 64, 8)]
    assert [len(take_share(chunks, (k, 2))) for k in (1, 2)] == [4, 4]


def test_no_shard_owns_everything():
    assert take_share(["b", "a", ""], None) == ["b", "a", ""]


def test_owners_do_not_depend_on_the_order_of_the_listing():
    listing = ["d", "a", "c", "b", "e"]
    assert (
        owners(listing, 2) == owners(sorted(listing), 2) == {"a": 0, "b": 1, "c": 0, "d": 1, "e": 0}
    )
    assert take_share(listing, (2, 2)) == ["d", "b"]  # in the given order


def test_a_shards_file_sits_beside_the_wholes_with_k_of_n_before_the_suffix():
    assert part_name("failed.tsv", (2, 4)) == "failed.2-of-4.tsv"
    assert part_name(".tsn-flow.lock", (1, 3)) == ".tsn-flow.1-of-3.lock"
    assert part_name("ucf101_video_index.json", (1, 2)) == "ucf101_video_index.1-of-2.json"
    assert part_name("scores.npz.lock", (3, 3)) == "scores.npz.3-of-3.lock"
    assert part_name("index", (1, 2)) == "index.1-of-2"
    assert part_name(".lock", (1, 2)) == ".lock.1-of-2"
    assert part_name("failed.tsv", None) == "failed.tsv"


def test_wait_for_parts_returns_what_the_parts_hold_once_none_is_missing():
    arrived: list[int] = []

    def collect():
        arrived.append(len(arrived) + 1)  # one more rank's part per look
        return list(arrived), set(range(1, 4)) - set(arrived)

    held = wait_for_parts(
        collect, count=3, what="parts", where="here", hint="", timeout=60, poll_seconds=0.001
    )
    assert held == [1, 2, 3]


def test_wait_for_parts_names_the_missing_ranks_after_the_deadline():
    with pytest.raises(DataError) as info:
        wait_for_parts(
            lambda: (["a.json"], {3, 2}),
            count=4,
            what="the video index parts",
            where="beside /x/index.json",
            hint=lambda held: f"{len(held)} held; did every task start?",
            timeout=0.01,
            poll_seconds=0.001,
        )
    message = str(info.value)
    assert message.startswith("the video index parts of rank(s) 2, 3 of 4 (1-based)")
    assert "did not arrive beside /x/index.json within 0 s; 1 held; did every task start?" in (
        message
    )
