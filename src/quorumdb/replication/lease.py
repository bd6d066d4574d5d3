"""Leader leases with a clock-drift bound (PAPER-NOTES 3.1 and 6).

Theory of operation
-------------------
Two promises meet here.

*Acceptor side.* When a member acknowledges an ``Accept`` (or heartbeat) from ballot b at
its local time t, it grants b a lease: until ``t + lease_ns`` on its own clock it refuses
every Prepare of a higher ballot (``lease_blocks_prepare``). The one exception is a
graceful transfer: a Prepare whose ``transfer_from`` names b itself — the holder gave the
lease up before sending ``TimeoutNow`` (transfer.py). A restarted member has forgotten its
grants, so it behaves as if it had granted one at its restart time.

*Leader side.* The leader stamps each Accept with its send time ``sent_ns`` (its clock,
taken no later than the real send, which only shortens the lease); each acknowledgment
echoes it. Let T be the latest send time that a quorum has acknowledged (the leader counts
itself for every send). Every acceptor in that quorum received the send after T, so its
grant runs past ``T + lease_ns`` on its clock, which is at least ``T + lease_ns -
max_drift_ns`` on the leader's clock: ``leader_lease_expiry_ns``. While ``now`` is below
it, no other ballot can gather a quorum of promises, hence no other leader can exist, and
the leader may serve strongly consistent reads — once its own no-op is committed (so it
has learned every value chosen before it; node.py ``can_read_consistently``).
"""

from __future__ import annotations

from collections.abc import Mapping

from quorumdb.replication.quorum import quorum_value
from quorumdb.replication.types import Ballot, Membership, NodeId

NEVER = -(1 << 62)  # a time before any clock reading: "no acknowledgment yet"


def leader_lease_expiry_ns(membership: Membership, leader: NodeId,
                           acked_sent_ns: Mapping[NodeId, int], now_ns: int,
                           lease_ns: int, max_drift_ns: int) -> int:
    """The end of the leader's lease on its own clock (``NEVER``-based if none)."""
    values = dict(acked_sent_ns)
    values[leader] = now_ns  # the leader acknowledges its own sends at once
    base = quorum_value(membership, values, NEVER)
    if base == NEVER:
        return NEVER
    return base + lease_ns - max_drift_ns


def lease_blocks_prepare(now_ns: int, granted_until_ns: int, granted_to: Ballot | None,
                         transfer_from: Ballot | None) -> bool:
    """True iff a lease this acceptor granted forbids promising a new higher ballot now."""
    if now_ns >= granted_until_ns:
        return False
    waived = transfer_from is not None and granted_to is not None and transfer_from == granted_to
    return not waived
