"""CI's bounded sweep of simulator seeds (issue 4 point 5).

``QUORUMDB_SIM_SEEDS`` sets how many seeds run (default 6, well under a minute); every
other seed is a swarm seed that draws its own fault rates, log/window/batch sizes and
checkpoint policy (``faults.swarm_plan``, ``faults.swarm_knobs``). ``QUORUMDB_SIM_FIRST_SEED``
moves the window, so a nightly job can sweep fresh seeds. A failing seed prints the
command that reproduces it exactly.
"""

from __future__ import annotations

import os

import pytest

from quorumdb.sim.__main__ import reproduce_command, verdict_line
from quorumdb.sim.cluster import SimConfig, run

SEED_COUNT = int(os.environ.get("QUORUMDB_SIM_SEEDS", "6"))
FIRST_SEED = int(os.environ.get("QUORUMDB_SIM_FIRST_SEED", "1"))
SAFETY_NS = int(os.environ.get("QUORUMDB_SIM_DURATION_MS", "6000")) * 1_000_000


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + SEED_COUNT))
def test_seed_runs_clean(seed: int) -> None:
    swarm = seed % 2 == 0
    result = run(SimConfig(seed=seed, swarm=swarm, safety_ns=SAFETY_NS))
    if not result.passed:
        extra = ["--duration-ms", str(SAFETY_NS // 1_000_000)]
        details = "\n".join(result.violations)
        pytest.fail(
            f"{verdict_line(result)}\nplan: {result.describe_choices()}\n{details}\n"
            f"reproduce with: {reproduce_command(seed, swarm, extra)}",
            pytrace=False,
        )
    assert result.acknowledged_writes > 0, "a run that acknowledges nothing checks nothing"
