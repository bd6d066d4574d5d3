"""A front-end worker process: ``quorumdb serve --workers N`` starts N of them.

Theory of operation
-------------------
One Python process runs on one core; the workers let ``quorumdb serve`` use the others.
Each worker listens on the server's own port (``SO_REUSEPORT``: the kernel spreads new
connections over the primary and the workers) and does a request's whole work itself when
it is a read — GetItem, Query, Scan, BatchGetItem — from the primary's LMDB environment,
opened read-only (LMDB serves readers in many processes from one memory map). Every other
request goes on, unchanged, to the primary over a Unix socket (``upstream``): the primary
alone writes, evaluates conditions and changes the catalog, so a write has exactly one
serialisation point, as in one process.

Consistency: a write is acknowledged only after its LMDB commit, and a worker begins a new
read snapshot for every request it answers, so a read sees every write acknowledged before
it arrived, whichever process took either (strongly consistent reads stay strong). The
catalog is loaded from the same LMDB and loaded again when its generation counter moves
(read in the request's own snapshot, so a table and its data are seen together).

Lifetime: the primary starts the workers with a pipe on their standard input and stops
them (SIGTERM) before itself; a worker also exits when that pipe closes (the primary died),
since without it no write could be answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import lmdb
import uvloop

from quorumdb.api.credentials import load_credentials
from quorumdb.api.http import HttpProtocol, PendingResponse, Response
from quorumdb.api.operations import OPERATIONS
from quorumdb.api.server import finish_connections
from quorumdb.api.service import TARGET_PREFIX, Context, Service, reply_format
from quorumdb.api.sigv4 import Credentials
from quorumdb.api.upstream import Upstream, UpstreamError, encode_request
from quorumdb.errors import InternalServerError
from quorumdb.metadata.catalog import GENERATION_KEY, Catalog
from quorumdb.storage.engine import MAX_PARTITIONS, Engine

log = logging.getLogger("quorumdb.worker")

READ_OPERATIONS = ("GetItem", "Query", "Scan", "BatchGetItem")
LOCAL_TARGETS = frozenset(TARGET_PREFIX + name for name in READ_OPERATIONS)
# A read-only environment keeps a handle for every database it ever opened; dropped tables
# leave theirs behind, so the worker opens its environment again well before the limit.
REOPEN_AFTER_PARTITIONS = MAX_PARTITIONS // 2
CATALOG_LOAD_ATTEMPTS = 5


class Worker:
    """The request handler of a worker: reads here, everything else to the primary."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.data_path: str = options["data_path"]
        self.transition_delay_s: float = options["transition_delay_s"]
        self.engine = Engine(self.data_path, readonly=True)
        credentials: Credentials | None = None
        if options.get("credentials_path") is not None:
            credentials = load_credentials(options["credentials_path"])
        self.context = Context(self._load_catalog(), region=options["region"],
                               options={"endpoint_address": options["endpoint_address"]})
        reads = {name: OPERATIONS[name] for name in READ_OPERATIONS}
        self.service = Service(self.context, reads, credentials)
        self.upstream = Upstream(options["primary_socket"])
        self.generation = self.context.catalog.generation

    def _load_catalog(self) -> Catalog:
        for _ in range(CATALOG_LOAD_ATTEMPTS):
            try:
                return Catalog(self.engine, self.transition_delay_s)
            except lmdb.NotFoundError:  # a table dropped while we loaded: load again
                continue
        return Catalog(self.engine, self.transition_delay_s)  # the last try may raise

    def _refresh(self) -> None:
        """A fresh snapshot for this request, and the catalog as of it."""
        self.engine.committed()
        raw = self.engine.meta_get_current(GENERATION_KEY)
        generation = int(raw) if raw else 0
        if generation == self.generation:
            return
        if len(self.engine.partitions) > REOPEN_AFTER_PARTITIONS:
            self.engine.close()
            self.engine = Engine(self.data_path, readonly=True)
        self.context.catalog = self._load_catalog()
        self.generation = generation

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes
               ) -> Response | PendingResponse | Coroutine[Any, Any, Response]:
        if method == "POST" and headers.get("x-amz-target") in LOCAL_TARGETS:
            self._refresh()
            return self.service.handle(method, url, headers, body)
        return self._forward(method, url, headers, body)

    async def _forward(self, method: str, url: str, headers: dict[str, str],
                       body: bytes) -> Response:
        try:
            return await self.upstream.forward(encode_request(method, url, headers, body),
                                               head_only=method == "HEAD")
        except (UpstreamError, TimeoutError, OSError) as exc:
            log.error("request not answered by the primary: %s", exc)
            return self.service.error_response(InternalServerError("Internal server error"),
                                               reply_format(headers))

    def close(self) -> None:
        self.upstream.close()
        self.engine.close()


async def work(options: dict[str, Any]) -> None:
    worker = Worker(options)
    loop = asyncio.get_running_loop()
    connections: set[HttpProtocol] = set()
    server = await loop.create_server(
        lambda: HttpProtocol(worker.handle, worker.service.too_large, connections),
        options["host"], options["port"], reuse_address=True, reuse_port=True, backlog=1024,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def primary_gone() -> None:
        if not os.read(sys.stdin.fileno(), 4096):
            stop.set()

    loop.add_reader(sys.stdin.fileno(), primary_gone)
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        loop.remove_reader(sys.stdin.fileno())
        server.close()
        await finish_connections(connections)
        worker.close()


def main() -> int:
    options = json.loads(sys.argv[1])
    logging.basicConfig(level=options.get("log_level", "WARNING"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvloop.run(work(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
