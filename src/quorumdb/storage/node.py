"""A storage node: the asyncio driver of every replication-group member it hosts.

Theory of operation
-------------------
DESIGN.md, "Roles": a storage node hosts many partition replicas. Each replica is a pure
``quorumdb.replication.Replica``; this module does its I/O, in the order the core's
``Ready`` prescribes (``replication/ready.py``):

1. collect the Ready of every member that has one (TiKV: a scheduler pass over all
   peers), append all their persists to the node's one WAL, and ``fdatasync`` once for
   all of them (group commit across groups) in a worker thread;
2. only then hand their messages to the transport (a leader's Accepts excepted: they go
   out before the leader's own sync, see ``_handle``);
3. apply committed entries of every group (``Engine.apply``: readable at once from the
   engine's overlay, committed to LMDB with later cycles' in one transaction, at
   ``APPLY_BATCH_WRITES`` or ``SETTLE_DELAY_S`` after the node was quiet; no sync: the
   WAL is the durability point, and a checkpoint commits and syncs LMDB before the WAL
   behind it is dropped), deliver proposal replies;
4. ``advance`` each member.

WAL records: ``(group, kind, body)`` with kind ``entry`` (an accepted entry; a later
record for a slot replaces an earlier one), ``hard`` (promised ballot, commit slot,
membership) or ``snapshot``. Restart replays the WAL into each group's
``PersistentState``; the applied slot comes from LMDB, so entries committed but not yet
applied (or applied but lost with unsynced LMDB pages) are applied again — idempotent,
since entries hold full item images.

Time: the core sees ``time.monotonic_ns()`` of this process; a node-level ticker at a
fixed cadence ticks every member whose deadline passed (constant work, DESIGN.md lesson 1).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from quorumdb.replication import (
    DEFAULT_LIMITS,
    Accept,
    Entry,
    GroupId,
    HardState,
    Limits,
    Membership,
    Message,
    NodeId,
    PersistentState,
    ProposalReply,
    Ready,
    Replica,
    Role,
    Slot,
    Snapshot,
)
from quorumdb.storage.engine import Engine, PendingCheckpoint
from quorumdb.storage.wal import Wal

log = logging.getLogger("quorumdb.node")

TICK_INTERVAL_S = 0.005
# Checkpoint after this many WAL records: bounds both WAL size and restart replay time.
CHECKPOINT_RECORDS = 50_000
# What the Ready cycles applied is committed to LMDB this long after a cycle found the
# node quiet (or at ``engine.APPLY_BATCH_WRITES`` writes): fewer, larger transactions.
# Measured (PutItem, 32 clients, ``--replicas 3``, two runs each): committing as soon as
# the node is quiet 4,600 / 3,959 ops/s, after 5 ms 4,560 / 4,140, after 20 ms 4,745 /
# 4,374.
SETTLE_DELAY_S = 0.02

WriteBatch = list[tuple[bytes, bytes | None]]


class WalRecord(msgspec.Struct, frozen=True, array_like=True):
    group: int
    kind: str  # "entry" | "hard" | "snapshot"
    entry: Entry | None = None
    hard_state: HardState | None = None
    snapshot: Snapshot | None = None


_record_encoder = msgspec.msgpack.Encoder()
_record_decoder = msgspec.msgpack.Decoder(WalRecord)
_payload_decoder = msgspec.msgpack.Decoder(tuple[str, list[tuple[bytes, bytes | None]]])


def encode_writes(partition: str, writes: WriteBatch) -> bytes:
    """The payload of a write entry: full new images, so apply needs no expression logic."""
    return msgspec.msgpack.encode((partition, writes))


def decode_writes(payload: bytes) -> tuple[str, WriteBatch]:
    return _payload_decoder.decode(payload)


class LocalTransport:
    """Delivers messages between nodes of one process through the event loop (the
    in-process transport of ``quorumdb serve``); ``down`` simulates a dead node."""

    def __init__(self) -> None:
        self.nodes: dict[NodeId, StorageNode] = {}
        self.down: set[NodeId] = set()

    def send(self, message: Message) -> None:
        target = self.nodes.get(message.dst)
        if target is None or message.src in self.down or message.dst in self.down:
            return
        asyncio.get_running_loop().call_soon(target.deliver, message.group_id, message)


@dataclass
class Member:
    """One hosted replica: the core, its partition and the futures of its proposals."""

    replica: Replica
    partition: str
    proposals: dict[int, asyncio.Future[Slot]] = field(default_factory=dict)
    # committed proposals whose entry this member has not applied yet
    awaiting_apply: list[tuple[Slot, asyncio.Future[Slot]]] = field(default_factory=list)
    # The core takes no input between ready() and advance(): inputs that arrive while a
    # Ready is being persisted wait here, in arrival order (bounded by the transport's
    # and the proposers' own bounds).
    busy: bool = False
    inbox: deque[Callable[[int], None]] = field(default_factory=deque)


class _Snapshots:
    def __init__(self, engine: Engine, partition: str) -> None:
        self.engine = engine
        self.partition = partition

    def capture(self) -> tuple[Slot, bytes]:
        slot, state = self.engine.capture(self.partition)
        return Slot(slot), state


class StorageNode:
    def __init__(self, node_id: NodeId, data_dir: str | None, transport: LocalTransport,
                 limits: Limits = DEFAULT_LIMITS, seed: int | None = None) -> None:
        self.node_id = node_id
        self.transport = transport
        self.limits = limits
        self.rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8)))
        self.engine = Engine(None if data_dir is None else os.path.join(data_dir, "lmdb"),
                             sync=False)
        wal_dir = Path(data_dir or self.engine.path) / "wal"
        self.wal = Wal.open(wal_dir)
        self.members: dict[GroupId, Member] = {}
        self.recovered = self._replay()
        self.dirty: set[GroupId] = set()
        self.scheduled = False
        self.running = False
        self.request_ids = 0
        self.records_since_checkpoint = 0
        self._settle_scheduled = False
        self._checkpointing: tuple[asyncio.Future[None], dict[GroupId, Slot], int,
                                   PendingCheckpoint] | None = None
        self.installs = 0  # snapshots installed into LMDB so far
        self.checkpoints = 0
        transport.nodes[node_id] = self

    # -- recovery -------------------------------------------------------------------------
    def _replay(self) -> dict[GroupId, PersistentState]:
        hard: dict[int, HardState] = {}
        entries: dict[int, dict[int, Entry]] = {}
        snapshots: dict[int, Snapshot] = {}
        for _, payload in self.wal.replay(self.wal.first_seq):
            record = _record_decoder.decode(payload)
            if record.kind == "hard" and record.hard_state is not None:
                hard[record.group] = record.hard_state
            elif record.kind == "entry" and record.entry is not None:
                entries.setdefault(record.group, {})[int(record.entry.slot)] = record.entry
            elif record.kind == "snapshot" and record.snapshot is not None:
                snapshots[record.group] = record.snapshot
                group_entries = entries.get(record.group, {})
                for slot in [s for s in group_entries if s <= record.snapshot.slot]:
                    del group_entries[slot]
        out: dict[GroupId, PersistentState] = {}
        for group, state in hard.items():
            ordered = tuple(e for _, e in sorted(entries.get(group, {}).items()))
            out[GroupId(group)] = PersistentState(state, ordered, snapshots.get(group))
        return out

    def host(self, group: GroupId, partition: str, membership: Membership) -> None:
        """Starts (or restarts from the WAL) this node's member of ``group``."""
        now = time.monotonic_ns()
        persisted = self.recovered.pop(group, None)
        if persisted is not None:
            applied = self.engine.applied_slot(partition)
            persisted = msgspec.structs.replace(persisted, applied_slot=Slot(applied))
        replica = Replica(self.node_id, group, membership=membership, limits=self.limits,
                          rng=self.rng, now_ns=now,
                          snapshot_source=_Snapshots(self.engine, partition),
                          persisted=persisted)
        self.members[group] = Member(replica, partition)
        self.engine.open_partition(partition)
        self._mark(group)

    def unhost(self, group: GroupId) -> None:
        member = self.members.pop(group, None)
        if member is not None:
            for future in member.proposals.values():
                if not future.done():
                    future.set_exception(ConnectionError("partition dropped"))

    # -- inputs ---------------------------------------------------------------------------
    def _input(self, group: GroupId, member: Member, action: Callable[[int], None]) -> None:
        if member.busy:
            member.inbox.append(action)
        else:
            action(time.monotonic_ns())
        self._mark(group)

    def deliver(self, group: GroupId, message: Message) -> None:
        member = self.members.get(group)
        if member is None or self.node_id in self.transport.down:
            return
        replica = member.replica
        self._input(group, member, lambda now: replica.step(message, now))

    def propose(self, group: GroupId, payload: bytes) -> asyncio.Future[Slot]:
        """Proposes a write entry; the future resolves with its slot once it is chosen
        and applied here, or fails when this member cannot commit it."""
        member = self.members[group]
        self.request_ids += 1
        future: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        member.proposals[self.request_ids] = future
        request_id = self.request_ids
        replica = member.replica
        self._input(group, member, lambda now: replica.propose(payload, request_id, now))
        return future

    def campaign(self, group: GroupId) -> None:
        """Starts an election now (a new group need not wait out an election timeout)."""
        member = self.members[group]
        self._input(group, member, member.replica.campaign)

    def role(self, group: GroupId) -> Role:
        return self.members[group].replica.role  # no Status struct on the request path

    def _mark(self, group: GroupId) -> None:
        self.dirty.add(group)
        if not self.scheduled and self.running:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._start_cycle)

    # -- the Ready cycle ------------------------------------------------------------------
    def _start_cycle(self) -> None:
        asyncio.get_running_loop().create_task(self._cycle())

    async def _cycle(self) -> None:
        try:
            while self.dirty and self.running:
                groups = sorted(self.dirty)
                self.dirty.clear()
                readies: list[tuple[GroupId, Member, Ready]] = []
                for group in groups:
                    member = self.members.get(group)
                    if member is not None and member.replica.has_ready():
                        member.busy = True
                        readies.append((group, member, member.replica.ready()))
                if readies:
                    await self._handle(readies)
        finally:
            self.scheduled = False
            if self.dirty and self.running:
                self._mark(next(iter(self.dirty)))
            elif self.running and not self._settle_scheduled:
                self._settle_scheduled = True
                asyncio.get_running_loop().call_later(SETTLE_DELAY_S, self._settle)

    def _settle(self) -> None:
        self._settle_scheduled = False
        if self.running:
            self.engine.settle()

    async def _handle(self, readies: Sequence[tuple[GroupId, Member, Ready]]) -> None:
        # A leader's Accepts may leave before its own WAL write (Raft thesis 10.2.1): they
        # vouch for nothing the leader persisted, its own vote counts only after
        # ``advance`` (replicate.own_entries_persisted), and its ballot was persisted when
        # it campaigned. So the leader's fsync and its followers' run in parallel.
        # Everything else (Promise, Accepted, ...) still waits for the sync.
        later: list[Message] = []
        for _, _, rd in readies:
            for message in rd.messages:
                if isinstance(message, Accept):
                    self.transport.send(message)
                else:
                    later.append(message)
        payloads: list[bytes] = []
        must_sync = False
        for group, _, rd in readies:
            if rd.snapshot is not None:
                payloads.append(_record_encoder.encode(
                    WalRecord(int(group), "snapshot", snapshot=rd.snapshot)))
            for entry in rd.entries:
                payloads.append(_record_encoder.encode(WalRecord(int(group), "entry", entry)))
            if rd.hard_state is not None:
                payloads.append(_record_encoder.encode(
                    WalRecord(int(group), "hard", hard_state=rd.hard_state)))
            must_sync = must_sync or rd.must_sync
        if payloads:
            self.wal.append(payloads)
            self.records_since_checkpoint += len(payloads)
            if must_sync:
                await asyncio.get_running_loop().run_in_executor(None, self.wal.sync)
        if not self.running:
            return
        for message in later:
            self.transport.send(message)
        self._apply(readies)
        for group, member, rd in readies:
            for reply in rd.replies:
                self._resolve(member, reply)
            if member.awaiting_apply:
                self._release_applied(member)
            member.replica.advance(rd)
            member.busy = False
            while member.inbox:
                member.inbox.popleft()(time.monotonic_ns())
            if member.replica.has_ready():
                self.dirty.add(group)
        if self._checkpointing is not None:
            self._finish_checkpoint()
        elif self.records_since_checkpoint >= CHECKPOINT_RECORDS:
            self._begin_checkpoint()

    def _apply(self, readies: Sequence[tuple[GroupId, Member, Ready]]) -> None:
        batches: list[tuple[str, int, WriteBatch]] = []
        for _, member, rd in readies:
            if rd.snapshot is not None:
                self.engine.install(member.partition, int(rd.snapshot.slot), rd.snapshot.state)
                self.installs += 1
            for entry in rd.committed:
                writes: WriteBatch = []
                if entry.kind == "data":
                    _, writes = decode_writes(entry.payload)
                batches.append((member.partition, int(entry.slot), writes))
        if batches:
            self.engine.apply(batches)

    def _resolve(self, member: Member, reply: ProposalReply) -> None:
        future = member.proposals.pop(reply.request_id, None)
        if future is None or future.done():
            return
        if reply.outcome == "committed" and reply.slot is not None:
            if self.engine.applied_slot(member.partition) >= reply.slot:
                future.set_result(reply.slot)
            else:
                member.awaiting_apply.append((reply.slot, future))
        else:
            future.set_exception(ProposalFailed(reply.outcome, reply.leader_hint))

    def _release_applied(self, member: Member) -> None:
        applied = self.engine.applied_slot(member.partition)
        waiting = []
        for slot, future in member.awaiting_apply:
            if slot <= applied:
                if not future.done():
                    future.set_result(slot)
            else:
                waiting.append((slot, future))
        member.awaiting_apply = waiting

    def idle(self) -> bool:
        """No Ready outstanding: the cores take input (``checkpoint`` may run)."""
        return not any(member.busy for member in self.members.values())

    def checkpoint(self) -> None:
        """Records a synced LMDB snapshot (``Engine.checkpoint``: pinned, synced, its meta
        page saved, so an open restores it), rewrites every member's persistent state
        into the WAL from what it holds, and drops the WAL segments before it.
        Synchronous, and only while ``idle()``; the Ready cycle uses the same steps with
        the LMDB sync off the loop."""
        assert self.idle(), "checkpoint while a Ready is outstanding"
        captured = self._applied_now()
        self.engine.checkpoint()
        self._rewrite_wal(captured)

    def _applied_now(self) -> dict[GroupId, Slot]:
        """What each member has applied to LMDB (committed there, synced or not), for a
        checkpoint about to pin it: the engine's overlay is committed first, so nothing
        applied is only in memory."""
        self.engine.settle()
        return {group: Slot(min(member.replica.status().applied_slot,
                                self.engine.applied_slot(member.partition)))
                for group, member in self.members.items()}

    def _begin_checkpoint(self) -> None:
        """The LMDB sync of a checkpoint takes tens of milliseconds with many applied
        pages (measured 22-30 ms at 5 k writes/s): it runs on a thread while the node
        keeps serving; what it makes durable is what was applied when it began."""
        captured = self._applied_now()
        pending, future = self.engine.begin_checkpoint()  # pins what captured describes
        self._checkpointing = (future, captured, self.installs, pending)

    def _finish_checkpoint(self) -> None:
        """At the end of a Ready cycle (no Ready outstanding): once the sync is done,
        rewrite the WAL from the captured applied slots on."""
        assert self._checkpointing is not None
        future, captured, installs, pending = self._checkpointing
        if not future.done():
            return
        self._checkpointing = None
        # the snapshot is recorded (or the sync failed): the engine moves its pin either way
        self.engine.end_checkpoint(pending, future.exception())
        if future.exception() is not None:
            log.error("checkpoint sync failed: %r", future.exception())
            return
        if set(captured) != set(self.members) or installs != self.installs:
            # a group came or went, or a snapshot replaced a partition's state (its WAL
            # record must outlive the sync that covers it): the next checkpoint covers it
            return
        self._rewrite_wal(captured)

    def _rewrite_wal(self, captured: dict[GroupId, Slot]) -> None:
        first = self.wal.last_seq + 1
        payloads: list[bytes] = []
        for group, member in sorted(self.members.items()):
            replica = member.replica
            durable = captured[group]
            # The checkpoint's own record (its state is LMDB's, synced): a restart then
            # knows the membership and the origin of the last value before the log's
            # first slot, which the prefix check of the next entry needs.
            payloads.append(_record_encoder.encode(WalRecord(
                int(group), "snapshot", snapshot=replica.checkpoint_snapshot(durable, b""))))
            payloads.append(_record_encoder.encode(
                WalRecord(int(group), "hard", hard_state=replica.hard_state())))
            for entry in replica.log.entries_from(Slot(durable + 1)):
                payloads.append(_record_encoder.encode(WalRecord(int(group), "entry", entry)))
            replica.compact(durable)
        if payloads:
            self.wal.append(payloads)
            self.wal.sync()
            self.wal.release_before(first)
        self.records_since_checkpoint = 0
        self.checkpoints += 1

    # -- timers ---------------------------------------------------------------------------
    async def run(self) -> None:
        self.running = True
        for group in list(self.members):
            self._mark(group)
        try:
            while self.running:
                now = time.monotonic_ns()
                for group, member in self.members.items():
                    if not member.busy and member.replica.next_deadline_ns() <= now:
                        member.replica.tick(now)
                        self._mark(group)
                await asyncio.sleep(TICK_INTERVAL_S)
        finally:
            self.running = False

    def stop(self) -> None:
        self.running = False

    def close(self) -> None:
        self.running = False
        self.wal.close()
        self.engine.close()


class ProposalFailed(Exception):
    """A proposal this member could not commit: ``outcome`` as the core said."""

    def __init__(self, outcome: str, leader_hint: Any) -> None:
        super().__init__(f"proposal {outcome}; leader hint {leader_hint}")
        self.outcome = outcome
        self.leader_hint = leader_hint
