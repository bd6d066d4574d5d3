"""Pinned runs that once failed, each with the bug it found (and its golden test).

Each run is written out in full — fault plan, limits, checkpoint policy — rather than as a
swarm seed, so that it keeps meaning the same run when the swarm's draws change; the
comment says which ``python -m quorumdb.sim`` invocation it was found with.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import pytest

from quorumdb.replication import SIMULATION_LIMITS
from quorumdb.sim.__main__ import verdict_line
from quorumdb.sim.cluster import SimConfig, run
from quorumdb.sim.disk import DiskFaults
from quorumdb.sim.faults import FaultPlan
from quorumdb.sim.network import NetworkFaults
from quorumdb.sim.node import CheckpointPolicy

MS = 1_000_000


@dataclass(frozen=True)
class Pinned:
    name: str
    config: SimConfig


PINNED = [
    # `python -m quorumdb.sim --seed 602 --swarm` (checkpoint every 3 slots, no tail): a
    # leader (n2) proposed an update and, behind it, a failed conditional put on the same
    # key, then lost leadership with both only in its own log; the next leader (n3) chose
    # a delete at the update's slot; the one after (n1) revived n2's put image at the next
    # slot — an image computed on the update — so a read after the acknowledged delete
    # saw the updated item (no linearization). Fixed by Entry.prev / prefix-closed
    # acceptance (golden: tests/replication/testdata/stale_entry_not_revived.txt).
    Pinned("stale image revived after a conflicting slot", SimConfig(
        seed=602,
        plan=FaultPlan(
            network=NetworkFaults(delay_ns_min=2_100_000, delay_ns_mean=4_000_000,
                                  tail_probability=0.03683340681006506,
                                  tail_ns_max=20_000_000,
                                  drop_probability=0.01260914388340636,
                                  duplicate_probability=0.021015625583959575),
            disk=DiskFaults(sync_ns_min=500_000, sync_ns_max=8_000_000,
                            keep_unsynced_probability=0.5450673685259487,
                            torn_probability=0.4733465740040398,
                            bit_flip_probability=0.42796081714764367),
            crash_interval_ns_mean=634_726_157, downtime_ns_max=616_450_400,
            split_interval_ns_mean=1_239_074_129, split_ns_max=1_231_908_460,
            asymmetric_probability=0.04805139693611715, transfer_interval_ns_mean=0,
            drift_fraction=0.0, reset_clock_on_restart=False),
        limits=msgspec.structs.replace(
            SIMULATION_LIMITS, max_inflight_entries=32, max_entries_per_accept=8,
            max_uncommitted_entries=16, max_log_entries_in_memory=18),
        checkpoint=CheckpointPolicy(every_slots=3, keep_tail_slots=0,
                                    rewrite_after_records=400),
        safety_ns=10_000 * MS,
    )),
]


@pytest.mark.parametrize("pinned", PINNED, ids=[pinned.name for pinned in PINNED])
def test_pinned_run_passes(pinned: Pinned) -> None:
    result = run(pinned.config)
    assert result.passed, (f"{verdict_line(result)}\nplan: {result.describe_choices()}\n"
                           + "\n".join(result.violations))
    assert result.acknowledged_writes > 0
