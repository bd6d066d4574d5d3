"""Storage-node integration (issue 4, point 3): the replication core driven by the real
asyncio driver, WAL and LMDB, three nodes in one process.

Every test waits on conditions with deadlines; none sleeps for synchronisation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from power_loss import copy_state, power_loss_image, synced_images
from quorumdb.errors import DynamoDBError
from quorumdb.replication import Role
from quorumdb.storage.engine import pack_item
from quorumdb.storage.replicated import GroupPartition, ReplicatedStore

DEADLINE_S = 20.0


async def until(condition: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def write(partition: GroupPartition, key: bytes, value: bytes | None) -> None:
    """Retries like an SDK does while there is no leader."""
    end = time.monotonic() + DEADLINE_S
    while True:
        try:
            await partition.stage(key, value)
            return
        except DynamoDBError:
            if time.monotonic() > end:
                raise
            await asyncio.sleep(0.01)


def contents(store: ReplicatedStore, name: str) -> list[list[tuple[bytes, bytes]]]:
    return [list(node.engine.open_partition(name).scan(b"", None)) for node in store.nodes]


def run(tmp_path: Path, scenario: Callable[[ReplicatedStore, GroupPartition],
                                           Awaitable[None]]) -> None:
    async def main() -> None:
        store = ReplicatedStore(str(tmp_path))
        store.start()
        try:
            partition = store.open_partition("t/1")
            await until(partition.ready, "a first leader")
            await scenario(store, partition)
        finally:
            store.close()

    asyncio.run(main())


def value(i: int) -> bytes:
    return pack_item(b'{"v":{"N":"%d"}}' % i, 1)


def test_writes_are_replicated_to_every_member_in_log_order(tmp_path: Path) -> None:
    async def scenario(store: ReplicatedStore, partition: GroupPartition) -> None:
        await asyncio.gather(*[write(partition, b"k%03d" % i, value(i)) for i in range(100)])
        await write(partition, b"k000", None)
        expected = [(b"k%03d" % i, value(i)) for i in range(1, 100)]
        await until(lambda: all(c == expected for c in contents(store, "t/1")),
                    "every replica to apply the same writes")
        for node in store.nodes:
            node.engine.settle()  # statistics move when the overlay is committed
        stats = [n.engine.open_partition("t/1").stats for n in store.nodes]
        assert all(s.item_count == 99 for s in stats), stats

    run(tmp_path, scenario)


def test_leader_failure_elects_a_new_leader_and_the_old_one_catches_up(
    tmp_path: Path,
) -> None:
    async def scenario(store: ReplicatedStore, partition: GroupPartition) -> None:
        await write(partition, b"before", value(1))
        old = partition.leader()
        assert old is not None
        store.transport.down.add(old.node_id)
        await until(lambda: partition.leader() not in (None, old), "a new leader")
        await write(partition, b"after", value(2))
        new = partition.leader()
        assert new is not None and new is not old
        store.transport.down.discard(old.node_id)
        await until(lambda: old.role(partition.group) != Role.LEADER,
                    "the old leader to step down")
        expected = [(b"after", value(2)), (b"before", value(1))]
        await until(lambda: all(c == expected for c in contents(store, "t/1")),
                    "the old leader to catch up")

    run(tmp_path, scenario)


def test_minority_cannot_commit(tmp_path: Path) -> None:
    async def scenario(store: ReplicatedStore, partition: GroupPartition) -> None:
        leader = partition.leader()
        assert leader is not None
        for node in store.nodes:
            if node is not leader:
                store.transport.down.add(node.node_id)
        pending = asyncio.ensure_future(partition.stage(b"lonely", value(1)))
        done, _ = await asyncio.wait({pending}, timeout=1.5)
        # never acknowledged: still waiting, or failed once the leader stepped down
        assert not done or pending.exception() is not None, "acknowledged without a quorum"
        assert leader.engine.open_partition("t/1").get(b"lonely") is None
        pending.cancel()

    run(tmp_path, scenario)


@pytest.mark.parametrize("checkpoint", [False, True])
def test_restart_recovers_from_wal_and_lmdb(tmp_path: Path, checkpoint: bool) -> None:
    async def first(store: ReplicatedStore, partition: GroupPartition) -> None:
        await asyncio.gather(*[write(partition, b"k%02d" % i, value(i)) for i in range(40)])
        if checkpoint:
            for node in store.nodes:
                # between Ready cycles (the core takes no input while a Ready is out)
                await until(lambda node=node: node.idle(), "the node between cycles")
                node.checkpoint()
        await asyncio.gather(*[write(partition, b"z%02d" % i, value(i)) for i in range(10)])

    run(tmp_path, first)

    async def second(store: ReplicatedStore, partition: GroupPartition) -> None:
        expected = sorted([(b"k%02d" % i, value(i)) for i in range(40)]
                          + [(b"z%02d" % i, value(i)) for i in range(10)])
        await until(lambda: all(c == expected for c in contents(store, "t/1")),
                    "every replica to hold every acknowledged write after restart")
        await write(partition, b"again", value(7))

    run(tmp_path, second)


async def write_through_checkpoints(store: ReplicatedStore, partition: GroupPartition
                                    ) -> None:
    """160 acknowledged writes in batches of 20, until every node has checkpointed twice
    (with ``CHECKPOINT_RECORDS`` lowered by the caller)."""
    for batch in range(8):
        await asyncio.gather(*[write(partition, b"k%03d" % (batch * 20 + i),
                                     value(batch * 20 + i)) for i in range(20)])
    await until(lambda: all(node.checkpoints >= 2 for node in store.nodes),
                "every node to have checkpointed during the writes")


async def write_more(partition: GroupPartition) -> None:
    await asyncio.gather(*[write(partition, b"z%02d" % i, value(i)) for i in range(10)])


async def expect_every_write(store: ReplicatedStore, partition: GroupPartition) -> None:
    """After a restart: every replica holds what the two phases above acknowledged."""
    expected = sorted([(b"k%03d" % i, value(i)) for i in range(160)]
                      + [(b"z%02d" % i, value(i)) for i in range(10)])
    await until(lambda: all(c == expected for c in contents(store, "t/1")),
                "every replica to hold every acknowledged write after restart")


def test_checkpoints_during_traffic_truncate_the_wal_and_restart_keeps_everything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ready cycle's checkpoints (LMDB synced on a thread while writes go on, the WAL
    rewritten from what was applied when the sync began, the log compacted) lose no
    acknowledged write across a restart."""
    from quorumdb.storage import node as storage_node
    monkeypatch.setattr(storage_node, "CHECKPOINT_RECORDS", 40)
    checkpoints: list[int] = []

    async def first(store: ReplicatedStore, partition: GroupPartition) -> None:
        await write_through_checkpoints(store, partition)
        checkpoints.extend(node.checkpoints for node in store.nodes)
        # the logs were compacted behind the checkpoints
        assert all(member.replica.status().first_slot > 1
                   for node in store.nodes for member in node.members.values())
        await write_more(partition)

    run(tmp_path, first)
    assert all(count >= 2 for count in checkpoints)
    run(tmp_path, expect_every_write)


