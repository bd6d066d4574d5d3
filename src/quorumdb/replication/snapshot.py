"""Snapshot install for a new or lagging member, and log truncation after checkpoint.

Theory of operation
-------------------
PAPER-NOTES 3.1/5.1: a full replica is a WAL plus a B-tree; a new full replica starts
from a copy of the B-tree at an applied slot plus the log after it (DESIGN.md).

* **Truncation.** ``compact(s)``: the driver has checkpointed the state machine at an
  applied slot >= s, so the core may drop entries <= s from memory and the driver may drop
  them from the WAL. Only applied (hence chosen) slots are dropped: an acceptor never
  forgets an unchosen acceptance. Acceptors refuse candidates whose phase 1 would start
  below their truncation point ("lagging", election.py): they could not report those
  slots, and such a candidate has missed chosen values anyway.
* **Sending.** When a follower needs a slot below the leader's truncation point, the
  leader asks its driver for the applied state (``SnapshotSource.capture``), attaches the
  membership in force at that slot, and sends ``InstallSnapshot``. One snapshot is in
  flight per follower; a heartbeat interval without progress allows another.
* **Installing.** A member behind the snapshot drops its entries at or below the slot,
  sets commit and applied to it, adopts its membership, emits it in ``Ready.snapshot``
  (the driver persists and installs it before applying later entries) and answers
  ``Accepted``; replication continues from the log. Entries above the slot are kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quorumdb.replication import replicate
from quorumdb.replication.messages import Accepted, InstallSnapshot
from quorumdb.replication.types import Membership, NodeId, Slot, Snapshot

if TYPE_CHECKING:
    from quorumdb.replication.node import Progress, Replica


def config_at(r: Replica, slot: Slot) -> tuple[Slot, Membership]:
    found = r.config_history[0]
    for config_slot, membership in r.config_history:
        if config_slot <= slot:
            found = (config_slot, membership)
    assert found[0] <= slot, (found, slot)
    return found


def make_snapshot(r: Replica, slot: Slot, state: bytes) -> Snapshot:
    """A snapshot of the state applied through ``slot`` (held or the truncation point)."""
    assert r.log.first_slot - 1 <= slot <= r.commit_slot, (slot, r.log.first_slot)
    membership_slot, membership = config_at(r, slot)
    return Snapshot(slot, membership, state, membership_slot, r.log.origin_at(slot))


def send_snapshot(r: Replica, member: NodeId, progress: Progress) -> None:
    slot, state = r.snapshot_source.capture()
    snap = make_snapshot(r, slot, state)
    r.send(InstallSnapshot(r.group_id, r.node_id, member, r.promised, snap, r.commit_slot,
                           r.now_ns))
    r.grant_own_lease()
    progress.snapshot_pending = True
    progress.next_slot = Slot(slot + 1)


def handle_install_snapshot(r: Replica, msg: InstallSnapshot, now_ns: int) -> None:
    r.observe_round(msg.ballot)
    if msg.ballot < r.promised:
        r.send(Accepted(r.group_id, r.node_id, msg.src, msg.ballot, False, r.promised,
                        Slot(0), Slot(0), r.commit_slot, msg.sent_ns))
        return
    r.set_promised(msg.ballot)
    replicate.follow(r, msg.src, now_ns)
    snap = msg.snapshot
    if snap.slot > r.commit_slot:
        install(r, snap)
    match = r.log.match_slot(msg.ballot, r.commit_slot)
    r.set_commit(Slot(min(msg.commit_slot, match)))
    r.send(Accepted(r.group_id, r.node_id, msg.src, msg.ballot, True, r.promised, match,
                    snap.slot, r.commit_slot, msg.sent_ns))


def install(r: Replica, snap: Snapshot) -> None:
    assert snap.slot > r.commit_slot >= r.applied_slot
    r.log.truncate_through(snap.slot)
    r.log.floor_origin = snap.last_origin
    r.commit_slot = snap.slot
    r.applied_slot = snap.slot
    r.membership = snap.membership
    r.membership_slot = snap.membership_slot
    r.config_history = [(snap.membership_slot, snap.membership)]
    r.emit_snapshot(snap)


def compact(r: Replica, through_slot: Slot) -> None:
    assert through_slot <= r.applied_slot, (through_slot, r.applied_slot)
    r.log.truncate_through(through_slot)
    keep_from = 0
    for index, (config_slot, _) in enumerate(r.config_history):
        if config_slot <= through_slot:
            keep_from = index
    r.config_history = r.config_history[keep_from:]
