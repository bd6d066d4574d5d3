"""Workloads, worker processes and the report of ``quorumdb bench``."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from quorumdb.bench.client import DynamoConnection

WORKLOADS = ("put", "get", "query")
MAX_DURATION_S = 3600
MAX_PRELOAD_S = 600


@dataclass(frozen=True)
class BenchOptions:
    endpoint: str
    workload: str
    concurrency: int
    duration_s: float
    item_size: int
    keys: int
    table: str
    processes: int
    query_items: int


def _item(key: int, size: int) -> dict[str, Any]:
    payload = "x" * max(0, size - 40)
    return {"pk": {"S": f"user{key:010d}"}, "sk": {"N": "0"}, "data": {"S": payload}}


def _request(options: BenchOptions, rng: random.Random) -> tuple[str, bytes]:
    key = rng.randrange(options.keys)
    if options.workload == "put":
        body = {"TableName": options.table, "Item": _item(key, options.item_size)}
        return "PutItem", json.dumps(body).encode()
    if options.workload == "get":
        body = {"TableName": options.table,
                "Key": {"pk": {"S": f"user{key:010d}"}, "sk": {"N": "0"}}}
        return "GetItem", json.dumps(body).encode()
    group = key % max(1, options.keys // options.query_items)
    body = {"TableName": options.table, "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": f"group{group:08d}"}}}
    return "Query", json.dumps(body).encode()


async def _client(options: BenchOptions, deadline: float, seed: int,
                  latencies_us: list[int], errors: list[int]) -> None:
    connection = DynamoConnection(options.endpoint)
    await connection.connect()
    rng = random.Random(seed)
    try:
        while True:
            operation, body = _request(options, rng)
            start = time.perf_counter()
            if start >= deadline:
                return
            status, _ = await connection.call_raw(operation, body)
            elapsed_us = int((time.perf_counter() - start) * 1e6)
            if status == 200:
                latencies_us.append(elapsed_us)
            else:
                errors.append(status)
    finally:
        connection.close()


def _worker(options: BenchOptions, concurrency: int, start_at: float, index: int,
            queue: Any) -> None:
    import uvloop

    async def main() -> tuple[list[int], list[int]]:
        latencies: list[int] = []
        errors: list[int] = []
        delay = start_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        deadline = time.perf_counter() + options.duration_s
        await asyncio.gather(*[_client(options, deadline, index * 1000 + i, latencies, errors)
                               for i in range(concurrency)])
        return latencies, errors

    queue.put(uvloop.run(main()))


async def setup(options: BenchOptions) -> None:
    """Creates the table if needed and loads ``keys`` items (bounded in time)."""
    connection = DynamoConnection(options.endpoint)
    await connection.connect()
    try:
        try:
            await connection.call("DescribeTable", {"TableName": options.table})
        except RuntimeError:
            await connection.call("CreateTable", {
                "TableName": options.table, "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                              {"AttributeName": "sk", "KeyType": "RANGE"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                         {"AttributeName": "sk", "AttributeType": "N"}]})
            for _ in range(600):
                table = await connection.call("DescribeTable", {"TableName": options.table})
                if table["Table"]["TableStatus"] == "ACTIVE":
                    break
                await asyncio.sleep(0.1)
    finally:
        connection.close()
    if options.workload in ("get", "query"):
        await _preload(options)


async def _preload(options: BenchOptions) -> None:
    deadline = time.monotonic() + MAX_PRELOAD_S
    groups = max(1, options.keys // options.query_items)

    def batch_for(start: int) -> bytes:
        requests = []
        for key in range(start, min(start + 25, options.keys)):
            item = _item(key, options.item_size)
            if options.workload == "query":
                item["pk"] = {"S": f"group{key % groups:08d}"}
                item["sk"] = {"N": str(key)}
            requests.append({"PutRequest": {"Item": item}})
        return json.dumps({"RequestItems": {options.table: requests}}).encode()

    async def loader(starts: list[int]) -> None:
        connection = DynamoConnection(options.endpoint)
        await connection.connect()
        try:
            for start in starts:
                if time.monotonic() > deadline:
                    raise TimeoutError("preload exceeded its time bound")
                status, payload = await connection.call_raw("BatchWriteItem", batch_for(start))
                if status != 200:
                    raise RuntimeError(f"preload failed: {payload[:200]!r}")
        finally:
            connection.close()

    starts = list(range(0, options.keys, 25))
    lanes = 8
    await asyncio.gather(*[loader(starts[i::lanes]) for i in range(lanes)])


def percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index] / 1000.0


def run(options: BenchOptions) -> dict[str, Any]:
    import uvloop

    uvloop.run(setup(options))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.time() + 0.5
    shares = [options.concurrency // options.processes] * options.processes
    for i in range(options.concurrency % options.processes):
        shares[i] += 1
    workers = [context.Process(target=_worker, args=(options, share, start_at, i, queue))
               for i, share in enumerate(shares) if share > 0]
    for worker in workers:
        worker.start()
    latencies: list[int] = []
    errors: list[int] = []
    for _ in workers:
        got_latencies, got_errors = queue.get(timeout=options.duration_s + 120)
        latencies.extend(got_latencies)
        errors.extend(got_errors)
    for worker in workers:
        worker.join(timeout=30)
    latencies.sort()
    return {
        "options": asdict(options),
        "ops": len(latencies),
        "errors": len(errors),
        "ops_per_s": round(len(latencies) / options.duration_s, 1),
        "p50_ms": percentile(latencies, 0.50),
        "p90_ms": percentile(latencies, 0.90),
        "p99_ms": percentile(latencies, 0.99),
        "p999_ms": percentile(latencies, 0.999),
        "max_ms": latencies[-1] / 1000.0 if latencies else 0.0,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000")
    parser.add_argument("--workload", choices=WORKLOADS, default="put")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--item-size", type=int, default=1024)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--table", default="bench")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--query-items", type=int, default=10)
    parser.add_argument("--json", action="store_true")


def main(args: argparse.Namespace) -> int:
    duration = min(max(args.duration, 0.1), MAX_DURATION_S)
    options = BenchOptions(args.endpoint, args.workload, max(1, args.concurrency), duration,
                           args.item_size, max(1, args.keys), args.table,
                           max(1, min(args.processes, os.cpu_count() or 1, args.concurrency)),
                           max(1, args.query_items))
    report = run(options)
    if args.json:
        json.dump(report, sys.stdout)
        print()
    else:
        print(f"{options.workload} c={options.concurrency} {options.duration_s:.0f}s "
              f"items={options.item_size}B keys={options.keys}: "
              f"{report['ops_per_s']} ops/s  p50 {report['p50_ms']:.3f} ms  "
              f"p90 {report['p90_ms']:.3f} ms  p99 {report['p99_ms']:.3f} ms  "
              f"p99.9 {report['p999_ms']:.3f} ms  max {report['max_ms']:.3f} ms  "
              f"errors {report['errors']}")
    return 0 if report["errors"] == 0 else 1
