"""Options, worker processes, merging and the report of ``quorumdb bench``.

Timeline of a run: the parent creates the table if needed and preloads ``keys`` items
(bounded by ``--preload-timeout``), then forks ``--processes`` workers that all start at
the same wall-clock instant. Each worker runs ``--warmup`` seconds unrecorded, then
``--duration`` seconds recorded; no request starts after that, in-flight ones get at most
``--timeout`` (plus 1 s) to finish, then the worker reports and exits. The parent merges
the histograms and counters, prints a progress line each second when asked, and kills a
worker that overstays (so the run always ends by itself).

Closed loop (``--concurrency C``): C clients, each on its own keep-alive connection,
send their next request as soon as the previous one is answered; a latency is the time
from sending to the complete answer.

Open loop (``--rate R``): request ``n`` of the run is due at ``t0 + n / R`` and is sent by
client ``n mod C`` (``intended_time``), so the schedule does not slow down when the
server does. Clients wait for their next due time on a ``Pacer``: asyncio's timer by
default, which wakes in whole milliseconds (requests due within one leave together), or
with ``--precise-pacing`` a timerfd (sub-millisecond, at about twice the client CPU per
request). A latency is measured from the *intended* time whenever the request had to
wait for its client's previous answer (queueing is charged, coordinated omission does
not hide it), and from the send time when the client was idle and only its own wake-up
made it late (``corrected_start``): that lateness is the client's, not the server's
(``schedule_lag`` reports it). Requests
still due when the run ends are counted as ``unsent``: a non-zero figure means the
endpoint (or the client) could not keep up with ``R``.

``client_cpu`` is each worker's CPU time over the recorded window divided by its length:
a figure near 1.0 means that worker was saturated and the client may be the bottleneck
(add ``--processes``); ``--selftest-ceiling`` measures the client's own limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import queue as queue_module
import random
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from quorumdb.bench.client import Connection, Endpoint, Signer, error_type
from quorumdb.bench.histogram import Histogram
from quorumdb.bench.pacer import Pacer
from quorumdb.bench.workloads import (
    BATCH_WRITE_MAX,
    CONFLICT,
    MIXES,
    NOT_FOUND,
    OK,
    Layout,
    Workload,
    default_distribution,
    default_group_size,
    default_preload,
)

__all__ = ["BenchOptions", "add_arguments", "corrected_start", "intended_time", "main", "run"]

WORKLOADS = tuple(MIXES)
MAX_DURATION_S = 3600.0
MAX_PROCESSES = 64
MAX_CONCURRENCY = 4096
CLIENT_BUSY_WARNING = 0.9
THROTTLING_ERRORS = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                               "RequestLimitExceeded", "InternalServerError", "HTTP 503",
                               "ServiceUnavailableException"})


@dataclass(frozen=True)
class BenchOptions:
    endpoint: str = "http://127.0.0.1:8000"
    workload: str = "put"
    concurrency: int = 1
    rate: float | None = None
    duration_s: float = 10.0
    warmup_s: float = 0.0
    processes: int = 1
    item_size: int = 1024
    fields: int = 10
    keys: int = 10_000
    distribution: str = "uniform"
    group_size: int = 1
    batch_size: int = BATCH_WRITE_MAX
    scan_max: int = 100
    precise_pacing: bool = False
    table: str = "bench"
    preload: bool = False
    preload_timeout_s: float = 600.0
    timeout_s: float = 10.0
    region: str = "us-east-1"
    access_key: str = "bench"
    secret_key: str = "bench"
    session_token: str | None = field(default=None, repr=False)
    seed: int = 1
    progress: bool = False

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("secret_key")
        out.pop("session_token")
        return out


# -- open-loop arithmetic ----------------------------------------------------------------
def intended_time(t0: float, rate: float, clients: int, client: int, n: int) -> float:
    """When the ``n``-th request of global client ``client`` (of ``clients``) is due:
    request ``client + n * clients`` of the whole run, at ``rate`` requests per second."""
    return t0 + (client + n * clients) / rate


def corrected_start(intended: float, previous_done: float, sent: float) -> float:
    """The start a latency is measured from, in open loop: the intended time plus the
    client's own lateness removed. If the previous answer on this client arrived after
    ``intended``, the request queued for ``previous_done - intended`` and that wait is
    charged; time between becoming free and actually sending (timer granularity) is not."""
    return sent - max(0.0, previous_done - intended)


# -- per-process recording ---------------------------------------------------------------
class Stats:
    def __init__(self, ops: tuple[str, ...]) -> None:
        self.all = Histogram()
        self.by_op = {op: Histogram() for op in ops}
        self.errors: dict[str, int] = {}
        self.not_found = 0
        self.conflicts = 0
        self.unsent = 0
        self.lag = Histogram()
        self.completed = 0  # answers, warmup included (for the progress line)

    def record(self, op: str, outcome: str, latency_us: int) -> None:
        if outcome == OK:
            pass
        elif outcome == NOT_FOUND:
            self.not_found += 1
        elif outcome == CONFLICT:
            self.conflicts += 1
        else:
            self.errors[outcome] = self.errors.get(outcome, 0) + 1
            return
        self.all.record(latency_us)
        self.by_op[op].record(latency_us)


def _shares(total: int, parts: int) -> list[int]:
    shares = [total // parts] * parts
    for i in range(total % parts):
        shares[i] += 1
    return shares


async def _worker(options: BenchOptions, index: int, share: int, client_offset: int,
                  start_at: float, out: Any) -> None:
    layout = Layout(options.table, options.group_size, options.item_size, options.fields)
    rng = random.Random(options.seed * 1_000_003 + index)
    workload = Workload(options.workload, layout, options.keys, options.distribution, rng,
                        index, options.processes, options.batch_size, options.scan_max)
    stats = Stats(workload.kinds)
    endpoint = Endpoint(options.endpoint)
    signer = Signer(endpoint, options.access_key, options.secret_key, options.region,
                    options.session_token)
    connections = [Connection(endpoint, signer) for _ in range(share)]
    for connection in connections:
        with contextlib.suppress(OSError):  # retried by the first request, which counts it
            await connection.connect()
    t0 = time.perf_counter() + (start_at - time.time())
    measure_from = t0 + options.warmup_s
    end = measure_from + options.duration_s
    rate = options.rate
    clients = options.concurrency
    execute = workload.execute
    choose = workload.choose_op
    perf = time.perf_counter

    async def closed(connection: Connection) -> None:
        while True:
            start = perf()
            if start >= end:
                return
            op = choose()
            outcome = await execute(connection, op)
            stats.completed += 1
            if start >= measure_from:
                stats.record(op, outcome, int((perf() - start) * 1e6))
            if connection.wire is None and outcome != OK:
                await asyncio.sleep(0.01)  # connection trouble: do not spin

    async def opened(connection: Connection, client: int) -> None:
        assert rate is not None
        n = 0
        previous_done = 0.0
        while True:
            intended = intended_time(t0, rate, clients, client, n)
            if intended >= end:
                return
            now = perf()
            if now >= end:
                stats.unsent += math.ceil((end - intended) * rate / clients)
                return
            if intended > now:
                await pacer.sleep_until(intended)
            op = choose()
            sent = perf()
            outcome = await execute(connection, op)
            done = perf()
            stats.completed += 1
            if intended >= measure_from:
                start = corrected_start(intended, previous_done, sent)
                stats.record(op, outcome, int((done - start) * 1e6))
                stats.lag.record(int((sent - max(intended, previous_done)) * 1e6))
            previous_done = done
            n += 1

    async def watchdog() -> None:
        while True:
            await asyncio.sleep(0.1)
            now = perf()
            for connection in connections:
                connection.expire(now, options.timeout_s)

    async def ticker() -> None:
        previous = stats.all.copy()
        errors = completed = 0
        while True:
            await asyncio.sleep(1.0)
            now_errors = sum(stats.errors.values())
            out.put(("tick", index, {"histogram": stats.all.minus(previous).to_dict(),
                                     "errors": now_errors - errors,
                                     "completed": stats.completed - completed}))
            previous = stats.all.copy()
            errors, completed = now_errors, stats.completed

    pacer = Pacer(precise=options.precise_pacing)
    delay = t0 - perf()
    if delay > 0:
        await asyncio.sleep(delay)
    helpers = [asyncio.ensure_future(watchdog())]
    if options.progress:
        helpers.append(asyncio.ensure_future(ticker()))
    if rate is None:
        tasks = [asyncio.ensure_future(closed(c)) for c in connections]
    else:
        tasks = [asyncio.ensure_future(opened(c, client_offset + i))
                 for i, c in enumerate(connections)]
    cpu_wait = measure_from - perf()
    if cpu_wait > 0:
        await asyncio.wait(tasks, timeout=cpu_wait)
    cpu_from = time.process_time()
    window_from = perf()
    remaining = end - perf() + options.timeout_s + 1.0
    await asyncio.wait(tasks, timeout=max(0.0, remaining))
    cpu_s = time.process_time() - cpu_from
    window_s = max(1e-9, min(perf(), end) - window_from)
    for task in tasks:
        if not task.done():
            task.cancel()
            stats.errors["Unfinished"] = stats.errors.get("Unfinished", 0) + 1
    for helper in helpers:
        helper.cancel()
    for connection in connections:
        connection.close()
    pacer.close()
    out.put(("done", index, {
        "all": stats.all.to_dict(),
        "by_op": {op: h.to_dict() for op, h in stats.by_op.items()},
        "lag": stats.lag.to_dict(),
        "errors": stats.errors,
        "not_found": stats.not_found,
        "conflicts": stats.conflicts,
        "unsent": stats.unsent,
        "items_read": workload.items_read,
        "items_written": workload.items_written,
        "unprocessed": workload.unprocessed,
        "cpu": cpu_s / window_s,
    }))


def _worker_process(options: BenchOptions, index: int, share: int, client_offset: int,
                    start_at: float, out: Any) -> None:
    import uvloop

    try:
        uvloop.run(_worker(options, index, share, client_offset, start_at, out))
    except BaseException as exc:
        out.put(("failed", index, f"{type(exc).__name__}: {exc}"))
        raise


# -- setup -------------------------------------------------------------------------------
def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


TABLE_SETUP_TIMEOUT_S = 300.0


async def setup(options: BenchOptions) -> None:
    """Creates the table if it does not exist (checks its key schema if it does), within
    ``TABLE_SETUP_TIMEOUT_S``, and preloads keys ``0 .. keys - 1`` when asked, within
    ``preload_timeout_s``."""
    endpoint = Endpoint(options.endpoint)
    signer = Signer(endpoint, options.access_key, options.secret_key, options.region,
                    options.session_token)
    try:
        await asyncio.wait_for(_ensure_table(options, endpoint, signer), TABLE_SETUP_TIMEOUT_S)
    except TimeoutError:
        raise RuntimeError(f"table {options.table}: no answer within --timeout "
                           f"({options.timeout_s:g} s), or not ACTIVE within "
                           f"{TABLE_SETUP_TIMEOUT_S:g} s") from None
    if options.preload:
        try:
            await asyncio.wait_for(_preload(options, endpoint, signer),
                                   options.preload_timeout_s)
        except TimeoutError:
            raise RuntimeError(f"preload of {options.keys} items did not finish within "
                               f"{options.preload_timeout_s:g} s (--preload-timeout)") from None


async def _ensure_table(options: BenchOptions, endpoint: Endpoint, signer: Signer) -> None:
    connection = Connection(endpoint, signer)
    try:
        try:
            table = (await connection.call_json("DescribeTable",
                                                {"TableName": options.table},
                                                options.timeout_s))["Table"]
        except RuntimeError as exc:
            if "ResourceNotFoundException" not in str(exc):
                raise
            await connection.call_json("CreateTable", {
                "TableName": options.table, "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                              {"AttributeName": "sk", "KeyType": "RANGE"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                         {"AttributeName": "sk", "AttributeType": "N"}]},
                options.timeout_s)
            while True:
                table = (await connection.call_json("DescribeTable",
                                                    {"TableName": options.table},
                                                    options.timeout_s))["Table"]
                if table.get("TableStatus") == "ACTIVE":
                    break
                await asyncio.sleep(0.1)
        schema = {(k["AttributeName"], k["KeyType"]) for k in table.get("KeySchema", [])}
        if schema != {("pk", "HASH"), ("sk", "RANGE")}:
            raise RuntimeError(f"table {options.table} exists with key schema {schema}; "
                               "bench needs pk (S, HASH) and sk (N, RANGE): use --table")
    finally:
        connection.close()


async def _preload(options: BenchOptions, endpoint: Endpoint, signer: Signer) -> None:
    layout = Layout(options.table, options.group_size, options.item_size, options.fields)
    workload = Workload(options.workload, layout, options.keys, "uniform", random.Random(0))
    starts = list(range(0, options.keys, BATCH_WRITE_MAX))
    done = [0]
    lanes = min(16, len(starts)) or 1

    async def lane(mine: list[int]) -> None:
        connection = Connection(endpoint, signer)
        try:
            for start in mine:
                pending = workload.batch_body(
                    list(range(start, min(start + BATCH_WRITE_MAX, options.keys))))
                backoff = 0.01
                while True:
                    try:
                        status, payload = await connection.call_bounded(
                            "BatchWriteItem", pending, options.timeout_s)
                    except TimeoutError:
                        raise RuntimeError(f"preload: no answer within {options.timeout_s:g}"
                                           " s (--timeout)") from None
                    if status == 200:
                        if b'"UnprocessedItems":{}' in payload:
                            break
                        unprocessed = json.loads(payload).get("UnprocessedItems") or {}
                        if not unprocessed:
                            break
                        pending = json.dumps({"RequestItems": unprocessed}).encode()
                    elif error_type(status, payload) not in THROTTLING_ERRORS:
                        raise RuntimeError(f"preload: {error_type(status, payload)}: "
                                           f"{payload[:300].decode('utf-8', 'replace')}")
                    await asyncio.sleep(backoff)
                    backoff = min(1.0, backoff * 2)
                done[0] += 1
        finally:
            connection.close()

    async def progress() -> None:
        while True:
            await asyncio.sleep(1.0)
            _log(f"preload {min(options.keys, done[0] * BATCH_WRITE_MAX):,}/{options.keys:,}")

    reporter = asyncio.ensure_future(progress()) if options.progress else None
    try:
        await asyncio.gather(*[lane(starts[i::lanes]) for i in range(lanes)])
    finally:
        if reporter is not None:
            reporter.cancel()


# -- the run -----------------------------------------------------------------------------
def run(options: BenchOptions, *, skip_setup: bool = False) -> dict[str, Any]:
    """Runs the benchmark; returns the report (see ``main`` for its keys)."""
    import uvloop

    if not skip_setup:
        uvloop.run(setup(options))
    context = multiprocessing.get_context("fork")
    out: Any = context.Queue()
    start_at = time.time() + 0.3 + 0.05 * options.processes
    shares = _shares(options.concurrency, options.processes)
    workers = []
    offset = 0
    for index, share in enumerate(shares):
        workers.append(context.Process(
            target=_worker_process, args=(options, index, share, offset, start_at, out),
            daemon=True))
        offset += share
    for worker in workers:
        worker.start()
    hard_deadline = (time.monotonic() + (start_at - time.time()) + options.warmup_s
                     + options.duration_s + options.timeout_s + 30.0)
    results: dict[int, dict[str, Any]] = {}
    failures: list[str] = []
    live = Histogram()
    second = Histogram()
    second_errors = second_ops = 0
    begun = time.monotonic() + (start_at - time.time())
    next_print = begun + 1.25  # workers tick at whole seconds; let their ticks arrive
    try:
        while len(results) + len(failures) < len(workers):
            now = time.monotonic()
            if now > hard_deadline:
                failures.append("workers overstayed the run's bound and were killed")
                break
            if options.progress and now >= next_print:
                elapsed = round(next_print - begun - 0.25)
                phase = "warmup " if elapsed <= options.warmup_s else ""
                live.merge(second)
                _log(f"[{elapsed:4d}s] {phase}{second_ops:>9,} ops/s  "
                     f"p99 so far {live.percentile_us(0.99) / 1000:.3f} ms  "
                     f"errors {second_errors}")
                second = Histogram()
                second_errors = second_ops = 0
                next_print += 1.0
            try:
                message = out.get(timeout=max(0.01, min(0.5, next_print - time.monotonic())))
            except queue_module.Empty:
                if any(not w.is_alive() and w.exitcode not in (0, None) for w in workers) \
                        and out.empty():
                    failures.append("a worker process died")
                    break
                continue
            kind, index, payload = message
            if kind == "tick":
                second.merge(Histogram.from_dict(payload["histogram"]))
                second_errors += int(payload["errors"])
                second_ops += int(payload["completed"])
            elif kind == "done":
                results[index] = payload
            elif kind == "failed":
                failures.append(f"worker {index}: {payload}")
    finally:
        for worker in workers:
            worker.join(timeout=2.0)
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=5.0)
    return _report(options, list(results.values()), failures)


def _report(options: BenchOptions, results: list[dict[str, Any]],
            failures: list[str]) -> dict[str, Any]:
    merged = Histogram()
    lag = Histogram()
    by_op: dict[str, Histogram] = {}
    errors: dict[str, int] = {}
    counters = {"not_found": 0, "conflicts": 0, "unsent": 0, "items_read": 0,
                "items_written": 0, "unprocessed": 0}
    for result in results:
        merged.merge(Histogram.from_dict(result["all"]))
        lag.merge(Histogram.from_dict(result["lag"]))
        for op, data in result["by_op"].items():
            by_op.setdefault(op, Histogram()).merge(Histogram.from_dict(data))
        for kind, count in result["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
        for name in counters:
            counters[name] += int(result[name])
    for failure in failures:
        errors["WorkerFailure"] = errors.get("WorkerFailure", 0) + 1
        _log(f"bench: {failure}")
    duration = options.duration_s
    report: dict[str, Any] = {
        "workload": options.workload,
        "mode": "closed" if options.rate is None else "open",
        "ops": merged.total,
        "ops_per_s": round(merged.total / duration, 1),
        **merged.summary_ms(),
        "errors": sum(errors.values()),
        "errors_by_type": errors,
        "by_op": {op: {"ops": h.total, "ops_per_s": round(h.total / duration, 1),
                       **h.summary_ms()} for op, h in by_op.items()},
        **counters,
        "items_read_per_s": round(counters["items_read"] / duration, 1),
        "items_written_per_s": round(counters["items_written"] / duration, 1),
        "client_cpu": [round(float(r["cpu"]), 3) for r in results],
        "client_cpu_us_per_op": round(sum(float(r["cpu"]) for r in results) * duration * 1e6
                                      / merged.total, 1) if merged.total else 0.0,
        "options": options.public(),
    }
    if options.rate is not None:
        report["target_rate"] = options.rate
        report["schedule_lag_p50_ms"] = lag.percentile_us(0.5) / 1000.0
        report["schedule_lag_p99_ms"] = lag.percentile_us(0.99) / 1000.0
    return report


# -- command line ------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000",
                        help="DynamoDB-compatible endpoint URL (http or https)")
    parser.add_argument("--region", default=env("AWS_REGION", "us-east-1"))
    parser.add_argument("--access-key", default=env("AWS_ACCESS_KEY_ID", "bench"))
    parser.add_argument("--secret-key", default=env("AWS_SECRET_ACCESS_KEY", "bench"))
    parser.add_argument("--session-token", default=env("AWS_SESSION_TOKEN"))
    parser.add_argument("--table", default=None,
                        help="table name (default bench, or bench-gN when N items share a "
                             "partition key); created when missing")
    parser.add_argument("--workload", choices=WORKLOADS, default="put")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="clients (connections) over all processes (default 1; 32 for "
                             "--selftest-ceiling)")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: R requests per second over all clients, latency "
                             "from the intended start (default: closed loop)")
    parser.add_argument("--duration", type=float, default=10.0, help="recorded seconds")
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="seconds of load before recording starts")
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--item-size", type=int, default=1024, help="bytes per item")
    parser.add_argument("--fields", type=int, default=10, help="string attributes per item")
    parser.add_argument("--keys", type=int, default=10_000, help="key count (preloaded)")
    parser.add_argument("--distribution", choices=("uniform", "zipfian", "latest"),
                        default=None, help="key choice (default uniform; zipfian for "
                                           "ycsb-*, latest for ycsb-d)")
    parser.add_argument("--group-size", "--query-items", dest="group_size", type=int,
                        default=None, help="items per partition key (default 1; 10 for "
                                           "query; 1000 for ycsb-*)")
    parser.add_argument("--batch-size", type=int, default=BATCH_WRITE_MAX,
                        help="items per BatchWriteItem (at most 25)")
    parser.add_argument("--scan-max", type=int, default=100,
                        help="ycsb-e: longest range query (Limit uniform in 1..N)")
    parser.add_argument("--precise-pacing", action="store_true",
                        help="open loop: wake each client at its due time through a timerfd "
                             "(sub-millisecond) instead of asyncio's millisecond timer; "
                             "about twice the client CPU per request")
    parser.add_argument("--preload", action=argparse.BooleanOptionalAction, default=None,
                        help="load keys 0..keys-1 first (default: on for reading workloads)")
    parser.add_argument("--preload-timeout", type=float, default=600.0)
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout (s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object on stdout")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress line on stderr each second (default: when a TTY)")
    parser.add_argument("--selftest-ceiling", action="store_true",
                        help="measure the client's own ceiling against a trivial in-process "
                             "server that returns a fixed GetItem answer")


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    workload = args.workload
    group_size = max(1, args.group_size or default_group_size(workload, 10))
    concurrency = max(1, min(MAX_CONCURRENCY, args.concurrency or
                             (32 if args.selftest_ceiling else 1)))
    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    table = args.table or ("bench" if group_size == 1 else f"bench-g{group_size}")
    rate = args.rate if args.rate is not None and args.rate > 0 else None
    return BenchOptions(
        endpoint=args.endpoint, workload=workload, concurrency=concurrency, rate=rate,
        duration_s=min(max(args.duration, 0.1), MAX_DURATION_S),
        warmup_s=min(max(args.warmup, 0.0), MAX_DURATION_S),
        processes=max(1, min(args.processes, concurrency, MAX_PROCESSES)),
        item_size=max(1, args.item_size), fields=max(1, args.fields),
        keys=max(1, args.keys),
        distribution=args.distribution or default_distribution(workload),
        group_size=group_size, batch_size=max(1, min(args.batch_size, BATCH_WRITE_MAX)),
        scan_max=max(1, args.scan_max), precise_pacing=args.precise_pacing, table=table,
        preload=args.preload if args.preload is not None else default_preload(workload),
        preload_timeout_s=max(1.0, args.preload_timeout),
        timeout_s=max(0.1, args.timeout), region=args.region,
        access_key=args.access_key, secret_key=args.secret_key,
        session_token=args.session_token, seed=args.seed, progress=progress)


def format_report(report: dict[str, Any]) -> str:
    o = report["options"]
    mode = (f"rate={report['target_rate']:g}/s" if report["mode"] == "open"
            else f"c={o['concurrency']}")
    lines = [
        f"{report['workload']} {mode} processes={o['processes']} {o['duration_s']:g}s "
        f"items={o['item_size']}B keys={o['keys']} {o['distribution']}",
        f"  {report['ops_per_s']:,.1f} ops/s ({report['ops']:,} ops)  "
        f"p50 {report['p50_ms']:.3f}  p90 {report['p90_ms']:.3f}  p99 {report['p99_ms']:.3f}"
        f"  p99.9 {report['p999_ms']:.3f}  max {report['max_ms']:.3f} ms  "
        f"errors {report['errors']}",
    ]
    if len(report["by_op"]) > 1:
        for op, s in report["by_op"].items():
            lines.append(f"  {op:<12}{s['ops_per_s']:>12,.1f} ops/s  p50 {s['p50_ms']:.3f}  "
                         f"p99 {s['p99_ms']:.3f}  p99.9 {s['p999_ms']:.3f} ms")
    extras = [f"{name} {report[name]:,}" for name in
              ("not_found", "conflicts", "unsent", "unprocessed") if report.get(name)]
    if report["items_read"]:
        extras.append(f"items read {report['items_read_per_s']:,.1f}/s")
    if report["workload"] == "batch-write":
        extras.append(f"items written {report['items_written_per_s']:,.1f}/s")
    if report["mode"] == "open":
        extras.append(f"schedule lag p50 {report['schedule_lag_p50_ms']:.3f} ms")
    if report["errors_by_type"]:
        extras.append("errors: " + ", ".join(f"{k} {v}" for k, v in
                                              sorted(report["errors_by_type"].items())))
    extras.append("client cpu " + " ".join(f"{c:.0%}" for c in report["client_cpu"]) +
                  f" ({report['client_cpu_us_per_op']:g} us/op)")
    lines.append("  " + "  ".join(extras))
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    if args.selftest_ceiling:
        from quorumdb.bench.selftest import run_ceiling

        report = run_ceiling(replace(options, workload="get", preload=False))
    else:
        try:
            report = run(options)
        except (RuntimeError, OSError) as exc:
            if args.json:
                print(json.dumps({"error": str(exc), "options": options.public()}))
            _log(f"bench: {exc}")
            return 2
    if args.json:
        print(json.dumps(report))
        if "selftest" in report:
            _log(report["selftest"]["summary"])
    else:
        print(format_report(report))
        if "selftest" in report:
            print(report["selftest"]["summary"])
    busy = [c for c in report["client_cpu"] if c >= CLIENT_BUSY_WARNING]
    if busy and not args.selftest_ceiling:
        _log(f"bench: warning: a client process was busy {max(busy):.0%} of the time; the "
             "client may be the bottleneck (try --processes)")
    return 0 if report["errors"] == 0 else 1
