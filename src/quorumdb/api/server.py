"""The ``quorumdb serve`` driver: wires the storage engine, the catalog and the API
service into one asyncio (uvloop) process and shuts it down cleanly on SIGTERM/SIGINT:
stop accepting, let in-flight writes become durable, close LMDB."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import uvloop

from quorumdb.api.credentials import load_credentials
from quorumdb.api.http import HttpProtocol
from quorumdb.api.operations import OPERATIONS
from quorumdb.api.service import Context, Service
from quorumdb.api.sigv4 import Credentials
from quorumdb.metadata.catalog import Catalog
from quorumdb.storage.engine import Engine
from quorumdb.storage.host import PartitionHost
from quorumdb.storage.replicated import ReplicatedStore

log = logging.getLogger("quorumdb.serve")

SHUTDOWN_S = 10.0


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str | None = "./data"
    region: str = "us-east-1"
    credentials_path: str | None = None
    transition_delay_s: float = 0.0
    replicas: int = 1
    eventual_reads_anywhere: bool = False


async def serve(options: ServeOptions, ready: asyncio.Event | None = None) -> None:
    engine: PartitionHost
    if options.replicas == 1:
        engine = Engine(options.data_dir)
    else:
        store = ReplicatedStore(options.data_dir, options.replicas,
                                eventual_reads_anywhere=options.eventual_reads_anywhere)
        store.start()
        engine = store
    credentials: Credentials | None = None
    if options.credentials_path is not None:
        credentials = load_credentials(options.credentials_path)
    context = Context(Catalog(engine, options.transition_delay_s), region=options.region,
                      options={"endpoint_address": f"{options.host}:{options.port}"})
    service = Service(context, OPERATIONS, credentials)
    loop = asyncio.get_running_loop()
    connections: set[HttpProtocol] = set()
    server = await loop.create_server(
        lambda: HttpProtocol(service.handle, service.too_large, connections),
        options.host, options.port, reuse_address=True, backlog=1024,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    where = options.data_dir or "memory"
    log.warning("quorumdb serving on http://%s:%d (data: %s)", options.host, options.port, where)
    print(f"quorumdb serving on http://{options.host}:{options.port} (data: {where})",
          flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        server.close()
        await _finish_connections(connections)
        await engine.drain()
        engine.close()


async def _finish_connections(connections: set[HttpProtocol]) -> None:
    """Clean shutdown: stop reading requests, answer the ones in flight (their writes
    become durable first), then close every connection. Bounded by SHUTDOWN_S."""
    for connection in list(connections):
        connection.closing = True
        connection.stop_reading()
    deadline = asyncio.get_running_loop().time() + SHUTDOWN_S
    while any(not c.idle() for c in connections):
        if asyncio.get_running_loop().time() > deadline:
            log.warning("shutdown: %d connections still busy", len(connections))
            break
        await asyncio.sleep(0.01)
    for connection in list(connections):
        connection.close()


def run(options: ServeOptions) -> int:
    uvloop.run(serve(options))
    return 0
