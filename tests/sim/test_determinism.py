"""Determinism is tested, not assumed (FoundationDB, STYLE.md habit 10): a seed rerun in
fresh processes with different ``PYTHONHASHSEED`` values must produce the same trace
digest, and so must a rerun in this process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from quorumdb.sim.cluster import SimConfig, run

MS = 1_000_000
ARGS = ["--duration-ms", "2500", "--quiet"]


def _verdict_in_fresh_process(seed: int, swarm: bool, hash_seed: str) -> str:
    command = [sys.executable, "-m", "quorumdb.sim", "--seed", str(seed), *ARGS]
    if swarm:
        command.append("--swarm")
    environment = dict(os.environ, PYTHONHASHSEED=hash_seed)
    completed = subprocess.run(command, capture_output=True, text=True, env=environment,
                               timeout=120, check=False)
    lines = completed.stdout.strip().splitlines()
    assert lines, completed.stderr
    return lines[-1]


@pytest.mark.parametrize(("seed", "swarm"), [(3, False), (8, True)])
def test_seed_replays_identically_in_fresh_processes(seed: int, swarm: bool) -> None:
    verdicts = {_verdict_in_fresh_process(seed, swarm, hash_seed)
                for hash_seed in ("0", "1", "4242")}
    assert len(verdicts) == 1, verdicts
    (verdict,) = verdicts
    assert f"seed={seed} " in verdict and "digest=" in verdict
    in_process = run(SimConfig(seed=seed, swarm=swarm, safety_ns=2500 * MS))
    assert f"digest={in_process.digest}" in verdict


def test_different_seeds_give_different_traces() -> None:
    first = run(SimConfig(seed=1, safety_ns=500 * MS))
    second = run(SimConfig(seed=2, safety_ns=500 * MS))
    assert first.digest != second.digest
