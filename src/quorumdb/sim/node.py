"""One simulated storage node hosting one replica of the group: the thin driver.

Theory of operation: this is the simulator's implementation of the driver contract in
``quorumdb.replication`` (etcd's Step / Ready / Advance). Every input — a peer message, a
timer, a client request — runs against the ``Replica`` and then the node drains
``ready()`` batches, honouring the ordering rule:

1. append ``snapshot``/``entries``/``hard_state`` records to the simulated disk; when
   ``must_sync`` the node is *busy* for a seeded fsync latency, during which inputs wait
   in its mailbox (in arrival order) and a crash loses the unsynced records;
2. only after the sync, send ``messages``;
3. install the snapshot, apply ``committed`` to the key-value state machine, deliver
   ``replies`` (a client hears "ok" only after its entry is applied here);
4. ``advance`` and arm the tick timer at ``next_deadline_ns`` (converted from this
   node's drifting local clock to virtual time).

The persist-before-send rule is checked, not trusted: every message leaves through
``_send`` which asserts the node has no unsynced record vouched for by a ``Promise`` or
``Accepted`` (the disk must be clean when the batch that produced them had ``must_sync``).

Client writes (DESIGN.md, "A write, end to end"): only a leader that can read
consistently (lease valid, own no-op committed and applied) takes them; it evaluates the
condition against its latest state — applied items overlaid with its own in-flight
proposals, in proposal order — and proposes the key's full new image. A failed condition
with no in-flight proposal on the key is answered at once (a lease read); with one in
flight, the unchanged image is proposed so the answer is ordered after it.

Checkpoints (``CheckpointPolicy``, per run; swarm seeds draw it): once ``every_slots``
applied slots are held, a full replica writes and syncs a snapshot record
(``Replica.checkpoint_snapshot``) and compacts all but the last ``keep_tail_slots`` (a log
replica compacts without a snapshot); past ``rewrite_after_records`` records the log file
is rewritten without its obsolete records.

Restart restores persisted state only: the disk is replayed (later records for a slot
replace earlier ones, a snapshot makes older entries obsolete) into a
``PersistentState``; a log whose checksum fails refuses to start (see ``disk.py``).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from quorumdb.replication import (
    ZERO_BALLOT,
    Accepted,
    Entry,
    GroupId,
    HardState,
    Limits,
    Membership,
    Message,
    NodeId,
    PersistentState,
    Promise,
    ProposalReply,
    Ready,
    Replica,
    Role,
    Slot,
    Snapshot,
    describe,
)
from quorumdb.sim.clock import EventHandle, EventLoop, NodeClock
from quorumdb.sim.disk import DiskFaults, LogStatus, SimDisk
from quorumdb.sim.kvmodel import Item, Op, Output, encode_image, evaluate
from quorumdb.sim.statemachine import KvStateMachine
from quorumdb.sim.workload import ClientReply, ClientRequest

GROUP = GroupId(1)
_ENCODER = msgspec.msgpack.Encoder()
_HARD_STATE = msgspec.msgpack.Decoder(HardState)
_ENTRY = msgspec.msgpack.Decoder(Entry)
_SNAPSHOT = msgspec.msgpack.Decoder(Snapshot)
# Checkpoint once 12 slots are held, truncating all but the last 4: under
# SIMULATION_LIMITS.max_log_entries_in_memory (16), while a member a few slots behind can
# still be caught up from the log rather than refused as lagging.
CHECKPOINT_EVERY_SLOTS = 12
KEEP_TAIL_SLOTS = 4
REWRITE_AFTER_RECORDS = 400


@dataclass(frozen=True)
class CheckpointPolicy:
    """When a node checkpoints and truncates, and when it rewrites its log file.

    A node checkpoints once ``every_slots`` applied slots are held in its log, and then
    truncates all but the last ``keep_tail_slots`` of them; it rewrites its log file (drops
    obsolete records) once it holds ``rewrite_after_records`` records. Swarm mode draws
    these per seed (``faults.swarm_knobs``); the defaults are the constants above.
    """

    every_slots: int = CHECKPOINT_EVERY_SLOTS
    keep_tail_slots: int = KEEP_TAIL_SLOTS
    rewrite_after_records: int = REWRITE_AFTER_RECORDS

    def __post_init__(self) -> None:
        # A tail as long as the trigger would truncate nothing and checkpoint on every
        # Ready; a tail of 0 is valid (every lagging member then needs a snapshot).
        assert 0 <= self.keep_tail_slots < self.every_slots, self
        assert self.rewrite_after_records >= 1, self

    def check(self, limits: Limits) -> None:
        """Asserts the policy lets a leader make progress under ``limits``: a leader
        refuses proposals while it holds ``max_log_entries_in_memory`` entries, so it must
        checkpoint (and truncate) before that, or it would stall for good."""
        assert self.every_slots <= limits.max_log_entries_in_memory, (self, limits)

    def describe(self) -> str:
        return (f"checkpoint_every={self.every_slots} keep_tail={self.keep_tail_slots} "
                f"rewrite_after={self.rewrite_after_records}")


DEFAULT_CHECKPOINT = CheckpointPolicy()


def address(node_id: int) -> str:
    return f"n{node_id}"


@dataclass
class _InFlight:
    request_id: int
    client: str
    key: str
    image: Item
    output: Output


class Observer:
    """What the cluster wants to know about a node's effects (checks and figures)."""

    def applied(self, node: SimNode, entry: Entry) -> None: ...

    def sent(self, node: SimNode, message: Message) -> None: ...

    def finding(self, kind: str, text: str) -> None: ...


