"""An in-memory cluster of ``Replica`` s driven by text commands, for golden scripts.

The harness is a faithful, minimal driver: after every input to a member it takes the
``Ready``, persists to that member's in-memory disk *first*, checks that every message it
is about to send is vouched for by what is on disk (never send before persist), queues
the messages on the network, applies committed entries, and calls ``advance``. Each member
has its own clock (milliseconds in commands, nanoseconds inside). It also checks, across
the cluster, that no two members ever apply different values at one slot.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from quorumdb.replication import (
    NO_SLOT,
    SIMULATION_LIMITS,
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
    Ready,
    Replica,
    Slot,
    Snapshot,
    describe,
)

GROUP = GroupId(1)
MS = 1_000_000


@dataclass
class Disk:
    hard_state: HardState | None = None
    entries: dict[Slot, Entry] = field(default_factory=dict)
    snapshot: Snapshot | None = None
    # The state machine: applied payloads and the slot applied through.
    applied: list[str] = field(default_factory=list)
    applied_slot: Slot = NO_SLOT
    initial_membership: Membership | None = None


class DiskSnapshotSource:
    def __init__(self, disk: Disk) -> None:
        self.disk = disk

    def capture(self) -> tuple[Slot, bytes]:
        return self.disk.applied_slot, json.dumps(self.disk.applied).encode()


def parse_ids(text: str) -> tuple[NodeId, ...]:
    return tuple(sorted(NodeId(int(part)) for part in text.split(",") if part))


class Cluster:
    def __init__(self, limits: Limits = SIMULATION_LIMITS) -> None:
        self.limits = limits
        self.nodes: dict[NodeId, Replica | None] = {}
        self.disks: dict[NodeId, Disk] = {}
        self.clocks: dict[NodeId, int] = {}
        # Clock rates (real time -> member time) for drift tests; ``advance`` uses them.
        self.rates: dict[NodeId, float] = {}
        self.queue: list[Message] = []
        self.sides: list[set[NodeId]] | None = None
        self.next_request_id = 1
        self.chosen: dict[Slot, Entry] = {}
        self.out: list[str] = []

    # ------------------------------------------------------------ driver

    def _new_replica(self, node_id: NodeId, membership: Membership,
                     persisted: PersistentState | None) -> Replica:
        return Replica(node_id, GROUP, membership=membership, limits=self.limits,
                       rng=random.Random(node_id), now_ns=self.clocks[node_id],
                       snapshot_source=DiskSnapshotSource(self.disks[node_id]),
                       persisted=persisted)

    def add_node(self, node_id: NodeId, membership: Membership) -> None:
        assert node_id not in self.nodes
        self.disks[node_id] = Disk(initial_membership=membership)
        self.clocks[node_id] = max(self.clocks.values(), default=0)
        self.nodes[node_id] = self._new_replica(node_id, membership, None)

    def replica(self, node_id: NodeId) -> Replica:
        node = self.nodes[node_id]
        assert node is not None, f"node {node_id} is down"
        return node

    def process(self, node_id: NodeId) -> None:
        r = self.replica(node_id)
        rd = r.ready()
        self._persist(node_id, rd)
        self._check_vouched(node_id, rd)
        self.queue.extend(rd.messages)
        self._apply(node_id, rd)
        self._print_ready(node_id, rd)
        r.advance(rd)

    def _persist(self, node_id: NodeId, rd: Ready) -> None:
        disk = self.disks[node_id]
        if rd.snapshot is not None:
            disk.snapshot = rd.snapshot
            disk.entries = {s: e for s, e in disk.entries.items() if s > rd.snapshot.slot}
        for entry in rd.entries:
            disk.entries[entry.slot] = entry
        if rd.hard_state is not None:
            disk.hard_state = rd.hard_state

    def _check_vouched(self, node_id: NodeId, rd: Ready) -> None:
        """Never send before persist: every promise/acceptance sent is on disk already."""
        disk = self.disks[node_id]
        for message in rd.messages:
            if isinstance(message, Promise | Accepted) and message.ok:
                assert disk.hard_state is not None
                assert disk.hard_state.promised >= message.ballot, (message, disk.hard_state)
            if isinstance(message, Accepted) and message.ok:
                floor = disk.snapshot.slot if disk.snapshot is not None else 0
                for slot in range(floor + 1, message.match_slot + 1):
                    held = disk.entries.get(Slot(slot))
                    assert held is not None, (node_id, slot, message)

    def _apply(self, node_id: NodeId, rd: Ready) -> None:
        disk = self.disks[node_id]
        if rd.snapshot is not None:
            disk.applied = json.loads(rd.snapshot.state)
            disk.applied_slot = rd.snapshot.slot
        for entry in rd.committed:
            assert entry.slot == disk.applied_slot + 1, (entry, disk.applied_slot)
            seen = self.chosen.setdefault(entry.slot, entry)
            assert seen.same_value(entry), f"two values chosen at {entry.slot}: {seen} {entry}"
            if entry.kind == "data":
                disk.applied.append(entry.payload.decode())
            disk.applied_slot = entry.slot

    def _print_ready(self, node_id: NodeId, rd: Ready) -> None:
        if rd.is_empty():
            return
        say = self.out.append
        if rd.snapshot is not None:
            say(f"{node_id}: install snapshot slot={rd.snapshot.slot} "
                f"membership=({rd.snapshot.membership})")
        if rd.entries:
            sync = " sync" if rd.must_sync else ""
            say(f"{node_id}: persist [" + " ".join(str(e) for e in rd.entries) + "]" + sync)
        if rd.hard_state is not None:
            hs = rd.hard_state
            say(f"{node_id}: hard state promised={hs.promised} commit={hs.commit_slot}"
                f" ({hs.membership})" + (" sync" if rd.must_sync and not rd.entries else ""))
        for message in rd.messages:
            say(f"{node_id}: send {describe(message)}")
        if rd.committed:
            say(f"{node_id}: apply [" + " ".join(str(e) for e in rd.committed) + "]")
        for reply in rd.replies:
            slot = f" slot={reply.slot}" if reply.slot is not None else ""
            say(f"{node_id}: reply {reply.request_id} {reply.outcome}{slot}"
                f" leader={reply.leader_hint}")

    def _input(self, node_id: NodeId, action: Callable[[Replica, int], None]) -> None:
        r = self.replica(node_id)
        action(r, self.clocks[node_id])
        self.process(node_id)

    # ------------------------------------------------------------ network

    def connected(self, a: NodeId, b: NodeId) -> bool:
        if self.sides is None:
            return True
        return any(a in side and b in side for side in self.sides)

    def deliver(self, only: tuple[NodeId, ...]) -> int:
        batch = [m for m in self.queue if not only or m.dst in only]
        self.queue = [m for m in self.queue if only and m.dst not in only]
        for message in batch:
            node = self.nodes.get(message.dst)
            if node is None or not self.connected(message.src, message.dst):
                self.out.append(f"drop {describe(message)}")
                continue
            self.out.append(f"deliver {describe(message)}")
            self._input(message.dst, lambda r, now, m=message: r.step(m, now))  # type: ignore[misc]
        return len(batch)

    # ------------------------------------------------------------ commands

    def run(self, line: str) -> list[str]:
        self.out = []
        words = line.split()
        command, args = words[0], words[1:]
        handler = getattr(self, "cmd_" + command.replace("-", "_"), None)
        assert handler is not None, f"unknown command {command!r}"
        handler(args)
        return self.out

    def cmd_add_nodes(self, args: list[str]) -> None:
        count = int(args[0])
        options = dict(arg.split("=", 1) for arg in args[1:])
        log = parse_ids(options.get("log", ""))
        voters = tuple(NodeId(i) for i in range(1, count + 1) if NodeId(i) not in log)
        membership = Membership(voters, log)
        for i in range(1, count + 1):
            self.add_node(NodeId(i), membership)
        self.out.append(f"membership {membership}")

    def cmd_add_node(self, args: list[str]) -> None:
        options = dict(arg.split("=", 1) for arg in args[1:])
        membership = Membership(parse_ids(options["voters"]), parse_ids(options.get("log", "")))
        self.add_node(NodeId(int(args[0])), membership)
        self.out.append(f"node {args[0]} membership {membership}")

    def cmd_campaign(self, args: list[str]) -> None:
        self._input(NodeId(int(args[0])), lambda r, now: r.campaign(now))

    def cmd_propose(self, args: list[str]) -> None:
        """``propose 1 a b c``: several proposals in one input (one Ready: batching)."""
        first = self.next_request_id
        self.next_request_id += len(args) - 1

        def action(r: Replica, now: int) -> None:
            for offset, payload in enumerate(args[1:]):
                r.propose(payload.encode(), first + offset, now)

        self._input(NodeId(int(args[0])), action)

    def cmd_propose_membership(self, args: list[str]) -> None:
        request_id = self.next_request_id
        self.next_request_id += 1
        options = dict(arg.split("=", 1) for arg in args[1:])
        membership = Membership(parse_ids(options["voters"]), parse_ids(options.get("log", "")))
        self._input(NodeId(int(args[0])),
                    lambda r, now: r.propose_membership(membership, request_id, now))

    def cmd_transfer(self, args: list[str]) -> None:
        target = NodeId(int(args[1]))
        self._input(NodeId(int(args[0])), lambda r, now: r.transfer_leadership(target, now))

    def _tick(self, node_id: NodeId, delta_ms: float) -> None:
        self.clocks[node_id] += int(delta_ms * MS)
        self._input(node_id, lambda r, now: r.tick(now))

    def cmd_tick(self, args: list[str]) -> None:
        self._tick(NodeId(int(args[0])), float(args[1]))

    def cmd_advance(self, args: list[str]) -> None:
        """Advances every clock (down members' too) by ms and ticks every live member."""
        for node_id in sorted(self.nodes):
            delta_ms = float(args[0]) * self.rates.get(node_id, 1.0)
            if self.nodes[node_id] is None:
                self.clocks[node_id] += int(delta_ms * MS)
            else:
                self._tick(node_id, delta_ms)

    def cmd_deliver_msgs(self, args: list[str]) -> None:
        self.deliver(tuple(NodeId(int(a)) for a in args))

    def cmd_drop_msgs(self, args: list[str]) -> None:
        only = tuple(NodeId(int(a)) for a in args)
        for message in [m for m in self.queue if not only or m.dst in only]:
            self.out.append(f"drop {describe(message)}")
        self.queue = [m for m in self.queue if only and m.dst not in only]

    def cmd_stabilize(self, args: list[str]) -> None:
        for _ in range(200):
            if not self.deliver(()):
                return
        raise AssertionError("no quiescence after 200 rounds")

    def cmd_crash(self, args: list[str]) -> None:
        self.nodes[NodeId(int(args[0]))] = None

    def cmd_restart(self, args: list[str]) -> None:
        node_id = NodeId(int(args[0]))
        disk = self.disks[node_id]
        if disk.hard_state is None:  # crashed before persisting anything: a fresh start
            assert disk.initial_membership is not None
            self.nodes[node_id] = self._new_replica(node_id, disk.initial_membership, None)
        else:
            persisted = PersistentState(disk.hard_state, tuple(disk.entries.values()),
                                        disk.snapshot, disk.applied_slot)
            self.nodes[node_id] = self._new_replica(node_id, disk.hard_state.membership,
                                                    persisted)
        self.process(node_id)

    def cmd_partition(self, args: list[str]) -> None:
        sides: list[set[NodeId]] = [set()]
        for arg in args:
            if arg == "|":
                sides.append(set())
            else:
                sides[-1].add(NodeId(int(arg)))
        self.sides = sides

    def cmd_heal(self, args: list[str]) -> None:
        self.sides = None

    def cmd_log(self, args: list[str]) -> None:
        r = self.replica(NodeId(int(args[0])))
        entries = r.log.entries_from(r.log.first_slot)
        self.out.append(f"first={r.log.first_slot} [" + " ".join(str(e) for e in entries) + "]")

    def cmd_status(self, args: list[str]) -> None:
        node_id = NodeId(int(args[0]))
        s = self.replica(node_id).status()
        self.out.append(f"{node_id}: {s.role.value} promised={s.promised} leader={s.leader_hint}"
                        f" commit={s.commit_slot} applied={s.applied_slot}"
                        f" log=[{s.first_slot},{s.last_slot}] ({s.membership})"
                        + (" log-replica" if s.is_log_replica else ""))

    def cmd_read(self, args: list[str]) -> None:
        node_id = NodeId(int(args[0]))
        ok = self.replica(node_id).can_read_consistently(self.clocks[node_id])
        self.out.append(f"{node_id}: can_read_consistently={ok}")

    def cmd_state(self, args: list[str]) -> None:
        node_id = NodeId(int(args[0]))
        disk = self.disks[node_id]
        self.out.append(f"{node_id}: applied through {disk.applied_slot}: {disk.applied}")

    def cmd_compact(self, args: list[str]) -> None:
        """Checkpoints the member's state machine and truncates its log through it."""
        node_id = NodeId(int(args[0]))
        disk = self.disks[node_id]
        slot = disk.applied_slot
        replica = self.replica(node_id)
        disk.snapshot = replica.checkpoint_snapshot(slot, json.dumps(disk.applied).encode())
        replica.compact(slot)
        disk.entries = {s: e for s, e in disk.entries.items() if s > slot}
        self.out.append(f"{node_id}: compacted through {slot}")
