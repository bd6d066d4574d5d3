"""Single-member reconfiguration through the log (PAPER-NOTES 6: log replicas are added
while a replica heals; DESIGN.md: "Membership changes are log entries, one at a time").

Theory of operation
-------------------
A ``config`` entry names the whole next membership, which differs from the one in force
by one member: one added or removed voter or log replica, or one member changing role
(log replica <-> full replica; the quorum set is then unchanged). Majorities of two
memberships that differ by one member always intersect — the whole safety argument.

**When it takes effect: at commit** (etcd style, chosen over Raft's at-append because a
Paxos log may hold unchosen config entries that a later leader replaces by no-ops): the
member that learns the entry is chosen switches to it, for quorums and for campaigning.

Why no two changes can straddle a candidate: the leader proposes a change only when

1. its own no-op is committed (it knows everything chosen before its reign, so no earlier
   leader's unchosen config can still be chosen concurrently — Ongaro's fix), and
2. no config entry is uncommitted in its log, and
3. a quorum of the membership in force reports ``commit_slot >=`` the slot of the last
   config entry (the leader tracks follower commit indices from ``Accepted``).

An acceptor that knows config slot c is chosen refuses (``lagging``) a Prepare whose
``from_slot <= c``: such a candidate runs phase 1 with an older membership. By rule 3 the
members that know the latest config chosen are a quorum of it, and it intersects every
quorum of the membership before it; so a candidate stale by one change meets a refusal in
every quorum it could use, and by induction one stale by more changes does too.

A leader removed from the voters steps down once the removal is committed; a member
outside the voters never campaigns; a member outside the membership is no longer sent to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quorumdb.replication import election, replicate
from quorumdb.replication.ready import Role
from quorumdb.replication.types import ZERO_BALLOT, Entry, Membership, Slot

if TYPE_CHECKING:
    from quorumdb.replication.node import Replica


def is_single_change(old: Membership, new: Membership) -> bool:
    """Exactly one member added, removed, or changing role."""
    old_members, new_members = set(old.members), set(new.members)
    changed = old_members ^ new_members
    if len(changed) == 1:
        kept = old_members & new_members
        return all((m in old.voters) == (m in new.voters) for m in kept)
    if changed:
        return False
    role_changes = set(old.voters) ^ set(new.voters)
    return len(role_changes) == 1


def propose_membership(r: Replica, new: Membership, request_id: int, now_ns: int) -> None:
    if r.role is not Role.LEADER or r.transfer_target is not None:
        r.reply(request_id, "not_leader", hint=r.transfer_target)
        return
    if not is_single_change(r.membership, new):
        r.reply(request_id, "invalid")
        return
    noop_committed = r.own_noop_slot is not None and r.commit_slot >= r.own_noop_slot
    if not noop_committed or config_pending(r) or not config_known_by_quorum(r):
        r.reply(request_id, "overloaded")  # transient: retry after the previous change
        return
    replicate.propose(r, Entry(Slot(1), ZERO_BALLOT, "config", b"", request_id, r.node_id,
                               new), now_ns)


def config_pending(r: Replica) -> bool:
    for slot in range(r.commit_slot + 1, r.log.last_slot + 1):
        entry = r.log.get(Slot(slot))
        if entry is not None and entry.kind == "config":
            return True
    return False


def config_known_by_quorum(r: Replica) -> bool:
    knowing = {r.node_id} | {member for member, progress in r.progress.items()
                             if progress.commit_slot >= r.membership_slot}
    from quorumdb.replication.quorum import is_quorum
    return is_quorum(r.membership, knowing)


def apply_committed_config(r: Replica, entry: Entry) -> None:
    """``entry`` was just chosen: its membership is in force from now on."""
    assert entry.membership is not None
    assert entry.slot > r.membership_slot, (entry.slot, r.membership_slot)
    r.membership = entry.membership
    r.membership_slot = entry.slot
    r.config_history.append((entry.slot, entry.membership))
    r.mark_hard_state_dirty(sync=False)
    if r.role is Role.LEADER:
        for member in r.membership.members:
            if member != r.node_id and member not in r.progress:
                replicate.add_progress(r, member, r.now_ns, Slot(r.commit_slot + 1))
        for member in list(r.progress):
            if member not in r.membership.members:
                del r.progress[member]


def after_commit(r: Replica) -> None:
    if r.role is Role.LEADER and r.node_id not in r.membership.voters:
        election.step_down(r, r.now_ns)  # removed (or demoted to a log replica)
