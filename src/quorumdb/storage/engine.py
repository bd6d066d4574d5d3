"""The storage engine of one node: LMDB, with writes made durable by group commit.

Theory of operation
-------------------
One LMDB environment per storage node (DESIGN.md, "Data layout"); one named database per
partition replica, plus ``__meta__`` for the node's catalog and per-partition counters.

Writes are *staged*: the request handler, running on the event loop, reads the latest
state of a key (committed state overlaid with staged-but-unflushed writes, exactly as a
replication leader evaluates conditions against its own in-flight proposals), computes
the new item image and stages it. A single flusher writes every staged image of every
partition in one LMDB write transaction, syncs it, and only then resolves the futures the
handlers wait on before acknowledging. One sync covers every write that arrived while the
previous one ran: group commit.

Reads that answer clients (GetItem, Query, Scan) see only *committed* state: a write is
visible to readers no earlier than it is acknowledged, so reads never observe a write that
a crash could still lose (linearizable on one node). The replication issue replaces the
flusher with a replication group behind the same ``Partition`` interface.

In-memory mode (``--in-memory``) is the same engine on a temporary directory (tmpfs when
the machine has one) with syncing off, so tests and production share one code path.

Bounds: the staged overlay is bounded by ``MAX_STAGED_WRITES``; a handler that would
exceed it waits for the running flush (back-pressure, never an unbounded queue).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import lmdb
import msgspec

log = logging.getLogger("quorumdb.storage")

# 1 TiB of address space: LMDB's map is virtual and sparse, so this reserves no memory or
# disk; it only bounds how large the node's data may grow.
MAP_SIZE_BYTES = 1 << 40
MAX_PARTITIONS = 10_000
# Staged writes per flush. 4096 writes of up to 400 KB is the worst case a single
# transaction carries; typical items are ~1 KB.
MAX_STAGED_WRITES = 4096

_SIZE = struct.Struct(">I")
_LONG_HEADER = struct.Struct(">IH")
# LMDB's keys are limited to 511 bytes, DynamoDB's storage keys reach ~6 KB (2048-byte
# partition keys and 1024-byte sort keys, escaped). A longer key is stored under its first
# LONG_KEY_PREFIX_BYTES and a hash of the whole; the value then carries the whole key, and
# scans restore true order inside each run of long keys that share the stored prefix.
LONG_KEY_PREFIX_BYTES = 480
HASH_SUFFIX_BYTES = 16
_LONG_FLAG = 0x8000_0000
META_DB = b"__meta__"


def pack_item(item_json: bytes, size_bytes: int) -> bytes:
    """Stored value: the item's DynamoDB size (so capacity needs no decode) then its JSON
    (so GetItem can splice it into the response without re-encoding)."""
    return _SIZE.pack(size_bytes) + item_json


def unpack_size(value: bytes) -> int:
    return int(_SIZE.unpack_from(value)[0])


def unpack_json(value: bytes) -> bytes:
    return value[4:]


def stored_key(key: bytes) -> bytes:
    if len(key) <= LONG_KEY_PREFIX_BYTES:
        return key
    return key[:LONG_KEY_PREFIX_BYTES] + hashlib.blake2b(
        key, digest_size=HASH_SUFFIX_BYTES).digest()


def wrap(key: bytes, value: bytes) -> bytes:
    """The LMDB value of an entry: the caller's value, or for a long key, a flagged header
    with the whole key followed by the caller's value minus its size field."""
    if len(key) <= LONG_KEY_PREFIX_BYTES:
        return value
    return _LONG_HEADER.pack(unpack_size(value) | _LONG_FLAG, len(key)) + key + value[4:]


def unwrap(stored: bytes, value: bytes) -> tuple[bytes, bytes]:
    """(whole key, caller's value) of an LMDB entry."""
    size = unpack_size(value)
    if not size & _LONG_FLAG:
        return stored, value
    _, key_length = _LONG_HEADER.unpack_from(value)
    key_end = _LONG_HEADER.size + key_length
    return value[_LONG_HEADER.size:key_end], _SIZE.pack(size & ~_LONG_FLAG) + value[key_end:]


