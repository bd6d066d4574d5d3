"""quorumdb side by side with the DynamoDB-compatible peers the registries carry.

In one run: installs the peers into a throwaway directory (moto's server mode from PyPI
into its own venv, dynalite from npm; reused when already there at the pinned version),
then starts one server at a time on a free 127.0.0.1 port -- the ceiling (a server on
quorumdb's HTTP stack that answers with fixed responses), ``quorumdb serve`` durable and
in memory, dynalite in memory and on disk, moto -- runs the same ``quorumdb bench``
workloads against it, stops it, and finally writes a Markdown table (ops/s, p50, p99,
p99.9, and quorumdb's ops/s divided by each row's) with the date, the machine and the
exact commands into the ``<!-- compare:begin -->`` ... ``<!-- compare:end -->`` section of
``docs/performance.md``, and prints it.

    .venv/bin/python bench/compare.py --duration 8 --keys 100000 --concurrency 32 --processes 2
    .venv/bin/python bench/compare.py --smoke      # regression guard, about half a minute

``--smoke`` runs 2 s per workload against the ceiling and ``quorumdb serve --in-memory``
only, installs nothing, writes no file, and exits non-zero only if a run reports errors
or zero operations (never on timings). A peer that cannot be installed or started is a
row saying so, not a crash. Every subprocess has a timeout; servers run in their own
process group and are stopped (SIGTERM, then SIGKILL) after their runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ENV = dict(os.environ)  # the subprocesses' environment; --src prepends to PYTHONPATH
MOTO_VERSION = "5.2.5"
DYNALITE_VERSION = "4.0.0"
ALL_WORKLOADS = ("put", "get", "query")  # the performance issue's targets: the default run
# more of quorumdb bench's workloads, on request (--workloads)
EXTRA_WORKLOADS = ("batch-write", "ycsb-a", "ycsb-b", "ycsb-c", "ycsb-d", "ycsb-e", "ycsb-f")
WORKLOAD_NAMES = {"put": "PutItem", "get": "GetItem", "query": "Query (10 items)",
                  "batch-write": "BatchWriteItem (25 items)",
                  "ycsb-a": "YCSB A (50% GetItem, 50% UpdateItem, zipfian)",
                  "ycsb-b": "YCSB B (95% GetItem, 5% UpdateItem, zipfian)",
                  "ycsb-c": "YCSB C (GetItem, zipfian)",
                  "ycsb-d": "YCSB D (95% GetItem of the latest, 5% PutItem)",
                  "ycsb-e": "YCSB E (95% Query of 1-100 items, 5% PutItem)",
                  "ycsb-f": "YCSB F (50% GetItem, 50% GetItem + conditional UpdateItem)"}
TABLES = {"put": "bench", "get": "bench", "query": "benchq", "batch-write": "benchb",
          **{workload: "benchy" for workload in EXTRA_WORKLOADS if workload.startswith("ycsb-")}}
READY_TIMEOUT_S = 60.0
# After a run with errors (a server still working through requests its client gave up
# on, as moto after YCSB E's queries): how long the next run waits for it to answer.
SETTLE_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 15.0
BENCH_SLACK_S = 600.0 + 180.0  # bench's own preload bound plus setup and reporting
INSTALL_TIMEOUT_S = 900.0
SERVER_ORDER = ("ceiling", "quorumdb", "quorumdb-workers", "quorumdb-mem", "dynalite-mem",
                "dynalite-disk",
                "moto")
BASELINE = "quorumdb"  # the ratio column divides this server's ops/s by each row's
BASELINE_MEM = "quorumdb-mem"
BASELINE_WORKERS = "quorumdb-workers"


def log(message: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def shell(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(part) for part in argv)


def cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(text.replace("|", "/").split())


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- peers ---------------------------------------------------------------------------------

@dataclass
class Peers:
    """Where the installed peers are, or why one is unavailable."""

    moto_server: Path | None = None
    moto_version: str = ""
    moto_note: str = ""
    dynalite_bin: Path | None = None
    dynalite_version: str = ""
    dynalite_note: str = ""
    node: str | None = None


def _run_logged(argv: Sequence[str], log_path: Path, timeout: float) -> tuple[bool, str]:
    """Runs an install step with output in ``log_path``; returns (ok, short reason)."""
    log(f"$ {shell(argv)}")
    with log_path.open("ab") as out:
        out.write(f"$ {shell(argv)}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as error:
            return False, f"{argv[0]}: {error}"
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return False, f"timed out after {timeout:.0f} s"
    if code != 0:
        last = [line for line in tail(log_path, 40).splitlines() if "ERR" in line.upper()]
        return False, f"exit {code}: {(last or [''])[-1].strip()[:160]}"
    return True, ""


def _moto_installed_version(venv: Path) -> str:
    python = venv / "bin" / "python"
    if not python.exists():
        return ""
    try:
        done = subprocess.run([str(python), "-c",
                               "import importlib.metadata as m; print(m.version('moto'))"],
                              capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def install_moto(peers_dir: Path, peers: Peers) -> None:
    venv = peers_dir / "moto-venv"
    server = venv / "bin" / "moto_server"
    installed = _moto_installed_version(venv)
    if installed != MOTO_VERSION or not server.exists():
        if not venv.exists():
            ok, why = _run_logged(["python3", "-m", "venv", str(venv)],
                                  peers_dir / "moto-install.log", 300)
            if not ok:
                peers.moto_note = f"venv creation failed ({why})"
                return
        ok, why = _run_logged([str(venv / "bin" / "pip"), "install", "--quiet",
                               f"moto[server]=={MOTO_VERSION}"],
                              peers_dir / "moto-install.log", INSTALL_TIMEOUT_S)
        if not ok:
            peers.moto_note = f"pip install moto[server]=={MOTO_VERSION} failed ({why})"
            return
        installed = _moto_installed_version(venv)
    else:
        log(f"reusing moto {installed} in {venv}")
    if not server.exists():
        peers.moto_note = "moto_server missing after install"
        return
    peers.moto_server, peers.moto_version = server, installed


def install_dynalite(peers_dir: Path, peers: Peers) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        peers.dynalite_note = "node or npm not found on PATH"
        return
    peers.node = node
    prefix = peers_dir / "dynalite"
    package = prefix / "node_modules" / "dynalite" / "package.json"
    script = prefix / "node_modules" / "dynalite" / "cli.js"

    def version() -> str:
        try:
            return str(json.loads(package.read_text())["version"])
        except (OSError, ValueError, KeyError):
            return ""

    if version() != DYNALITE_VERSION or not script.exists():
        ok, why = _run_logged([npm, "install", "--prefix", str(prefix), "--no-audit",
                               "--no-fund", f"dynalite@{DYNALITE_VERSION}"],
                              peers_dir / "dynalite-install.log", INSTALL_TIMEOUT_S)
        if not ok:
            peers.dynalite_note = f"npm install dynalite@{DYNALITE_VERSION} failed ({why})"
            return
    else:
        log(f"reusing dynalite {DYNALITE_VERSION} in {prefix}")
    if not script.exists():
        peers.dynalite_note = "dynalite's cli.js missing after install"
        return
    peers.dynalite_bin, peers.dynalite_version = script, version()


# -- servers -------------------------------------------------------------------------------

@dataclass
class ServerSpec:
    key: str
    label: str
    command: Callable[[int, Path], list[str]] | None  # (port, scratch dir) -> argv
    unavailable: str = ""


def server_specs(peers: Peers) -> dict[str, ServerSpec]:
    ceiling = str(REPO / "bench" / "ceiling_server.py")
    specs = [
        ServerSpec("ceiling", "ceiling (fixed answers, same HTTP stack)",
                   lambda port, _d: [PYTHON, ceiling, "--host", "127.0.0.1",
                                     "--port", str(port)]),
        ServerSpec("quorumdb", "quorumdb serve (durable)",
                   lambda port, d: [PYTHON, "-m", "quorumdb", "serve", "--host", "127.0.0.1",
                                    "--port", str(port), "--data-dir", str(d / "data")]),
        ServerSpec("quorumdb-workers", "quorumdb serve --workers 1 (durable)",
                   lambda port, d: [PYTHON, "-m", "quorumdb", "serve", "--host", "127.0.0.1",
                                    "--port", str(port), "--data-dir", str(d / "data"),
                                    "--workers", "1"]),
        ServerSpec("quorumdb-mem", "quorumdb serve --in-memory",
                   lambda port, _d: [PYTHON, "-m", "quorumdb", "serve", "--host",
                                     "127.0.0.1", "--port", str(port), "--in-memory"]),
    ]
    node, dynalite = peers.node, peers.dynalite_bin
    dynalite_label = f"dynalite {peers.dynalite_version or DYNALITE_VERSION}"
    if node is not None and dynalite is not None:
        base = [node, str(dynalite), "--host", "127.0.0.1", "--createTableMs", "0"]
        specs += [
            ServerSpec("dynalite-mem", f"{dynalite_label} (in memory)",
                       lambda port, _d: [*base, "--port", str(port)]),
            ServerSpec("dynalite-disk", f"{dynalite_label} (on disk, --path)",
                       lambda port, d: [*base, "--port", str(port), "--path",
                                        str(d / "leveldb")]),
        ]
    else:
        why = peers.dynalite_note or "not installed"
        specs += [ServerSpec("dynalite-mem", f"{dynalite_label} (in memory)", None, why),
                  ServerSpec("dynalite-disk", f"{dynalite_label} (on disk, --path)", None,
                             why)]
    moto = peers.moto_server
    moto_label = f"moto {peers.moto_version or MOTO_VERSION} (server mode)"
    if moto is not None:
        specs.append(ServerSpec("moto", moto_label, lambda port, _d: [
            str(moto), "-H", "127.0.0.1", "-p", str(port)]))
    else:
        specs.append(ServerSpec("moto", moto_label, None, peers.moto_note or "not installed"))
    return {spec.key: spec for spec in specs}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    except (OSError, ValueError):
        return 0.0
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def process_cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def child_stats(pid: int) -> list[tuple[int, list[str]]]:
    """(pid, /proc/PID/stat fields after the name) of every live child of ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            out.append((int(entry.name), fields))
    return out


