"""The storage engine of one node: LMDB, with writes made durable by group commit.

Theory of operation
-------------------
One LMDB environment per storage node (DESIGN.md, "Data layout"); one named database per
partition replica, plus ``__meta__`` for the node's catalog and per-partition counters.

Writes are *staged*: the request handler, running on the event loop, reads the latest
state of a key (committed state overlaid with staged-but-unflushed writes, exactly as a
replication leader evaluates conditions against its own in-flight proposals), computes
the new item image and stages it. The first write staged after a flush schedules the next
one on the event loop; it makes every staged image of every partition durable, writes
them in one LMDB write transaction, and only then resolves the future the handlers wait
on before acknowledging. One sync covers every write that arrived while the previous one
ran: group commit.

Who makes a batch durable:

* A data directory of its own (``quorumdb serve``): the batch is appended to the engine's
  WAL (``<path>/wal``, preallocated) and made durable by one ``fdatasync``, then committed
  to LMDB without a sync, then acknowledged. One sync of a sequential log instead of
  LMDB's two of scattered pages (measured here for 16 writes of 1 KB: WAL 0.15 ms at the
  median, a synced LMDB commit 0.86 ms). Checkpoints (``lmdb_checkpoint``) sync LMDB
  every ``checkpoint_bytes`` of log, on a thread of their own, and let the WAL behind
  them go; a restart puts LMDB back to the last checkpoint and replays the WAL after it.
  Catalog records and dropped partitions go through the same log, in order.
* A replication storage node (``sync=False``): the node's own WAL is the durability point
  and the node checkpoints (``checkpoint``).
* Memory: nothing to sync.

Reads that answer clients (GetItem, Query, Scan) see only *durable* state: a write is
visible to readers no earlier than it is acknowledged, so reads never observe a write that
a crash could still lose (linearizable on one node). With ``defer_apply`` (``serve``
without front-end workers) an acknowledged batch is in the WAL and in the partitions'
``unapplied`` overlay, and LMDB commits several batches at once; ``get`` and ``scan`` lay
the overlay over LMDB. With ``applier`` (``serve``) those commits are made by a child
process (``quorumdb.storage.applier``) on the other core, not on the event loop: the
overlay sent to it becomes the partitions' ``applying`` layer, read below the newer
``unapplied`` one, until it answers with the log position it committed and the
partitions' statistics; one batch is in flight at a time. The log's ``fdatasync`` of a
group commit of several writes is made by a second child (``quorumdb.storage.syncer``)
while the loop goes on serving; until it answers, the batch is the partitions'
``syncing`` layer, which ``latest`` sees and reads do not. Front-end workers read LMDB
from other processes, so with them every batch is committed to LMDB before it is
acknowledged. The replication issue
replaces the flusher with a replication group behind the same ``Partition`` interface.

In-memory mode (``--in-memory``) is the same engine on a temporary directory (tmpfs when
the machine has one) with syncing off, so tests and production share one code path.

Bounds: the staged overlay is bounded by ``MAX_STAGED_WRITES``, the overlay waiting for
the applier by ``MAX_UNAPPLIED_WRITES``; a handler that would exceed either waits
(back-pressure, never an unbounded queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import struct
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb
import msgspec

from quorumdb.storage import applier as applier_process
from quorumdb.storage import lmdb_checkpoint
from quorumdb.storage import syncer as syncer_process
from quorumdb.storage.child import Child, ChildFailed
from quorumdb.storage.errors import DataDirectoryError
from quorumdb.storage.wal import PREALLOCATED_REASON, Wal, WalCorruption, replace_durably

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

# The engine's own WAL (data directory mode). Records are msgpack arrays:
#   [0, [[partition, [[key, value | nil], ...]], ...]]   writes of one group commit
#   [1, key, value | nil]                                  a catalog record
#   [2, partition]                                         a dropped partition
WAL_DIR = "wal"
# The WAL's directory as the data directory last used it (``Engine._wal_location``).
WAL_LOCATION_FILE = "wal-location"
ENGINE_LOCK_FILE = "engine.lock"
APPLIED_KEY = b"wal/applied"
_WRITES, _META, _DROP = 0, 1, 2
# A group commit's writes are split into records of about this size (a record is read
# back whole on replay; the WAL's own bound is 16 MiB).
RECORD_TARGET_BYTES = 1 << 20
# Zeroes kept written ahead of the log's tail: lengthening a file makes its fdatasync
# journal the inode too (see ``Wal._preallocate``).
WAL_PREALLOCATE_BYTES = 4 << 20
# Log bytes between checkpoints. While a checkpoint's snapshot is pinned LMDB reuses no
# page freed since, so every page a commit copies goes to a new place and the next
# checkpoint's sync writes all of them (~13 KB of LMDB pages per 1 KB PutItem here,
# about what syncing every commit wrote: ~10 KB). Checkpoints at a short interval keep
# the file compact (freed pages are reused once the pin moves) and each sync short (the
# WAL's syncs queue behind it). Measured, durable PutItem at 32 clients, 20 k keys, 8 s:
# 1 MB: 9.8-9.9 k/s, p99.9 11.5-12.4 ms, data.mdb 50 MB; 8 MB: 10.0-10.5 k/s, p99.9
# 14-15 ms, 110 MB; 16 MB: p99.9 20 ms, ~400 MB; 32 MB: p99.9 27-30 ms. A checkpoint
# starts when the previous one has finished and this much log has been written since.
CHECKPOINT_BYTES = 1 << 20
# A checkpoint writes LMDB's dirty pages back in chunks of this size before its fdatasync
# (``lmdb_checkpoint.write_back``). Measured, PutItem at 5,000/s (half of peak), 100 k
# keys, two runs each: p90 4.0-5.7 ms, p99 7.7-11.5 ms; one fdatasync: p90 6.2-6.7 ms,
# p99 11.6-13.4 ms; no checkpoints at all: p90 1.8 ms, p99 3.6 ms.
WRITE_BACK_CHUNK_BYTES = 1 << 20
# The engine's background checkpoints run on a thread this much nicer than the event
# loop: their write-back of LMDB's pages is kernel work (0.16 of the CPU at 8,800
# PutItem/s, server on one CPU), and at the loop's priority the scheduler gave it an even
# share whenever both could run. Measured (durable PutItem on one CPU, C client on the
# other, 3 rounds, interleaved): at 8,800/s nice 10 p50 0.54-0.63 ms, p90 0.94-1.19, p99
# 4.5-4.8, p99.9 6.3-8.4 against 0.61-0.67, 1.19-1.56, 4.3-5.2, 6.1-8.0 at nice 0.
# SCHED_IDLE (runs only on an idle CPU) gave the same median and p90 but p99.9 7-10 ms
# and, at the peak, stalls of 160-250 ms (its write-back came in bursts).
CHECKPOINT_NICE = 10
# ... unless the checkpoint before fell behind the writes: this much log was written
# while it ran (8,800 PutItem/s: ~0.7 MB; bulk BatchWriteItem, 55 k items/s: ~100 MB).
# Bulk writes with every checkpoint at nice 10: LMDB's file 3.4-3.7 GB against 2.8 after
# 30 s, p99 45-50 ms against 26-31 (the pages a checkpoint must write grow with the time
# it takes). Nice values cannot be lowered again by an unprivileged process, so such a
# checkpoint runs on a second thread, at normal priority.
CHECKPOINT_LAG_BYTES = 8 << 20
# ``defer_apply``: acknowledged writes held in the read overlay before one LMDB commit.
APPLY_BATCH_WRITES = 256
# ``defer_apply``: below ``APPLY_BATCH_WRITES``, the overlay is committed this long after a
# group commit (when no flush is due then). Committing at once after every group commit
# put an LMDB commit (~0.1-0.3 ms with 100 k items) in front of the next request whenever
# requests came one at a time: durable PutItem at concurrency 1 (C client, 20 k keys)
# p50 0.238-0.271 ms, p90 0.35-0.40 at once; 0.215-0.218, p90 0.26 after 20 ms.
# Under load the overlay fills to ``APPLY_BATCH_WRITES`` first (no change at 5,400/s).
APPLY_DELAY_S = 0.02
# ``applier``: acknowledged writes the overlay may hold while the applier process commits
# the ones before them (beyond it, writes wait: ``has_room``).
MAX_UNAPPLIED_WRITES = MAX_STAGED_WRITES
# ... and their bytes: the applier's transaction holds every page it dirties in memory
# (about 16 KB per 1 KB write into 1 M items, 76 MiB of its heap after such a load), so
# a batch of large items must not grow with the count alone.
MAX_UNAPPLIED_BYTES = 16 << 20
# A group commit of fewer writes syncs the log on the event loop, not through the syncer
# process: one write alone means nothing else waits to be served meanwhile, and the two
# process wake-ups cost more than the loop's wait (durable PutItem at concurrency 1, one
# CPU: p50 0.35 ms through the syncer against 0.27 ms on the loop). A few writes do not
# pay for them either: a sync through the syncer costs it ~80 us of CPU, most of it two
# context switches and the disk's doorbells on this VM (perf), and at half of the
# one-core peak (8,800/s, ~4 writes a sync) its 2,000 syncs a second were 0.17 of the
# core. With 4 rather than 2: p99 median of 15 runs 5.9 ms against 7.3, p90 1.7-2.1 ms
# against 2.2-4.1 (interleaved; 8 no better), the closed-loop peak unchanged.
SYNCER_MIN_WRITES = 4
# Nor while the overlay holds this many writes: the applier (at idle priority) is behind
# because this CPU is never idle, and waiting on the loop for the sync gives it the CPU
# meanwhile. Without this, durable PutItem at its peak on one CPU stalled whenever the
# overlay filled: p99.9 29-33 ms against 9-16 ms with the loop's own syncs.
SYNCER_MAX_UNAPPLIED = MAX_UNAPPLIED_WRITES // 2
# How long a synchronous ``settle`` waits for the applier's answer before it gives up on
# it (a commit takes milliseconds; a stuck applier must not hang the engine).
APPLIER_TIMEOUT_S = 60.0
# How long a restart waits for processes of the previous run (front-end workers of a
# primary that died) to let go of the environment before it rewrites its meta pages.
UNSHARED_TIMEOUT_S = 10.0


def _below_normal_priority() -> None:
    """The calling thread yields ``CHECKPOINT_NICE`` steps to the rest of the process.
    Only on Linux, where a nice value is a thread's own: elsewhere it is the process's,
    and the event loop would be lowered with it."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.nice(CHECKPOINT_NICE)


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


