"""``quorumdb serve --replicas N``: every partition a replication group of N members.

Theory of operation
-------------------
One process hosts N storage nodes (one per availability zone, each with its own data
directory, WAL and LMDB) joined by the in-process transport, and a catalog store. Each
table partition is a replication group with a member on every node (issue 4, point 4).

``GroupPartition`` offers the data plane the same interface as the single-node
``storage.engine.Partition``, so the operation handlers do not know which one they use:

* ``latest(key)`` is the leader's view for condition evaluation: its own proposals not
  yet applied (the overlay) over its applied state (DESIGN.md, "A write, end to end", 3);
* ``stage(...)`` proposes one entry holding the full new image to the group's leader and
  returns a future that resolves once the entry is chosen (persisted by a quorum) and
  applied at the leader, so a read after the acknowledgement sees the write;
* ``get`` and ``scan`` read the leader's applied state.

No leader (an election in progress) answers ServiceUnavailable, which every SDK retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator

from quorumdb.errors import InternalServerError, ServiceUnavailableException
from quorumdb.replication import DEFAULT_LIMITS, GroupId, Limits, Membership, NodeId, Role, Slot
from quorumdb.storage.engine import Engine, PartitionStats
from quorumdb.storage.node import LocalTransport, ProposalFailed, StorageNode, encode_writes

NO_LEADER = "No leader is available for the partition; retry the request"


class GroupPartition:
    def __init__(self, store: ReplicatedStore, name: str, group: GroupId) -> None:
        self.store = store
        self.name = name
        self.group = group
        self.overlay: dict[bytes, tuple[bytes | None, asyncio.Future[None]]] = {}

    def leader(self) -> StorageNode | None:
        for node in self.store.nodes:
            if node.node_id not in self.store.transport.down and node.role(self.group) == (
                Role.LEADER
            ):
                return node
        return None

    def ready(self) -> bool:
        return self.leader() is not None

    def _leader_or_unavailable(self) -> StorageNode:
        leader = self.leader()
        if leader is None:
            raise ServiceUnavailableException(NO_LEADER)
        return leader

    def _reader(self, consistent: bool) -> StorageNode:
        """Strongly consistent reads: the leader, under a valid lease after its own no-op
        committed. Eventually consistent reads: any live full replica (DESIGN.md, Reads)."""
        if not consistent and self.store.eventual_reads_anywhere:
            live = [n for n in self.store.nodes if n.node_id not in self.store.transport.down
                    and self.group in n.members]
            if live:
                return live[self.store.next_reader() % len(live)]
        leader = self._leader_or_unavailable()
        if consistent and not leader.members[self.group].replica.can_read_consistently(
            time.monotonic_ns()
        ):
            raise ServiceUnavailableException(NO_LEADER)
        return leader

    @property
    def stats(self) -> PartitionStats:
        """The leader's statistics, which move when its overlay is committed: settled
        first, so DescribeTable counts every acknowledged write (it is rare)."""
        leader = self.leader() or self.store.nodes[0]
        leader.engine.settle()
        return leader.engine.open_partition(self.name).stats

    def get(self, key: bytes, consistent: bool = True) -> bytes | None:
        return self._reader(consistent).engine.open_partition(self.name).get(key)

    def scan(self, start: bytes, end: bytes | None, reverse: bool = False,
             consistent: bool = True) -> Iterator[tuple[bytes, bytes]]:
        node = self._reader(consistent)
        return node.engine.open_partition(self.name).scan(start, end, reverse)

    def latest(self, key: bytes) -> tuple[bytes | None, asyncio.Future[None] | None]:
        """The leader's newest image: its unapplied proposals over its applied state."""
        staged = self.overlay.get(key)
        if staged is not None:
            return staged
        leader = self._leader_or_unavailable()
        return leader.engine.open_partition(self.name).get(key), None

    def stage(self, key: bytes, value: bytes | None) -> asyncio.Future[None]:
        leader = self._leader_or_unavailable()
        proposal = leader.propose(self.group, encode_writes(self.name, [(key, value)]))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.overlay[key] = (value, done)

        def finished(result: asyncio.Future[Slot]) -> None:
            if self.overlay.get(key, (None, None))[1] is done:
                del self.overlay[key]
            if done.done():
                return
            error = result.exception()
            if error is None:
                done.set_result(None)
            elif isinstance(error, ProposalFailed) and error.outcome in ("not_leader",
                                                                         "overloaded"):
                done.set_exception(ServiceUnavailableException(NO_LEADER))
            else:
                # "unknown": the write may or may not be chosen; DynamoDB answers 500.
                done.set_exception(InternalServerError("Internal server error"))

        proposal.add_done_callback(finished)
        return done


