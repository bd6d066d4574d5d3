"""Smoke test of ``quorumdb bench`` against the real server: every workload runs for one
second and gets only valid answers. No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from quorumdb.bench.run import BenchOptions, run
from quorumdb.bench.workloads import MIXES, default_distribution, default_group_size


@pytest.mark.parametrize("workload", sorted(MIXES))
def test_every_workload_runs_against_the_server(server: Any, workload: str) -> None:
    group = default_group_size(workload, 10)
    options = BenchOptions(
        endpoint=server.endpoint, workload=workload, concurrency=4, duration_s=1.0,
        processes=2, item_size=200, keys=300, distribution=default_distribution(workload),
        group_size=group, table=f"bench-smoke-{os.getpid()}-g{group}",
        preload=workload not in ("put", "batch-write"), timeout_s=10.0)
    report = run(options)
    assert report["errors"] == 0, report["errors_by_type"]
    assert report["ops"] > 0
    assert set(report["by_op"]) == {op for op, _ in MIXES[workload]}
    if workload in ("get", "query", "ycsb-c", "ycsb-e"):
        assert report["not_found"] == 0  # the preload wrote every key read


def test_open_loop_and_json_output_of_the_command(server: Any) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "quorumdb", "bench", "--endpoint", server.endpoint,
         "--workload", "ycsb-b", "--keys", "200", "--duration", "1", "--rate", "200",
         "--concurrency", "4", "--table", f"bench-smoke-json-{os.getpid()}", "--json"],
        capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert {"ops_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "errors",
            "ops", "options"} <= set(report)
    assert report["mode"] == "open" and report["ops"] > 0 and report["errors"] == 0
    assert "secret_key" not in report["options"]
