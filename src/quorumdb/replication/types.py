"""Values of the replication protocol: ids, ballots, memberships, log entries, snapshots.

Theory of operation
-------------------
Everything here is a frozen ``msgspec.Struct`` (values, not objects with behaviour:
STYLE.md habit 5), so the same types go on the wire, into the WAL, and into golden test
output. Ids are ``NewType`` s so a ``GroupId`` cannot be passed as a ``NodeId``.

A **ballot** is ``(round, node_id)`` ordered lexicographically (PAPER-NOTES 3.1: any replica
may start an election; the node id breaks ties so two candidates never share a ballot).
``ZERO_BALLOT`` is below every real ballot: a fresh acceptor has promised nothing.

An **entry** is the value of one slot of the replicated log: a client payload (``data``), a
``noop`` (gap filler, or the new leader's own first entry), or a ``config`` entry holding the
next membership. Its *value* is everything but the slot and ballot (``Entry.same_value``): a
re-proposal by a later leader carries the same value under a higher ballot.

A value also records where it comes from: ``origin``, the ballot of the leader that
created it (a re-proposal keeps it; a leader creates one value per slot, so slot and
origin name a value), and ``prev``, the origin of the value that leader held at the slot
before. Following ``prev`` back names the whole log prefix the value was created after,
like a hash chain. Drivers compute a data entry against the state their own earlier
proposals will leave (full item images), so an entry means something only right after the
prefix it was created on, and the core keeps it so: an acceptor accepts a leader's entry
only right after that leader's previous one (``replicate.accept_entries``), and a new
leader drops a reported entry whose ``prev`` is not the origin of the value it chose at the
slot before (``election.merge_promises``). ``None`` (an entry from before these fields, or
a predecessor the creator no longer held) is unknown and matches anything.

A **membership** lists full replicas (``voters``) and log replicas; both accept, persist and
count in quorums (PAPER-NOTES 3.1, 6), only full replicas apply and may lead.
"""

from __future__ import annotations

from typing import Literal, NewType, Protocol

import msgspec

NodeId = NewType("NodeId", int)
GroupId = NewType("GroupId", int)
Slot = NewType("Slot", int)

NO_SLOT = Slot(0)      # "no slot": below every slot of the log (slots start at 1)
FIRST_SLOT = Slot(1)

EntryKind = Literal["data", "noop", "config"]


class Rng(Protocol):
    """The injected random source (STYLE.md, etcd's lesson): ``random.Random`` fits."""

    def random(self) -> float: ...

    def randrange(self, stop: int, /) -> int: ...


class Ballot(msgspec.Struct, frozen=True, order=True, array_like=True):
    """A Paxos ballot ``(round, node_id)``; compares as the tuple."""

    round: int
    node_id: NodeId

    def __str__(self) -> str:
        return f"{self.round}.{self.node_id}"


ZERO_BALLOT = Ballot(0, NodeId(0))


class Membership(msgspec.Struct, frozen=True):
    """A group's configuration. Both tuples are sorted and disjoint (asserted)."""

    voters: tuple[NodeId, ...]
    log_replicas: tuple[NodeId, ...] = ()

    def __post_init__(self) -> None:
        # ValueError, not assert: this also validates peers' messages (msgspec turns it
        # into a ValidationError, the peer's fault).
        if list(self.voters) != sorted(set(self.voters)):
            raise ValueError(f"voters must be sorted and distinct: {self.voters}")
        if list(self.log_replicas) != sorted(set(self.log_replicas)):
            raise ValueError(f"log replicas must be sorted and distinct: {self.log_replicas}")
        if set(self.voters) & set(self.log_replicas):
            raise ValueError("a member has one role")
        if not self.voters:
            raise ValueError("a group needs at least one full replica")

    @property
    def members(self) -> tuple[NodeId, ...]:
        """Every acceptor (full and log replicas), sorted: quorums are counted over these."""
        return tuple(sorted((*self.voters, *self.log_replicas)))

    def quorum_size(self) -> int:
        return len(self.members) // 2 + 1

    def __str__(self) -> str:
        text = "voters=" + ",".join(str(n) for n in self.voters)
        if self.log_replicas:
            text += " log=" + ",".join(str(n) for n in self.log_replicas)
        return text


class Entry(msgspec.Struct, frozen=True):
    """The value of one slot, accepted at ``ballot``. ``request_id`` 0 means none."""

    slot: Slot
    ballot: Ballot
    kind: EntryKind
    payload: bytes = b""
    request_id: int = 0
    proposer: NodeId = NodeId(0)
    membership: Membership | None = None
    # The ballot of the leader that created this value (kept by re-proposals); None: unknown.
    origin: Ballot | None = None
    # ``origin`` of the value its creator held at ``slot - 1``; None: unknown.
    prev: Ballot | None = None

    def __post_init__(self) -> None:
        if self.slot < 1:
            raise ValueError(f"slots start at 1: {self.slot}")
        if (self.kind == "config") != (self.membership is not None):
            raise ValueError("a config entry, and only it, carries a membership")

    def same_value(self, other: Entry) -> bool:
        return (self.kind, self.payload, self.request_id, self.proposer, self.membership,
                self.origin, self.prev) == (
            other.kind, other.payload, other.request_id, other.proposer, other.membership,
            other.origin, other.prev)

    def with_ballot(self, slot: Slot, ballot: Ballot) -> Entry:
        return Entry(slot, ballot, self.kind, self.payload, self.request_id, self.proposer,
                     self.membership, self.origin, self.prev)

    def created(self, slot: Slot, ballot: Ballot, prev: Ballot | None) -> Entry:
        """This value as newly created by the leader of ``ballot`` at ``slot``, after a
        value of origin ``prev``."""
        return Entry(slot, ballot, self.kind, self.payload, self.request_id, self.proposer,
                     self.membership, ballot, prev)

    def follows(self, prev_origin: Ballot | None) -> bool:
        """Whether this value was created right after the value of origin ``prev_origin``
        (unknown on either side counts as yes)."""
        return prev_origin is None or self.prev is None or self.prev == prev_origin

    def __str__(self) -> str:
        if self.kind == "data":
            body = self.payload.decode("utf-8", "backslashreplace")
        elif self.kind == "config":
            body = f"config({self.membership})"
        else:
            body = "noop"
        return f"{self.slot}@{self.ballot}:{body}"


class Snapshot(msgspec.Struct, frozen=True):
    """The applied state at ``slot`` (opaque ``state`` from the driver) and the membership
    in force at that slot."""

    slot: Slot
    membership: Membership
    state: bytes
    # Slot of the config entry that installed ``membership`` (0: the initial one).
    membership_slot: Slot = NO_SLOT
    # ``origin`` of the value chosen at ``slot`` (None: unknown), so that the member
    # installing it can tell which entries may follow it (``Entry.prev``).
    last_origin: Ballot | None = None


class HardState(msgspec.Struct, frozen=True):
    """What an acceptor persists besides entries: its promise, the commit index it knows,
    and the membership in force (with the slot of the config entry that installed it)."""

    promised: Ballot
    commit_slot: Slot
    membership: Membership
    membership_slot: Slot


class PersistentState(msgspec.Struct, frozen=True):
    """What a driver hands back to ``Replica`` on restart: the last hard state, every
    entry record still in the WAL (later records for one slot replace earlier ones), and
    the last installed or taken snapshot."""

    hard_state: HardState
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot | None = None
    # The state machine's durable applied slot (its checkpoint): committed entries after it
    # are emitted again for apply. Defaults to the snapshot's slot.
    applied_slot: Slot = NO_SLOT
