"""The storage engine's contract: committed reads, staged latest reads, ordered and
reversed range scans, group commit, durability across reopen, and dropped partitions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from quorumdb.storage.engine import Engine, pack_item, unpack_json, unpack_size


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_pack_roundtrip() -> None:
    value = pack_item(b'{"a":{"S":"x"}}', 12)
    assert unpack_size(value) == 12
    assert unpack_json(value) == b'{"a":{"S":"x"}}'


@pytest.mark.parametrize("durable", [True, False])
def test_staged_writes_are_latest_but_not_committed_until_flushed(
    tmp_path: Path, durable: bool
) -> None:
    engine = Engine(str(tmp_path) if durable else None)

    async def scenario() -> None:
        part = engine.open_partition("p")
        future = part.stage(b"k1", b"\x00\x00\x00\x01v1")
        assert part.get(b"k1") is None, "readers must not see a write before it is durable"
        latest, pending = part.latest(b"k1")
        assert latest == b"\x00\x00\x00\x01v1" and pending is future
        await future
        assert part.get(b"k1") == b"\x00\x00\x00\x01v1"
        assert part.latest(b"k1") == (b"\x00\x00\x00\x01v1", None)
        assert part.stats.item_count == 1 and part.stats.size_bytes == 1

    run(scenario())
    engine.close()


def test_group_commit_batches_concurrent_writes(tmp_path: Path) -> None:
    engine = Engine(str(tmp_path))

    async def scenario() -> None:
        part = engine.open_partition("p")
        futures = [part.stage(b"k%03d" % i, b"\x00\x00\x00\x01v") for i in range(100)]
        await asyncio.gather(*futures)

    run(scenario())
    assert engine.flushes == 1, "100 writes staged in one loop turn need one sync"
    engine.close()


def test_scan_order_bounds_and_reverse(tmp_path: Path) -> None:
    engine = Engine(str(tmp_path))

    async def scenario() -> None:
        part = engine.open_partition("p")
        await asyncio.gather(*[part.stage(bytes([i]), b"\x00\x00\x00\x01" + bytes([i]))
                               for i in range(10, 20)])
        keys = [k for k, _ in part.scan(bytes([12]), bytes([15]))]
        assert keys == [bytes([12]), bytes([13]), bytes([14])]
        keys = [k for k, _ in part.scan(bytes([12]), bytes([15]), reverse=True)]
        assert keys == [bytes([14]), bytes([13]), bytes([12])]
        assert next(k for k, _ in part.scan(b"", None, reverse=True)) == bytes([19])
        assert [k for k, _ in part.scan(bytes([18]), None)] == [bytes([18]), bytes([19])]
        assert list(part.scan(bytes([30]), None)) == []
        assert [k for k, _ in part.scan(b"", bytes([11]), reverse=True)] == [bytes([10])]

    run(scenario())
    engine.close()


def test_data_and_stats_survive_reopen(tmp_path: Path) -> None:
    engine = Engine(str(tmp_path))

    async def scenario() -> None:
        part = engine.open_partition("p")
        await part.stage(b"a", b"\x00\x00\x00\x05hello")
        await part.stage(b"b", b"\x00\x00\x00\x03bye")
        await part.stage(b"b", None)
        await engine.drain()

    run(scenario())
    engine.close()
    reopened = Engine(str(tmp_path))
    part = reopened.open_partition("p")
    assert part.get(b"a") == b"\x00\x00\x00\x05hello"
    assert part.get(b"b") is None
    assert (part.stats.item_count, part.stats.size_bytes) == (1, 5)
    reopened.close()


def test_stats_follow_the_images_each_flush_replaces(tmp_path: Path) -> None:
    """Statistics are computed when a batch is written, from the images it replaces:
    overwrites, deletes of missing keys and several writes of one key in one batch."""
    engine = Engine(str(tmp_path))

    async def scenario() -> None:
        part = engine.open_partition("p")
        await part.stage(b"a", b"\x00\x00\x00\x05hello")
        assert (part.stats.item_count, part.stats.size_bytes) == (1, 5)
        await part.stage(b"a", b"\x00\x00\x00\x03abc")  # overwrite: size moves by -2
        assert (part.stats.item_count, part.stats.size_bytes) == (1, 3)
        await part.stage(b"missing", None)  # deleting nothing changes nothing
        assert (part.stats.item_count, part.stats.size_bytes) == (1, 3)
        first = part.stage(b"b", b"\x00\x00\x00\x02hi")  # same batch: the last image wins
        second = part.stage(b"b", b"\x00\x00\x00\x04four")
        await asyncio.gather(first, second)
        assert (part.stats.item_count, part.stats.size_bytes) == (2, 7)
        await part.stage(b"a", None)
        assert (part.stats.item_count, part.stats.size_bytes) == (1, 4)

    run(scenario())
    engine.close()


def test_dropped_partition_is_empty_when_recreated(tmp_path: Path) -> None:
    engine = Engine(str(tmp_path))

    async def scenario() -> None:
        part = engine.open_partition("p")
        await part.stage(b"a", b"\x00\x00\x00\x01x")
        engine.drop_partition("p")
        again = engine.open_partition("p")
        assert again.get(b"a") is None and again.stats.item_count == 0

    run(scenario())
    engine.close()


def test_long_keys_keep_true_order_and_bounds(tmp_path: Path) -> None:
    """Keys beyond LMDB's 511-byte limit (DynamoDB keys reach ~6 KB) are stored under a
    prefix and a hash; scans must still return every key once, in true order, within
    bounds, forwards and backwards."""
    import random

    rng = random.Random(7)
    shared = b"p" * 600
    keys = sorted({shared[: rng.choice([10, 479, 480, 481, 600])] + bytes(
        rng.randrange(256) for _ in range(rng.randrange(0, 40))) for _ in range(300)})
    engine = Engine(str(tmp_path))

    async def load() -> None:
        part = engine.open_partition("p")
        await asyncio.gather(*[part.stage(k, b"\x00\x00\x00\x01" + k[-1:])
                               for k in keys])

    run(load())
    part = engine.open_partition("p")
    assert [k for k, _ in part.scan(b"", None)] == keys
    assert [k for k, _ in part.scan(b"", None, reverse=True)] == keys[::-1]
    for _ in range(50):
        low, high = sorted(rng.sample(keys, 2))
        expected = [k for k in keys if low <= k < high]
        assert [k for k, _ in part.scan(low, high)] == expected
        assert [k for k, _ in part.scan(low, high, reverse=True)] == expected[::-1]
    for key in keys[:50]:
        assert part.get(key) == b"\x00\x00\x00\x01" + key[-1:]
    assert part.get(shared + b"missing") is None
    engine.close()


def test_partition_created_after_a_read_is_readable(tmp_path: Path) -> None:
    """The engine shares one read transaction between commits; a partition (LMDB
    database) opened after it began must still be readable."""
    engine = Engine(str(tmp_path))
    first = engine.open_partition("a")
    assert first.get(b"k") is None
    second = engine.open_partition("b")
    assert second.get(b"k") is None
    assert list(second.scan(b"", None)) == []

    async def write() -> None:
        await second.stage(b"k", b"\x00\x00\x00\x01v")

    run(write())
    assert second.get(b"k") == b"\x00\x00\x00\x01v", "a committed write is visible"
    engine.close()
