"""The C measuring tools in ``bench/`` (``openloop``, ``fixed_server``, ``cpu_stalls``)
build with the machine's compiler, run against a real ``quorumdb serve`` and report what
they saw (counts and errors are asserted; timings are not: no timing assertions)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ServerProcess, unique_name

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine")


def openloop(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "bench/openloop.py", "--json", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_open_loop_sends_every_due_request_and_answers_are_items(server: ServerProcess) -> None:
    table = unique_name("openloop")
    report = openloop("--endpoint", server.endpoint, "--table", table, "--workload", "get",
                      "--keys", "200", "--rate", "400", "--duration", "1", "--warmup", "0.25",
                      "--connections", "4")
    # Every request due in the recorded second, and none of the warm-up's, is counted.
    assert report["ops"] == 400
    assert report["errors"] == 0
    assert 0 < report["min_ms"] <= report["p50_ms"] <= report["p99_ms"] <= report["max_ms"]


def test_closed_loop_puts_with_one_connection(server: ServerProcess) -> None:
    table = unique_name("openloop")
    report = openloop("--endpoint", server.endpoint, "--table", table, "--workload", "put",
                      "--keys", "50", "--duration", "0.5", "--warmup", "0", "--connections",
                      "1")
    assert report["ops"] > 10
    assert report["errors"] == 0


def test_error_answers_are_counted_as_errors(server: ServerProcess) -> None:
    # No setup, and a table that does not exist: every answer is a 400
    # (ResourceNotFoundException), and every one is counted.
    table = unique_name("missing")
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.path.insert(0, 'bench');"
         "import openloop, json; from quorumdb.bench.run import BenchOptions;"
         f"o = BenchOptions(endpoint={server.endpoint!r}, workload='get', rate=100.0,"
         f" duration_s=0.5, warmup_s=0.0, keys=10, table={table!r});"
         "print(json.dumps(openloop.run(o, 2, skip_setup=True)))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == report["ops"] == 50
    assert "ResourceNotFoundException" in done.stderr  # the first error, shown


def test_platform_floor_runs_against_the_c_server() -> None:
    report = openloop("--platform-floor", "--rate", "500", "--duration", "0.5", "--warmup",
                      "0", "--connections", "2")
    assert report["ops"] == 250
    assert report["errors"] == 0
    assert report["workload"].startswith("platform floor")


def test_cpu_stalls_reports_every_cpu() -> None:
    done = subprocess.run([sys.executable, "bench/cpu_stalls.py", "--seconds", "0.3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    lines = done.stdout.splitlines()
    assert len(lines) == len(os.sched_getaffinity(0))
    for line in lines:
        assert re.match(r"cpu \d+: 0.3 s, gaps over 0.25 ms \d+, .* longest [\d.]+ ms; "
                        r"[\d.]+% of the time", line), line


def test_latency_smoke_run_measures_every_row_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "performance.md"
    done = subprocess.run([sys.executable, "bench/latency.py", "--smoke", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| server")]
    assert [row.split(" | ")[:2] for row in rows] == [
        ["| quorumdb serve --data-dir (durable)", "GetItem"],
        ["| quorumdb serve --data-dir (durable)", "PutItem"],
        ["| quorumdb serve --in-memory", "GetItem"],
        ["| quorumdb serve --in-memory", "PutItem"],
        ["| HTTP stack (`ceiling_server.py`)", "GetItem"],
        ["| HTTP stack (`ceiling_server.py`)", "PutItem"],
        ["| machine floor (`fixed_server.c`)", "GetItem"],
        ["| machine floor (`fixed_server.c`)", "PutItem"]]
    # quorumdb's rows: the median of --repeat (2 with --smoke) runs, their range beside it
    spread = re.compile(r"^(\d+\.\d{3}) \((\d+\.\d{2,3})-(\d+\.\d{2,3})\)$")
    for row in rows:
        assert row.rstrip(" |").endswith("| 0"), row  # no errors
        assert float(row.split(" | ")[-2]) >= 0, row  # how late the client sent, p99
        cells = row.split(" | ")
        for cell in (cells[2], cells[7]):  # c=1 p50, open-loop p99
            match = spread.match(cell)
            assert (match is not None) == row.startswith("| quorumdb"), row
            if match:
                median, low, high = (float(g) for g in match.groups())
                assert low - 0.01 <= median <= high + 0.01, row  # the range is rounded
    assert not out.exists()
    # how this machine's idle CPUs wait is named with the figures it shapes
    assert re.search(r"Idle: cpuidle driver `[\w-]+`, governor `[\w-]+`", done.stdout), \
        done.stdout


def _latency() -> Any:
    """``bench/latency.py`` as a module (bench/ is not a package)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import latency
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return latency


def test_the_median_run_is_one_of_the_runs() -> None:
    latency = _latency()
    runs = [{"p99_ms": 7.0, "p50_ms": 1}, {"p99_ms": 5.0, "p50_ms": 2},
            {"p99_ms": 6.0, "p50_ms": 3}]
    assert latency.median_run(runs, "p99_ms") is runs[2]
    assert latency.median_run(runs[:2], "p99_ms") is runs[0]  # the upper of two
    assert latency.median_run(runs[1:2], "p99_ms") is runs[1]


def test_halt_polling_is_set_for_the_run_and_put_back_whatever_happens(
        tmp_path: Path) -> None:
    latency = _latency()
    knob = tmp_path / "guest_halt_poll_ns"
    knob.write_text("0\n")
    with latency.halt_polling(200_000, knob):
        assert knob.read_text() == "200000"
        assert latency.idle_policy(knob, tmp_path).endswith("guest halt polling 200,000 ns")
    assert knob.read_text() == "0"
    with pytest.raises(RuntimeError), latency.halt_polling(50_000, knob):
        assert knob.read_text() == "50000"
        raise RuntimeError("a run that fails")
    assert knob.read_text() == "0"
    assert latency.idle_policy(knob, tmp_path) == (
        "cpuidle driver `none`, governor `none`; guest halt polling 0 ns "
        "(an idle CPU halts at once)")
    with latency.halt_polling(None, tmp_path / "absent"):  # the machine as it is
        pass
    assert latency.idle_policy(tmp_path / "absent", tmp_path) == (
        "cpuidle driver `none`, governor `none`")
