"""The LMDB applier: a child process that commits the engine's acknowledged writes to LMDB.

Why a process
-------------
``quorumdb serve --data-dir`` acknowledges a write once its WAL record is synced and keeps
it in a read overlay until LMDB commits it with the writes after it (``Engine``,
``defer_apply``). Those commits ran on the event loop that serves requests: ~3.3 ms each
at the median with 100 k items (1.1 ms of B-tree updates, the rest page writes), 21 a
second at 5,400 PutItem/s, each a stall in front of every request waiting then; the loop
was the bottleneck at peak (0.86 of a core) while 0.6 of the machine's two cores idled.
A thread cannot take them: py-lmdb releases the GIL around every call, so each ``put`` on
a thread waits for the loop to hand the GIL back. LMDB's writer lock and reader table
work across processes, so a child that opens the same environment can do the commits on
the other core (a prototype measured: durable PutItem at 5,400/s p99 3.8-4.6 ms instead
of 4.8-5.4, the closed-loop peak +15%).

Protocol (framing, start and stop: ``child.py``)
------------------------------------------------
* engine -> applier: ``[seq, [[partition, [[key, value | nil], ...]], ...]]``: the
  overlay's writes, every one of them in the WAL up to record ``seq``. The applier commits
  them in one transaction that also moves each partition's statistics record (read from
  LMDB, moved by the images replaced, as the engine's own commits do) and records ``seq``
  as the applied log position, so a restart knows where to replay from.
* applier -> engine: ``[seq, [[partition, item_count, size_bytes], ...]]`` once a
  batch's transaction is committed.

One batch is in flight at a time (the engine sends the next after the answer).

The applier runs at ``SCHED_IDLE``: any other runnable task on its CPU preempts it at
once (the event loop, a client on the same machine). At normal priority a 3 ms commit
delayed whatever woke on its CPU by up to the scheduler's wakeup granularity: an open-loop
client on the same machine was late by 2.3 ms at p99 (0.08 ms at SCHED_IDLE) and durable
PutItem at 5,400/s had p99 3.7-3.8 ms against 2.4-2.8 (docs/performance.md, "Seventh
session"). Its work waits meanwhile, bounded: the engine's overlay stops taking writes at
``MAX_UNAPPLIED_WRITES``, and then the event loop idles and the applier runs.

Recovery is the engine's, before the applier starts: LMDB restored to its checkpoint
and the WAL replayed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import msgspec

from quorumdb.storage.child import Child, serve_requests, start_helper

MODULE = "quorumdb.storage.applier"
_ENCODER = msgspec.msgpack.Encoder()
# A partition's statistics after a commit: (name, item_count, size_bytes).
PartitionCounts = tuple[str, int, int]


def start(path: str) -> Child:
    """The applier of the LMDB environment in ``path``, ready."""
    return Child(MODULE, [path], "LMDB applier")


def serve(path: str) -> int:
    """The child: commits every batch that arrives on stdin, answers on stdout."""
    import lmdb

    from quorumdb.storage import engine as eng

    requests, answers = start_helper()
    with contextlib.suppress(OSError, AttributeError):  # not Linux: an ordinary priority
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    env = lmdb.open(path, map_size=eng.MAP_SIZE_BYTES, max_dbs=eng.MAX_PARTITIONS,
                    sync=False, metasync=False, readahead=False, writemap=False,
                    max_readers=1024, create=False)
    meta = env.open_db(eng.META_DB, create=False)
    # handles stay valid when the engine drops and recreates a database: LMDB re-reads a
    # named database's root by name in every transaction
    handles: dict[str, Any] = {}
    return serve_requests(
        requests, answers, lambda request: _commit(env, meta, handles, eng, *request))


def _commit(env: Any, meta: Any, handles: dict[str, Any], eng: Any, seq: int,
            parts: list[list[Any]]) -> list[list[Any]]:
    counts = []
    with env.begin(write=True, buffers=False) as txn:
        for name, pairs in parts:
            db = handles.get(name)
            if db is None:
                db = handles[name] = env.open_db(name.encode(), txn=txn, create=False)
            stats_key = b"stats/" + name.encode()
            raw = txn.get(stats_key, db=meta)
            stats = (msgspec.msgpack.decode(raw, type=eng.PartitionStats) if raw
                     else eng.PartitionStats())
            for key, value in pairs:
                eng.replace_image(txn, db, stats, key, value)
            txn.put(stats_key, _ENCODER.encode(stats), db=meta)
            counts.append([name, stats.item_count, stats.size_bytes])
        txn.put(eng.APPLIED_KEY, b"%d" % seq, db=meta)
    return counts


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
