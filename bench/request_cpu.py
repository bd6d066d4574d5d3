"""CPU per request of the server's request path, in one process, without network or client.

The load generator shares this 2-core machine with the server, so end-to-end figures mix
both; this measures the server side alone. 32 in-memory connections each feed one
pre-signed HTTP request into ``HttpProtocol`` (-> ``Service`` -> the operation -> the
engine) when the answer to their previous one arrives (closed loop). Requests are signed
before the clock starts, so the figure is the server's: ``time.process_time()`` (every
thread of the process, the group-commit executor included) divided by the requests.

    .venv/bin/python bench/request_cpu.py --workload get --requests 60000
    .venv/bin/python bench/request_cpu.py --workload put --requests 40000 [--disk] [--keys N]
    .venv/bin/python bench/request_cpu.py --workload null   # the HTTP layer alone

Items: ``--keys`` (default 20,000) of about 1 KB (the ``quorumdb bench`` shape: pk S, sk N,
v N, ten 100-byte string fields), uniform keys; ``query`` reads 10 items of one partition
key. ``--disk`` opens the engine as ``quorumdb serve --data-dir`` does (WAL, LMDB, acknowledged
writes committed to LMDB in batches by the applier process, whose CPU is reported apart).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import uvloop

from quorumdb.api.http import HttpProtocol, Response
from quorumdb.api.operations import OPERATIONS
from quorumdb.api.service import Context, Service
from quorumdb.bench.client import Endpoint, Signer
from quorumdb.metadata.catalog import Catalog
from quorumdb.storage.engine import Engine

CONNECTIONS = 32
KEYS = 20_000  # default --keys
FIELD = "".join(random.Random(7).choices("abcdefghijklmnopqrstuvwxyz0123456789", k=100))
FIELDS = "".join(f',"field{i}":{{"S":"{FIELD}"}}' for i in range(10))


def item_json(key: int, group: int) -> str:
    return (f'{{"pk":{{"S":"user{key // group:010d}"}},"sk":{{"N":"{key}"}},"v":{{"N":"0"}}'
            f"{FIELDS}}}")


def request_body(workload: str, key: int) -> tuple[str, bytes]:
    if workload == "put":
        return "PutItem", f'{{"TableName":"bench","Item":{item_json(key, 1)}}}'.encode()
    if workload == "update":  # YCSB's update: one field of the item, by UpdateItem
        return "UpdateItem", (f'{{"TableName":"bench","Key":{{"pk":{{"S":"user{key:010d}"}},'
                              f'"sk":{{"N":"{key}"}}}},"UpdateExpression":"SET #f = :v",'
                              '"ExpressionAttributeNames":{"#f":"field3"},'
                              f'"ExpressionAttributeValues":{{":v":{{"S":"{FIELD[::-1]}"}}}}}}'
                              ).encode()
    if workload == "query":
        return "Query", ('{"TableName":"bench","KeyConditionExpression":"pk = :p",'
                         f'"ExpressionAttributeValues":{{":p":{{"S":"user{key // 10:010d}"}}}}}}'
                         ).encode()
    return "GetItem", (f'{{"TableName":"bench","Key":{{"pk":{{"S":"user{key:010d}"}},'
                       f'"sk":{{"N":"{key}"}}}}}}').encode()


class _Transport:
    """What HttpProtocol writes to: hands each answer to its connection."""

    def __init__(self, on_answer: Callable[[bytes], None]) -> None:
        self.on_answer = on_answer

    def write(self, data: bytes) -> None:
        self.on_answer(data)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Connection:
    def __init__(self, handler: Any, service: Service, requests: list[bytes],
                 count: int, done: Callable[[], None]) -> None:
        self.protocol = HttpProtocol(handler, service.too_large, None)
        self.protocol.connection_made(_Transport(self.answered))  # type: ignore[arg-type]
        self.requests = requests
        self.left = count
        self.done = done

    def send(self) -> None:
        asyncio.get_running_loop().call_soon(self.protocol.data_received, self.requests.pop())

    def answered(self, data: bytes) -> None:
        if not data.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"unexpected answer: {data[:300]!r}")
        self.left -= 1
        if self.left > 0:
            self.send()
        else:
            self.done()


async def measure(workload: str, count: int, disk: bool, keys: int = KEYS) -> str:
    directory = tempfile.mkdtemp(prefix="quorumdb-request-cpu-") if disk else None
    engine = Engine(directory, defer_apply=True, applier=True)  # as `quorumdb serve` does
    try:
        context = Context(Catalog(engine, 0.0))
        service = Service(context, OPERATIONS, None)
        created = OPERATIONS["CreateTable"](context, {
            "TableName": "bench", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "N"}]})
        assert isinstance(created, dict)
        group = 10 if workload == "query" else 1
        for key in range(keys):
            written = OPERATIONS["PutItem"](context, {"TableName": "bench",
                                                      "Item": json.loads(item_json(key, group))})
            if key % 500 == 499 and not isinstance(written, dict):
                await written  # stay within the group-commit bound
        await engine.drain()
        signer = Signer(Endpoint("http://127.0.0.1:8000"), "AKID", "secret", "us-east-1")
        per_connection = count // CONNECTIONS
        total = per_connection * CONNECTIONS
        requests = [signer.request(*request_body(workload, random.randrange(keys)), time.time())
                    for _ in range(total)]
        handler: Any = service.handle
        if workload == "null":
            fixed: Response = (200, [(b"x-amzn-RequestId", b"X" * 52), (b"x-amz-crc32", b"1"),
                                     (b"Content-Type", b"application/x-amz-json-1.0")], b"{}")
            handler = lambda *_: fixed  # noqa: E731
        finished = asyncio.get_running_loop().create_future()
        remaining = [CONNECTIONS]

        def one_done() -> None:
            remaining[0] -= 1
            if remaining[0] == 0:
                finished.set_result(None)

        connections = [_Connection(handler, service, requests, per_connection, one_done)
                       for _ in range(CONNECTIONS)]
        applier = engine._applier.process.pid if engine._applier is not None else None
        wall0, cpu0 = time.perf_counter(), time.process_time()
        applier0 = _process_cpu_s(applier)
        for connection in connections:
            connection.send()
        await finished
        engine.settle()  # the applier's share of the requests measured
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        applier_us = 1e6 * (_process_cpu_s(applier) - applier0) / total
        return (f"{workload} ({'disk' if disk else 'memory'}): {total / wall:,.0f} requests/s "
                f"wall, {1e6 * cpu / total:.1f} us CPU per request"
                + (f" (+ {applier_us:.1f} in the LMDB applier process)" if applier else "")
                + f", {engine.flushes} flushes")
    finally:
        engine.close()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def _process_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of another process (/proc/PID/stat); 0 without one."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=("get", "put", "update", "query", "null"), default="get")
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--disk", action="store_true",
                        help="durable: WAL and LMDB in a temp dir, as `quorumdb serve` keeps them")
    parser.add_argument("--keys", type=int, default=KEYS, help="items preloaded")
    args = parser.parse_args()
    print(uvloop.run(measure(args.workload, args.requests, args.disk, max(1, args.keys))))


if __name__ == "__main__":
    main()