def _in_true_order(entries: Iterator[tuple[bytes, bytes]], reverse: bool
                   ) -> Iterator[tuple[bytes, bytes]]:
    """Unwraps LMDB entries; runs of long keys sharing a stored prefix (ordered by hash in
    LMDB) are re-sorted by their whole keys."""
    run: list[tuple[bytes, bytes]] = []
    run_prefix = b""
    for stored, value in entries:
        if len(stored) <= LONG_KEY_PREFIX_BYTES:
            if run:
                run.sort(reverse=reverse)
                yield from run
                run = []
            yield stored, value
            continue
        prefix = stored[:LONG_KEY_PREFIX_BYTES]
        if run and prefix != run_prefix:
            run.sort(reverse=reverse)
            yield from run
            run = []
        run_prefix = prefix
        run.append(unwrap(stored, value))
    if run:
        run.sort(reverse=reverse)
        yield from run


@dataclass
class PartitionStats:
    item_count: int = 0
    size_bytes: int = 0


def _replace(txn: lmdb.Transaction, db: Any, stats: PartitionStats, key: bytes,
             value: bytes | None) -> None:
    """Writes one image (None deletes) and moves ``stats`` by the difference between it
    and the image it replaces (read in the same LMDB call as the write)."""
    stored = stored_key(key)
    old: bytes | None  # write transactions are begun without buffers
    if value is None:
        old = txn.pop(stored, db=db)  # type: ignore[assignment]
    else:
        old = txn.replace(stored, wrap(key, value), db=db)  # type: ignore[assignment]
        stats.item_count += 1
        stats.size_bytes += unpack_size(value)
    if old is not None:
        stats.item_count -= 1
        stats.size_bytes -= unpack_size(unwrap(stored, old)[1])


@dataclass
class _Staged:
    value: bytes | None
    future: asyncio.Future[None]


class Partition:
    """One key range of one table on this node.

    ``latest`` sees staged writes (for condition evaluation at the leader); ``get`` and
    ``scan`` see committed state only (for reads answered to clients)."""

    def __init__(self, engine: Engine, name: str, db: Any, stats: PartitionStats) -> None:
        self.engine = engine
        self.name = name
        self.db = db
        self.stats = stats
        self.staged: dict[bytes, _Staged] = {}
        # the batch being written and synced: no longer staged, not yet committed
        self.inflight: dict[bytes, _Staged] = {}
        self.dropped = False

    def ready(self) -> bool:
        return not self.dropped

    def get(self, key: bytes, consistent: bool = True) -> bytes | None:
        stored: bytes | None = self.engine.reader().get(  # type: ignore[assignment]
            stored_key(key), db=self.db)
        if stored is None:
            return None
        full, value = unwrap(stored_key(key), stored)
        return value if full == key else None

    def latest(self, key: bytes) -> tuple[bytes | None, asyncio.Future[None] | None]:
        """The newest image of ``key`` including staged writes and the batch being
        flushed, and the future of the flush that makes it durable (None when it already
        is)."""
        staged = self.staged.get(key) or self.inflight.get(key)
        if staged is not None:
            return staged.value, staged.future
        return self.get(key), None

    def scan(
        self, start: bytes, end: bytes | None, reverse: bool = False, consistent: bool = True
    ) -> Iterator[tuple[bytes, bytes]]:
        """Committed entries with ``start <= key < end`` (``end`` None: to the end), in key
        order or reversed. The read transaction stays open while the caller iterates, so
        callers must bound their iteration (pages are bounded by 1 MB)."""
        # the shared reader stays valid while this runs: callers iterate without awaiting
        txn = self.engine.reader()
        cursor = txn.cursor(db=self.db)
        if not reverse:
            if not cursor.set_range(start[:LONG_KEY_PREFIX_BYTES]):
                return
            entries = cursor.iternext()
        else:
            if end is None:
                positioned = cursor.last()
            else:
                bound = end if len(end) <= LONG_KEY_PREFIX_BYTES else (
                    end[:LONG_KEY_PREFIX_BYTES] + b"\xff" * (HASH_SUFFIX_BYTES + 1))
                positioned = cursor.set_range(bound)
                positioned = cursor.prev() if positioned else cursor.last()
            if not positioned:
                return
            entries = cursor.iterprev()
        for key, value in _in_true_order(entries, reverse):  # type: ignore[arg-type]
            if reverse:
                if end is not None and key >= end:
                    continue
                if key < start:
                    return
            else:
                if key < start:
                    continue
                if end is not None and key >= end:
                    return
            yield key, value

    def stage(self, key: bytes, value: bytes | None) -> asyncio.Future[None]:
        """Stages the new image of ``key`` (None deletes it) and returns the future that
        resolves when it is durable. Statistics change when the flush writes it, from
        the image it replaces, so a write whose answer needs no old image reads none."""
        assert not self.dropped, "write to a dropped partition"
        future = self.engine.next_flush_future()
        self.staged[key] = _Staged(value, future)
        self.engine.schedule(self)
        return future


