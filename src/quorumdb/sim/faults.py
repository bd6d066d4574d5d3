"""Fault plans: the rates a run uses, fixed or drawn per seed (swarm testing).

Theory of operation (TigerBeetle's VOPR, "swarm testing" by Groce et al.): a single set
of fault rates explores one corner of the space; drawing the rates themselves from the
seed — some runs with no drops but many crashes, others with heavy splits and no disk
faults — reaches corners a fixed mix never does. ``swarm_plan`` draws from its own
``swarm`` stream so that the rates are a pure function of the seed, and the run prints
them first so that a failure report says what the run was doing.

``swarm_knobs`` does the same for the sizes that bound the log (``Limits``' in-flight
window, batch, uncommitted and in-memory entries) and for the driver's checkpoint policy
(how often a node checkpoints, how much tail it keeps, when it rewrites its log file),
from a stream of its own (``swarm/knobs``, so drawing them changed no seed's fault plan).
Extreme but valid values are drawn on purpose — a checkpoint every slot with no tail kept
sends a snapshot to any member a single slot behind; a window of one entry, a leader that
holds one uncommitted entry — so that snapshot install and back-pressure run often. Timing
knobs stay as configured: their relations are the protocol's (``limits.py``).

Clock drift is bounded by the core's ``max_drift_ns`` over a lease: two clocks whose rates
differ by ``d`` parts per million drift apart by ``lease_ns * d / 1e6`` over one lease, so
each node's drift is drawn within ``±max_drift_ns / lease_ns / 2`` (the pairwise difference
then stays inside the bound) — see ``drift_bound_ppm``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import msgspec

from quorumdb.replication import Limits
from quorumdb.sim.clock import PPM
from quorumdb.sim.disk import DiskFaults
from quorumdb.sim.network import MS, NetworkFaults
from quorumdb.sim.node import CheckpointPolicy

SECOND = 1_000 * MS


def drift_bound_ppm(limits: Limits) -> int:
    """The largest per-node |drift| keeping every pair of clocks within the core's bound."""
    return (limits.max_drift_ns * PPM) // limits.lease_ns // 2


@dataclass(frozen=True)
class FaultPlan:
    network: NetworkFaults = field(default_factory=NetworkFaults)
    disk: DiskFaults = field(default_factory=DiskFaults)
    crash_interval_ns_mean: int = 0  # 0: no crashes
    downtime_ns_max: int = 1 * SECOND
    split_interval_ns_mean: int = 0  # 0: no network splits
    split_ns_max: int = 2 * SECOND
    asymmetric_probability: float = 0.3
    transfer_interval_ns_mean: int = 0  # 0: no leadership transfers
    drift_fraction: float = 1.0  # of drift_bound_ppm
    reset_clock_on_restart: bool = True

    def describe(self) -> str:
        def every(interval_ns: int) -> str:
            return "never" if interval_ns == 0 else f"~{interval_ns / SECOND:.2f}s"

        return (
            f"network[{self.network.describe()}] disk[{self.disk.describe()}] "
            f"crash={every(self.crash_interval_ns_mean)} "
            f"downtime_max={self.downtime_ns_max / SECOND:.2f}s "
            f"split={every(self.split_interval_ns_mean)} "
            f"split_max={self.split_ns_max / SECOND:.2f}s "
            f"asym={self.asymmetric_probability:.2f} "
            f"transfer={every(self.transfer_interval_ns_mean)} "
            f"drift={self.drift_fraction:.2f} reset_clock={self.reset_clock_on_restart}"
        )


QUIET_PLAN = FaultPlan()

DEFAULT_PLAN = FaultPlan(
    network=NetworkFaults(
        delay_ns_min=1 * MS,
        delay_ns_mean=3 * MS,
        tail_probability=0.03,
        tail_ns_max=40 * MS,
        drop_probability=0.02,
        duplicate_probability=0.01,
    ),
    disk=DiskFaults(torn_probability=0.3, bit_flip_probability=0.2),
    crash_interval_ns_mean=2 * SECOND,
    downtime_ns_max=1 * SECOND,
    split_interval_ns_mean=3 * SECOND,
    split_ns_max=2 * SECOND,
    transfer_interval_ns_mean=4 * SECOND,
)


