"""The measuring scripts in ``bench/`` run and report (their figures are not asserted:
no timing assertions in tests)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_script(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout


def test_disk_flush_reports_sync_latencies_and_removes_its_files(tmp_path: Path) -> None:
    out = run_script("bench/disk_flush.py", "--seconds", "0.3", "--background-mb-s", "4",
                     "--chunk-kb", "256", "--dir", str(tmp_path))
    match = re.search(r"background 4 MB/s \(256 KB chunks\): n=(\d+) p50 ([\d.]+) ms", out)
    assert match, out
    assert int(match.group(1)) > 0 and float(match.group(2)) > 0
    assert list(tmp_path.iterdir()) == []


def test_request_cpu_reports_cpu_per_request() -> None:
    out = run_script("bench/request_cpu.py", "--workload", "get", "--requests", "400")
    match = re.search(r"get \(memory\): [\d,]+ requests/s wall, ([\d.]+) us CPU per request",
                      out)
    assert match, out
    assert float(match.group(1)) > 0
