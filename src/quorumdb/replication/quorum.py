"""Quorum arithmetic, kept apart so it can be checked against a brute-force model.

Theory of operation
-------------------
A quorum is a strict majority of a membership's *members* (full replicas and log
replicas alike: log replicas are Paxos acceptors, PAPER-NOTES 3.1 and 6). Any two quorums
of one membership intersect; quorums of two memberships that differ by one member also
intersect, which is what makes single-member reconfiguration safe (membership.py).

``quorum_value`` is the commit rule: the largest value v such that a quorum of members
each report a value >= v (members with no report count as having reported nothing). The
leader applies it to match slots (commit index) and to acknowledged send times (lease).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from quorumdb.replication.types import Membership, NodeId


def is_quorum(membership: Membership, voters: Collection[NodeId]) -> bool:
    """True iff ``voters`` (ids outside the membership are ignored) form a majority."""
    present = sum(1 for member in membership.members if member in voters)
    return present >= membership.quorum_size()


def quorum_value(membership: Membership, values: Mapping[NodeId, int], missing: int) -> int:
    """The largest v such that a quorum of members has ``values[m] >= v``.

    Members absent from ``values`` count as ``missing``; the result is ``missing`` when no
    quorum has reported more."""
    reported = sorted((values.get(member, missing) for member in membership.members),
                      reverse=True)
    return max(missing, reported[membership.quorum_size() - 1])