def _merge(committed: Iterator[tuple[bytes, bytes]],
           overlay: list[tuple[bytes, bytes | None]], reverse: bool
           ) -> Iterator[tuple[bytes, bytes]]:
    """``committed`` with ``overlay`` laid over it (both in the scan's order; an overlay
    value None deletes the key)."""
    index = 0
    for key, value in committed:
        while index < len(overlay) and (overlay[index][0] > key if reverse
                                        else overlay[index][0] < key):
            newer = overlay[index][1]
            if newer is not None:
                yield overlay[index][0], newer
            index += 1
        if index < len(overlay) and overlay[index][0] == key:
            newer = overlay[index][1]
            if newer is not None:
                yield key, newer
            index += 1
            continue
        yield key, value
    for key, newer in overlay[index:]:
        if newer is not None:
            yield key, newer


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


_ENCODER = msgspec.msgpack.Encoder()
# A checkpoint begun by an owner: the snapshot's record and its pin (None in memory).
PendingCheckpoint = tuple[lmdb_checkpoint.Checkpoint, lmdb.Transaction] | None


def _meta_write(txn: lmdb.Transaction, db: Any, key: bytes, value: bytes | None) -> None:
    if value is None:
        txn.delete(key, db=db)
    else:
        txn.put(key, value, db=db)


