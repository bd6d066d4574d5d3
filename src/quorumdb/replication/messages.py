"""Wire messages of the Multi-Paxos group, a tagged union of frozen structs.

Theory of operation
-------------------
Every message names its group, sender and receiver, so a node-level router can deliver it
by ``group_id`` (TiKV style) and a simulator can print it. Phase 1 is ``Prepare`` /
``Promise`` (PAPER-NOTES 3.1: election is Paxos phase 1), phase 2 is ``Accept`` /
``Accepted``; an ``Accept`` with no entries is the heartbeat, carrying the commit index
and the leader's send time ``sent_ns`` which ``Accepted`` echoes (leases count from it).
``LeaderCheck`` / ``LeaderCheckReply`` are the gray-failure pre-election poll (PAPER-NOTES
6). ``TimeoutNow`` is graceful transfer; ``InstallSnapshot`` brings a lagging member past
the leader's truncated log.

Encoding is msgpack with a ``type`` tag; ``decode_message(encode_message(m)) == m``.
Handlers ``match`` on ``Message`` exhaustively (``assert_never`` in the default arm).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from quorumdb.replication.types import Ballot, Entry, GroupId, NodeId, Slot, Snapshot

RejectReason = Literal["", "ballot", "lease", "lagging"]


class Prepare(msgspec.Struct, frozen=True, tag=True):
    """Phase 1a for every slot from ``from_slot`` on. ``transfer_from`` is the ballot of the
    leader that handed over with ``TimeoutNow`` (acceptors waive that leader's lease only)."""

    group_id: GroupId
    src: NodeId
    dst: NodeId
    ballot: Ballot
    from_slot: Slot
    transfer_from: Ballot | None = None


class Promise(msgspec.Struct, frozen=True, tag=True):
    """Phase 1b. ``ok``: the acceptor promised ``ballot`` and lists every entry it holds
    from ``from_slot`` on; otherwise ``reason`` says why and ``promised`` is its promise."""

    group_id: GroupId
    src: NodeId
    dst: NodeId
    ballot: Ballot
    ok: bool
    promised: Ballot
    commit_slot: Slot
    accepted: tuple[Entry, ...] = ()
    reason: RejectReason = ""


class Accept(msgspec.Struct, frozen=True, tag=True):
    """Phase 2a for a contiguous run of slots (possibly none: a heartbeat)."""

    group_id: GroupId
    src: NodeId
    dst: NodeId
    ballot: Ballot
    entries: tuple[Entry, ...]
    commit_slot: Slot
    sent_ns: int


class Accepted(msgspec.Struct, frozen=True, tag=True):
    """Phase 2b. ``match_slot``: every slot up to it is known chosen here or accepted at
    ``ballot``. ``received_through`` is the last slot of the answered Accept (a larger value
    than ``match_slot`` reveals a gap). ``sent_ns`` echoes the Accept's send time."""

    group_id: GroupId
    src: NodeId
    dst: NodeId
    ballot: Ballot
    ok: bool
    promised: Ballot
    match_slot: Slot
    received_through: Slot
    commit_slot: Slot
    sent_ns: int


class LeaderCheck(msgspec.Struct, frozen=True, tag=True):
    """Before campaigning: "do you still hear the leader?" (PAPER-NOTES 6, gray failures)."""

    group_id: GroupId
    src: NodeId
    dst: NodeId
    check_id: int


class LeaderCheckReply(msgspec.Struct, frozen=True, tag=True):
    group_id: GroupId
    src: NodeId
    dst: NodeId
    check_id: int
    leader_alive: bool


class TimeoutNow(msgspec.Struct, frozen=True, tag=True):
    """Graceful transfer: the leader at ``ballot`` tells ``dst`` to campaign at once."""

    group_id: GroupId
    src: NodeId
    dst: NodeId
    ballot: Ballot


class InstallSnapshot(msgspec.Struct, frozen=True, tag=True):
    """Phase 2 for a member behind the leader's truncated log: the state at ``snapshot.slot``."""

    group_id: GroupId
    src: NodeId
    dst: NodeId
    ballot: Ballot
    snapshot: Snapshot
    commit_slot: Slot
    sent_ns: int


Message = (Prepare | Promise | Accept | Accepted | LeaderCheck | LeaderCheckReply | TimeoutNow
           | InstallSnapshot)

_ENCODER = msgspec.msgpack.Encoder()
_DECODER: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(Message)


def encode_message(message: Message) -> bytes:
    return _ENCODER.encode(message)


def decode_message(data: bytes) -> Message:
    """Raises ``msgspec.ValidationError`` / ``msgspec.DecodeError`` on a bad peer message."""
    return _DECODER.decode(data)


def describe(message: Message) -> str:
    """One stable line per message, for golden scripts and simulator traces."""
    head = f"{message.src}->{message.dst} {type(message).__name__}"
    match message:
        case Prepare():
            tail = f" b={message.ballot} from={message.from_slot}"
            if message.transfer_from is not None:
                tail += f" transfer_from={message.transfer_from}"
        case Promise():
            tail = f" b={message.ballot} commit={message.commit_slot}"
            if message.ok:
                tail += " ok [" + " ".join(str(e) for e in message.accepted) + "]"
            else:
                tail += f" reject={message.reason} promised={message.promised}"
        case Accept():
            tail = (f" b={message.ballot} commit={message.commit_slot}"
                    f" [" + " ".join(str(e) for e in message.entries) + "]")
        case Accepted():
            tail = f" b={message.ballot}"
            if message.ok:
                tail += (f" match={message.match_slot} through={message.received_through}"
                         f" commit={message.commit_slot}")
            else:
                tail += f" reject promised={message.promised}"
        case LeaderCheck():
            tail = f" id={message.check_id}"
        case LeaderCheckReply():
            tail = f" id={message.check_id} alive={message.leader_alive}"
        case TimeoutNow():
            tail = f" b={message.ballot}"
        case InstallSnapshot():
            tail = (f" b={message.ballot} slot={message.snapshot.slot}"
                    f" commit={message.commit_slot}")
        case _:  # pragma: no cover - exhaustiveness
            from typing import assert_never
            assert_never(message)
    return head + tail
