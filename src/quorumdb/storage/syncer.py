"""The WAL syncer: a child process that runs the engine's ``fdatasync`` of its log.

Why a process
-------------
With LMDB's commits gone to the applier (``applier.py``), the event loop of ``quorumdb
serve --data-dir`` still waited in ``fdatasync`` for every group commit: at 9,400
PutItem/s on one core, 28.7 k syncs in 13 s (p50 0.14 ms) held it 5.0 s, about 40% of
its time, while requests took 3.3 s (``bench/loop_timing.py``). A thread was measured
before and lost (waking it and handing back the GIL cost more than the sync, second
session); a process that only calls ``fdatasync`` takes no GIL of the loop's. The loop
hands the group commit's records to the OS (``Wal.begin_sync``), sends the tail segment's
path here, serves requests meanwhile, and acknowledges the batch when the answer comes
(``Wal.end_sync``); writes arriving meanwhile form the next batch.

Protocol (framing, start and stop: ``child.py``): ``[seq, path]`` -> ``[seq, []]`` once
``path`` (a segment file: the syncer keeps the last one open) is synced, so every record
up to ``seq`` is durable. One sync in flight at a time. The syncer runs at normal
priority: every acknowledgement waits for it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from quorumdb.storage.child import Child, serve_requests, start_helper

MODULE = "quorumdb.storage.syncer"
_sync = getattr(os, "fdatasync", os.fsync)


def start() -> Child:
    return Child(MODULE, [], "WAL syncer")


def serve() -> int:
    requests, answers = start_helper()
    fd: int | None = None
    path: str | None = None

    def sync(request: list[Any]) -> list[Any]:
        nonlocal fd, path
        _, wanted = request
        if wanted != path:
            if fd is not None:
                os.close(fd)
                fd = None
            fd = os.open(wanted, os.O_RDONLY | os.O_CLOEXEC)
            path = wanted
        assert fd is not None
        _sync(fd)
        return []

    return serve_requests(requests, answers, sync)


if __name__ == "__main__":
    sys.exit(serve())
