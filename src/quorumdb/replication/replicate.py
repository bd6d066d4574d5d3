"""Phase 2: pipelined, batched Accepts with a bounded window; commit; heartbeats.

Theory of operation
-------------------
PAPER-NOTES 3.1: the leader generates a log record, sends it to its peers, and the write
is acknowledged once a quorum has persisted it. Here:

* **Proposals** append to the leader's log at the next slot under its ballot. Sending is
  lazy: ``flush`` runs when the driver asks for a ``Ready``, so every proposal that
  arrived since the last Ready rides in the same Accepts (batching). Per follower at most
  ``max_entries_per_accept`` entries per message and ``max_inflight_entries`` beyond the
  follower's acknowledged ``match_slot`` (etcd's Progress/Inflights); beyond the leader's
  ``max_uncommitted_entries`` proposals are refused ("overloaded": back-pressure).
* **Acceptors** accept any Accept whose ballot is at least their promise, persist the
  entries (Ready ordering puts the persist before the ``Accepted``), refresh the lease they
  grant, and report ``match_slot`` (log.py). An entry is accepted only right after the
  same leader's entry at the slot before, or right after the commit index (*prefix-closed
  acceptance*, Raft's consistency check): entries past a hole are ignored and the hole
  shows in ``Accepted`` (below). So if a leader's entry is chosen, so is every entry of
  that leader before it, and a value chosen at a slot was chosen after the very prefix
  its creator computed it on (types.py, ``Entry.prev``). They learn the commit index piggybacked on
  every Accept: ``commit := min(leader commit, match_slot)``, the largest prefix they hold
  exactly as the leader does.
* **Commit** at the leader is the largest slot a quorum has matched (quorum.py), counting
  the leader's own entries only once the driver reports them persisted (``advance``).
* **Recovery of lost messages**: an ``Accepted`` whose ``received_through`` exceeds its
  ``match_slot`` reveals a gap and rewinds the follower's ``next_slot``; a heartbeat also
  rewinds a follower that made no progress since the previous one. A follower that needs
  a truncated slot gets a snapshot instead (snapshot.py).
* **Heartbeats** are empty Accepts every ``heartbeat_interval_ns``; they carry the commit
  index and the send time that leases count from (lease.py). A leader that has heard from
  no quorum for ``election_timeout_ns`` steps down (its lease ran out long before).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quorumdb.replication import election, snapshot, transfer
from quorumdb.replication.messages import Accept, Accepted
from quorumdb.replication.quorum import is_quorum, quorum_value
from quorumdb.replication.ready import Role
from quorumdb.replication.types import Entry, NodeId, Slot

if TYPE_CHECKING:
    from quorumdb.replication.node import Progress, Replica


def add_progress(r: Replica, member: NodeId, now_ns: int, next_slot: Slot) -> None:
    """Starts tracking a follower; a wrong ``next_slot`` guess is corrected by its replies."""
    from quorumdb.replication.node import Progress
    r.progress[member] = Progress(next_slot=next_slot, match_slot=Slot(0), last_ack_ns=now_ns)


def propose(r: Replica, template: Entry, now_ns: int) -> None:
    del now_ns  # proposals are timeless; sending happens at the next Ready
    if r.role is not Role.LEADER:
        r.reply(template.request_id, "not_leader")
        return
    if r.transfer_target is not None:
        r.reply(template.request_id, "not_leader", hint=r.transfer_target)
        return
    if len(template.payload) > r.limits.max_payload_bytes:
        r.reply(template.request_id, "invalid")
        return
    uncommitted = r.log.last_slot - r.commit_slot
    in_memory = r.log.last_slot - r.log.first_slot + 1
    if (uncommitted >= r.limits.max_uncommitted_entries
            or in_memory >= r.limits.max_log_entries_in_memory):
        r.reply(template.request_id, "overloaded")
        return
    slot = Slot(r.log.last_slot + 1)
    r.persist_entry(template.created(slot, r.promised, r.log.origin_at(r.log.last_slot)))
    if template.request_id:
        r.pending_requests[slot] = template.request_id


def _send_accept(r: Replica, member: NodeId, entries: list[Entry]) -> None:
    r.send(Accept(r.group_id, r.node_id, member, r.promised, tuple(entries), r.commit_slot,
                  r.now_ns))
    r.grant_own_lease()


def _send_entries(r: Replica, member: NodeId, progress: Progress) -> bool:
    """Sends what the window allows; True if anything was sent."""
    if progress.snapshot_pending:
        return False
    if progress.next_slot < r.log.first_slot:
        snapshot.send_snapshot(r, member, progress)
        return True
    sent = False
    window_end = progress.match_slot + r.limits.max_inflight_entries
    while progress.next_slot <= min(r.log.last_slot, window_end):
        end = min(r.log.last_slot, window_end,
                  progress.next_slot + r.limits.max_entries_per_accept - 1)
        # Chosen slots below this reign keep older ballots in our log; they are sent
        # under ours (re-accepting a chosen value at a higher ballot is plain Paxos).
        run = [entry if entry.ballot == r.promised else entry.with_ballot(entry.slot, r.promised)
               for entry in r.log.run(progress.next_slot, Slot(end))]
        _send_accept(r, member, run)
        progress.next_slot = Slot(end + 1)
        sent = True
    return sent


def flush(r: Replica) -> None:
    for member in sorted(r.progress):
        _send_entries(r, member, r.progress[member])


def has_sendable(r: Replica) -> bool:
    for progress in r.progress.values():
        if progress.snapshot_pending:
            continue
        if progress.next_slot < r.log.first_slot:
            return True
        window_end = progress.match_slot + r.limits.max_inflight_entries
        if progress.next_slot <= min(r.log.last_slot, window_end):
            return True
    return False


def leader_tick(r: Replica, now_ns: int) -> None:
    if now_ns < r.next_heartbeat_ns:
        return
    recent = {r.node_id} | {member for member, progress in r.progress.items()
                            if now_ns - progress.last_ack_ns < r.limits.election_timeout_ns}
    if not is_quorum(r.membership, recent):
        election.step_down(r, now_ns)  # check quorum: we are cut off, stop pretending
        return
    for member in sorted(r.progress):
        progress = r.progress[member]
        if progress.match_slot == progress.match_at_last_heartbeat:
            # No progress for a whole interval: assume the in-flight messages were lost.
            progress.next_slot = min(progress.next_slot, Slot(progress.match_slot + 1))
            progress.snapshot_pending = False
        progress.match_at_last_heartbeat = progress.match_slot
        if not _send_entries(r, member, progress):
            _send_accept(r, member, [])
    r.next_heartbeat_ns = now_ns + r.limits.heartbeat_interval_ns


def follow(r: Replica, msg_src: NodeId, now_ns: int) -> None:
    """Acknowledging a leader: remember it, grant it a lease, and stay a follower."""
    if r.role is not Role.FOLLOWER:
        election.step_down(r, now_ns)
    r.leader_id = msg_src
    r.last_heard_leader_ns = now_ns
    r.lease_granted_until_ns = max(r.lease_granted_until_ns, now_ns + r.limits.lease_ns)
    r.lease_granted_to = r.promised
    r.check_deadline_ns = None
    election.reset_election_deadline(r, now_ns)


def handle_accept(r: Replica, msg: Accept, now_ns: int) -> None:
    """Phase 2b, as an acceptor."""
    r.observe_round(msg.ballot)
    if msg.ballot < r.promised:
        r.send(Accepted(r.group_id, r.node_id, msg.src, msg.ballot, False, r.promised,
                        Slot(0), Slot(0), r.commit_slot, msg.sent_ns))
        return
    assert msg.ballot.node_id == msg.src, msg
    r.set_promised(msg.ballot)
    follow(r, msg.src, now_ns)
    accept_entries(r, msg.entries)
    match = r.log.match_slot(msg.ballot, r.commit_slot)
    r.set_commit(Slot(min(msg.commit_slot, match)))
    through = msg.entries[-1].slot if msg.entries else Slot(0)
    r.send(Accepted(r.group_id, r.node_id, msg.src, msg.ballot, True, r.promised, match,
                    through, r.commit_slot, msg.sent_ns))


def accept_entries(r: Replica, entries: tuple[Entry, ...]) -> None:
    for entry in entries:
        assert entry.ballot == r.promised, (entry, r.promised)
        if entry.slot < r.log.first_slot:
            continue
        if entry.slot <= r.commit_slot:
            held = r.log.get(entry.slot)
            # Never two different values at one chosen slot, as seen by this member.
            assert held is None or held.same_value(entry), (held, entry)
            continue
        if entry.slot - 1 > r.commit_slot:
            before = r.log.get(Slot(entry.slot - 1))
            if before is None or before.ballot != entry.ballot:
                # A hole (a lost Accept) or another leader's entry before it: accepting
                # would let this entry be chosen without the prefix it was computed on.
                break
        r.persist_entry(entry)


def handle_accepted(r: Replica, msg: Accepted, now_ns: int) -> None:
    r.observe_round(msg.promised)
    if r.role is not Role.LEADER:
        return
    if not msg.ok:
        if msg.promised > r.promised:
            election.step_down(r, now_ns)  # a higher ballot exists: we are deposed
        return
    progress = r.progress.get(msg.src)
    if msg.ballot != r.promised or progress is None:
        return
    progress.last_ack_ns = now_ns
    progress.acked_sent_ns = max(progress.acked_sent_ns, msg.sent_ns)
    progress.commit_slot = max(progress.commit_slot, msg.commit_slot)
    if msg.match_slot > progress.match_slot:
        progress.match_slot = msg.match_slot
    if progress.snapshot_pending and progress.match_slot >= progress.next_slot - 1:
        progress.snapshot_pending = False
    if msg.received_through > msg.match_slot and progress.next_slot > progress.match_slot + 1:
        progress.next_slot = Slot(progress.match_slot + 1)  # a gap: resend from the hole
    progress.next_slot = max(progress.next_slot, Slot(progress.match_slot + 1))
    maybe_commit(r)
    transfer.check_transfer(r, now_ns)


def own_entries_persisted(r: Replica, entries: tuple[Entry, ...]) -> None:
    for entry in entries:
        if entry.ballot == r.promised and entry.slot == r.own_match_slot + 1:
            r.own_match_slot = entry.slot
    maybe_commit(r)


def maybe_commit(r: Replica) -> None:
    if r.role is not Role.LEADER:
        return
    matches = {member: progress.match_slot for member, progress in r.progress.items()}
    matches[r.node_id] = r.own_match_slot
    chosen = quorum_value(r.membership, matches, 0)
    if chosen > r.commit_slot:
        r.set_commit(Slot(chosen))


def answer_committed(r: Replica, previous: Slot, slot: Slot) -> None:
    for s in range(previous + 1, slot + 1):
        request_id = r.pending_requests.pop(Slot(s), None)
        if request_id is not None:
            r.reply(request_id, "committed", Slot(s))
