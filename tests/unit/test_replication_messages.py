"""Wire messages round-trip through msgpack unchanged, and garbage is rejected."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorumdb.replication import (
    Accept,
    Accepted,
    Ballot,
    Entry,
    EntryKind,
    GroupId,
    InstallSnapshot,
    LeaderCheck,
    LeaderCheckReply,
    Membership,
    Message,
    NodeId,
    Prepare,
    Promise,
    Slot,
    Snapshot,
    TimeoutNow,
    decode_message,
    describe,
    encode_message,
)

ids = st.integers(1, 9).map(NodeId)
slots = st.integers(1, 10_000).map(Slot)
ballots = st.builds(Ballot, st.integers(0, 1000), ids)
memberships = st.sets(ids, min_size=1, max_size=5).flatmap(
    lambda members: st.sets(st.sampled_from(sorted(members)), max_size=len(members) - 1).map(
        lambda log: Membership(tuple(sorted(members - log)), tuple(sorted(log)))))


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    kind: EntryKind = draw(st.sampled_from(["data", "noop", "config"]))
    return Entry(draw(slots), draw(ballots), kind,
                 draw(st.binary(max_size=64)) if kind == "data" else b"",
                 draw(st.integers(0, 2**40)), draw(ids),
                 draw(memberships) if kind == "config" else None)


entry_runs = st.lists(entries(), max_size=4).map(tuple)
head = {"group_id": st.integers(0, 2**32).map(GroupId), "src": ids, "dst": ids}
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Prepare, **head, ballot=ballots, from_slot=slots,
              transfer_from=st.none() | ballots),
    st.builds(Promise, **head, ballot=ballots, ok=st.booleans(), promised=ballots,
              commit_slot=slots, accepted=entry_runs,
              reason=st.sampled_from(["", "ballot", "lease", "lagging"])),
    st.builds(Accept, **head, ballot=ballots, entries=entry_runs, commit_slot=slots,
              sent_ns=st.integers(0, 2**62)),
    st.builds(Accepted, **head, ballot=ballots, ok=st.booleans(), promised=ballots,
              match_slot=slots, received_through=slots, commit_slot=slots,
              sent_ns=st.integers(0, 2**62)),
    st.builds(LeaderCheck, **head, check_id=st.integers(0, 2**40)),
    st.builds(LeaderCheckReply, **head, check_id=st.integers(0, 2**40),
              leader_alive=st.booleans()),
    st.builds(TimeoutNow, **head, ballot=ballots),
    st.builds(InstallSnapshot, **head, ballot=ballots,
              snapshot=st.builds(Snapshot, slots, memberships, st.binary(max_size=64), slots),
              commit_slot=slots, sent_ns=st.integers(0, 2**62)),
)


@given(messages)
def test_round_trip(message: Message) -> None:
    data = encode_message(message)
    assert decode_message(data) == message
    assert describe(message)  # every variant has a printable form


def test_ballots_order_as_tuples() -> None:
    assert Ballot(1, NodeId(3)) < Ballot(2, NodeId(1)) < Ballot(2, NodeId(2))


@pytest.mark.parametrize("data", [b"", b"\x01", encode_message(
    LeaderCheck(GroupId(1), NodeId(1), NodeId(2), 1))[:-1]])
def test_garbage_is_rejected(data: bytes) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        decode_message(data)


def test_invalid_membership_from_a_peer_is_a_validation_error() -> None:
    good = encode_message(InstallSnapshot(
        GroupId(1), NodeId(1), NodeId(2), Ballot(1, NodeId(1)),
        Snapshot(Slot(1), Membership((NodeId(1), NodeId(2))), b""), Slot(1), 0))
    bad = good.replace(b"\x92\x01\x02", b"\x92\x02\x01")  # voters [1, 2] -> [2, 1]
    assert bad != good
    with pytest.raises(msgspec.ValidationError):
        decode_message(bad)