class SimNode:
    def __init__(
        self,
        node_id: int,
        loop: EventLoop,
        limits: Limits,
        membership: Membership,
        clock: NodeClock,
        disk_rng: random.Random,
        election_rng: random.Random,
        disk_faults: DiskFaults,
        send_peer: Callable[[SimNode, Message], None],
        send_client: Callable[[SimNode, str, ClientReply], None],
        observer: Observer,
        checkpoint: CheckpointPolicy = DEFAULT_CHECKPOINT,
    ) -> None:
        checkpoint.check(limits)
        self.checkpoint = checkpoint
        self.node_id = NodeId(node_id)
        self.address = address(node_id)
        self.loop = loop
        self.limits = limits
        self.initial_membership = membership
        self.clock = clock
        self.disk = SimDisk(self.address)
        self.disk_rng = disk_rng
        self.election_rng = election_rng
        self.disk_faults = disk_faults
        self._send_peer = send_peer
        self._send_client = send_client
        self.observer = observer
        self.replica: Replica | None = None
        self.kv = KvStateMachine()
        self.up = False
        self.refused_to_start = False
        self.incarnation = 0
        self.busy = False
        self._mailbox: deque[Callable[[Replica], None]] = deque()
        self._timer: EventHandle | None = None
        self._timer_deadline_ns = -1
        self._in_flight: list[_InFlight] = []
        self._in_flight_ballot: object = None
        self._unsynced: list[HardState | Entry | Snapshot] = []
        self._durable_promised = ZERO_BALLOT
        self._durable_slots: set[int] = set()
        self._durable_floor = 0
        self._last_tick_local_ns = -1
        self.crashes = 0
        self.checkpoints = 0
        self.snapshots_installed = 0
        self.is_log_replica = node_id in membership.log_replicas
        # Deliberate bugs for the simulator's self-test (it must catch them): "" = none.
        self.mutation = ""

    # -- life cycle ---------------------------------------------------------------------------

    def local_now_ns(self) -> int:
        return self.clock.local_ns(self.loop.now_ns)

    def start(self) -> None:
        """Boots from whatever the disk holds (nothing, the first time)."""
        assert not self.up
        result = self.disk.recover()
        if result.status is LogStatus.CORRUPT:
            self.refused_to_start = True
            self.loop.record(f"{self.address} refuses to start: corrupt log")
            return
        persisted = self._replay(result.payloads)
        self._unsynced.clear()
        self._durable_promised = ZERO_BALLOT
        self._durable_slots = set()
        self._durable_floor = 0
        if persisted is not None:
            self._track_durable([persisted.hard_state, *persisted.entries])
            if persisted.snapshot is not None:
                self._track_durable([persisted.snapshot])
        self.kv = KvStateMachine()
        if persisted is not None and persisted.snapshot is not None:
            self.kv = KvStateMachine.decode(persisted.snapshot.state)
        self.replica = Replica(
            self.node_id,
            GROUP,
            membership=self.initial_membership,
            limits=self.limits,
            rng=self.election_rng,
            now_ns=self.local_now_ns(),
            snapshot_source=self,
            persisted=persisted,
        )
        self.up = True
        self.busy = False
        self._last_tick_local_ns = -1  # the rebooted clock may read less than before
        self._in_flight.clear()
        self.loop.record(f"{self.address} start incarnation={self.incarnation}")
        self._run()

    def crash(self, clock_offset_ns: int | None = None) -> None:
        """A power cut. ``clock_offset_ns`` re-bases the monotonic clock for the reboot."""
        if not self.up:
            return
        self.up = False
        self.busy = False
        self.incarnation += 1
        self.crashes += 1
        self.replica = None
        self._mailbox.clear()
        self._in_flight.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline_ns = -1
        self.disk.crash(self.disk_rng, self.disk_faults)
        if clock_offset_ns is not None:
            self.clock = NodeClock(self.clock.drift_ppm, clock_offset_ns)
        self.loop.record(f"{self.address} crash")

    @staticmethod
    def _replay(payloads: list[bytes]) -> PersistentState | None:
        hard_state: HardState | None = None
        snapshot: Snapshot | None = None
        entries: dict[int, Entry] = {}
        for payload in payloads:
            kind, body = payload[:1], payload[1:]
            if kind == b"H":
                hard_state = _HARD_STATE.decode(body)
            elif kind == b"E":
                entry = _ENTRY.decode(body)
                entries[entry.slot] = entry
            elif kind == b"S":
                snapshot = _SNAPSHOT.decode(body)
                for slot in [slot for slot in entries if slot <= snapshot.slot]:
                    del entries[slot]
            else:  # pragma: no cover - the checksum passed, so this is our own bug
                raise AssertionError(f"unknown record kind {kind!r}")
        if hard_state is None:
            assert snapshot is None and not entries
            return None
        ordered = tuple(entries[slot] for slot in sorted(entries))
        applied = snapshot.slot if snapshot is not None else Slot(0)
        return PersistentState(hard_state=hard_state, entries=ordered, snapshot=snapshot,
                               applied_slot=applied)

    # -- inputs -------------------------------------------------------------------------------

    def _input(self, action: Callable[[Replica], None]) -> None:
        if not self.up:
            return
        if self.busy:
            self._mailbox.append(action)
            return
        assert self.replica is not None
        action(self.replica)
        self._run()

    def receive_peer(self, message: Message) -> None:
        self._input(lambda replica: replica.step(message, self.local_now_ns()))

    def receive_client(self, client: str, request: ClientRequest) -> None:
        self._input(lambda replica: self._client_request(replica, client, request))

    def _tick(self) -> None:
        self._timer = None
        self._timer_deadline_ns = -1

        def tick(replica: Replica) -> None:
            self._last_tick_local_ns = self.local_now_ns()
            replica.tick(self._last_tick_local_ns)

        self._input(tick)

    def campaign(self) -> None:
        self._input(lambda replica: replica.campaign(self.local_now_ns()))

    def transfer_leadership(self, target: int) -> None:
        self._input(
            lambda replica: replica.transfer_leadership(NodeId(target), self.local_now_ns())
        )

    def propose_membership(self, membership: Membership, request_id: int) -> None:
        self._input(
            lambda replica: replica.propose_membership(
                membership, request_id, self.local_now_ns()
            )
        )

    # -- the Ready loop -----------------------------------------------------------------------

    def _run(self) -> None:
        while self.up and not self.busy:
            replica = self.replica
            assert replica is not None
            if replica.has_ready():
                ready = replica.ready()
                wrote = self._persist(ready)
                if ready.must_sync and wrote:
                    self._begin_sync(ready)
                    return
                self._complete(ready)
                continue
            if self._mailbox:
                self._mailbox.popleft()(replica)
                continue
            # Idle: the next timer is due whenever the core says, Ready or not.
            self._arm_timer(replica.next_deadline_ns())
            break

    def _persist(self, ready: Ready) -> bool:
        # In the contract's order: snapshot, entries, then the hard state. A crash keeps a
        # prefix of the unsynced records, so a commit index written after its entries never
        # survives without them (else an older record for one of their slots, still on
        # disk, would be restored as the chosen value).
        wrote = False
        if ready.snapshot is not None:
            self._write(b"S", ready.snapshot)
            wrote = True
        for entry in ready.entries:
            self._write(b"E", entry)
            wrote = True
        if ready.hard_state is not None:
            self._write(b"H", ready.hard_state)
            wrote = True
        return wrote

    def _write(self, kind: bytes, record: HardState | Entry | Snapshot) -> None:
        self.disk.append(kind + _ENCODER.encode(record))
        self._unsynced.append(record)

    def _sync(self) -> None:
        self.disk.sync()
        self._track_durable(self._unsynced)
        self._unsynced.clear()

    def _begin_sync(self, ready: Ready) -> None:
        self.busy = True
        faults = self.disk_faults
        latency = faults.sync_ns_min + self.disk_rng.randrange(
            max(faults.sync_ns_max - faults.sync_ns_min, 0) + 1
        )
        incarnation = self.incarnation
        self.loop.schedule_after(
            latency, f"{self.address} fsync", lambda: self._synced(ready, incarnation)
        )

    def _synced(self, ready: Ready, incarnation: int) -> None:
        if incarnation != self.incarnation or not self.up:
            return  # crashed while syncing: the batch's effects never happen
        self._sync()
        self.busy = False
        self._complete(ready)
        self._run()

    def _complete(self, ready: Ready) -> None:
        replica = self.replica
        assert replica is not None
        for message in ready.messages:
            self._send(message)
        if ready.snapshot is not None:
            self.snapshots_installed += 1
            self.kv = KvStateMachine.decode(ready.snapshot.state)
            assert self.kv.applied_slot == ready.snapshot.slot
        for entry in ready.committed:
            assert not self.is_log_replica, "a log replica never applies"
            self.kv.apply(entry)
            self.observer.applied(self, entry)
        for reply in ready.replies:
            self._proposal_reply(reply)
        replica.advance(ready)
        self._maybe_checkpoint()
        self._arm_timer(ready.next_deadline_ns)

    def _send(self, message: Message) -> None:
        # Persist before send (ready.py rule 2), checked against what is *durable*, not
        # against what the core believes: an answer that vouches for a promise or for
        # accepted slots must be backed by synced records.
        if isinstance(message, Promise | Accepted) and message.ok:
            assert self._durable_promised >= message.ballot, (
                f"{self.address} sends {describe(message)} but only "
                f"{self._durable_promised} is durable")
        if isinstance(message, Accepted) and message.ok:
            missing = [slot for slot in range(self._durable_floor + 1, message.match_slot + 1)
                       if slot not in self._durable_slots]
            assert not missing, (
                f"{self.address} sends {describe(message)} but slots {missing[:5]} "
                f"are not durable")
        self.observer.sent(self, message)
        self._send_peer(self, message)

    def _track_durable(self, records: list[HardState | Entry | Snapshot]) -> None:
        for record in records:
            if isinstance(record, HardState):
                self._durable_promised = max(self._durable_promised, record.promised)
            elif isinstance(record, Entry):
                self._durable_slots.add(record.slot)
                self._durable_promised = max(self._durable_promised, record.ballot)
            else:
                self._durable_floor = max(self._durable_floor, record.slot)

    def _arm_timer(self, deadline_local_ns: int) -> None:
        if deadline_local_ns <= 0:
            return
        if deadline_local_ns <= self._last_tick_local_ns:
            # The core asks to be ticked at or before a tick it has already had: a driver
            # honouring that would spin. Reported as a finding; the timer backs off 1 ms.
            replica = self.replica
            self.observer.finding(
                "tick busy loop",
                f"{self.address}: after tick at local {self._last_tick_local_ns} the core "
                f"asks for a tick at {deadline_local_ns} (busy loop); status "
                f"{replica.status() if replica is not None else None}")
            deadline_local_ns = self.local_now_ns() + 1_000_000
        if self._timer is not None and self._timer_deadline_ns == deadline_local_ns:
            return
        if self._timer is not None:
            self._timer.cancel()
        when = max(self.clock.virtual_ns(deadline_local_ns), self.loop.now_ns)
        self._timer_deadline_ns = deadline_local_ns
        self._timer = self.loop.schedule_at(when, f"{self.address} tick", self._tick)

    # -- checkpoints (truncation after checkpoint) ---------------------------------------------

    def capture(self) -> tuple[Slot, bytes]:
        """SnapshotSource: the applied state, now."""
        return Slot(self.kv.applied_slot), self.kv.encode()

    def _maybe_checkpoint(self) -> None:
        replica = self.replica
        assert replica is not None
        status = replica.status()
        applied: int = self.kv.applied_slot
        if self.is_log_replica:
            applied = min(status.commit_slot, status.applied_slot)
        if applied - status.first_slot + 1 < self.checkpoint.every_slots:
            return
        through = applied - self.checkpoint.keep_tail_slots
        if through <= 0:
            return
        if not self.is_log_replica:
            # The checkpoint is durable before the log behind it may go (DESIGN.md).
            snapshot = replica.checkpoint_snapshot(Slot(applied), self.kv.encode())
            self._write(b"S", snapshot)
            self._sync()
        replica.compact(Slot(through))
        self.checkpoints += 1
        if len(self.disk.durable) > 0 and self.disk.unsynced_records() == 0:
            self._maybe_rewrite()

    def _maybe_rewrite(self) -> None:
        result = self.disk.recover()
        if (len(result.payloads) < self.checkpoint.rewrite_after_records
                or result.status is not LogStatus.CLEAN):
            return
        persisted = self._replay(result.payloads)
        if persisted is None:
            return
        payloads = []
        if persisted.snapshot is not None:
            payloads.append(b"S" + _ENCODER.encode(persisted.snapshot))
        payloads.append(b"H" + _ENCODER.encode(persisted.hard_state))
        payloads.extend(b"E" + _ENCODER.encode(entry) for entry in persisted.entries)
        self.disk.rewrite(payloads)

    # -- client requests ----------------------------------------------------------------------

    def _reply(self, client: str, reply: ClientReply) -> None:
        self._send_client(self, client, reply)

    def _leader_hint(self, replica: Replica) -> str | None:
        hint = replica.status().leader_hint
        return address(hint) if hint is not None else None

    def _client_request(self, replica: Replica, client: str, request: ClientRequest) -> None:
        op = request.op
        now = self.local_now_ns()
        if op.kind == "get" and self.mutation == "stale-reads" and not self.is_log_replica:
            self._reply(client, ClientReply(request.request_id, "ok", self.kv.items.get(op.key)))
            return
        if self.is_log_replica or not replica.can_read_consistently(now):
            self._reply(client, ClientReply(request.request_id, "not_leader",
                                            leader_hint=self._leader_hint(replica)))
            return
        if op.kind == "get":
            self._reply(client, ClientReply(request.request_id, "ok", self.kv.items.get(op.key)))
            return
        status = replica.status()
        if status.promised != self._in_flight_ballot:
            self._abandon_in_flight()
            self._in_flight_ballot = status.promised
        self._propose_write(replica, client, request, op, now)

    def _propose_write(
        self, replica: Replica, client: str, request: ClientRequest, op: Op, now: int
    ) -> None:
        latest: Item = self.kv.items.get(op.key)
        pending_on_key = False
        for in_flight in self._in_flight:
            if in_flight.key == op.key:
                latest = in_flight.image
                pending_on_key = True
        image, output = evaluate(latest, op)
        if not pending_on_key and isinstance(output, tuple) and output[0] is False:
            # A failed condition against applied state, under the lease: a read.
            self._reply(client, ClientReply(request.request_id, "ok", output))
            return
        self._in_flight.append(_InFlight(request.request_id, client, op.key, image, output))
        if self.mutation == "ack-before-commit":
            self._reply(client, ClientReply(request.request_id, "ok", output))
        replica.propose(encode_image(op.key, image, str(request.request_id)),
                        request.request_id, now)

    def _abandon_in_flight(self) -> None:
        for in_flight in self._in_flight:
            self._reply(in_flight.client, ClientReply(in_flight.request_id, "unknown"))
        self._in_flight.clear()

    def _proposal_reply(self, reply: ProposalReply) -> None:
        position = next(
            (index for index, in_flight in enumerate(self._in_flight)
             if in_flight.request_id == reply.request_id),
            None,
        )
        if position is None:
            return  # a membership change, or a proposal of a previous leadership
        in_flight = self._in_flight[position]
        match reply.outcome:
            case "committed":
                # Same-leader proposals commit in slot order: earlier ones on this key
                # are settled too (committed, or their replies are on the way).
                del self._in_flight[position]
                self._reply(in_flight.client,
                            ClientReply(in_flight.request_id, "ok", in_flight.output))
            case "not_leader" | "overloaded" | "invalid":
                assert position == len(self._in_flight) - 1, "refusals come at once"
                del self._in_flight[position]
                hint = address(reply.leader_hint) if reply.leader_hint is not None else None
                if reply.outcome != "not_leader":
                    hint = self.address
                self._reply(in_flight.client,
                            ClientReply(in_flight.request_id, "not_leader", leader_hint=hint))
            case "unknown":
                self._abandon_in_flight()

    def role(self) -> Role | None:
        return self.replica.status().role if self.replica is not None else None