@pytest.mark.parametrize("seed", range(3))
def test_a_power_loss_on_every_node_loses_no_acknowledged_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Every node's LMDB loses an arbitrary subset of the pages written since its last
    checkpoint (``power_loss``): a restart opens each at its checkpoint's snapshot and
    the node's WAL, rewritten only from what that snapshot holds, brings back the rest."""
    from quorumdb.storage import node as storage_node
    monkeypatch.setattr(storage_node, "CHECKPOINT_RECORDS", 40)
    live, crash = tmp_path / "live", tmp_path / "crash"

    async def first(store: ReplicatedStore, partition: GroupPartition) -> None:
        await write_through_checkpoints(store, partition)
        await write_more(partition)
        await until(lambda: all(node.idle() and node._checkpointing is None
                                for node in store.nodes), "no checkpoint syncing")
        copy_state(live, crash)
        for index, directory in enumerate(sorted(synced)):
            power_loss_image(synced[directory], crash / Path(directory).relative_to(live),
                             seed * 10 + index)

    with synced_images() as synced:
        run(live, first)
    assert len(synced) == 4  # the catalog and three nodes
    run(crash, expect_every_write)


def test_a_crash_while_applied_writes_are_only_in_the_overlay_loses_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nodes apply chosen writes to the engine's overlay and commit them to LMDB later,
    in larger transactions: reads see them at once, and a crash before the commit (the
    data directories as they are on disk while the writes are still in the overlay)
    brings every one back from the nodes' WALs."""
    from quorumdb.storage import node as storage_node
    monkeypatch.setattr(storage_node, "SETTLE_DELAY_S", 3600.0)
    live, crash = tmp_path / "live", tmp_path / "crash"

    async def first(store: ReplicatedStore, partition: GroupPartition) -> None:
        await asyncio.gather(*[write(partition, b"k%03d" % i, value(i)) for i in range(160)])
        await write_more(partition)
        expected = sorted([(b"k%03d" % i, value(i)) for i in range(160)]
                          + [(b"z%02d" % i, value(i)) for i in range(10)])
        await until(lambda: all(c == expected for c in contents(store, "t/1")),
                    "every replica to read every acknowledged write")
        assert all(node.engine.open_partition("t/1").unapplied for node in store.nodes)
        assert partition.stats.item_count == 170  # settles the leader's overlay first
        copy_state(live, crash)

    run(live, first)
    run(crash, expect_every_write)
