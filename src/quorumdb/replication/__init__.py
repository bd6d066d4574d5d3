"""quorumdb.replication — the pure Multi-Paxos core of one replication group member.

Each partition is a replication group (PAPER-NOTES 3.1): normally three full replicas in
three AZs, plus log replicas while healing (PAPER-NOTES 6). ``Replica`` is the state machine
of one member. It is **sans-I/O** (DESIGN.md, "Pure cores, thin drivers"): it never reads a
clock, sleeps, does I/O, or imports time/asyncio/socket/os/threading/random (a test
enforces it). Time enters as ``now_ns`` (an int from the driver's monotonic clock),
randomness through the injected ``rng`` (``random.Random(seed)`` fits the ``Rng`` protocol).

Driver contract (etcd raft's Step / Ready / Advance)
----------------------------------------------------
::

    r = Replica(node_id, group_id, membership=m, limits=SIMULATION_LIMITS,
                rng=random.Random(seed), now_ns=now, snapshot_source=src,
                persisted=None | PersistentState(...))   # restart: what the WAL holds
    # inputs, any number, any order:
    r.step(message, now_ns)          # a Message addressed to this member
    r.tick(now_ns)                   # at or after ready.next_deadline_ns
    r.propose(payload, request_id, now_ns)            # leader only; else a "not_leader" reply
    r.propose_membership(membership, request_id, now_ns)  # one member added/removed/changed
    r.campaign(now_ns)               # start an election now (tests, operator)
    r.transfer_leadership(target, now_ns)
    r.checkpoint_snapshot(slot, state)  # the Snapshot record of a driver checkpoint
    r.compact(through_slot)          # driver checkpointed state at >= through_slot
    r.can_read_consistently(now_ns)  # leader, valid lease, own no-op committed
    r.status()                       # Status, for tests / ops
    # outputs:
    rd = r.ready()                   # a Ready (maybe empty; ``r.has_ready()`` tells)
    # ...perform it in the order below...
    r.advance(rd)                    # exactly once per ready(), before the next ready()

The ordering rule of a ``Ready`` (see ``ready.py``): (1) persist ``snapshot``,
``entries``, then ``hard_state`` (fsync if ``must_sync``); (2) **only then** send
``messages`` — they may vouch for what (1) wrote; (3) install ``snapshot`` and apply
``committed`` (consecutive slots, in order; empty on log replicas) and deliver
``replies``; (4) ``advance(rd)``; schedule ``tick`` at ``rd.next_deadline_ns``.
WAL semantics: an entry record for slot s replaces every earlier record for s; an
installed snapshot at slot s makes every entry record at or below s obsolete (entries
above s stay: an acceptor never forgets what it accepted).

Protocol summary (what the Promela model in ``spec/`` follows)
--------------------------------------------------------------
* **State per acceptor**: ``promised`` ballot ``(round, node_id)``; per slot the accepted
  entry ``(ballot, value)``; ``commit_slot`` (every slot <= it is known chosen);
  ``lease_granted_until`` (volatile; on restart set to ``now + lease_ns``).
* **Election = Paxos phase 1** for all slots > the candidate's ``commit_slot``: candidate
  picks ballot ``(max round seen + 1, self)``, persists the promise to itself, sends
  ``Prepare(ballot, from_slot=commit+1)``. An acceptor promises iff ``ballot > promised``
  (or equal, a resend), no lease it granted is live (unless the Prepare carries
  ``transfer_from`` equal to the leader it granted to), and the candidate is not *lagging*
  (``from_slot`` below the acceptor's truncation point, or at/below the slot of the last
  membership change the acceptor knows chosen). A promise persists ``promised`` and
  returns every accepted entry from ``from_slot`` and the acceptor's ``commit_slot``.
* With promises from a quorum of the membership (members = voters + log replicas), the
  candidate becomes leader: for each slot from ``from_slot`` to the highest slot reported,
  in order, it takes the value of the highest-ballot accepted entry among those created
  right after the value it took for the slot before (``Entry.prev``; a slot reported as
  chosen by some acceptor must have that same value — asserted), fills gaps with no-ops,
  re-proposes all of them under its own ballot, then appends **its own no-op**. Slots
  reported chosen are committed at once.
* **Values and their prefix**: every value records ``origin`` (the ballot of the leader
  that created it) and ``prev`` (the origin of the value that leader held at the slot
  before). Drivers compute entries on the state their earlier proposals leave, so a value
  must only ever be chosen right after the prefix it was created on; prefix-closed
  acceptance (below) makes a chosen value's prefix chosen too, and the merge above never
  revives a value whose prefix lost (types.py, election.py).
* **Phase 2**: the leader sends ``Accept(ballot, run of consecutive entries, commit_slot,
  sent_ns)`` per follower, at most ``max_entries_per_accept`` entries per message and
  ``max_inflight_entries`` unacknowledged per follower; an empty Accept every
  ``heartbeat_interval_ns`` is the heartbeat. An acceptor accepts iff ``ballot >=
  promised`` (then ``promised := ballot``), persists the entries of the run that each
  follow the same ballot's entry at the slot before or the commit index (*prefix-closed
  acceptance*: none past a hole), and answers ``Accepted(match_slot)``
  where every slot <= ``match_slot`` is known chosen or accepted at this ballot. It learns
  ``commit := max(commit, min(leader commit, match_slot))``.
* **Commit**: the leader's ``commit_slot`` is the largest slot s such that a quorum's
  ``match_slot`` >= s (its own counts once persisted). Only chosen slots are applied.
* **Leases**: acknowledging an Accept from ballot b at local time t grants b a lease:
  the acceptor rejects every higher Prepare until ``t + lease_ns``. The leader's lease is
  ``T + lease_ns - max_drift_ns`` where T is the latest send time that a quorum (the leader
  counting itself) has acknowledged. ``can_read_consistently`` needs a live lease and the
  leader's own no-op committed, and is false during a transfer.
* **Gray-failure check**: on its election deadline a follower that knows a leader sends
  ``LeaderCheck`` to the other members and campaigns only if a quorum (itself included)
  answers that it no longer hears the leader (heard within ``election_timeout_ns``); one
  "alive" answer or ``leader_check_timeout_ns`` without a verdict cancels the attempt.
* **Timeouts**: election deadline = last heard from a leader + ``election_timeout_ns`` +
  ``rng.randrange(election_timeout_ns // 2)``. A leader that has not heard from a quorum
  for ``election_timeout_ns`` steps down (its lease is long gone by then).
* **Transfer**: the leader stops taking proposals ("not_leader" with the target as hint),
  catches the target up, voids its own lease, sends ``TimeoutNow``; the target campaigns
  at once with ``transfer_from`` = old ballot. Abandoned after ``election_timeout_ns``.
* **Membership**: a ``config`` entry naming the whole next membership, differing from the
  current one by one member (add or remove a voter or a log replica, or change one member's
  role). It takes effect when it is **committed** (etcd style, at commit, on every member
  that learns it), applies to quorums from then on, and the leader accepts a further
  change only after its own no-op committed and a quorum of the new membership reports a
  commit index at or past the config entry (so a candidate that misses a change is refused
  as lagging by some acceptor in any quorum). A removed leader steps down after commit.
* **Log replicas** accept, persist, count in quorums, grant leases and answer checks; they
  never campaign, ignore ``TimeoutNow``, and emit no ``committed`` entries.
* **Snapshots / truncation**: ``compact(s)`` drops entries <= s (s <= applied). A leader
  whose follower needs a dropped slot calls ``snapshot_source.capture()`` and sends
  ``InstallSnapshot`` (carrying the origin of the value at its slot, for ``prev``; a
  driver's own checkpoint record is ``checkpoint_snapshot(slot, state)``); the follower installs it (``Ready.snapshot``), sets commit and
  applied to its slot, keeps its entries above it, and answers ``Accepted``.
* **Proposal replies**: the leader answers ``committed`` when the slot holding the
  proposal is chosen, ``unknown`` for its uncommitted proposals when it loses leadership.
"""

