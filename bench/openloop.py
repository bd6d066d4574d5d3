"""Open-loop latency measured by a C client (``bench/openloop.c``), for latency tails.

``quorumdb bench --rate`` is a Python client: at 11,000 requests/s it spends 25-60 us of
CPU per request on its one core, and its own queueing and pauses show in the tail it
reports (against ``bench/ceiling_server.py``, which does no work, its p99.9 / p50 was
5-13). This script prepares the same requests as ``quorumdb bench`` (the table, the
preload, the item shape, SigV4 signatures from ``quorumdb.bench.client.Signer``), writes
them to a file, compiles ``openloop.c`` with ``cc`` into ``build/`` when it is missing or
older than its source, and runs it: request i is due at i / rate (a timerfd, no
millisecond rounding), latency counts from the due time (a request that waits for a free
connection counts its wait), the percentiles are exact (every latency kept and sorted).

    .venv/bin/python bench/openloop.py --endpoint http://127.0.0.1:8000 --workload get \\
        --keys 100000 --rate 11000 --duration 10 --warmup 1 --connections 64 [--no-preload]
    .venv/bin/python bench/openloop.py --workload put --connections 1   # concurrency 1

Workloads: ``get`` and ``put`` (uniform keys over ``--keys``; the put requests overwrite
preloaded items). Requests are signed once, before the run, so a run is bounded to
``MAX_DURATION_S`` (DynamoDB accepts a signature for 15 minutes). Pin it with ``taskset``
like any process; the C client inherits the affinity. Prints one line, or the JSON
object with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvloop
from compare import free_port
from ctools import build, pinned

from quorumdb.bench.client import Endpoint, Signer
from quorumdb.bench.run import BenchOptions, setup
from quorumdb.bench.workloads import Layout, Workload

MAX_DURATION_S = 600.0
MAX_POOL = 200_000  # distinct requests; reused in order when a run needs more
CLOSED_LOOP_POOL = 50_000


def write_requests(path: Path, options: BenchOptions, count: int) -> None:
    """``count`` signed requests of the workload, uniform keys, as length-prefixed records."""
    layout = Layout(options.table, options.group_size, options.item_size, options.fields)
    workload = Workload(options.workload, layout, options.keys, "uniform",
                        random.Random(options.seed))
    signer = Signer(Endpoint(options.endpoint), options.access_key, options.secret_key,
                    options.region, options.session_token)
    rng = random.Random(options.seed)
    now = time.time()
    group = layout.group_size
    with open(path, "wb") as out:
        for _ in range(count):
            key = rng.randrange(options.keys)
            if options.workload == "get":
                operation, body = "GetItem", workload.get_template % (key // group, key)
            else:
                operation, body = "PutItem", workload.put_prefix + workload.item(key) + b"}"
            request = signer.request(operation, body, now)
            out.write(struct.pack("<I", len(request)))
            out.write(request)


def run(options: BenchOptions, connections: int, *, client_cpu: int | None = None,
        skip_setup: bool = False) -> dict[str, Any]:
    binary = build("openloop")
    if not skip_setup:
        uvloop.run(setup(options))
    count = (CLOSED_LOOP_POOL if options.rate is None else
             min(MAX_POOL, int((options.warmup_s + options.duration_s) * options.rate) + 1))
    endpoint = Endpoint(options.endpoint)
    if endpoint.tls:
        raise SystemExit("openloop: plain http only")
    with tempfile.TemporaryDirectory(prefix="openloop-") as scratch:
        requests = Path(scratch) / "requests.bin"
        write_requests(requests, options, count)
        done = subprocess.run(
            [str(binary), endpoint.host, str(endpoint.port), str(requests),
             repr(options.rate or 0.0), repr(options.duration_s), repr(options.warmup_s),
             str(connections), repr(options.timeout_s)],
            capture_output=True, text=True, preexec_fn=pinned(client_cpu),
            timeout=options.warmup_s + options.duration_s + options.timeout_s + 60)
    if done.returncode != 0:
        raise SystemExit(f"openloop exited {done.returncode}: {done.stderr.strip()}")
    if done.stderr:
        sys.stderr.write(done.stderr)
    report: dict[str, Any] = json.loads(done.stdout)
    report["workload"] = options.workload
    report["target_rate"] = options.rate
    report["connections"] = connections
    return report


def run_floor(options: BenchOptions, connections: int, server_cpu: int | None,
              client_cpu: int | None) -> dict[str, Any]:
    """The same run against ``fixed_server`` (C, answers {}, does nothing)."""
    port = free_port()
    server = subprocess.Popen([str(build("fixed_server")), str(port)], stdout=subprocess.PIPE,
                              text=True, preexec_fn=pinned(server_cpu))
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "listening":
            raise SystemExit("fixed_server did not start")
        floor = replace(options, endpoint=f"http://127.0.0.1:{port}")
        return run(floor, connections, client_cpu=client_cpu, skip_setup=True)
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000")
    parser.add_argument("--workload", choices=("get", "put"), default="get")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rate", type=float,
                        help="open loop: requests per second (default: the closed loop, "
                             "each connection sending when its last answer arrives)")
    parser.add_argument("--duration", type=float, default=10.0, help="recorded seconds")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--item-size", type=int, default=1024)
    parser.add_argument("--table", default="bench")
    parser.add_argument("--preload", action=argparse.BooleanOptionalAction, default=True,
                        help="write keys 0 .. keys - 1 first (default: yes)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds a response may take before the run fails")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--platform-floor", action="store_true",
                        help="run against build/fixed_server (C, answers {} at once) "
                             "instead of --endpoint: what this machine allows")
    parser.add_argument("--server-cpu", type=int,
                        help="--platform-floor: pin fixed_server to this CPU")
    parser.add_argument("--client-cpu", type=int, help="pin the C client to this CPU")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.rate is not None and not 0 < args.rate <= 1_000_000:
        parser.error("--rate in (0, 1e6]")
    if not 0 < args.duration <= MAX_DURATION_S:
        parser.error(f"--duration in (0, {MAX_DURATION_S:g}]")
    if not 0 <= args.warmup <= 60 or not 1 <= args.connections <= 4096:
        parser.error("--warmup in [0, 60], --connections in [1, 4096]")
    options = BenchOptions(endpoint=args.endpoint, workload=args.workload, rate=args.rate,
                           duration_s=args.duration, warmup_s=args.warmup,
                           item_size=max(1, args.item_size), keys=max(1, args.keys),
                           table=args.table, preload=args.preload,
                           timeout_s=max(0.1, args.timeout), seed=args.seed)
    if args.platform_floor:
        report = run_floor(options, args.connections, args.server_cpu, args.client_cpu)
        report["workload"] = "platform floor (fixed_server, " + options.workload + " requests)"
    else:
        report = run(options, args.connections, client_cpu=args.client_cpu)
    if args.json:
        print(json.dumps(report))
    else:
        ratio = report["p999_ms"] / report["p50_ms"] if report["p50_ms"] else 0.0
        mode = "closed loop" if args.rate is None else f"open loop {args.rate:,.0f}/s"
        print(f"{report['workload']} {mode} (C client, {args.connections} connections): "
              f"{report['ops']:,} ops ({report['ops_per_s']:,.0f}/s), "
              f"{report['errors']} errors; p50 {report['p50_ms']:.3f} p90 "
              f"{report['p90_ms']:.3f} p99 {report['p99_ms']:.3f} p99.9 "
              f"{report['p999_ms']:.3f} max {report['max_ms']:.3f} ms; p99.9/p50 "
              f"{ratio:.1f}; schedule lag p99 {report['schedule_lag_p99_ms']:.3f} ms; "
              f"client {report['client_cpu_us_per_op']:.1f} us CPU per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
