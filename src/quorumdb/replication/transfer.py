"""Graceful leadership transfer (PAPER-NOTES 6: leaders give up leadership before a
deployment restarts them, so the successor need not wait out the lease).

Theory of operation
-------------------
etcd raft's TimeoutNow. ``transfer_leadership(target)`` makes the leader refuse new
proposals ("not_leader", hinting the target) so its log stops growing; replication keeps
running until the target has matched the whole log; then the leader **voids its own
lease** (``can_read_consistently`` is false from that moment) and sends ``TimeoutNow``.
The target campaigns at once with ``Prepare.transfer_from`` = the old ballot, and the
acceptors waive the lease they granted to exactly that ballot (lease.py).

If the hand-over does not happen within ``election_timeout_ns``: before ``TimeoutNow``
was sent the leader simply resumes; after it, acceptors may already have waived its lease,
so it must never count on that lease again — it steps down instead.

Log replicas and members outside the voters ignore ``TimeoutNow``: they never lead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quorumdb.replication import election
from quorumdb.replication.messages import TimeoutNow
from quorumdb.replication.ready import Role
from quorumdb.replication.types import NodeId

if TYPE_CHECKING:
    from quorumdb.replication.node import Replica


def transfer_leadership(r: Replica, target: NodeId, now_ns: int) -> None:
    """Ignored unless this member leads and ``target`` is another full replica."""
    if r.role is not Role.LEADER or r.transfer_target is not None:
        return
    if target == r.node_id or target not in r.membership.voters or target not in r.progress:
        return
    r.transfer_target = target
    r.transfer_deadline_ns = now_ns + r.limits.election_timeout_ns
    r.transfer_sent = False
    check_transfer(r, now_ns)


def check_transfer(r: Replica, now_ns: int) -> None:
    del now_ns
    if r.role is not Role.LEADER or r.transfer_target is None or r.transfer_sent:
        return
    progress = r.progress.get(r.transfer_target)
    if progress is None or progress.match_slot < r.log.last_slot:
        return
    r.transfer_sent = True  # voids the lease: see Replica.lease_expiry_ns
    r.send(TimeoutNow(r.group_id, r.node_id, r.transfer_target, r.promised))


def transfer_tick(r: Replica, now_ns: int) -> None:
    if r.role is not Role.LEADER or r.transfer_target is None:
        return
    if now_ns < r.transfer_deadline_ns:
        return
    if r.transfer_sent:
        election.step_down(r, now_ns)
    else:
        r.transfer_target = None


def handle_timeout_now(r: Replica, msg: TimeoutNow, now_ns: int) -> None:
    if not election.may_campaign(r) or r.role is Role.LEADER or msg.ballot < r.promised:
        return
    election.campaign(r, now_ns, transfer_from=msg.ballot)