class Engine:
    """An LMDB environment and the group-commit flusher of all its partitions."""

    def __init__(self, path: str | None, *, sync: bool = True, readonly: bool = False) -> None:
        """``readonly``: a front-end worker's view of another process's environment
        (reads through LMDB's multi-process readers; every write stays with the owner)."""
        self._temp_dir: str | None = None
        self.readonly = readonly
        if path is None:
            base = "/dev/shm" if os.path.isdir("/dev/shm") else None
            self._temp_dir = tempfile.mkdtemp(prefix="quorumdb-", dir=base)
            path = self._temp_dir
            sync = False
        if not readonly:
            os.makedirs(path, exist_ok=True)
        self.path = path
        self.sync = sync and not readonly
        self.env = lmdb.open(
            path, map_size=MAP_SIZE_BYTES, max_dbs=MAX_PARTITIONS, sync=sync,
            metasync=sync, readahead=False, writemap=False, max_readers=1024,
            readonly=readonly, create=not readonly,
        )
        self.meta = self.env.open_db(META_DB, create=not readonly)
        self.partitions: dict[str, Partition] = {}
        self._dirty: dict[str, Partition] = {}
        self._flush_future: asyncio.Future[None] | None = None
        self._flushing = False
        self._inflight: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._staged_count = 0
        self._capacity_waiters: list[asyncio.Future[None]] = []
        self.flushes = 0
        self._read_txn: lmdb.Transaction | None = None
        self._applied: dict[str, int] = {}
        # one thread: batches are written in order, one sync at a time
        self._flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quorumdb-flush")

    # -- reads --------------------------------------------------------------------------
    def reader(self) -> lmdb.Transaction:
        """A read transaction at the newest committed state, shared by every read until
        the next commit. Beginning an LMDB read transaction per request cost more than
        the lookup itself (py-spy: ~9% of a GetItem); one per commit is cheap (py-lmdb
        3.0 has no reset/renew, so "renew" is abort + begin). Only the event-loop thread
        uses it."""
        txn = self._read_txn
        if txn is None:
            txn = self._read_txn = self.env.begin(buffers=False)
        return txn

    def committed(self) -> None:
        """Called on the event-loop thread after every commit: the shared reader lets go
        of its snapshot now (so LMDB can reuse freed pages) and renews on its next use."""
        if self._read_txn is not None:
            self._read_txn.abort()
            self._read_txn = None

    # -- catalog: small records in the meta database -------------------------------------
    def meta_get_current(self, key: bytes) -> bytes | None:
        """A catalog record as of the shared reader's snapshot (no transaction of its own:
        the front-end worker asks this on every request)."""
        value: bytes | None = self.reader().get(key, db=self.meta)  # type: ignore[assignment]
        return value

    def meta_get(self, key: bytes) -> bytes | None:
        with self.env.begin(db=self.meta) as txn:
            value: bytes | None = txn.get(key)
        return value

    def meta_items(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        with self.env.begin(db=self.meta) as txn:
            cursor = txn.cursor()
            if cursor.set_range(prefix):
                for key, value in cursor:
                    if not key.startswith(prefix):
                        break
                    out.append((bytes(key), bytes(value)))
        return out

    def meta_put(self, key: bytes, value: bytes | None) -> None:
        """A synchronous, durable catalog write (control-plane operations are rare)."""
        with self.env.begin(db=self.meta, write=True) as txn:
            if value is None:
                txn.delete(key)
            else:
                txn.put(key, value)

    # -- partitions -----------------------------------------------------------------------
    def open_partition(self, name: str) -> Partition:
        existing = self.partitions.get(name)
        if existing is not None:
            return existing
        db = self.env.open_db(name.encode(), create=not self.readonly)
        self.committed()  # a transaction cannot use a database opened after it began
        raw = self.meta_get(b"stats/" + name.encode())
        stats = msgspec.msgpack.decode(raw, type=PartitionStats) if raw else PartitionStats()
        partition = Partition(self, name, db, stats)
        self.partitions[name] = partition
        return partition

    def drop_partition(self, name: str) -> None:
        partition = self.partitions.pop(name, None)
        if partition is None:
            partition = self.open_partition(name)
            self.partitions.pop(name)
        partition.dropped = True
        self._dirty.pop(name, None)
        self._applied.pop(name, None)
        self.committed()
        with self.env.begin(write=True) as txn:
            txn.drop(partition.db, delete=True)
            txn.delete(b"stats/" + name.encode(), db=self.meta)

    # -- group commit ---------------------------------------------------------------------
    def next_flush_future(self) -> asyncio.Future[None]:
        if self._flush_future is None:
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop
            self._flush_future = loop.create_future()
        self._staged_count += 1
        return self._flush_future

    def schedule(self, partition: Partition) -> None:
        self._dirty[partition.name] = partition
        if not self._flushing:
            self._flushing = True
            assert self._loop is not None
            self._loop.call_soon(self._start_flush)  # after this turn's other writes

    def has_room(self) -> bool:
        return self._staged_count < MAX_STAGED_WRITES

    async def wait_for_room(self) -> None:
        while not self.has_room():
            waiter = asyncio.get_running_loop().create_future()
            self._capacity_waiters.append(waiter)
            await waiter

    def _start_flush(self) -> None:
        """Hands everything staged to the flusher thread as one batch. Writes staged
        while it runs wait for the next batch, so every sync carries everything that
        arrived meanwhile. Runs on the event loop, when nothing is being flushed."""
        future = self._flush_future
        if not self._dirty or future is None:
            self._flushing = False
            return
        batch = [(p, p.staged) for p in self._dirty.values()]
        for partition, staged in batch:
            partition.inflight = staged
            partition.staged = {}
        self._dirty = {}
        self._flush_future = None
        self._staged_count = 0
        waiters, self._capacity_waiters = self._capacity_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._inflight = future
        if self.sync:
            self._flusher.submit(self._flush, batch, future)
        else:  # nothing to wait for (tmpfs, no sync): no thread hand-offs either way
            self._flushed(batch, future, *self._write_outcome(batch))

    def _write_outcome(self, batch: Sequence[tuple[Partition, dict[bytes, _Staged]]]
                       ) -> tuple[list[PartitionStats], Exception | None]:
        try:
            return self._write_batch(batch), None
        except Exception as exc:  # a failed disk fails the writes it held
            return [], exc

    def _flush(self, batch: Sequence[tuple[Partition, dict[bytes, _Staged]]],
               future: asyncio.Future[None]) -> None:
        """The flusher thread: writes and syncs the batch, then hands the outcome to the
        event loop in one callback (not through a Task, whose wake-up would queue behind
        the requests the loop is busy with and leave the disk idle meanwhile)."""
        stats, error = self._write_outcome(batch)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._flushed, batch, future, stats, error)

    def _flushed(self, batch: Sequence[tuple[Partition, dict[bytes, _Staged]]],
                 future: asyncio.Future[None], stats: list[PartitionStats],
                 error: Exception | None) -> None:
        self._inflight = None
        for partition, _ in batch:  # committed (readers renew below) or failed
            partition.inflight = {}
        if error is not None:
            log.error("group commit failed; its writes are answered with errors: %r", error)
            future.set_exception(error)
        else:
            for (partition, _), new_stats in zip(batch, stats, strict=True):
                partition.stats = new_stats
            self.flushes += 1
            self.committed()
            future.set_result(None)
        self._start_flush()  # at once: the disk stays busy while anything is staged

    def _write_batch(
        self, batch: Sequence[tuple[Partition, dict[bytes, _Staged]]]
    ) -> list[PartitionStats]:
        """One write transaction for the batch (on the flusher thread, or inline in
        memory), each partition's statistics moved by the images replaced, then the
        environment's sync on commit."""
        out: list[PartitionStats] = []
        with self.env.begin(write=True) as txn:
            for partition, staged in batch:
                stats = PartitionStats(partition.stats.item_count, partition.stats.size_bytes)
                out.append(stats)
                if partition.dropped:
                    continue
                for key, entry in staged.items():
                    _replace(txn, partition.db, stats, key, entry.value)
                txn.put(b"stats/" + partition.name.encode(), msgspec.msgpack.encode(stats),
                        db=self.meta)
        return out

    # -- replicated mode: chosen log entries applied to the state machine ---------------
    def applied_slot(self, name: str) -> int:
        """The slot last applied to a partition; read from LMDB once, then kept in memory
        (it is asked on every proposal reply)."""
        slot = self._applied.get(name)
        if slot is None:
            raw = self.meta_get(b"applied/" + name.encode())
            slot = self._applied[name] = int(raw) if raw else 0
        return slot

    def apply(self, batches: Sequence[tuple[str, int, Sequence[tuple[bytes, bytes | None]]]]
              ) -> None:
        """Applies chosen writes ``(partition, slot, [(key, value | None)])`` in one LMDB
        transaction, with statistics computed from the images being replaced, and records
        each partition's applied slot in the same transaction (so a restart knows where
        to resume: apply is idempotent, full images replace full images)."""
        with self.env.begin(write=True) as txn:
            touched: dict[str, Partition] = {}
            for name, slot, writes in batches:
                partition = self.open_partition(name)
                for key, value in writes:
                    _replace(txn, partition.db, partition.stats, key, value)
                txn.put(b"applied/" + name.encode(), b"%d" % slot, db=self.meta)
                touched[name] = partition
                self._applied[name] = slot
            for name, partition in touched.items():
                txn.put(b"stats/" + name.encode(), msgspec.msgpack.encode(partition.stats),
                        db=self.meta)
        self.committed()

    def capture(self, name: str) -> tuple[int, bytes]:
        """The applied state of a partition (for a snapshot): its slot and every entry."""
        partition = self.open_partition(name)
        with self.env.begin(db=partition.db, buffers=False) as txn:
            entries = [unwrap(k, v) for k, v in txn.cursor().iternext()]
            raw = txn.get(b"applied/" + name.encode(), db=self.meta)
        slot = int(raw) if raw else 0
        return slot, msgspec.msgpack.encode(entries)

    def install(self, name: str, slot: int, state: bytes) -> None:
        """Replaces a partition's content by a snapshot taken at ``slot``."""
        entries = msgspec.msgpack.decode(state, type=list[tuple[bytes, bytes]])
        partition = self.open_partition(name)
        stats = PartitionStats()
        with self.env.begin(write=True) as txn:
            txn.drop(partition.db, delete=False)
            for key, value in entries:
                txn.put(stored_key(key), wrap(key, value), db=partition.db)
                stats.item_count += 1
                stats.size_bytes += unpack_size(value)
            txn.put(b"applied/" + name.encode(), b"%d" % slot, db=self.meta)
            txn.put(b"stats/" + name.encode(), msgspec.msgpack.encode(stats), db=self.meta)
        partition.stats = stats
        self._applied[name] = slot
        self.committed()

    def checkpoint(self) -> None:
        """Makes every applied transaction durable (before the WAL behind it is dropped)."""
        self.env.sync(True)

    async def drain(self) -> None:
        """Waits until every staged write is durable (clean shutdown)."""
        while True:
            pending = self._inflight or self._flush_future
            if pending is None:
                return
            await asyncio.shield(pending)

    def close(self) -> None:
        self._flusher.shutdown(wait=True)
        if self._read_txn is not None:
            self._read_txn.abort()
            self._read_txn = None
        if self.sync:
            self.env.sync(True)
        self.env.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