def swarm_plan(rng: random.Random) -> FaultPlan:
    """Draws every rate; each fault is switched off entirely in some seeds."""

    def maybe(probability_on: float, low: float, high: float) -> float:
        return rng.uniform(low, high) if rng.random() < probability_on else 0.0

    def interval(probability_on: float, low_s: float, high_s: float) -> int:
        return int(rng.uniform(low_s, high_s) * SECOND) if rng.random() < probability_on else 0

    network = NetworkFaults(
        delay_ns_min=rng.choice([0, 1, 2]) * MS + 100_000,
        delay_ns_mean=rng.choice([2, 4, 8]) * MS,
        tail_probability=maybe(0.6, 0.0, 0.2),
        tail_ns_max=rng.choice([20, 50, 100]) * MS,
        drop_probability=maybe(0.6, 0.0, 0.15),
        duplicate_probability=maybe(0.5, 0.0, 0.1),
    )
    disk = DiskFaults(
        sync_ns_min=rng.choice([100_000, 500_000]),
        sync_ns_max=rng.choice([1, 3, 8]) * MS,
        keep_unsynced_probability=rng.uniform(0.0, 0.9),
        torn_probability=maybe(0.7, 0.1, 1.0),
        bit_flip_probability=maybe(0.4, 0.1, 0.6),
    )
    return replace(
        QUIET_PLAN,
        network=network,
        disk=disk,
        crash_interval_ns_mean=interval(0.75, 0.3, 4.0),
        downtime_ns_max=int(rng.uniform(0.1, 2.0) * SECOND),
        split_interval_ns_mean=interval(0.7, 0.3, 4.0),
        split_ns_max=int(rng.uniform(0.1, 3.0) * SECOND),
        asymmetric_probability=rng.uniform(0.0, 0.6),
        transfer_interval_ns_mean=interval(0.5, 0.5, 5.0),
        drift_fraction=rng.choice([0.0, 0.5, 1.0]),
        reset_clock_on_restart=rng.random() < 0.7,
    )


def swarm_knobs(rng: random.Random, base: Limits) -> tuple[Limits, CheckpointPolicy]:
    """Draws the log, window and batch sizes of ``base`` and a checkpoint policy.

    Every draw satisfies ``Limits``' relations and ``CheckpointPolicy.check`` (a leader
    checkpoints before its in-memory log refuses proposals), so no seed stalls by design.
    """
    per_accept = rng.choice([1, 1, 2, 3, 4, 8])
    inflight = per_accept * rng.choice([1, 1, 2, 4]) + rng.choice([0, 0, 1, 3])
    uncommitted = rng.choice([1, 2, 3, 4, 8, 16, 32])
    in_memory = uncommitted + rng.choice([1, 2, 4, 8, 16, 64])
    limits = msgspec.structs.replace(
        base,
        max_entries_per_accept=per_accept,
        max_inflight_entries=inflight,
        max_uncommitted_entries=uncommitted,
        max_log_entries_in_memory=in_memory,
    )
    every = min(rng.choice([1, 2, 3, 4, 6, 12, 12, 24, 64]), in_memory)
    keep = min(rng.choice([0, 0, 1, 2, 4, every // 2, every - 1]), every - 1)
    rewrite = rng.choice([2, 10, 40, 400])
    return limits, CheckpointPolicy(every, keep, rewrite)


def describe_knobs(limits: Limits, checkpoint: CheckpointPolicy) -> str:
    return (
        f"limits[inflight={limits.max_inflight_entries} "
        f"per_accept={limits.max_entries_per_accept} "
        f"uncommitted={limits.max_uncommitted_entries} "
        f"in_memory={limits.max_log_entries_in_memory}] "
        f"log[{checkpoint.describe()}]"
    )