def _lock_directory(path: str) -> int:
    """One process owns a data directory (its WAL and LMDB's meta pages)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirectoryError(
            f"{os.path.dirname(path)} is in use by another quorumdb process") from None
    return fd


@dataclass
class PartitionStats:
    item_count: int = 0
    size_bytes: int = 0


def replace_image(txn: lmdb.Transaction, db: Any, stats: PartitionStats, key: bytes,
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


@dataclass(slots=True)
class _Staged:
    value: bytes | None
    future: asyncio.Future[None] | None  # None: applied by a storage node, durable already


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
        # durable (in the WAL) and acknowledged, not yet committed to LMDB: reads see
        # these first (``Engine.defer_apply``)
        self.unapplied: dict[bytes, _Staged] = {}
        # older than ``unapplied``: sent to the applier process, not yet reported committed
        self.applying: dict[bytes, _Staged] = {}
        # written to the log, its sync not yet answered by the syncer process: not
        # acknowledged, so seen by ``latest`` (conditions) and not by ``get``/``scan``
        self.syncing: dict[bytes, _Staged] = {}
        self.dropped = False

    def ready(self) -> bool:
        return not self.dropped

    def get(self, key: bytes, consistent: bool = True) -> bytes | None:
        if self.unapplied:
            entry = self.unapplied.get(key)
            if entry is not None:
                return entry.value
        if self.applying:
            entry = self.applying.get(key)
            if entry is not None:
                return entry.value
        stored_as = stored_key(key)
        stored: bytes | None = self.engine.reader().get(  # type: ignore[assignment]
            stored_as, db=self.db)
        if stored is None:
            return None
        full, value = unwrap(stored_as, stored)
        return value if full == key else None

    def latest(self, key: bytes) -> tuple[bytes | None, asyncio.Future[None] | None]:
        """The newest image of ``key`` including staged writes and those whose log sync
        is in flight (``syncing``), and the future of the flush that makes it durable
        (None when it already is)."""
        staged = self.staged.get(key)
        if staged is None and self.syncing:
            staged = self.syncing.get(key)
        if staged is not None:
            return staged.value, staged.future  # staged writes always have their flush's
        return self.get(key), None  # unapplied writes are durable already

    def scan(
        self, start: bytes, end: bytes | None, reverse: bool = False, consistent: bool = True
    ) -> Iterator[tuple[bytes, bytes]]:
        """Durable entries with ``start <= key < end`` (``end`` None: to the end), in key
        order or reversed. The read transaction stays open while the caller iterates, so
        callers must bound their iteration (pages are bounded by 1 MB)."""
        committed = self._scan_committed(start, end, reverse)
        if not self.unapplied and not self.applying:
            return committed
        newest = {key: entry.value for layer in (self.applying, self.unapplied)
                  for key, entry in layer.items()
                  if key >= start and (end is None or key < end)}
        overlay = sorted(newest.items())
        if not overlay:
            return committed
        return _merge(committed, overlay[::-1] if reverse else overlay, reverse)

    def _scan_committed(
        self, start: bytes, end: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
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
    """An LMDB environment and the group commit of all its partitions."""

    def __init__(self, path: str | None, *, sync: bool = True, readonly: bool = False,
                 checkpoint_bytes: int = CHECKPOINT_BYTES, defer_apply: bool = False,
                 wal_dir: str | None = None, applier: bool = False) -> None:
        """``readonly``: a front-end worker's view of another process's environment
        (reads through LMDB's multi-process readers; every write stays with the owner).
        ``sync`` with a ``path``: the engine's own WAL makes writes durable (see the
        module docstring); without: the owner (a storage node) does. ``defer_apply``:
        with the WAL, acknowledge a batch once it is in the log and commit it to LMDB
        later with others (only when every reader is in this process: see
        ``_start_flush``). ``wal_dir``: the engine's WAL there instead of in
        ``<path>/wal`` (``_wal_location``). ``applier`` with ``defer_apply`` and a data
        directory: those LMDB commits are made by a child process
        (``quorumdb.storage.applier``), started once recovery is done."""
        self._temp_dir: str | None = None
        self._wal_dir = wal_dir
        self.readonly = readonly
        if path is None:
            base = "/dev/shm" if os.path.isdir("/dev/shm") else None
            self._temp_dir = tempfile.mkdtemp(prefix="quorumdb-", dir=base)
            path = self._temp_dir
            sync = False
        if not readonly:
            os.makedirs(path, exist_ok=True)
        self.path = path
        self.sync = sync and not readonly  # the engine's own WAL makes writes durable
        # a data directory of its own (not memory, not a worker's view): checkpoints pin,
        # sync and record LMDB snapshots, and an open restores the last one
        restorable = not readonly and self._temp_dir is None
        self._lock_fd: int | None = None
        restored: lmdb_checkpoint.Checkpoint | None = None
        if restorable:
            self._lock_fd = _lock_directory(os.path.join(path, ENGINE_LOCK_FILE))
            restored = lmdb_checkpoint.read(path)
            if restored is not None:
                lmdb_checkpoint.wait_until_unshared(path, UNSHARED_TIMEOUT_S)
                lmdb_checkpoint.restore(path, restored)
        self.env = lmdb.open(
            path, map_size=MAP_SIZE_BYTES, max_dbs=MAX_PARTITIONS,
            sync=False, metasync=False,  # a WAL (this engine's or a node's) is durability
            readahead=False, writemap=False, max_readers=1024,
            readonly=readonly, create=not readonly,
        )
        if restored is not None and (opened := self.env.info()["last_txnid"]) != restored.txnid:
            self.env.close()
            raise lmdb_checkpoint.CheckpointError(
                f"{path}: LMDB opened at txn {opened}, not at the checkpoint's "
                f"{restored.txnid} (another process has it open)")
        self.meta = self.env.open_db(META_DB, create=not readonly)
        self.partitions: dict[str, Partition] = {}
        self._dirty: dict[str, Partition] = {}
        self._flush_future: asyncio.Future[None] | None = None
        self._flush_scheduled = False
        self._defer_apply = defer_apply and self.sync
        # partitions whose ``unapplied`` overlay holds writes LMDB does not have yet
        self._unapplied: dict[str, Partition] = {}
        self._unapplied_writes = 0
        self._unapplied_bytes = 0  # of their values (``defer_apply``)
        self._unapplied_seq = 0
        self._apply_scheduled = False
        # the applier process and the partitions of the batch it is committing (None: no
        # batch in flight)
        self._applier: Child | None = None
        self._applying: list[Partition] | None = None
        # the syncer process and the group commit whose log sync it is running
        self._log_syncer: Child | None = None
        self._syncing: tuple[list[tuple[Partition, dict[bytes, _Staged]]],
                             asyncio.Future[None], int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._staged_count = 0
        self._capacity_waiters: list[asyncio.Future[None]] = []
        self.flushes = 0
        self._read_txn: lmdb.Transaction | None = None
        self._applied: dict[str, int] = {}
        # data directory mode: the WAL and checkpoint state (event loop; the checkpoint
        # thread only syncs and writes the checkpoint file)
        self._log: Wal | None = None
        self._failure: BaseException | None = None
        self._applied_seq = 0
        self._checkpoint_bytes = checkpoint_bytes
        self._logged_bytes = 0  # since the last checkpoint began
        self._pin: lmdb.Transaction | None = None
        self._checkpoint_txnid = -1  # the snapshot the checkpoint file names
        self._checkpointing = False
        self._closed = False
        self.checkpoints = 0
        self.replayed_records = 0
        self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quorumdb-ckpt")
        self._nice_syncer: ThreadPoolExecutor | None = None  # at the first background one
        self._checkpoint_lagged = False  # the last background one: CHECKPOINT_LAG_BYTES
        self.checkpoints_at_normal_priority = 0
        self._data_fd: int | None = None
        if restorable:
            self._data_fd = os.open(os.path.join(path, lmdb_checkpoint.DATA_FILE),
                                    os.O_RDONLY | os.O_CLOEXEC)
            self._page_size = int(self.env.stat()["psize"])
            # pinned at once: replay (or the owner's) must not reuse the restored
            # snapshot's pages before a newer checkpoint is durable
            self._pin = self.env.begin(buffers=False)
            if restored is not None:
                self._checkpoint_txnid = restored.txnid
        if self.sync:
            self._recover()
            if applier and self._defer_apply and restorable:
                try:
                    self._applier = applier_process.start(path)
                    self._log_syncer = syncer_process.start()
                except BaseException:
                    self.close()
                    raise
        elif restorable and restored is None:
            self._checkpoint_inline()  # something to restore to from now on

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
        """A synchronous, durable catalog write (control-plane operations are rare; with a
        WAL it is a log record of its own, synced before this returns)."""
        if self._log is not None:
            self._run_logged([_META, key, value])
            return
        with self.env.begin(db=self.meta, write=True) as txn:
            _meta_write(txn, self.meta, key, value)

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
        self.settle()  # in log order (a storage node's partitions: in any order)
        partition = self._forget_partition(name)
        if self._log is not None:
            self._run_logged([_DROP, name], partition.db)
            return
        with self.env.begin(write=True) as txn:
            self._drop(txn, partition.db, name)

    def _forget_partition(self, name: str) -> Partition:
        """Takes a partition out of use before its database is dropped (opening it first
        if it is not open: the drop needs its handle)."""
        partition = self.partitions.pop(name, None)
        if partition is None:
            partition = self.open_partition(name)
            self.partitions.pop(name)
        partition.dropped = True
        self._dirty.pop(name, None)
        self._applied.pop(name, None)
        self.committed()
        return partition

    def _drop(self, txn: lmdb.Transaction, db: Any, name: str) -> None:
        txn.drop(db, delete=True)
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
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._start_flush)  # after this turn's other writes

    def has_room(self) -> bool:
        return (self._staged_count < MAX_STAGED_WRITES
                and self._unapplied_writes < MAX_UNAPPLIED_WRITES
                and self._unapplied_bytes < MAX_UNAPPLIED_BYTES)

    async def wait_for_room(self) -> None:
        while not self.has_room():
            waiter = asyncio.get_running_loop().create_future()
            self._capacity_waiters.append(waiter)
            await waiter

    def _start_flush(self) -> None:
        """Writes everything staged as one batch and answers it. Runs on the event loop,
        scheduled by the first write staged after the previous batch, so a batch holds
        every write whose request arrived meanwhile: group commit.

        With a WAL the batch's records are appended and ``fdatasync``ed here, on the
        event loop, and LMDB is written without a sync (now, or with ``defer_apply``
        together with later batches: ``_defer``). The loop waits for the disk
        (0.15 ms at the median here; writes staged meanwhile wait in the sockets and
        form the next batch) rather than hand the sync to a thread: waking a thread on
        this 2-core VM cost ~0.76 ms per batch under load, and py-lmdb releases the GIL
        around every LMDB call, so LMDB work on a thread paid a GIL hand-off per call.
        Measured (durable PutItem, 32 clients): a flusher thread doing the sync and LMDB
        8.8-9.7 k/s; the sync alone on a thread, LMDB on the loop, one or two batches
        syncing at once 8.8-9.2 k/s; all on the loop 10.7-11.6 k/s. The price: reads
        answered by this process wait for a sync in progress (``--workers`` answer
        them in other processes). With the helper processes (``serve``) a batch of
        ``SYNCER_MIN_WRITES`` or more is synced by the syncer process instead
        (``_start_sync``): a process takes no GIL of the loop's, and the loop serves
        requests during the sync. Without a WAL (memory, or a storage node whose own
        WAL is the durability point) there is no sync to wait for."""
        self._flush_scheduled = False
        if self._syncing is not None:
            return  # the syncer's answer starts the next one
        future = self._flush_future
        if not self._dirty or future is None:
            if self._unapplied:  # a dropped partition emptied the batch this deferred to
                self._apply_now()
            return
        batch = [(p, p.staged) for p in self._dirty.values()]
        for partition, _ in batch:
            partition.staged = {}
        self._dirty = {}
        self._flush_future = None
        self._staged_count = 0
        self._wake_room_waiters()
        try:
            if (self._log_syncer is not None
                    and self._unapplied_writes < SYNCER_MAX_UNAPPLIED
                    and sum(len(staged) for _, staged in batch) >= SYNCER_MIN_WRITES):
                self._start_sync(batch, future)
                return
            seq = self._log_writes(batch) if self._log is not None else None
            if self._defer_apply:
                self._defer(batch, seq)
            else:
                self._commit(batch, seq)
        except Exception as exc:  # a failed disk fails the writes it held
            log.error("group commit failed; its writes are answered with errors: %r", exc)
            future.set_exception(exc)
            return
        self._answer_flush(future)

    def _answer_flush(self, future: asyncio.Future[None]) -> None:
        """A batch is durable: its writes are answered, and LMDB's commit of the overlay
        comes due."""
        self.flushes += 1
        future.set_result(None)
        self._apply_when_due()

    def _start_sync(self, batch: list[tuple[Partition, dict[bytes, _Staged]]],
                    future: asyncio.Future[None]) -> None:
        """With the syncer process: the batch's records go to the OS here and their
        ``fdatasync`` to the syncer; the batch waits in the partitions' ``syncing``
        layer (``latest`` sees it) and is answered when the syncer is (``_synced``)."""
        assert self._log_syncer is not None and self._log is not None
        seq = self._log_writes(batch, sync=False)
        target = self._log.begin_sync() if seq is not None else None
        if seq is None or target is None:  # every write went to a dropped partition
            self._answer_flush(future)
            return
        for partition, staged in batch:
            partition.syncing = staged
        self._syncing = (batch, future, seq)
        self._log_syncer.watch(self._read_syncer)
        try:
            self._log_syncer.send([seq, str(target[0])], APPLIER_TIMEOUT_S)
        except ChildFailed as exc:
            self._sync_failed(exc)

    def _read_syncer(self) -> None:
        for seq, _ in self._answers(self._log_syncer, self._sync_failed):
            self._synced(seq)

    def _answers(self, child: Child | None, failed: Callable[[BaseException], None],
                 wait: bool = False) -> list[tuple[int, Any]]:
        """A helper's answers: those complete now, or (``wait``) at least one; none
        once it has failed (``failed`` is told)."""
        assert child is not None
        try:
            return child.wait_answer(APPLIER_TIMEOUT_S) if wait else child.read_answers()
        except ChildFailed as exc:
            failed(exc)
            return []

    def _synced(self, seq: int) -> None:
        """The syncer has made the batch in flight durable: it is acknowledged and
        joins the read overlay; writes staged meanwhile are the next batch."""
        assert self._syncing is not None
        assert seq == self._syncing[2], (seq, self._syncing[2])
        batch, future = self._end_sync(None)
        self._defer(batch, seq)
        self._answer_flush(future)
        if self._dirty:
            self._schedule_flush()

    def _sync_failed(self, exc: BaseException) -> None:
        """As a failed ``fdatasync`` of the log: the batch in flight is answered with
        errors and the engine refuses writes from now on."""
        self._helper_failed(self._log_syncer, exc)
        if self._syncing is None:
            return
        _, future = self._end_sync(exc)
        future.set_exception(RuntimeError(f"the log's sync failed: {exc!r}"))
        if self._dirty:
            self._schedule_flush()  # answers what was staged meanwhile (refused)

    def _end_sync(self, error: BaseException | None
                  ) -> tuple[list[tuple[Partition, dict[bytes, _Staged]]], asyncio.Future[None]]:
        """The sync in flight is over (``error``: it failed): the log hears of it and the
        batch leaves the partitions' ``syncing`` layer. The batch and its future."""
        assert self._syncing is not None and self._log is not None
        batch, future, seq = self._syncing
        self._syncing = None
        self._log.end_sync(seq, error)
        for partition, _ in batch:
            partition.syncing = {}
        return batch, future

    def _wait_for_sync(self) -> None:
        """Blocks until no log sync is in flight (before a control record is appended
        and synced here, in log order)."""
        while self._syncing is not None:
            for seq, _ in self._answers(self._log_syncer, self._sync_failed, wait=True):
                self._synced(seq)

    def _wake_room_waiters(self) -> None:
        waiters, self._capacity_waiters = self._capacity_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _apply_when_due(self) -> None:
        """Commits the overlay to LMDB now when it holds ``APPLY_BATCH_WRITES``, else
        ``APPLY_DELAY_S`` from now."""
        if self._unapplied_writes >= APPLY_BATCH_WRITES:
            self._apply_now()
        elif self._unapplied and not self._apply_scheduled:
            self._apply_scheduled = True
            assert self._loop is not None
            self._loop.call_later(APPLY_DELAY_S, self._apply_when_quiet)

    def _commit(self, batch: Sequence[tuple[Partition, dict[bytes, _Staged]]],
                seq: int | None, slots: dict[str, int] | None = None) -> None:
        """Writes ``batch`` to LMDB (``_write_batch``), then moves the partitions'
        statistics and lets readers see it."""
        stats = self._write_batch(batch, seq, slots)
        for (partition, _), new_stats in zip(batch, stats, strict=True):
            partition.stats = new_stats
        self.committed()

    def _defer(self, batch: Sequence[tuple[Partition, dict[bytes, _Staged]]],
               seq: int | None) -> None:
        """``defer_apply``: the batch, whose records are synced, is answered now and kept
        in the partitions' ``unapplied`` overlay (reads see it there) until LMDB commits
        it with the batches after it: at ``APPLY_BATCH_WRITES`` writes, or
        ``APPLY_DELAY_S`` after a group commit when no flush is waiting then. Each LMDB
        commit copies every page it touches, and while a checkpoint's pin holds each copy
        is a new page its sync must write; committing many batches at once copies a page
        once for all of them (measured: PutItem +16-18% at 32 clients)."""
        if seq is None:
            return  # every write went to a dropped partition
        self._unapplied_seq = seq
        for partition, staged in batch:
            if not partition.dropped:
                partition.unapplied.update(staged)
                self._unapplied[partition.name] = partition
                self._unapplied_writes += len(staged)
                self._unapplied_bytes += sum(len(entry.value) for entry in staged.values()
                                             if entry.value is not None)

    def _apply_when_quiet(self) -> None:
        self._apply_scheduled = False
        if not self._flush_scheduled and not self._closed:  # else the next flush decides
            self._apply_now()

    def _apply_now(self) -> None:
        """Commits the overlay: here (``settle``), or by sending it to the applier
        process when it is not committing a batch already (else its answer sends it)."""
        if self._applier is None:
            self.settle()
        elif self._applying is None and self._failure is None:
            self._send_to_applier()

    def _send_to_applier(self) -> None:
        """The overlay becomes the partitions' ``applying`` layer (reads still see it)
        and goes to the applier process, with the log position it reaches."""
        assert self._applier is not None and self._applying is None
        partitions = [p for p in self._unapplied.values() if not p.dropped]
        parts = [(p.name, [(key, entry.value) for key, entry in p.unapplied.items()])
                 for p in partitions]
        seq = self._unapplied_seq
        for partition in partitions:
            partition.applying, partition.unapplied = partition.unapplied, {}
        self._unapplied = {}
        self._unapplied_writes = 0
        self._unapplied_bytes = 0
        self._applying = partitions
        self._wake_room_waiters()
        self._applier.watch(self._read_applier)
        try:
            self._applier.send_soon([seq, parts], APPLIER_TIMEOUT_S, self._applier_failed)
        except ChildFailed as exc:
            self._applier_failed(exc)

    def _read_applier(self) -> None:
        answers = self._answers(self._applier, self._applier_failed)
        for seq, counts in answers:
            self._applied_by_applier(seq, counts)
        if answers and self._applying is None and self._unapplied and not self._closed:
            self._apply_when_due()

    def _applied_by_applier(self, seq: int, counts: list[list[Any]]) -> None:
        """The applier committed the batch in flight: LMDB holds it, so readers renew
        their snapshot before the layer goes."""
        assert self._applying is not None
        self.committed()
        stats = {name: PartitionStats(count, size) for name, count, size in counts}
        for partition in self._applying:
            partition.applying = {}
            if partition.name in stats:
                partition.stats = stats[partition.name]
        self._applying = None
        self._applied_seq = seq
        self._after_logged_commit()

    def _applier_failed(self, exc: BaseException) -> None:
        """As a failed LMDB commit: what was acknowledged stays readable from the
        overlay, and writes are refused from now on."""
        self._helper_failed(self._applier, exc)

    def _helper_failed(self, child: Child | None, exc: BaseException) -> None:
        """A helper process failed: writes are refused from now on."""
        if self._failure is None:
            what = child.what if child is not None else "helper"
            log.error("%s failed; writes are refused from now on: %r", what, exc)
            self._failure = exc
        if child is not None:
            child.unwatch()

    def _settle_by_applier(self) -> None:
        """``settle`` with the applier: sends the overlay and waits until it reports
        every batch committed (the event loop waits too: catalog writes, drops and
        checkpoints are rare)."""
        assert self._applier is not None
        while self._failure is None and (self._applying is not None or self._unapplied):
            if self._applying is None:
                self._send_to_applier()
                continue
            for seq, counts in self._answers(self._applier, self._applier_failed, wait=True):
                self._applied_by_applier(seq, counts)

    def settle(self) -> None:
        """Commits every acknowledged write not yet in LMDB, in one transaction (when the
        overlay is full or ``APPLY_DELAY_S`` after a group commit, and before anything
        that reads LMDB's state of a partition as a whole). If that fails the writes stay
        readable from the overlay and the engine refuses writes from then on
        (``_write_batch`` records the failure). With the engine's WAL the transaction
        records the log position it holds; a storage node's (no WAL of the engine's)
        records each partition's applied slot, the newest ``apply`` set."""
        if self._applier is not None:
            self._settle_by_applier()
            return
        if not self._unapplied:
            return
        batch = [(partition, partition.unapplied) for partition in self._unapplied.values()]
        if self._log is not None:
            seq, slots = self._unapplied_seq, None
        else:
            seq, slots = None, {name: self._applied[name] for name in self._unapplied}
        self._unapplied = {}
        self._unapplied_writes = 0
        self._unapplied_bytes = 0
        try:
            self._commit(batch, seq, slots)
        except Exception as exc:
            log.error("LMDB commit failed; writes are refused from now on: %r", exc)
            return
        for partition, _ in batch:
            partition.unapplied = {}

    def _write_batch(self, batch: Sequence[tuple[Partition, dict[bytes, _Staged]]],
                     seq: int | None, slots: dict[str, int] | None = None
                     ) -> list[PartitionStats]:
        """One LMDB write transaction for the batch, each partition's statistics moved by
        the images replaced; ``seq``: the last log record it holds, or ``slots``: the last
        replication slot of each partition (a storage node's); either is recorded in the
        same transaction, so a restart knows where to replay from."""
        out: list[PartitionStats] = []
        try:
            with self.env.begin(write=True) as txn:
                for partition, staged in batch:
                    stats = PartitionStats(partition.stats.item_count,
                                           partition.stats.size_bytes)
                    out.append(stats)
                    if partition.dropped:
                        continue
                    self._write_images(txn, partition, stats, (
                        (key, entry.value) for key, entry in staged.items()))
                    if slots is not None:
                        txn.put(b"applied/" + partition.name.encode(),
                                b"%d" % slots[partition.name], db=self.meta)
                if seq is not None:
                    txn.put(APPLIED_KEY, b"%d" % seq, db=self.meta)
        except Exception as exc:
            if seq is not None or slots:  # LMDB and the log disagree now
                self._failure = exc
            raise
        if seq is not None:
            self._applied_seq = seq
            self._after_logged_commit()
        return out

    def _write_images(self, txn: lmdb.Transaction, partition: Partition,
                      stats: PartitionStats, images: Iterable[tuple[bytes, bytes | None]]
                      ) -> None:
        """One partition's new images (None deletes) and its statistics record."""
        for key, value in images:
            replace_image(txn, partition.db, stats, key, value)
        txn.put(b"stats/" + partition.name.encode(), msgspec.msgpack.encode(stats),
                db=self.meta)

    # -- data directory mode: the engine's WAL and checkpoints -------------------------
    def _log_writes(self, batch: Sequence[tuple[Partition, dict[bytes, _Staged]]],
                    sync: bool = True) -> int | None:
        """Appends the batch's writes to the log and syncs it (or not: the syncer
        process will); the last record's seq, or None when every write in it went to a
        dropped partition."""
        self._check_usable()
        payloads: list[bytes] = []
        groups: list[list[Any]] = []
        size = 0
        for partition, staged in batch:
            if partition.dropped:
                continue
            pairs: list[list[bytes | None]] = []
            groups.append([partition.name, pairs])
            for key, entry in staged.items():
                if size >= RECORD_TARGET_BYTES:
                    payloads.append(_ENCODER.encode([_WRITES, groups]))
                    pairs = []
                    groups = [[partition.name, pairs]]
                    size = 0
                pairs.append([key, entry.value])
                size += len(key) + (len(entry.value) if entry.value is not None else 0)
        if groups:
            payloads.append(_ENCODER.encode([_WRITES, groups]))
        return self._append_and_sync(payloads, sync) if payloads else None

    def _append_and_sync(self, payloads: list[bytes], sync: bool = True) -> int:
        assert self._log is not None
        try:
            seq = self._log.append(payloads)
            if sync:
                self._log.sync()
        except Exception as exc:
            self._failure = exc  # the WAL poisons itself too; LMDB must not move on alone
            raise
        self._logged_bytes += sum(len(payload) for payload in payloads)
        return seq

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise RuntimeError(f"the storage engine failed earlier: {self._failure!r}")

    def _run_logged(self, record: list[Any], db: Any = None) -> None:
        """A control record (catalog write, dropped partition): durable and applied
        before this returns, in log order with the batches around it."""
        self._wait_for_sync()
        self.settle()
        self._check_usable()
        seq = self._append_and_sync([_ENCODER.encode(record)])
        try:
            with self.env.begin(write=True) as txn:
                self._apply_control(txn, record, db)
                txn.put(APPLIED_KEY, b"%d" % seq, db=self.meta)
        except Exception as exc:
            self._failure = exc
            raise
        self._applied_seq = seq
        self.committed()
        self._after_logged_commit()

    def _apply_control(self, txn: lmdb.Transaction, record: list[Any], db: Any) -> None:
        if record[0] == _META:
            _meta_write(txn, self.meta, record[1], record[2])
        else:
            self._drop(txn, db, record[1])

    def _recover(self) -> None:
        """Opens the WAL and replays every record after the one LMDB's snapshot holds (on
        the opening thread, before anything else uses the engine), then checkpoints, so a
        second crash replays nothing twice."""
        raw = self.meta_get(APPLIED_KEY)
        applied = int(raw) if raw else 0
        wal = Wal.open(self._wal_location(), initial_seq=applied + 1,
                       preallocate_bytes=WAL_PREALLOCATE_BYTES)
        self._log = wal
        if wal.recovery.truncated_bytes and wal.recovery.reason != PREALLOCATED_REASON:
            log.warning("WAL recovery: %s", wal.recovery)
        if wal.synced_seq < applied or (wal.synced_seq > applied and wal.first_seq > applied + 1):
            raise WalCorruption(WAL_DIR, 0, f"LMDB holds records up to {applied}, the log "
                                f"has {wal.first_seq}..{wal.synced_seq}")
        for seq, payload in (wal.replay(applied + 1) if wal.synced_seq > applied else ()):
            self._replay(seq, msgspec.msgpack.decode(payload))
        self._applied_seq = max(applied, wal.synced_seq)
        self.committed()
        self._checkpoint_inline()

    def _wal_location(self) -> str:
        """The WAL's directory: ``<path>/wal``, or ``wal_dir`` (``serve --wal-dir``: the
        log on a disk of its own, so that its syncs do not wait for LMDB's write-back).
        The data directory records where its log is (``WAL_LOCATION_FILE``, written
        and synced before the log is first used), and an open that names another
        place stops with one line: started from an empty log, it would find LMDB
        consistent and lose every acknowledged write that only the log held. A data
        directory without the record is one that has always kept its log inside; a
        ``wal_dir`` that holds another data directory's segments is refused too."""
        default = os.path.realpath(os.path.join(self.path, WAL_DIR))
        wanted = os.path.realpath(self._wal_dir) if self._wal_dir is not None else default
        record = os.path.join(self.path, WAL_LOCATION_FILE)
        try:
            with open(record, encoding="utf-8") as file:
                recorded: str | None = file.read().strip()
        except FileNotFoundError:
            recorded = None
        if recorded is None:
            if wanted != default and os.path.isdir(default) and os.listdir(default):
                recorded = WAL_DIR
            elif wanted != default and os.path.isdir(wanted) and any(
                    name.endswith(".log") for name in os.listdir(wanted)):
                raise DataDirectoryError(
                    f"{wanted} already holds a WAL (another data directory's?); "
                    f"{self.path} needs an empty or new --wal-dir")
            else:
                # inside: recorded relative, so the data directory can be moved or copied
                replace_durably(Path(record),
                                ((WAL_DIR if wanted == default else wanted) + "\n").encode())
                return wanted
        where = default if recorded == WAL_DIR else recorded
        if where != wanted:
            hint = "without --wal-dir" if where == default else f"with --wal-dir {where}"
            raise DataDirectoryError(f"{self.path} keeps its WAL in {where}: start it {hint}")
        return wanted

    def _replay(self, seq: int, record: list[Any]) -> None:
        self.replayed_records += 1
        # partitions are opened before the write transaction: opening one may create
        # its database, in a write transaction of its own
        opened = {name: self.open_partition(name) for name, _ in
                  (record[1] if record[0] == _WRITES else ())}
        dropped_db = self._forget_partition(record[1]).db if record[0] == _DROP else None
        with self.env.begin(write=True) as txn:
            if record[0] == _WRITES:
                for name, pairs in record[1]:
                    partition = opened[name]
                    self._write_images(txn, partition, partition.stats, pairs)
            else:
                self._apply_control(txn, record, dropped_db)
            txn.put(APPLIED_KEY, b"%d" % seq, db=self.meta)

    def _after_logged_commit(self) -> None:
        """Begins a checkpoint once enough log has piled up behind the last one (event
        loop). Its snapshot is pinned here, between commits; its write-back and sync run
        on the checkpoint thread while batches go on; the loop finishes it."""
        if self._checkpointing or self._logged_bytes < self._checkpoint_bytes:
            return
        if self._loop is None or not self._loop.is_running():  # no loop to finish it on
            self._checkpoint_inline()
            return
        self._checkpointing = True
        self._logged_bytes = 0
        pending, future = self.begin_checkpoint(self._background_thread())
        assert pending is not None
        future.add_done_callback(
            lambda done: self._finish_checkpoint(*pending, done.exception(), True))

    def _background_thread(self) -> ThreadPoolExecutor:
        """Where the engine's next background checkpoint runs: at ``CHECKPOINT_NICE``
        (a thread made the first time, so engines that never checkpoint in the background
        have none), or at normal priority after one that fell behind
        (``CHECKPOINT_LAG_BYTES``)."""
        if self._checkpoint_lagged:
            self.checkpoints_at_normal_priority += 1
            return self._syncer
        if self._nice_syncer is None:
            self._nice_syncer = ThreadPoolExecutor(max_workers=1,
                                                   thread_name_prefix="quorumdb-ckpt-nice",
                                                   initializer=_below_normal_priority)
        return self._nice_syncer

    def _checkpoint_threads(self) -> list[ThreadPoolExecutor]:
        return [thread for thread in (self._nice_syncer, self._syncer) if thread is not None]

    def _capture(self) -> tuple[lmdb_checkpoint.Checkpoint, lmdb.Transaction]:
        """Pins the current snapshot and reads its meta page; a catalog commit on the event
        loop between the two can move the meta slot, and then it is tried again."""
        for _ in range(9):
            try:
                return self._capture_once()
            except lmdb_checkpoint.MetaPageMoved:
                continue
        return self._capture_once()

    def _capture_once(self) -> tuple[lmdb_checkpoint.Checkpoint, lmdb.Transaction]:
        assert self._data_fd is not None, "checkpoints need a data directory"
        pin = self.env.begin(buffers=False)
        try:
            txnid = pin.id()
            page = lmdb_checkpoint.read_meta_page(self._data_fd, txnid, self._page_size)
            # the snapshot's own record: the applier may have committed after the last
            # answer the engine has read
            raw: bytes | None = pin.get(APPLIED_KEY, db=self.meta)
        except BaseException:
            pin.abort()
            raise
        return lmdb_checkpoint.Checkpoint(txnid, int(raw) if raw else 0, page), pin

    def _finish_checkpoint(self, checkpoint: lmdb_checkpoint.Checkpoint,
                           pin: lmdb.Transaction, error: BaseException | None,
                           background: bool) -> None:
        """Event loop: the snapshot is synced and recorded; move the pin, let the log
        behind it go. A checkpoint older than the one recorded (a background one that an
        inline one overtook) changes nothing: the pin and the log only move forward."""
        if background:
            self._checkpointing = False
            self._checkpoint_lagged = self._logged_bytes >= CHECKPOINT_LAG_BYTES
            if self._closed:  # close() took the last checkpoint; the pin died with LMDB
                return
        if error is None and checkpoint.txnid <= self._checkpoint_txnid:
            pin.abort()
            return
        if error is None and self._log is not None:
            try:
                self._log.release_before(checkpoint.applied_seq + 1)
            except Exception as exc:
                error = exc
        if error is not None:
            pin.abort()
            log.error("checkpoint failed; writes are refused from now on: %r", error)
            self._failure = error  # a failed LMDB fsync may have dropped dirty pages
            return
        if self._pin is not None:
            self._pin.abort()
        self._pin = pin
        self._checkpoint_txnid = checkpoint.txnid
        self.checkpoints += 1

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
        """A storage node's chosen writes ``(partition, slot, [(key, value | None)])``:
        readable at once from the partitions' overlay, committed to LMDB with the ones
        after them in one transaction (``APPLY_BATCH_WRITES``, or ``settle`` when the node
        is quiet) that also records each partition's applied slot, so a restart knows
        where to resume (apply is idempotent: full images replace full images, and the
        node's WAL keeps every entry after the last checkpoint, which settles first).
        Before, each Ready cycle of each node committed its own transaction: 24% of the
        event loop under PutItem at ``--replicas 3``, most of it per-commit work (one
        transaction of 16 random 1 KB writes: 12 us a write; of 256: 7 us)."""
        self._check_usable()
        for name, slot, writes in batches:
            partition = self.open_partition(name)
            if writes:
                partition.unapplied.update((key, _Staged(value, None)) for key, value in writes)
                self._unapplied_writes += len(writes)
            self._unapplied[name] = partition
            self._applied[name] = slot
        if self._unapplied_writes >= APPLY_BATCH_WRITES:
            self.settle()

    def capture(self, name: str) -> tuple[int, bytes]:
        """The applied state of a partition (for a snapshot): its slot and every entry."""
        self.settle()
        partition = self.open_partition(name)
        with self.env.begin(db=partition.db, buffers=False) as txn:
            entries = [unwrap(k, v) for k, v in txn.cursor().iternext()]
            raw = txn.get(b"applied/" + name.encode(), db=self.meta)
        slot = int(raw) if raw else 0
        return slot, msgspec.msgpack.encode(entries)

    def install(self, name: str, slot: int, state: bytes) -> None:
        """Replaces a partition's content by a snapshot taken at ``slot``."""
        self.settle()
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
        """Makes every committed transaction durable, as a snapshot an open restores
        (before the WAL behind it is dropped), on the calling thread."""
        if self._data_fd is None:
            self.env.sync(True)
            return
        self.settle()
        self._check_usable()
        self._checkpoint_inline()

    # -- checkpoints driven by an owner (a storage node's Ready cycle) ------------------
    def begin_checkpoint(self, thread: ThreadPoolExecutor | None = None
                         ) -> tuple[PendingCheckpoint, asyncio.Future[None]]:
        """Pins the current snapshot (event loop, between commits) and syncs it on a
        checkpoint thread (``thread``, by default the normal-priority one; an inline
        checkpoint waits for both, so the checkpoint file only moves forward); once the
        future is done, ``end_checkpoint`` on the event loop. The pending part is None in
        memory (only a sync to do)."""
        pending = self._capture() if self._data_fd is not None else None
        future = asyncio.get_running_loop().run_in_executor(
            thread or self._syncer, self._sync_checkpoint, pending)
        return pending, future

    def _sync_checkpoint(self, pending: PendingCheckpoint) -> None:
        """The checkpoint thread (or the caller, inline): LMDB's dirty pages written back
        in chunks, synced, and the snapshot recorded (tens of milliseconds with many
        pages dirty)."""
        if pending is None:
            self.env.sync(True)
            return
        assert self._data_fd is not None
        lmdb_checkpoint.write_back(self._data_fd, WRITE_BACK_CHUNK_BYTES)
        self.env.sync(True)
        lmdb_checkpoint.write(self.path, pending[0])

    def end_checkpoint(self, pending: PendingCheckpoint, error: BaseException | None) -> None:
        if pending is not None:
            self._finish_checkpoint(pending[0], pending[1], error, False)

    def _wait_for_checkpoint_threads(self) -> None:
        """Returns once neither checkpoint thread has work left."""
        for thread in self._checkpoint_threads():
            thread.submit(lambda: None).result()

    def _checkpoint_inline(self) -> None:
        """A whole checkpoint on the calling thread (on open, on close, on request),
        with no batch being synced. A background checkpoint still syncing finishes
        first: the checkpoint file must only ever move forward."""
        self._wait_for_checkpoint_threads()
        pending = self._capture()
        error: Exception | None = None
        try:
            self._sync_checkpoint(pending)
        except Exception as exc:
            error = exc
        self._finish_checkpoint(*pending, error, False)
        if self._failure is not None:
            raise RuntimeError("checkpoint failed") from self._failure

    async def drain(self) -> None:
        """Waits until every staged write is durable (clean shutdown)."""
        while True:
            if self._syncing is not None:
                await asyncio.shield(self._syncing[1])
                continue
            pending = self._flush_future
            if pending is None:
                return
            await asyncio.shield(pending)

    def close(self) -> None:
        """After ``drain``. A background checkpoint still running finishes first; the
        final checkpoint below supersedes it."""
        if self._read_txn is not None:
            self._read_txn.abort()
            self._read_txn = None
        self._wait_for_sync()
        self.settle()
        for child in (self._applier, self._log_syncer):
            if child is not None:
                child.stop(APPLIER_TIMEOUT_S)
        if self._log is not None and self._failure is None:
            self._checkpoint_inline()  # a clean stop replays nothing on the next open
        if self._pin is not None:
            self._pin.abort()
            self._pin = None
        self._closed = True
        if self._log is not None:
            self._log.close()
        for thread in self._checkpoint_threads():  # before the data file's fd goes
            thread.shutdown(wait=True)
        if self._data_fd is not None:
            os.close(self._data_fd)
        self.env.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
