"""The effects a ``Replica`` asks its driver to perform, and the order they must happen in.

Theory of operation
-------------------
etcd raft's ``Ready``: the core never does I/O; it accumulates effects and hands them out
in one batch. The **ordering rule** (checked by the simulator and by the unit tests):

1. persist ``snapshot`` (if any), then ``entries`` — a later record for a slot replaces an
   earlier one — then ``hard_state`` (if any), and fsync when ``must_sync``;
2. only then send ``messages`` (an ``Accepted`` or ``Promise`` in them vouches for what
   step 1 wrote: sending first could lose a promise or acceptance in a crash);
3. install ``snapshot`` in the state machine, apply ``committed`` in order (never empty
   gaps: slots are consecutive), deliver ``replies``;
4. call ``Replica.advance(ready)`` and arrange a ``tick`` at ``next_deadline_ns``.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, Protocol

import msgspec

from quorumdb.replication.messages import Message
from quorumdb.replication.types import (
    Ballot,
    Entry,
    HardState,
    Membership,
    NodeId,
    Slot,
    Snapshot,
)

Outcome = Literal[
    "committed",    # chosen at ``slot``; every full replica will apply it there
    "not_leader",   # never proposed; retry at ``leader_hint`` (None if unknown)
    "unknown",      # proposed, then leadership was lost: it may or may not be chosen
    "overloaded",   # refused by a bound (in-flight window or in-memory log); retry later
    "invalid",      # refused: e.g. a second concurrent membership change
]


class Role(Enum):
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEADER = "leader"


class ProposalReply(msgspec.Struct, frozen=True):
    request_id: int
    outcome: Outcome
    slot: Slot | None = None
    leader_hint: NodeId | None = None


class Ready(msgspec.Struct, frozen=True):
    hard_state: HardState | None
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None
    must_sync: bool
    messages: tuple[Message, ...]
    committed: tuple[Entry, ...]
    replies: tuple[ProposalReply, ...]
    next_deadline_ns: int

    def is_empty(self) -> bool:
        return not (self.hard_state or self.entries or self.snapshot or self.messages
                    or self.committed or self.replies)


class Status(msgspec.Struct, frozen=True):
    node_id: NodeId
    role: Role
    promised: Ballot
    leader_hint: NodeId | None
    commit_slot: Slot
    applied_slot: Slot
    first_slot: Slot
    last_slot: Slot
    membership: Membership
    is_log_replica: bool


class SnapshotSource(Protocol):
    """The driver's side of snapshots: the applied state machine, captured now.

    Called synchronously by a leader that must send a snapshot; must return the state at
    some applied slot (``slot`` in the result) at or after the core's truncation point.
    The ``membership`` field is filled in by the core."""

    def capture(self) -> tuple[Slot, bytes]: ...
