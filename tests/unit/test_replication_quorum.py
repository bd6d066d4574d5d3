"""Quorum, lease and membership arithmetic against deliberately dumb models (etcd raft
checks its quorum code against a brute-force alternative with quickcheck)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from quorumdb.replication import Ballot, Membership, NodeId
from quorumdb.replication.lease import NEVER, leader_lease_expiry_ns, lease_blocks_prepare
from quorumdb.replication.membership import is_single_change
from quorumdb.replication.quorum import is_quorum, quorum_value

ids = st.integers(1, 7).map(NodeId)


@st.composite
def memberships(draw: st.DrawFn) -> Membership:
    members = sorted(draw(st.sets(ids, min_size=1, max_size=6)))
    log = draw(st.sets(st.sampled_from(members[1:]), max_size=len(members) - 1)) \
        if len(members) > 1 else set()
    return Membership(tuple(m for m in members if m not in log), tuple(sorted(log)))


def dumb_quorums(membership: Membership) -> list[set[NodeId]]:
    """Every subset of members that is more than half of them."""
    members = membership.members
    return [set(combo) for size in range(len(members) + 1)
            for combo in itertools.combinations(members, size) if 2 * size > len(members)]


@given(memberships(), st.sets(ids))
def test_is_quorum_matches_enumeration(membership: Membership, voters: set[NodeId]) -> None:
    expected = any(q <= voters for q in dumb_quorums(membership))
    assert is_quorum(membership, voters) == expected


@given(memberships(), st.dictionaries(ids, st.integers(0, 20)))
def test_quorum_value_matches_enumeration(membership: Membership,
                                          values: dict[NodeId, int]) -> None:
    # Largest v such that some quorum has every member's value >= v (missing counts as 0).
    expected = max(min(values.get(m, 0) for m in q) for q in dumb_quorums(membership))
    assert quorum_value(membership, values, 0) == expected


@given(memberships(), memberships())
def test_single_changes_keep_quorums_intersecting(old: Membership, new: Membership) -> None:
    if is_single_change(old, new):
        for q_old in dumb_quorums(old):
            for q_new in dumb_quorums(new):
                assert q_old & q_new, (old, new, q_old, q_new)


@given(memberships(), memberships())
def test_is_single_change_matches_dumb_model(old: Membership, new: Membership) -> None:
    diff = set(old.members) ^ set(new.members)
    role_flips = {m for m in set(old.members) & set(new.members)
                  if (m in old.voters) != (m in new.voters)}
    assert is_single_change(old, new) == (len(diff) + len(role_flips) == 1)


@given(memberships(), st.data(), st.integers(0, 1000), st.integers(1, 100),
       st.integers(0, 99))
def test_leader_lease_matches_enumeration(membership: Membership, data: st.DataObject,
                                          now_ns: int, lease_ns: int, drift: int) -> None:
    drift = min(drift, lease_ns - 1)
    leader = membership.voters[0]
    acked = data.draw(st.dictionaries(st.sampled_from(membership.members),
                                      st.integers(0, now_ns)))
    expiry = leader_lease_expiry_ns(membership, leader, acked, now_ns, lease_ns, drift)
    # Dumb model: the lease is live at time t iff some quorum has every member (the
    # leader at now) acknowledged a send at time s with s + lease - drift > t.
    def live_at(t: int) -> bool:
        times = {**acked, leader: now_ns}
        return any(all(m in times and times[m] + lease_ns - drift > t for m in q)
                   for q in dumb_quorums(membership))
    for t in range(max(0, now_ns - 5), now_ns + lease_ns + 2):
        assert (t < expiry) == live_at(t), (t, expiry)
    assert expiry == NEVER or expiry <= now_ns + lease_ns - drift


@given(st.integers(0, 100), st.integers(0, 100), st.none() | st.integers(1, 3),
       st.none() | st.integers(1, 3))
def test_lease_blocks_prepare_table(now_ns: int, until_ns: int, granted: int | None,
                                    transfer: int | None) -> None:
    def ballot(n: int | None) -> Ballot | None:
        return None if n is None else Ballot(n, NodeId(1))
    blocked = lease_blocks_prepare(now_ns, until_ns, ballot(granted), ballot(transfer))
    waived = transfer is not None and transfer == granted
    assert blocked == (now_ns < until_ns and not waived)
