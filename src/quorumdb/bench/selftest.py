"""``quorumdb bench --selftest-ceiling``: how fast can the client itself go?

A trivial uvloop server (one forked process, so it does not share the client's event
loop) answers every request with the same valid GetItem response, an item of
``--item-size`` bytes, after finding the end of the request by its Content-Length. The
bench then runs its ordinary ``get`` workload against it (real signing, real request
building and parsing, no table setup, no preload) and reports ops/s per client process
with both sides' CPU use: when the client is near 100% busy and the server is not, the
figure is the client's ceiling; otherwise it is a lower bound set by the server (on a
2-core machine the two share the cores).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import time
from dataclasses import replace
from typing import Any

from quorumdb.bench.workloads import Layout, Workload

__all__ = ["FixedResponseServer", "fixed_get_response", "run_ceiling"]


def fixed_get_response(item_size: int, fields: int = 10) -> bytes:
    import random

    workload = Workload("get", Layout("bench", 1, item_size, fields), 1, "uniform",
                        random.Random(0))
    body = b'{"Item":' + workload.item(0) + b"}"
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
            b"x-amzn-RequestId: selftest\r\nContent-Length: %d\r\n\r\n" % len(body)) + body


class FixedResponseServer(asyncio.Protocol):
    """Answers each complete request (headers + Content-Length body) with ``response``."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        answers = 0
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buffer[:end]).lower()
            at = head.find(b"\ncontent-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at + 1)
                length = int(head[at + 16:stop if stop > 0 else len(head)])
            if len(buffer) < end + 4 + length:
                break
            del buffer[:end + 4 + length]
            answers += 1
        if answers and self.transport is not None:
            self.transport.write(self.response * answers)


def _serve(port: int, response: bytes, ready: Any) -> None:
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(lambda: FixedResponseServer(response), "127.0.0.1", port,
                                 backlog=1024)
        ready.set()
        await asyncio.Event().wait()

    uvloop.run(main())


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_ceiling(options: Any) -> dict[str, Any]:
    from quorumdb.bench.run import run

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    server = context.Process(target=_serve, daemon=True, args=(
        port, fixed_get_response(options.item_size, options.fields), ready))
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("self-test server did not start")
        options = replace(options, endpoint=f"http://127.0.0.1:{port}")
        cpu_before = _cpu_seconds(server.pid or 0)
        wall_before = time.monotonic()
        report = run(options, skip_setup=True)
        cpu_after = _cpu_seconds(server.pid or 0)
        wall = time.monotonic() - wall_before
    finally:
        server.kill()
        server.join(timeout=5)
    server_cpu = (None if cpu_before is None or cpu_after is None
                  else round((cpu_after - cpu_before) / wall, 3))
    per_process = round(report["ops_per_s"] / options.processes, 1)
    us_per_op = float(report["client_cpu_us_per_op"])
    per_core = round(1e6 / us_per_op, 1) if us_per_op else 0.0
    report["selftest"] = {"ops_per_s_per_process": per_process,
                          "client_cpu_us_per_op": us_per_op,
                          "ops_per_client_cpu_s": per_core,
                          "server_cpu": server_cpu, "cpus": os.cpu_count()}
    report["selftest"]["summary"] = (
        f"self-test ceiling: {per_process:,.1f} ops/s per client process "
        f"({options.processes} process(es), concurrency {options.concurrency}); client "
        f"cpu {' '.join(f'{c:.0%}' for c in report['client_cpu'])} = {us_per_op:g} us of "
        f"client CPU per request, i.e. {per_core:,.0f} requests per second of a fully "
        f"available core; trivial server cpu "
        f"{'?' if server_cpu is None else f'{server_cpu:.0%}'} (over setup and run)")
    return report