class ReplicatedStore:
    """The partition host of ``serve --replicas N``: catalog records in their own small
    durable LMDB, partitions as replication groups across N in-process nodes."""

    def __init__(self, data_dir: str | None, replicas: int = 3,
                 limits: Limits = DEFAULT_LIMITS, eventual_reads_anywhere: bool = False
                 ) -> None:
        assert replicas >= 1
        self.catalog_engine = Engine(None if data_dir is None else os.path.join(data_dir,
                                                                              "catalog"))
        self.transport = LocalTransport()
        self.nodes = [
            StorageNode(NodeId(i + 1), None if data_dir is None
                        else os.path.join(data_dir, f"az{i + 1}"), self.transport, limits)
            for i in range(replicas)
        ]
        self.membership = Membership(voters=tuple(NodeId(i + 1) for i in range(replicas)))
        self.partitions: dict[str, GroupPartition] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.readers = 0
        # Off by default: like DynamoDB Local, eventually consistent reads then see every
        # acknowledged write, which is what most test suites silently assume. On, they go
        # round-robin to any live replica and may be stale by up to a heartbeat, as on AWS.
        self.eventual_reads_anywhere = eventual_reads_anywhere

    def next_reader(self) -> int:
        """Round-robin over replicas for eventually consistent reads."""
        self.readers += 1
        return self.readers

    # -- the catalog's storage --------------------------------------------------------------
    def meta_get(self, key: bytes) -> bytes | None:
        return self.catalog_engine.meta_get(key)

    def meta_items(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        return self.catalog_engine.meta_items(prefix)

    def meta_put(self, key: bytes, value: bytes | None) -> None:
        self.catalog_engine.meta_put(key, value)

    # -- partitions -------------------------------------------------------------------------
    def open_partition(self, name: str) -> GroupPartition:
        existing = self.partitions.get(name)
        if existing is not None:
            return existing
        raw = self.meta_get(b"group/" + name.encode())
        new = raw is None
        if raw is None:
            next_id = int(self.meta_get(b"next-group") or b"1")
            self.meta_put(b"next-group", b"%d" % (next_id + 1))
            self.meta_put(b"group/" + name.encode(), b"%d" % next_id)
            raw = b"%d" % next_id
        group = GroupId(int(raw))
        for node in self.nodes:
            node.host(group, name, self.membership)
        if new:
            self.nodes[0].campaign(group)
        partition = GroupPartition(self, name, group)
        self.partitions[name] = partition
        return partition

    def drop_partition(self, name: str) -> None:
        partition = self.partitions.pop(name, None)
        if partition is None:
            return
        for node in self.nodes:
            node.unhost(partition.group)
            node.engine.drop_partition(name)
        self.meta_put(b"group/" + name.encode(), None)

    def has_room(self) -> bool:
        return True

    async def wait_for_room(self) -> None:
        return None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(node.run()) for node in self.nodes]

    async def drain(self) -> None:
        for partition in list(self.partitions.values()):
            for _, future in list(partition.overlay.values()):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(future), timeout=5)

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        for task in self.tasks:
            task.cancel()
        for node in self.nodes:
            node.close()
        self.catalog_engine.close()
