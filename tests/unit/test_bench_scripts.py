"""The measuring scripts in ``bench/`` run and report (their figures are not asserted:
no timing assertions in tests)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from conftest import free_port, wait_for_port

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


def test_request_cpu_durable_put_runs_the_engine_as_serve_opens_it() -> None:
    out = run_script("bench/request_cpu.py", "--workload", "put", "--requests", "640", "--disk",
                     "--keys", "300")
    match = re.search(r"put \(disk\): [\d,]+ requests/s wall, ([\d.]+) us CPU per request "
                      r"\(\+ ([\d.]+) in the LMDB applier process\), (\d+) flushes", out)
    assert match, out
    # the applier's share is read in clock ticks (10 ms): 0.0 on a run this short
    assert float(match.group(1)) > 0 and int(match.group(3)) > 0


def test_compare_writes_more_workloads_into_a_section_of_their_own(tmp_path: Path) -> None:
    out_md = tmp_path / "performance.md"
    kept = "<!-- compare:begin -->\nthe default table\n<!-- compare:end -->\n"
    out_md.write_text("# Performance\n\n" + kept)
    run_script("bench/compare.py", "--servers", "quorumdb-mem",
               "--workloads", "batch-write,ycsb-a,ycsb-f", "--duration", "1", "--keys", "300",
               "--concurrency", "4", "--processes", "1", "--quiet-wait", "0",
               "--out", str(out_md), "--section", "more", "--title", "More workloads")
    text = out_md.read_text()
    assert kept in text  # the default section is not touched
    section = text[text.index("<!-- more:begin -->"):text.index("<!-- more:end -->")]
    assert "## More workloads (" in section
    for name in ("BatchWriteItem (25 items)", "YCSB A (50% GetItem, 50% UpdateItem",
                 "YCSB F (50% GetItem, 50% GetItem + conditional UpdateItem)"):
        row = next(line for line in section.splitlines()
                   if line.startswith("| quorumdb serve --in-memory | " + name))
        cells = [cell.strip() for cell in row.split("|")]
        assert int(cells[3].replace(",", "")) > 0 and cells[7] == "0", row  # ops/s, errors


def test_compare_refuses_an_unknown_workload() -> None:
    done = subprocess.run([sys.executable, "bench/compare.py", "--workloads", "put,nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown workloads ['nope']" in done.stderr


def test_loop_timing_reports_what_the_loop_waited_on(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "bench/loop_timing.py", "--port", str(port),
                             "--data-dir", str(tmp_path / "data")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        bench = ("-m", "quorumdb", "bench", "--endpoint", f"http://127.0.0.1:{port}",
                 "--workload", "put", "--concurrency", "4", "--keys", "300")
        run_script(*bench, "--duration", "1")
        proc.send_signal(signal.SIGUSR2)  # holds the loop 3 x --stall-ms: the watchdog tells
        run_script(*bench, "--duration", "0.2", "--no-preload")  # answered after the stall
        proc.send_signal(signal.SIGTERM)  # reports once more on the way out
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    text = out.decode()
    for name in ("WAL write + fdatasync", "group commit (_start_flush)",
                 "requests (data_received)", "1 ms loop timer, late by"):
        match = re.search(re.escape(name) + r": n=(\d+) total [\d.]+ s, p50 [\d.]+ ms", text)
        assert match and int(match.group(1)) > 0, text
    sizes = re.search(r"group commit size: n=(\d+) total (\d+) writes, p50 (\d+) writes", text)
    assert sizes and int(sizes.group(1)) > 0 and int(sizes.group(3)) >= 1, text
    # 300 preloaded + the runs' writes, each counted in exactly one group commit
    assert int(sizes.group(2)) >= 300, text
    stall = re.search(r"the event loop is (\d+) ms late; it is in:\n(.*?)\n--", text, re.S)
    assert stall and int(stall.group(1)) >= 50 and "in _stall" in stall.group(2), text
