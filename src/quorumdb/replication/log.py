"""The in-memory view of one member's Paxos log: accepted entries by slot.

Theory of operation
-------------------
Unlike Raft, Multi-Paxos slots are independent: an acceptor may hold slot 7 without slot
6, and a higher-ballot Accept replaces the value of a slot outright. ``ReplicaLog`` is a
map from slot to ``Entry`` above a truncation point: slots below ``first_slot`` were
chosen, applied and checkpointed and are gone (``truncate_through``; snapshot.py).

``match_slot(ballot, floor)`` is what an acceptor reports to the leader of ``ballot``: the
largest s such that every slot in (floor, s] holds an entry accepted at exactly that
ballot (``floor`` is the commit index: slots at or below it are chosen, hence equal to the
leader's). One proposer per ballot means those entries are the leader's own values.

``origin_at(s)`` is the origin (types.py) of the value held at ``s``, also for the slot just
below the truncation point (``floor_origin``, kept across truncation and carried by
snapshots) and for slot 0 (``ZERO_BALLOT``: the empty prefix); ``None`` if unknown. A leader
stamps it as ``prev`` on every value it creates.
"""

from __future__ import annotations

from quorumdb.replication.types import FIRST_SLOT, ZERO_BALLOT, Ballot, Entry, Slot


class ReplicaLog:
    def __init__(self, first_slot: Slot = FIRST_SLOT, floor_origin: Ballot | None = None
                 ) -> None:
        assert first_slot >= 1
        self.first_slot = first_slot
        # Origin of the value at first_slot - 1 (gone), None if unknown.
        self.floor_origin = ZERO_BALLOT if first_slot == FIRST_SLOT else floor_origin
        self._entries: dict[Slot, Entry] = {}
        self._last_slot = Slot(first_slot - 1)
        # match_slot memo: (ballot, slot) known contiguous at ballot; keeps Accepts O(batch).
        self._match_memo: tuple[Ballot, Slot] | None = None

    @property
    def last_slot(self) -> Slot:
        """The highest slot holding an entry, or ``first_slot - 1``."""
        return self._last_slot

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, slot: Slot) -> Entry | None:
        return self._entries.get(slot)

    def put(self, entry: Entry) -> bool:
        """Stores ``entry`` (replacing the slot); False if it was already there, equal."""
        assert entry.slot >= self.first_slot, (entry.slot, self.first_slot)
        if self._entries.get(entry.slot) == entry:
            return False
        self._entries[entry.slot] = entry
        memo = self._match_memo
        if memo is not None and entry.slot <= memo[1] and entry.ballot != memo[0]:
            self._match_memo = None
        self._last_slot = max(self._last_slot, entry.slot)
        return True

    def entries_from(self, slot: Slot, through: Slot | None = None) -> list[Entry]:
        """Entries held at slots in [slot, through] (default: to the end), in slot order."""
        end = self._last_slot if through is None else min(through, self._last_slot)
        start = max(slot, self.first_slot)
        return [entry for s in range(start, end + 1)
                if (entry := self._entries.get(Slot(s))) is not None]

    def origin_at(self, slot: Slot) -> Ballot | None:
        """The origin of the value at ``slot`` (None: not held, or unknown)."""
        entry = self._entries.get(slot)
        if entry is not None:
            return entry.origin
        if slot == self.first_slot - 1:
            return self.floor_origin
        return None

    def run(self, start: Slot, through: Slot) -> list[Entry]:
        """Every entry in [start, through]; asserts there is no gap (a leader's log)."""
        return [self._entries[Slot(s)] for s in range(start, through + 1)]

    def match_slot(self, ballot: Ballot, floor: Slot) -> Slot:
        slot = max(floor, Slot(self.first_slot - 1))
        if self._match_memo is not None and self._match_memo[0] == ballot:
            slot = max(slot, self._match_memo[1])
        while (entry := self._entries.get(Slot(slot + 1))) is not None and entry.ballot == ballot:
            slot = Slot(slot + 1)
        self._match_memo = (ballot, slot)
        return slot

    def truncate_through(self, slot: Slot) -> None:
        """Drops every slot <= ``slot``; later slots stay (an acceptor never forgets an
        acceptance it may have reported)."""
        if slot < self.first_slot:
            return
        self.floor_origin = self.origin_at(slot)
        for s in range(self.first_slot, slot + 1):
            self._entries.pop(Slot(s), None)
        self.first_slot = Slot(slot + 1)
        self._last_slot = max(self._last_slot, Slot(slot))
