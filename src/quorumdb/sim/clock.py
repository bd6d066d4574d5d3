"""Virtual time, the event queue and the seeded random streams of the simulator.

Theory of operation (FoundationDB simulation, TigerBeetle VOPR): the whole cluster runs
in one thread. Time is an integer number of virtual nanoseconds that only moves when the
loop pops the next event. Events are ordered by ``(time_ns, sequence)``: the sequence is
a counter assigned at scheduling time, so two events due at the same instant run in the
order they were scheduled — never by hash, set order or ``id()``.

Randomness comes in two kinds, kept apart by name (FoundationDB's deterministic and
nondeterministic random sources): everything a run depends on draws from a
``random.Random`` derived from the run seed *and a purpose string* (``network``,
``disk/2``, ``election/1``, ...). Seeding with a ``str`` goes through SHA-512 in CPython
(seed version 2), so the derived streams do not depend on ``PYTHONHASHSEED``. Deriving
one stream per purpose keeps an extra draw in, say, the workload from shifting every
network decision of the run. Nothing here may use the module-level ``random`` functions.

Each node sees its own local monotonic clock: ``local = virtual * (1 + drift) + offset``,
with the drift expressed in parts per million and bounded by the core's configured drift
bound. The conversion is integer arithmetic, monotonic, and invertible with a ceiling so
that a timer due at local time ``t`` never fires before the local clock reads ``t``.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

PPM = 1_000_000

Action = Callable[[], None]


def derive_rng(seed: int, purpose: str) -> random.Random:
    """A deterministic stream for one purpose of one run (independent of PYTHONHASHSEED)."""
    return random.Random(f"quorumdb-sim/{seed}/{purpose}")


@dataclass(order=True)
class _Scheduled:
    time_ns: int
    sequence: int
    label: str = field(compare=False)
    action: Action = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class EventHandle:
    """Lets the scheduler of an event cancel it (a cancelled event is skipped silently)."""

    __slots__ = ("_entry",)

    def __init__(self, entry: _Scheduled) -> None:
        self._entry = entry

    def cancel(self) -> None:
        self._entry.cancelled = True

    @property
    def time_ns(self) -> int:
        return self._entry.time_ns


class EventLoop:
    """The virtual clock and its queue; every processed event is folded into a digest.

    The digest (BLAKE2b over ``time|label`` of every event run, plus anything callers
    ``record``) is the trace fingerprint compared across processes by the determinism test.
    """

    def __init__(self) -> None:
        self.now_ns = 0
        self._queue: list[_Scheduled] = []
        self._sequence = 0
        self._digest = hashlib.blake2b(digest_size=16)
        self.events_run = 0

    def schedule_at(self, time_ns: int, label: str, action: Action) -> EventHandle:
        assert time_ns >= self.now_ns, (time_ns, self.now_ns, label)
        entry = _Scheduled(time_ns, self._sequence, label, action)
        self._sequence += 1
        heapq.heappush(self._queue, entry)
        return EventHandle(entry)

    def schedule_after(self, delay_ns: int, label: str, action: Action) -> EventHandle:
        assert delay_ns >= 0, delay_ns
        return self.schedule_at(self.now_ns + delay_ns, label, action)

    def record(self, text: str) -> None:
        """Folds a line into the trace digest (e.g. a message's content)."""
        self._digest.update(text.encode())
        self._digest.update(b"\n")

    def digest(self) -> str:
        return self._digest.hexdigest()

    def pending(self) -> int:
        return sum(1 for entry in self._queue if not entry.cancelled)

    def run_until(self, deadline_ns: int, stop: Callable[[], bool] | None = None) -> None:
        """Runs events due at or before ``deadline_ns``; the clock ends at the deadline.

        ``stop`` is checked after each event; when it holds the loop returns early with the
        clock at that event's time.
        """
        while self._queue and self._queue[0].time_ns <= deadline_ns:
            entry = heapq.heappop(self._queue)
            if entry.cancelled:
                continue
            self.now_ns = entry.time_ns
            self.events_run += 1
            self.record(f"{entry.time_ns}|{entry.label}")
            entry.action()
            if stop is not None and stop():
                return
        self.now_ns = max(self.now_ns, deadline_ns)


@dataclass
class NodeClock:
    """One node's local monotonic clock, skewed from virtual time by a bounded drift.

    ``offset_ns`` models where the monotonic clock started (a reboot may reset it); the
    drift models a crystal running fast or slow.
    """

    drift_ppm: int
    offset_ns: int

    def local_ns(self, virtual_ns: int) -> int:
        return virtual_ns + (virtual_ns * self.drift_ppm) // PPM + self.offset_ns

    def virtual_ns(self, local_ns: int) -> int:
        """The earliest virtual time at which the local clock reads at least ``local_ns``."""
        numerator = (local_ns - self.offset_ns) * PPM
        denominator = PPM + self.drift_ppm
        estimate = -((-numerator) // denominator)  # ceiling division
        # Floor rounding in local_ns may leave the estimate a nanosecond or two short.
        while self.local_ns(estimate) < local_ns:
            estimate += 1
        while estimate > 0 and self.local_ns(estimate - 1) >= local_ns:
            estimate -= 1
        return max(estimate, 0)
