"""The simulator must be able to fail: with a deliberate bug planted in the driver, some
of a handful of seeds must be caught by the checks (FoundationDB tests its own workloads
the same way). Without this, a green sweep could mean a blind checker."""

from __future__ import annotations

import pytest

from quorumdb.sim.cluster import SimConfig, run

MS = 1_000_000


@pytest.mark.parametrize(("mutation", "needle"), [
    ("stale-reads", "linearizability"),
    ("ack-before-commit", "linearizability"),
])
def test_a_planted_bug_is_caught(mutation: str, needle: str) -> None:
    caught = []
    for seed in range(1, 7):
        result = run(SimConfig(seed=seed, safety_ns=4000 * MS, mutation=mutation))
        if any(needle in violation for violation in result.violations):
            caught.append(seed)
    assert caught, f"no seed caught the planted {mutation} bug"
