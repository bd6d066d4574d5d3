"""Leader election: Paxos phase 1 over every unchosen slot, guarded against gray failures.

Theory of operation
-------------------
PAPER-NOTES 3.1: any replica may start an election; the winner leads by renewing a lease.
PAPER-NOTES 6: false failovers are costly (the new leader waits out the old lease), so
before campaigning a follower asks the others whether they still hear the leader.

* **Timeouts.** A follower's election deadline is the last time it heard a leader (or
  promised a candidate) plus ``election_timeout_ns`` plus ``rng.randrange(timeout // 2)``
  from the injected RNG, so candidates rarely collide and runs replay exactly.
* **Gray-failure check.** At the deadline, if a leader is known, the follower sends
  ``LeaderCheck``. A member answers ``leader_alive`` if it leads or heard the leader
  within ``election_timeout_ns``. The follower campaigns when a quorum (itself included)
  answers "not alive"; any "alive", or ``leader_check_timeout_ns`` without a verdict,
  cancels the attempt until the next deadline. Log replicas never get this far.
* **Phase 1.** The candidate takes ballot ``(max round seen + 1, self)``, promises it to
  itself (persisted before the Prepares leave: Ready ordering), and asks every member to
  promise for all slots from its first unknown-chosen slot. An acceptor refuses a ballot
  below its promise ("ballot"), a higher ballot while a lease it granted is live
  ("lease", lease.py), and a candidate that cannot know everything chosen ("lagging":
  from_slot below the acceptor's truncation point or at/below the last membership change
  it knows chosen; membership.py explains why).
* **Winning.** With a quorum of promises the candidate merges them slot by slot, in slot
  order: the highest-ballot accepted value wins (Paxos' rule; a value some acceptor knows
  chosen must be that one — asserted), gaps become no-ops, everything is re-proposed under
  the new ballot and the leader appends its own no-op; strongly consistent reads wait for
  it. A reported value that was not created right after the value just chosen for the
  slot before (``Entry.prev``) is not a candidate: it was computed on another prefix (a
  driver's full item image would resurrect a state that never was), and it cannot have
  been chosen — with prefix-closed acceptance (replicate.py) a chosen value's whole prefix
  is chosen too, so this merge, choosing slot by slot, always finds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quorumdb.replication import replicate
from quorumdb.replication.lease import lease_blocks_prepare
from quorumdb.replication.messages import (
    LeaderCheck,
    LeaderCheckReply,
    Prepare,
    Promise,
    RejectReason,
)
from quorumdb.replication.quorum import is_quorum
from quorumdb.replication.ready import Role
from quorumdb.replication.types import Ballot, Entry, Slot

if TYPE_CHECKING:
    from quorumdb.replication.node import Replica


def reset_election_deadline(r: Replica, now_ns: int) -> None:
    timeout = r.limits.election_timeout_ns
    r.election_deadline_ns = now_ns + timeout + r.rng.randrange(max(1, timeout // 2))


def may_campaign(r: Replica) -> bool:
    return r.node_id in r.membership.voters


def follower_tick(r: Replica, now_ns: int) -> None:
    if r.check_deadline_ns is not None and now_ns >= r.check_deadline_ns:
        r.check_deadline_ns = None  # no verdict in time: stay a follower for now
        reset_election_deadline(r, now_ns)
    if now_ns < r.election_deadline_ns or r.check_deadline_ns is not None:
        return
    if not may_campaign(r):
        reset_election_deadline(r, now_ns)
        return
    if r.role is Role.FOLLOWER and r.leader_id is not None:
        start_leader_check(r, now_ns)
    else:
        campaign(r, now_ns, transfer_from=None)


def start_leader_check(r: Replica, now_ns: int) -> None:
    r.check_id += 1
    r.check_denials = {r.node_id}
    r.check_deadline_ns = now_ns + r.limits.leader_check_timeout_ns
    for member in r.membership.members:
        if member != r.node_id:
            r.send(LeaderCheck(r.group_id, r.node_id, member, r.check_id))
    _conclude_leader_check(r, now_ns)


def leader_alive(r: Replica, now_ns: int) -> bool:
    if r.role is Role.LEADER:
        return True
    heard = r.last_heard_leader_ns
    return heard is not None and now_ns - heard < r.limits.election_timeout_ns


def handle_leader_check(r: Replica, msg: LeaderCheck, now_ns: int) -> None:
    r.send(LeaderCheckReply(r.group_id, r.node_id, msg.src, msg.check_id,
                            leader_alive(r, now_ns)))


def handle_leader_check_reply(r: Replica, msg: LeaderCheckReply, now_ns: int) -> None:
    if r.check_deadline_ns is None or msg.check_id != r.check_id:
        return
    if msg.leader_alive:
        r.check_deadline_ns = None  # the leader is alive: a campaign would only disrupt
        reset_election_deadline(r, now_ns)
        return
    r.check_denials.add(msg.src)
    _conclude_leader_check(r, now_ns)


def _conclude_leader_check(r: Replica, now_ns: int) -> None:
    if is_quorum(r.membership, r.check_denials):
        r.check_deadline_ns = None
        campaign(r, now_ns, transfer_from=None)


def campaign(r: Replica, now_ns: int, transfer_from: Ballot | None) -> None:
    """Phase 1a. A log replica, or a member outside the voters, never campaigns."""
    if not may_campaign(r):
        return
    if lease_blocks_prepare(now_ns, r.lease_granted_until_ns, r.lease_granted_to, transfer_from):
        # Our own grant to the current leader binds us too: retry once it has run out.
        r.election_deadline_ns = max(r.election_deadline_ns, r.lease_granted_until_ns)
        return
    if r.role is Role.LEADER:
        step_down(r, now_ns)
    r.check_deadline_ns = None
    ballot = Ballot(r.max_round_seen + 1, r.node_id)
    r.set_promised(ballot)
    r.role = Role.CANDIDATE
    r.leader_id = None
    r.campaign_from_slot = Slot(r.commit_slot + 1)
    r.campaign_transfer_from = transfer_from
    r.promises = {r.node_id: own_promise(r, ballot)}
    r.refusals = set()
    reset_election_deadline(r, now_ns)
    for member in r.membership.members:
        if member != r.node_id:
            r.send(Prepare(r.group_id, r.node_id, member, ballot, r.campaign_from_slot,
                           transfer_from))
    _maybe_win(r, now_ns)


def own_promise(r: Replica, ballot: Ballot) -> Promise:
    return Promise(r.group_id, r.node_id, r.node_id, ballot, True, ballot, r.commit_slot,
                   tuple(r.log.entries_from(r.campaign_from_slot)))


def reject_reason(r: Replica, msg: Prepare, now_ns: int) -> RejectReason:
    if msg.ballot < r.promised:
        return "ballot"
    if msg.ballot > r.promised and lease_blocks_prepare(
            now_ns, r.lease_granted_until_ns, r.lease_granted_to, msg.transfer_from):
        return "lease"
    if msg.from_slot < r.log.first_slot or (
            r.membership_slot > 0 and msg.from_slot <= r.membership_slot):
        return "lagging"
    return ""


def handle_prepare(r: Replica, msg: Prepare, now_ns: int) -> None:
    """Phase 1b, as an acceptor."""
    r.observe_round(msg.ballot)
    reason = reject_reason(r, msg, now_ns)
    if reason:
        r.send(Promise(r.group_id, r.node_id, msg.src, msg.ballot, False, r.promised,
                       r.commit_slot, (), reason))
        return
    if msg.ballot > r.promised:
        if r.role is not Role.FOLLOWER:
            step_down(r, now_ns)
        r.set_promised(msg.ballot)
        r.leader_id = None
        reset_election_deadline(r, now_ns)  # give the candidate time to win
    accepted = tuple(r.log.entries_from(msg.from_slot))
    r.send(Promise(r.group_id, r.node_id, msg.src, msg.ballot, True, r.promised,
                   r.commit_slot, accepted))


def handle_promise(r: Replica, msg: Promise, now_ns: int) -> None:
    r.observe_round(msg.promised)
    if r.role is not Role.CANDIDATE or msg.ballot != r.promised:
        return
    if not msg.ok:
        r.refusals.add(msg.src)
        # A higher promise elsewhere ends the attempt. A "lease" or "lagging" refusal only
        # does when the members that have not refused can no longer form a quorum: any
        # quorum of promises is enough for Paxos, and the lagging rule guarantees that a
        # candidate missing a membership change meets a refusal in every quorum.
        remaining = [m for m in r.membership.members if m not in r.refusals]
        if msg.reason == "ballot" or not is_quorum(r.membership, remaining):
            r.role = Role.FOLLOWER  # outvoted, leased out, or too far behind: retry later
            r.promises = {}
            reset_election_deadline(r, now_ns)
        return
    r.promises[msg.src] = msg
    _maybe_win(r, now_ns)


def _maybe_win(r: Replica, now_ns: int) -> None:
    if r.role is Role.CANDIDATE and is_quorum(r.membership, r.promises):
        become_leader(r, now_ns)


def merge_promises(r: Replica) -> tuple[list[Entry], Slot]:
    """Phase 1 outcome: the values to re-propose from ``campaign_from_slot``, and the
    highest slot some promiser knows chosen."""
    start = r.campaign_from_slot
    ballot = r.promised
    by_slot: dict[Slot, list[tuple[Entry, bool]]] = {}
    chosen_through = r.commit_slot
    for promise in r.promises.values():
        chosen_through = max(chosen_through, promise.commit_slot)
        for entry in promise.accepted:
            if entry.slot >= start:
                by_slot.setdefault(entry.slot, []).append((entry, entry.slot <= promise.commit_slot))
    last = max(by_slot, default=Slot(start - 1))
    chosen_through = min(chosen_through, last) if by_slot else r.commit_slot
    values: list[Entry] = []
    prev = r.log.origin_at(Slot(start - 1))  # chosen: at or below our commit index
    for s in range(start, last + 1):
        candidates = [pair for pair in by_slot.get(Slot(s), []) if pair[0].follows(prev)]
        if not candidates:
            best = Entry(Slot(s), ballot, "noop", origin=ballot, prev=prev)
        else:
            best = max(candidates, key=lambda pair: pair[0].ballot)[0]
        for entry, known_chosen in by_slot.get(Slot(s), []):
            # Paxos safety, as seen here: a chosen value is the highest-ballot value.
            assert not known_chosen or entry.same_value(best), (entry, best)
        values.append(best)
        prev = best.origin
    # Slots reported chosen must be contiguous from the start to be committed at once.
    contiguous = Slot(start - 1)
    for entry in values:
        if entry.slot > chosen_through:
            break
        contiguous = entry.slot
    return values, max(r.commit_slot, contiguous)


def become_leader(r: Replica, now_ns: int) -> None:
    values, chosen_through = merge_promises(r)
    ballot = r.promised
    for value in values:
        r.persist_entry(value.with_ballot(value.slot, ballot))
    noop_slot = Slot(r.log.last_slot + 1)
    r.persist_entry(Entry(noop_slot, ballot, "noop", origin=ballot,
                          prev=r.log.origin_at(r.log.last_slot)))
    r.own_noop_slot = noop_slot
    r.role = Role.LEADER
    r.leader_id = r.node_id
    r.check_deadline_ns = None
    r.own_match_slot = r.commit_slot
    r.progress = {}
    for member in r.membership.members:
        if member != r.node_id:
            replicate.add_progress(r, member, now_ns, r.campaign_from_slot)
            promise = r.promises.get(member)
            if promise is not None:
                progress = r.progress[member]
                progress.match_slot = min(promise.commit_slot, chosen_through)
                progress.next_slot = Slot(progress.match_slot + 1)
    r.promises = {}
    r.pending_requests = {}
    r.transfer_target = None
    r.transfer_sent = False
    r.next_heartbeat_ns = now_ns  # announce at once: the first Accepts start the lease
    r.set_commit(chosen_through)


def step_down(r: Replica, now_ns: int) -> None:
    """Leaves leadership or candidacy; uncommitted own proposals become "unknown"."""
    pending = r.pending_requests if r.role is Role.LEADER else {}
    r.role = Role.FOLLOWER
    r.leader_id = None
    for slot in sorted(pending):
        r.reply(pending[slot], "unknown", slot)
    r.progress = {}
    r.pending_requests = {}
    r.promises = {}
    r.own_noop_slot = None
    r.transfer_target = None
    r.transfer_sent = False
    r.last_heard_leader_ns = None
    reset_election_deadline(r, now_ns)
