"""The simulated network: seeded delay, drop, duplicate, reorder, and network splits.

Theory of operation: ``send`` decides a message's fate at once from the ``network`` random
stream — dropped, or delivered after a delay drawn from the configured distribution,
possibly twice — and schedules the delivery on the event loop. Reordering is not a
separate mechanism: a message drawn into the slow tail of the delay distribution is
overtaken by later ones on the same link.

A *network split* (never called a partition here: a partition is a key range) blocks
directed links. A symmetric split blocks both directions between two groups of
endpoints; an asymmetric split blocks one direction only (A hears B, B does not hear A:
the gray failure that leader-reachability checks exist for). A link is checked both when
a message is sent and when it would be delivered, so a split that starts while a message
is in flight loses it, as a cut cable would.

Every decision is folded into the trace digest. Links are kept in a dict keyed by
``(source, destination)`` strings and iterated only in sorted order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from quorumdb.sim.clock import EventLoop

MS = 1_000_000


@dataclass(frozen=True)
class NetworkFaults:
    """Fault rates of the network; probabilities are per message."""

    delay_ns_min: int = 1 * MS
    delay_ns_mean: int = 3 * MS
    tail_probability: float = 0.0  # a message delayed by up to tail_ns_max: reordering
    tail_ns_max: int = 50 * MS
    drop_probability: float = 0.0
    duplicate_probability: float = 0.0

    def describe(self) -> str:
        return (
            f"delay_ms_min={self.delay_ns_min / MS:g} delay_ms_mean={self.delay_ns_mean / MS:g} "
            f"tail={self.tail_probability:.3f}/{self.tail_ns_max / MS:g}ms "
            f"drop={self.drop_probability:.3f} dup={self.duplicate_probability:.3f}"
        )


QUIET = NetworkFaults()

Deliver = Callable[[str, str, object], None]
"""deliver(source, destination, payload)."""


class Network:
    def __init__(
        self, loop: EventLoop, rng: random.Random, faults: NetworkFaults, deliver: Deliver
    ) -> None:
        self._loop = loop
        self._rng = rng
        self.faults = faults
        self._deliver = deliver
        self._blocked: set[tuple[str, str]] = set()
        self.sent = 0
        self.dropped = 0
        self.duplicated = 0

    # -- network splits -------------------------------------------------------------

    def split(self, side_a: Iterable[str], side_b: Iterable[str], *, symmetric: bool) -> None:
        """Blocks a→b links (and b→a when symmetric)."""
        side_b_list = sorted(side_b)
        for source in sorted(side_a):
            for destination in side_b_list:
                self._blocked.add((source, destination))
                if symmetric:
                    self._blocked.add((destination, source))
        self._loop.record(f"split {sorted(side_a)} {side_b_list} symmetric={symmetric}")

    def isolate(self, endpoint: str, others: Iterable[str]) -> None:
        self.split([endpoint], others, symmetric=True)

    def heal(self) -> None:
        self._blocked.clear()
        self._loop.record("heal")

    def blocked(self, source: str, destination: str) -> bool:
        return (source, destination) in self._blocked

    def blocked_links(self) -> list[tuple[str, str]]:
        return sorted(self._blocked)

    # -- delivery ---------------------------------------------------------------------

    def _delay_ns(self) -> int:
        faults = self.faults
        spread = max(faults.delay_ns_mean - faults.delay_ns_min, 0)  # mean below min: fixed
        # Exponential around the mean, capped so one message cannot stall a run.
        extra = int(self._rng.expovariate(1.0) * spread) if spread else 0
        delay = faults.delay_ns_min + min(extra, 10 * spread)
        if faults.tail_probability and self._rng.random() < faults.tail_probability:
            delay += self._rng.randrange(faults.tail_ns_max + 1)
        return delay

    def send(
        self, source: str, destination: str, payload: object, label: str,
        *, duplicable: bool = True,
    ) -> None:
        """Sends one message; ``label`` is its deterministic description for the trace.

        ``duplicable=False`` for client links: clients speak TCP, which never duplicates.
        """
        self.sent += 1
        if self.blocked(source, destination):
            self.dropped += 1
            return
        faults = self.faults
        if faults.drop_probability and self._rng.random() < faults.drop_probability:
            self.dropped += 1
            return
        copies = 1
        if (
            duplicable
            and faults.duplicate_probability
            and self._rng.random() < faults.duplicate_probability
        ):
            copies = 2
            self.duplicated += 1
        for _ in range(copies):
            delay = self._delay_ns()
            self._loop.schedule_after(
                delay,
                f"deliver {source}->{destination} {label}",
                lambda: self._arrive(source, destination, payload),
            )

    def _arrive(self, source: str, destination: str, payload: object) -> None:
        if self.blocked(source, destination):
            self.dropped += 1
            return
        self._deliver(source, destination, payload)