def server_cpu_s(pid: int) -> float:
    """CPU seconds of a server process and its live child processes (``--workers``, the
    durable server's LMDB applier)."""
    return process_cpu_s(pid) + sum((int(fields[11]) + int(fields[12])) / CLOCK_TICKS
                                    for _, fields in child_stats(pid))


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` field in KiB (0 when the process or the field is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_cpu_s() -> float:
    """CPU seconds of this script's reaped children (a bench run and its workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_wait_s: float, threshold_cores: float = 0.25) -> float:
    """Between servers nothing of this run is busy, so the machine's busy CPU is other
    processes'. Waits (at most ``max_wait_s``) until it stays below ``threshold_cores``
    for one second; returns the last reading."""
    deadline = time.monotonic() + max_wait_s
    for second in itertools.count():
        busy0, t0 = machine_busy_s(), time.monotonic()
        time.sleep(1.0)
        load = (machine_busy_s() - busy0) / (time.monotonic() - t0)
        if load < threshold_cores or time.monotonic() >= deadline:
            if load >= threshold_cores:
                log(f"other processes still use {load:.2f} cores; measuring anyway")
            return load
        if second % 15 == 0:
            log(f"other processes use {load:.2f} cores; waiting up to {max_wait_s:.0f} s "
                "for a quieter machine")
    return 0.0  # unreachable: itertools.count() never ends


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kill_group(proc: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to the process group, SIGKILL if it has not ended within ``timeout``."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def _probe(port: int) -> bool:
    """True once anything answers an HTTP POST (ListTables) on the port."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=b"{}", method="POST",
        headers={"Content-Type": "application/x-amz-json-1.0",
                 "X-Amz-Target": "DynamoDB_20120810.ListTables",
                 "X-Amz-Date": "20260101T000000Z",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/"
                                  "dynamodb/aws4_request, SignedHeaders=host, Signature=0"})
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            answer.read()
        return True
    except urllib.error.HTTPError:
        return True  # an HTTP answer of any status means it is serving
    except (OSError, ValueError):
        return False


def wait_serving(proc: subprocess.Popen[Any], port: int,
                 timeout_s: float = READY_TIMEOUT_S) -> str | None:
    """None once the server on ``port`` answers HTTP; else why not (it exited, or
    ``timeout_s`` passed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with {proc.returncode}"
        if _probe(port):
            return None
        time.sleep(0.1)
    return f"not ready within {timeout_s:.0f} s"


class RunningServer:
    def __init__(self, spec: ServerSpec, scratch: Path) -> None:
        assert spec.command is not None
        self.spec = spec
        self.port = free_port()
        self.scratch = scratch
        self.argv = spec.command(self.port, scratch)
        self.log_path = scratch / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log(f"starting {self.spec.label}: {shell(self.argv)}")
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.scratch,
                                         env=ENV, start_new_session=True)
        why = wait_serving(self.proc, self.port)
        if why is not None:
            raise RuntimeError(f"{why}: {tail(self.log_path, 5)}")

    def peak_rss_mib(self) -> float | None:
        """VmHWM of the server's main process (file-backed pages such as LMDB's map count
        while resident) plus the private memory (RssAnon) of its child processes now: the
        LMDB pages they map are the same file pages, counted once."""
        if self.proc is None:
            return None
        peak = status_kib(self.proc.pid, "VmHWM")
        if not peak:
            return None
        return (peak + sum(status_kib(child, "RssAnon")
                           for child, _ in child_stats(self.proc.pid))) / 1024.0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)


# -- runs ----------------------------------------------------------------------------------

@dataclass
class Settings:
    duration: float
    keys: int
    concurrency: int
    processes: int
    item_size: int
    workloads: list[str]
    quiet_wait_s: float = 0.0


@dataclass
class Row:
    server: str
    label: str
    workload: str
    result: dict[str, Any] | None = None
    note: str = ""
    rss_mib: float | None = None
    other_cores: float | None = None  # CPU used by processes outside this run

    @property
    def ok(self) -> bool:
        return (self.result is not None and int(self.result.get("errors", 1)) == 0
                and int(self.result.get("ops", 0)) > 0)


def bench_argv(settings: Settings, workload: str, endpoint: str) -> list[str]:
    return [PYTHON, "-m", "quorumdb", "bench", "--endpoint", endpoint, "--workload", workload,
            "--concurrency", str(settings.concurrency), "--duration", f"{settings.duration:g}",
            "--keys", str(settings.keys), "--item-size", str(settings.item_size),
            "--processes", str(settings.processes), "--table", TABLES[workload], "--json"]


def run_bench(settings: Settings, workload: str, endpoint: str,
              scratch: Path) -> tuple[dict[str, Any] | None, str]:
    argv = bench_argv(settings, workload, endpoint)
    err_path = scratch / f"bench-{workload}.err"
    timeout = settings.duration + BENCH_SLACK_S
    with err_path.open("wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err,
                                stdin=subprocess.DEVNULL, cwd=scratch, env=ENV,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"bench timed out after {timeout:.0f} s"
        finally:
            if proc.poll() is None:  # timed out or interrupted: its workers go too
                _kill_group(proc, 5)
    for line in reversed(out.decode(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                report = json.loads(line)
            except ValueError:
                continue
            if isinstance(report, dict) and "ops_per_s" in report:
                return report, ""
            if isinstance(report, dict) and "error" in report:
                return None, f"bench failed: {report['error']}"
    reason = tail(err_path, 3).replace("\n", " ")[-200:]
    return None, f"bench exit {proc.returncode}, no JSON report: {reason}"


def run_server(spec: ServerSpec, settings: Settings, workdir: Path) -> list[Row]:
    rows = [Row(spec.key, spec.label, w) for w in settings.workloads]
    if spec.command is None:
        for row in rows:
            row.note = f"unavailable: {spec.unavailable}"
        return rows
    if settings.quiet_wait_s > 0:
        wait_for_quiet(settings.quiet_wait_s)
    scratch = Path(tempfile.mkdtemp(prefix=f"{spec.key}-", dir=workdir))
    server = RunningServer(spec, scratch)
    try:
        try:
            server.start()
        except (RuntimeError, OSError) as error:
            log(f"{spec.label} did not start: {error}")
            for row in rows:
                row.note = f"did not start: {str(error)[:160]}"
            return rows
        timed_out = False
        previous: Row | None = None
        for row in rows:
            if timed_out:
                row.note = "skipped: an earlier run against this server timed out"
                continue
            if not server.alive():
                row.note = f"server exited: {tail(server.log_path, 3)[:160]}"
                continue
            if previous is not None and not previous.ok:
                assert server.proc is not None
                waited = wait_serving(server.proc, server.port, SETTLE_TIMEOUT_S)
                if waited is not None:
                    row.note = f"skipped: after the previous run's errors, {waited}"
                    timed_out = True  # the runs after it are skipped without waiting
                    continue
            previous = row
            log(f"{spec.key} {row.workload}: {shell(bench_argv(settings, row.workload, server.endpoint))}")
            assert server.proc is not None
            busy0, server0, bench0 = (machine_busy_s(), server_cpu_s(server.proc.pid),
                                      children_cpu_s())
            wall0 = time.monotonic()
            row.result, row.note = run_bench(settings, row.workload, server.endpoint, scratch)
            wall = time.monotonic() - wall0
            ours = (server_cpu_s(server.proc.pid) - server0) + (children_cpu_s() - bench0)
            row.other_cores = max(0.0, machine_busy_s() - busy0 - ours) / max(wall, 1e-3)
            timed_out = row.note.startswith("bench timed out")
            row.rss_mib = server.peak_rss_mib()
            if row.result is not None:
                log(f"  -> {row.result['ops_per_s']} ops/s, p50 {row.result['p50_ms']} ms, "
                    f"p99 {row.result['p99_ms']} ms, errors {row.result['errors']}")
            else:
                log(f"  -> {row.note}")
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


# -- the report ----------------------------------------------------------------------------

def machine() -> dict[str, str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, timeout=10,
                               check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        nproc = str(os.cpu_count())
    node = "absent"
    if shutil.which("node"):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            node = subprocess.run(["node", "--version"], capture_output=True, text=True,
                                  timeout=10, check=False).stdout.strip()
    return {"nproc": nproc, "cpu": cpu, "ram": ram, "kernel": platform.release(),
            "python": platform.python_version(), "node": node}


def _fmt_ms(value: Any) -> str:
    return f"{float(value):.3f}"


def _ratio(base: Row | None, row: Row) -> str:
    if base is None or not base.ok or not row.ok:
        return "-"
    assert base.result is not None and row.result is not None
    mine = float(row.result["ops_per_s"])
    return f"{float(base.result['ops_per_s']) / mine:.2f}x" if mine > 0 else "-"


def table(rows: list[Row]) -> list[str]:
    by_key = {(row.server, row.workload): row for row in rows}
    lines = ["| server | workload | ops/s | p50 ms | p99 ms | p99.9 ms | errors "
             "| server peak RSS MiB | other CPU load (cores) "
             "| quorumdb durable ÷ this | quorumdb --workers 1 ÷ this "
             "| quorumdb in-memory ÷ this |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        name = WORKLOAD_NAMES.get(row.workload, row.workload)
        if row.result is None:
            lines.append(f"| {row.label} | {name} | {cell(row.note)[:240]} | | | | | | | | | |")
            continue
        result = row.result
        rss = f"{row.rss_mib:,.0f}" if row.rss_mib is not None else "-"
        other = f"{row.other_cores:.2f}" if row.other_cores is not None else "-"
        errors = f"{int(result['errors']):,}"
        if not row.ok:
            errors += " (failed)" if int(result.get("ops", 0)) > 0 else " (zero ops)"
        lines.append(
            f"| {row.label} | {name} | {float(result['ops_per_s']):,.0f} "
            f"| {_fmt_ms(result['p50_ms'])} | {_fmt_ms(result['p99_ms'])} "
            f"| {_fmt_ms(result['p999_ms'])} | {errors} | {rss} | {other} "
            f"| {_ratio(by_key.get((BASELINE, row.workload)), row)} "
            f"| {_ratio(by_key.get((BASELINE_WORKERS, row.workload)), row)} "
            f"| {_ratio(by_key.get((BASELINE_MEM, row.workload)), row)} |")
    return lines


def source_note(src: str | None) -> str:
    """Which quorumdb was measured: a --src directory, or this checkout's commit."""
    if src is not None:
        return f"quorumdb from `{src}` (--src)"
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=30, check=False)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                "--untracked-files=no", "--", "src"],
                               capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "quorumdb from this checkout"
    if head.returncode != 0:
        return "quorumdb from this checkout"
    state = " with uncommitted changes under src/" if dirty.stdout.strip() else ""
    return f"quorumdb at commit {head.stdout.strip()}{state}"


def report(rows: list[Row], settings: Settings, specs: dict[str, ServerSpec], peers: Peers,
           invocation: str, started: datetime.datetime, elapsed_s: float,
           source: str, note: str = "", title: str = "Side by side with the peers") -> str:
    info = machine()
    placeholder = "http://127.0.0.1:PORT"
    lines = [
        f"## {title} ({started:%Y-%m-%d})",
        "",
        "Written by `bench/compare.py` (do not edit by hand; rerun it). Measured "
        f"{started:%Y-%m-%d %H:%M} UTC in {elapsed_s / 60:.1f} min, one server at a time, "
        "each started fresh on a free 127.0.0.1 port and stopped after its runs; client and "
        "server share the machine.",
        "",
        f"Machine: `nproc` = {info['nproc']}, {info['cpu']}, {info['ram']} RAM, Linux "
        f"{info['kernel']}, Python {info['python']}, node {info['node']}; {source}.",
        "",
        *([f"Note: {note}", ""] if note else []),
        f"Workload settings: {settings.duration:g} s per run, {settings.keys:,} keys "
        f"(preloaded for GetItem and Query), {settings.item_size} B items, uniform keys, "
        f"concurrency {settings.concurrency} over {settings.processes} client process(es); "
        "Query reads 10 items of one partition.",
        "",
        *table(rows),
        "",
        "Columns: ops/s and latencies are `quorumdb bench --json`'s (latency measured by the "
        "client, closed loop). *errors* counts non-200 answers. *server peak RSS* is VmHWM "
        "of the server's main process after that run (for quorumdb durable it includes "
        "LMDB's resident mapped pages), plus the private memory of its child processes "
        "(quorumdb durable's LMDB applier, `--workers`' workers; the LMDB pages they map "
        "are the same file pages). *other CPU load* is the CPU that processes outside "
        "this run (not the server, not the bench) used during it, averaged over the run "
        "(setup and preload included), in cores of the machine's "
        f"{os.cpu_count()}: above about 0.1 the row was measured on a shared machine and "
        "reads low. The last three columns divide quorumdb's ops/s for "
        "the same workload by the row's: above 1 quorumdb is faster; on the ceiling row "
        "they show the share of what the HTTP stack and client allow.",
        "",
        "Commands (`PORT` is a free port chosen per server; `python` is the repo's venv):",
        "",
        f"    {invocation}",
        "",
    ]
    for key in SERVER_ORDER:
        spec = specs.get(key)
        if spec is None or not any(row.server == key for row in rows):
            continue
        if spec.command is None:
            lines.append(f"    # {spec.label}: unavailable ({spec.unavailable})")
            continue
        argv = spec.command(0, Path("DATA_DIR"))
        text = shell(argv).replace(" --port 0", " --port PORT").replace(" -p 0", " -p PORT")
        lines.append(f"    # {spec.label}\n    {_shorten(text)}")
    lines.append("")
    for workload in settings.workloads:
        lines.append("    " + _shorten(shell(bench_argv(settings, workload, placeholder))))
    measured = {row.server for row in rows}
    notes = []
    if "moto" in measured:
        notes.append(f"moto[server]=={peers.moto_version or MOTO_VERSION} (PyPI, in its own "
                     f"venv{'' if peers.moto_server else '; unavailable: ' + peers.moto_note})")
    if measured & {"dynalite-mem", "dynalite-disk"}:
        notes.append(f"dynalite@{peers.dynalite_version or DYNALITE_VERSION} (npm"
                     f"{'' if peers.dynalite_bin else '; unavailable: ' + peers.dynalite_note}"
                     "; run with `--createTableMs 0` so that table creation does not wait, "
                     "nothing else differs)")
    if notes:
        lines += ["", "Peers, installed by the script into its peers directory: "
                  + ", ".join(notes) + "."]
    return "\n".join(lines)


def _shorten(command: str) -> str:
    """Replaces the venv's absolute interpreter path and the repo path with short forms."""
    return command.replace(PYTHON, "python").replace(str(REPO) + "/", "")


def write_section(path: Path, body: str, name: str = "compare") -> None:
    """Replaces the section of ``path`` between ``<!-- NAME:begin -->`` and
    ``<!-- NAME:end -->`` (appends it when absent); nothing else."""
    begin_marker, end_marker = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else ""
    section = f"{begin_marker}\n{body}\n{end_marker}"
    start, end = text.find(begin_marker), text.find(end_marker)
    if start != -1 and end != -1 and end > start:
        text = text[:start] + section + text[end + len(end_marker):]
    else:
        text = text + ("" if text.endswith("\n") or not text else "\n") + "\n" + section + "\n"
    path.write_text(text)


# -- the command ---------------------------------------------------------------------------

def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run quorumdb bench against quorumdb, the peers and the ceiling.")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per workload run (default 8; 2 with --smoke)")
    parser.add_argument("--keys", type=int, default=None,
                        help="key count (default 100000, the performance issue's table; "
                             "2000 with --smoke)")
    parser.add_argument("--workloads", default=",".join(ALL_WORKLOADS),
                        help="comma-separated, from "
                             f"{','.join(ALL_WORKLOADS + EXTRA_WORKLOADS)} (default "
                             f"{','.join(ALL_WORKLOADS)})")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--item-size", type=int, default=1024)
    parser.add_argument("--servers", default=None,
                        help=f"comma-separated subset of {','.join(SERVER_ORDER)} "
                             "(default all; ceiling,quorumdb-mem with --smoke)")
    parser.add_argument("--peers-dir", default="/tmp/quorumdb-peers",
                        help="where peers are installed (reused if present)")
    parser.add_argument("--out", default=str(REPO / "docs" / "performance.md"),
                        help="Markdown file whose compare section is replaced")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--section", default="compare",
                        help="the section of --out written: between <!-- SECTION:begin --> "
                             "and <!-- SECTION:end --> (default compare; another name keeps "
                             "the default table, e.g. for --workloads beyond the default)")
    parser.add_argument("--title", default="Side by side with the peers",
                        help="the written section's heading")
    parser.add_argument("--note", default="",
                        help="a sentence added to the report (e.g. what --src contains)")
    parser.add_argument("--quiet-wait", type=float, default=None,
                        help="before each server, wait up to S seconds for other processes "
                             "to use under 0.25 cores (default 120; 0 with --smoke)")
    parser.add_argument("--src", default=None,
                        help="run quorumdb (server, ceiling, bench client) from this source "
                             "directory (prepended to PYTHONPATH), e.g. an exported commit")
    parser.add_argument("--smoke", action="store_true",
                        help="short regression guard: fails only on errors or zero ops")
    args = parser.parse_args(argv)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    known = ALL_WORKLOADS + EXTRA_WORKLOADS
    unknown = [w for w in workloads if w not in known]
    if unknown or not workloads:
        parser.error(f"unknown workloads {unknown}; choose from {','.join(known)}")
    args.workload_list = workloads
    servers = args.servers or ("ceiling,quorumdb-mem" if args.smoke else ",".join(SERVER_ORDER))
    args.server_list = [s.strip() for s in servers.split(",") if s.strip()]
    unknown = [s for s in args.server_list if s not in SERVER_ORDER]
    if unknown or not args.server_list:
        parser.error(f"unknown servers {unknown}; choose from {','.join(SERVER_ORDER)}")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    """SIGTERM (a timeout around this script) unwinds like Ctrl-C, so that the running
    server and bench are stopped by the ``finally`` blocks."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if args.src is not None:
        src = str(Path(args.src).resolve())
        ENV["PYTHONPATH"] = os.pathsep.join(p for p in (src, ENV.get("PYTHONPATH")) if p)
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.monotonic()
    settings = Settings(
        duration=args.duration if args.duration is not None else (2.0 if args.smoke else 8.0),
        keys=args.keys if args.keys is not None else (2000 if args.smoke else 100_000),
        concurrency=max(1, args.concurrency), processes=max(1, args.processes),
        item_size=max(64, args.item_size), workloads=args.workload_list,
        quiet_wait_s=max(0.0, args.quiet_wait if args.quiet_wait is not None
                         else (0.0 if args.smoke else 120.0)))
    peers = Peers()
    wanted = args.server_list
    if any(s.startswith("dynalite") or s == "moto" for s in wanted):
        peers_dir = Path(args.peers_dir)
        peers_dir.mkdir(parents=True, exist_ok=True)
        if any(s.startswith("dynalite") for s in wanted):
            install_dynalite(peers_dir, peers)
        if "moto" in wanted:
            install_moto(peers_dir, peers)
    specs = server_specs(peers)
    workdir = Path(tempfile.mkdtemp(prefix="quorumdb-compare-"))
    rows: list[Row] = []
    try:
        for key in SERVER_ORDER:
            if key in wanted:
                rows += run_server(specs[key], settings, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    invocation = "python bench/compare.py " + shell(argv if argv is not None else sys.argv[1:])
    text = report(rows, settings, specs, peers, invocation.strip(), started,
                  time.monotonic() - t0, source_note(args.src), args.note, args.title)
    print(text)
    if not args.smoke and not args.no_write:
        write_section(Path(args.out), text, args.section)
        log(f"wrote the {args.section} section of {args.out}")
    ours = [row for row in rows if row.server in ("ceiling", "quorumdb", "quorumdb-mem")]
    failed = [row for row in ours if not row.ok]
    for row in failed:
        detail = row.note or f"errors={row.result and row.result.get('errors')} " \
                             f"ops={row.result and row.result.get('ops')}"
        log(f"FAILED: {row.label} {row.workload}: {detail}")
    if args.smoke:
        log("smoke: " + ("FAILED" if failed else f"ok ({len(ours)} runs, no errors)"))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; every server and bench run of this script was stopped")
        sys.exit(130)