from quorumdb.replication.limits import DEFAULT_LIMITS, SIMULATION_LIMITS, Limits
from quorumdb.replication.messages import (
    Accept,
    Accepted,
    InstallSnapshot,
    LeaderCheck,
    LeaderCheckReply,
    Message,
    Prepare,
    Promise,
    TimeoutNow,
    decode_message,
    describe,
    encode_message,
)
from quorumdb.replication.node import Replica
from quorumdb.replication.ready import (
    Outcome,
    ProposalReply,
    Ready,
    Role,
    SnapshotSource,
    Status,
)
from quorumdb.replication.types import (
    FIRST_SLOT,
    NO_SLOT,
    ZERO_BALLOT,
    Ballot,
    Entry,
    EntryKind,
    GroupId,
    HardState,
    Membership,
    NodeId,
    PersistentState,
    Rng,
    Slot,
    Snapshot,
)

__all__ = [
    "DEFAULT_LIMITS",
    "FIRST_SLOT",
    "NO_SLOT",
    "SIMULATION_LIMITS",
    "ZERO_BALLOT",
    "Accept",
    "Accepted",
    "Ballot",
    "Entry",
    "EntryKind",
    "GroupId",
    "HardState",
    "InstallSnapshot",
    "LeaderCheck",
    "LeaderCheckReply",
    "Limits",
    "Membership",
    "Message",
    "NodeId",
    "Outcome",
    "PersistentState",
    "Prepare",
    "Promise",
    "ProposalReply",
    "Ready",
    "Replica",
    "Rng",
    "Role",
    "Slot",
    "Snapshot",
    "SnapshotSource",
    "Status",
    "TimeoutNow",
    "decode_message",
    "describe",
    "encode_message",
]
