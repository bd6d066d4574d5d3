"""``Replica``: one member of a replication group — state, inputs, Ready/Advance.

Theory of operation
-------------------
This module owns the member's state and the effect buffers; each protocol operation lives
in its own module as functions over a ``Replica`` (TiKV: one operation per module):
election.py (phase 1, gray-failure check, timeouts), replicate.py (phase 2, commit),
lease.py (lease arithmetic), membership.py (config entries), transfer.py (TimeoutNow),
snapshot.py (install, truncation). The package docstring states the protocol and the
driver contract; ready.py states the ordering rule of a ``Ready``.

Invariants asserted here (TigerBeetle: assertions stay on):

* ``commit_slot`` never decreases, never exceeds what the log can justify, and a slot at
  or below it never receives a different value (``_set_commit``, replicate.py).
* ``promised`` never decreases; an outgoing ``Promise``/``Accepted`` never vouches for a
  ballot above the one persisted in the same or an earlier ``Ready`` (``ready``).
* ``ready`` and ``advance`` alternate strictly; nothing is sent that was not in a Ready.
* log replicas never become candidates or leaders and never emit committed entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from quorumdb.replication import election, membership, replicate, snapshot, transfer
from quorumdb.replication.lease import NEVER, leader_lease_expiry_ns
from quorumdb.replication.limits import Limits
from quorumdb.replication.log import ReplicaLog
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
)
from quorumdb.replication.ready import Outcome, ProposalReply, Ready, Role, SnapshotSource, Status
from quorumdb.replication.types import (
    NO_SLOT,
    ZERO_BALLOT,
    Ballot,
    Entry,
    GroupId,
    HardState,
    Membership,
    NodeId,
    PersistentState,
    Rng,
    Slot,
    Snapshot,
)


@dataclass
class Progress:
    """The leader's view of one follower (etcd's Progress)."""

    next_slot: Slot
    match_slot: Slot
    commit_slot: Slot = NO_SLOT
    acked_sent_ns: int = NEVER
    last_ack_ns: int = NEVER
    snapshot_pending: bool = False
    match_at_last_heartbeat: Slot = NO_SLOT


class Replica:
    """One group member. See the package docstring for the contract."""

    def __init__(self, node_id: NodeId, group_id: GroupId, *, membership: Membership,
                 limits: Limits, rng: Rng, now_ns: int, snapshot_source: SnapshotSource,
                 persisted: PersistentState | None = None) -> None:
        self.node_id = node_id
        self.group_id = group_id
        self.limits = limits
        self.rng = rng
        self.snapshot_source = snapshot_source
        self.now_ns = now_ns
        self.log = ReplicaLog()
        self.promised: Ballot = ZERO_BALLOT
        self.max_round_seen = 0
        self.commit_slot = Slot(0)
        self.applied_slot = Slot(0)
        self.membership = membership
        self.membership_slot = Slot(0)
        # (slot, membership) for every config in force since the truncation point.
        self.config_history: list[tuple[Slot, Membership]] = [(Slot(0), membership)]
        self.role = Role.FOLLOWER
        self.leader_id: NodeId | None = None
        self.last_heard_leader_ns: int | None = None
        # The lease this member granted as an acceptor (lease.py).
        self.lease_granted_until_ns = NEVER
        self.lease_granted_to: Ballot | None = None
        self.election_deadline_ns = 0
        # Gray-failure check (election.py).
        self.check_id = 0
        self.check_deadline_ns: int | None = None
        self.check_denials: set[NodeId] = set()
        # Candidate state.
        self.promises: dict[NodeId, Promise] = {}
        self.refusals: set[NodeId] = set()  # members that refused the current candidacy
        self.campaign_from_slot = Slot(1)
        self.campaign_transfer_from: Ballot | None = None
        # Leader state.
        self.progress: dict[NodeId, Progress] = {}
        self.own_match_slot = Slot(0)
        self.own_noop_slot: Slot | None = None
        self.next_heartbeat_ns = 0
        self.pending_requests: dict[Slot, int] = {}
        self.transfer_target: NodeId | None = None
        self.transfer_deadline_ns = 0
        self.transfer_sent = False
        # Effect buffers, drained by ready().
        self._hard_state_dirty = False
        self._must_sync = False
        self._entries_out: dict[Slot, Entry] = {}
        self._snapshot_out: Snapshot | None = None
        self._messages: list[Message] = []
        self._replies: list[ProposalReply] = []
        self._outstanding: Ready | None = None
        self._persisted_promised: Ballot = ZERO_BALLOT
        if persisted is not None:
            self._restore(persisted, now_ns)
        election.reset_election_deadline(self, now_ns)

    # ---------------------------------------------------------------- inputs

    def step(self, message: Message, now_ns: int) -> None:
        """Handles one message addressed to this member (others are a driver bug)."""
        self._observe_time(now_ns)
        assert message.dst == self.node_id and message.group_id == self.group_id, message
        if message.src == self.node_id:
            return
        match message:
            case Prepare():
                election.handle_prepare(self, message, now_ns)
            case Promise():
                election.handle_promise(self, message, now_ns)
            case Accept():
                replicate.handle_accept(self, message, now_ns)
            case Accepted():
                replicate.handle_accepted(self, message, now_ns)
            case LeaderCheck():
                election.handle_leader_check(self, message, now_ns)
            case LeaderCheckReply():
                election.handle_leader_check_reply(self, message, now_ns)
            case TimeoutNow():
                transfer.handle_timeout_now(self, message, now_ns)
            case InstallSnapshot():
                snapshot.handle_install_snapshot(self, message, now_ns)
            case _:  # pragma: no cover - exhaustiveness
                from typing import assert_never
                assert_never(message)

    def tick(self, now_ns: int) -> None:
        """Fires whatever timers are due at ``now_ns``."""
        self._observe_time(now_ns)
        if self.role is Role.LEADER:
            replicate.leader_tick(self, now_ns)
            transfer.transfer_tick(self, now_ns)
        else:
            election.follower_tick(self, now_ns)

    def propose(self, payload: bytes, request_id: int, now_ns: int) -> None:
        """Proposes a data entry; the answer comes as a ``ProposalReply`` in a Ready."""
        self._observe_time(now_ns)
        replicate.propose(self, Entry(Slot(1), ZERO_BALLOT, "data", payload, request_id,
                                      self.node_id), now_ns)

    def propose_membership(self, new_membership: Membership, request_id: int,
                           now_ns: int) -> None:
        self._observe_time(now_ns)
        membership.propose_membership(self, new_membership, request_id, now_ns)

    def campaign(self, now_ns: int) -> None:
        """Starts an election at once, skipping the gray-failure check."""
        self._observe_time(now_ns)
        election.campaign(self, now_ns, transfer_from=None)

    def transfer_leadership(self, target: NodeId, now_ns: int) -> None:
        self._observe_time(now_ns)
        transfer.transfer_leadership(self, target, now_ns)

    def compact(self, through_slot: Slot) -> None:
        """The driver checkpointed the state machine at >= ``through_slot``."""
        assert self._outstanding is None, "input while a Ready is outstanding"
        snapshot.compact(self, through_slot)

    def checkpoint_snapshot(self, slot: Slot, state: bytes) -> Snapshot:
        """The ``Snapshot`` record of a driver's checkpoint of the state applied through
        ``slot`` (call before ``compact``): the membership in force at ``slot`` and the
        origin of its value come from the log."""
        assert slot <= self.applied_slot, (slot, self.applied_slot)
        return snapshot.make_snapshot(self, slot, state)

    # ---------------------------------------------------------------- queries

    @property
    def is_log_replica(self) -> bool:
        return self.node_id in self.membership.log_replicas

    def lease_expiry_ns(self) -> int:
        if self.role is not Role.LEADER or self.transfer_sent:
            return NEVER
        acked = {member: progress.acked_sent_ns for member, progress in self.progress.items()}
        return leader_lease_expiry_ns(self.membership, self.node_id, acked, self.now_ns,
                                      self.limits.lease_ns, self.limits.max_drift_ns)

    def can_read_consistently(self, now_ns: int) -> bool:
        """Leader with a live lease whose own no-op is committed, not handing over."""
        assert now_ns >= self.now_ns, (now_ns, self.now_ns)
        self.now_ns = now_ns
        if self.role is not Role.LEADER or self.own_noop_slot is None:
            return False
        if self.transfer_target is not None or self.commit_slot < self.own_noop_slot:
            return False
        return now_ns < self.lease_expiry_ns()

    def leader_hint(self) -> NodeId | None:
        return self.node_id if self.role is Role.LEADER else self.leader_id

    def status(self) -> Status:
        return Status(self.node_id, self.role, self.promised, self.leader_hint(),
                      self.commit_slot, self.applied_slot, self.log.first_slot,
                      self.log.last_slot, self.membership, self.is_log_replica)

    def next_deadline_ns(self) -> int:
        if self.role is Role.LEADER:
            deadline = self.next_heartbeat_ns
            if self.transfer_target is not None:
                deadline = min(deadline, self.transfer_deadline_ns)
            return deadline
        if self.check_deadline_ns is not None:
            # While a leader check is pending the (already passed) election deadline is
            # not actionable: follower_tick waits for the check's verdict or deadline.
            # Returning it would make a driver that ticks "at or after the deadline" spin.
            return self.check_deadline_ns
        return self.election_deadline_ns

    # ---------------------------------------------------------------- Ready / Advance

    def has_ready(self) -> bool:
        if (self._hard_state_dirty or self._entries_out or self._snapshot_out is not None
                or self._messages or self._replies):
            return True
        if self.commit_slot > self.applied_slot and not self.is_log_replica:
            return True
        return self.role is Role.LEADER and replicate.has_sendable(self)

    def ready(self) -> Ready:
        """Drains the effect buffers. Call ``advance`` with the result before the next."""
        assert self._outstanding is None, "ready() twice without advance()"
        if self.role is Role.LEADER:
            replicate.flush(self)
        hard_state = self.hard_state() if self._hard_state_dirty else None
        persisted = hard_state.promised if hard_state is not None else self._persisted_promised
        for message in self._messages:
            # Never send before persist: what a message vouches for is persisted first.
            if isinstance(message, Promise | Accepted) and message.ok:
                assert message.ballot <= persisted, (message, persisted)
            if isinstance(message, Prepare | Accept | InstallSnapshot):
                assert message.ballot <= persisted, (message, persisted)
        committed: tuple[Entry, ...] = ()
        if not self.is_log_replica and self.commit_slot > self.applied_slot:
            committed = tuple(self.log.run(Slot(self.applied_slot + 1), self.commit_slot))
        rd = Ready(hard_state=hard_state,
                   entries=tuple(self._entries_out[s] for s in sorted(self._entries_out)),
                   snapshot=self._snapshot_out, must_sync=self._must_sync,
                   messages=tuple(self._messages), committed=committed,
                   replies=tuple(self._replies), next_deadline_ns=self.next_deadline_ns())
        self._hard_state_dirty = self._must_sync = False
        self._entries_out = {}
        self._snapshot_out = None
        self._messages = []
        self._replies = []
        self._outstanding = rd
        return rd

    def advance(self, rd: Ready) -> None:
        """The driver has performed ``rd``: persisted, sent, applied, replied."""
        assert self._outstanding is rd, "advance() with a Ready that is not outstanding"
        self._outstanding = None
        if rd.hard_state is not None:
            assert rd.hard_state.promised >= self._persisted_promised
            self._persisted_promised = rd.hard_state.promised
        if rd.committed:
            assert rd.committed[0].slot == self.applied_slot + 1
            self.applied_slot = rd.committed[-1].slot
        if self.is_log_replica:
            self.applied_slot = max(self.applied_slot, self.commit_slot)
        if self.role is Role.LEADER and rd.entries:
            replicate.own_entries_persisted(self, rd.entries)

    # ---------------------------------------------------------------- internal helpers

    def hard_state(self) -> HardState:
        return HardState(self.promised, self.commit_slot, self.membership, self.membership_slot)

    def persist_entry(self, entry: Entry) -> None:
        if self.log.put(entry):
            self._entries_out[entry.slot] = entry
            self._must_sync = True

    def set_promised(self, ballot: Ballot) -> None:
        assert ballot >= self.promised, (ballot, self.promised)
        self.observe_round(ballot)
        if ballot != self.promised:
            self.promised = ballot
            self._hard_state_dirty = True
            self._must_sync = True

    def mark_hard_state_dirty(self, sync: bool) -> None:
        self._hard_state_dirty = True
        self._must_sync = self._must_sync or sync

    def observe_round(self, ballot: Ballot) -> None:
        self.max_round_seen = max(self.max_round_seen, ballot.round)

    def send(self, message: Message) -> None:
        assert message.src == self.node_id and message.dst != self.node_id, message
        self._messages.append(message)

    def reply(self, request_id: int, outcome: Outcome, slot: Slot | None = None,
              hint: NodeId | None = None) -> None:
        if request_id:
            hint = self.leader_hint() if hint is None else hint
            self._replies.append(ProposalReply(request_id, outcome, slot, hint))

    def grant_own_lease(self) -> None:
        """A leader is an acceptor of its own ballot: each send grants itself the lease."""
        self.lease_granted_until_ns = max(self.lease_granted_until_ns,
                                          self.now_ns + self.limits.lease_ns)
        self.lease_granted_to = self.promised

    def emit_snapshot(self, snap: Snapshot) -> None:
        self._snapshot_out = snap
        self._entries_out = {s: e for s, e in self._entries_out.items() if s > snap.slot}
        self.mark_hard_state_dirty(sync=True)

    def set_commit(self, slot: Slot) -> None:
        """Raises the commit index; applies config entries as they become chosen."""
        assert slot <= self.log.last_slot, (slot, self.log.last_slot)
        if slot <= self.commit_slot:
            return
        previous = self.commit_slot
        self.commit_slot = slot
        self.mark_hard_state_dirty(sync=False)
        for s in range(max(previous + 1, self.log.first_slot), slot + 1):
            entry = self.log.get(Slot(s))
            assert entry is not None, f"slot {s} chosen but missing at {self.node_id}"
            if entry.kind == "config":
                membership.apply_committed_config(self, entry)
        if self.role is Role.LEADER:
            replicate.answer_committed(self, previous, slot)
            membership.after_commit(self)

    def _observe_time(self, now_ns: int) -> None:
        # Inputs only between advance() and ready(): a Ready describes one settled state.
        assert self._outstanding is None, "input while a Ready is outstanding"
        # A monotonic clock: the driver must never move it backwards.
        assert now_ns >= self.now_ns, (now_ns, self.now_ns)
        self.now_ns = now_ns

    def _restore(self, persisted: PersistentState, now_ns: int) -> None:
        hard = persisted.hard_state
        snap = persisted.snapshot
        floor = Slot(0)
        if snap is not None:
            floor = snap.slot
            self.log = ReplicaLog(Slot(snap.slot + 1), snap.last_origin)
            self.config_history = [(snap.membership_slot, snap.membership)]
        promised = hard.promised
        for entry in persisted.entries:
            if entry.slot > floor:
                self.log.put(entry)
                promised = max(promised, entry.ballot)
        self.promised = self._persisted_promised = promised
        self.observe_round(promised)
        # A torn tail may have kept a commit index whose entries were lost: clamp it to the
        # prefix actually held (the commit index is knowledge, safe to forget).
        commit = floor
        while commit < hard.commit_slot and self.log.get(Slot(commit + 1)) is not None:
            commit = Slot(commit + 1)
        self.applied_slot = max(persisted.applied_slot, floor)
        self.commit_slot = max(commit, self.applied_slot)
        assert self.applied_slot <= self.commit_slot
        self.membership = hard.membership
        self.membership_slot = hard.membership_slot
        if self.config_history[-1][0] < hard.membership_slot:
            self.config_history.append((hard.membership_slot, hard.membership))
        # The grants made before the crash are forgotten: assume one was made just now.
        self.lease_granted_until_ns = now_ns + self.limits.lease_ns
        self.lease_granted_to = None
