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

Protocol
--------
Frames in both directions are a little-endian u32 length and a msgpack array.

* engine -> applier: ``[seq, [[partition, [[key, value | nil], ...]], ...]]``: the
  overlay's writes, every one of them in the WAL up to record ``seq``. The applier commits
  them in one transaction that also moves each partition's statistics record (read from
  LMDB, moved by the images replaced, as the engine's own commits do) and records ``seq``
  as the applied log position, so a restart knows where to replay from.
* applier -> engine: ``[0, []]`` once it has the environment open (the engine waits for
  it, so an applier that cannot start stops the server's start, not its first write);
  then ``[seq, [[partition, item_count, size_bytes], ...]]`` once a batch's transaction
  is committed, or ``[-1, message]`` when it failed (the applier exits then).

One batch is in flight at a time (the engine sends the next after the answer), so a pipe
never holds more than one frame and the applier is always reading when a frame comes.
The applier runs at ``SCHED_IDLE``: any other runnable task on its CPU preempts it at
once (the event loop, a client on the same machine). At normal priority a 3 ms commit
delayed whatever woke on its CPU by up to the scheduler's wakeup granularity: an open-loop
client on the same machine was late by 2.3 ms at p99 (0.08 ms at SCHED_IDLE) and durable
PutItem at 5,400/s had p99 3.7-3.8 ms against 2.4-2.8 (docs/performance.md, "Seventh
session"). Its work waits meanwhile, bounded: the engine's overlay stops taking writes at
``MAX_UNAPPLIED_WRITES``, and then the event loop idles and the applier runs.

The applier exits when its input closes: the engine closed, or died (a frame cut short
is not committed). It ignores SIGINT and SIGTERM, which a terminal or a service manager
sends to the whole process group: the engine decides when it stops, after it has
answered everything it acknowledged. Recovery is the engine's, before the applier
starts: LMDB restored to its checkpoint and the WAL replayed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import msgspec

_LENGTH = struct.Struct("<I")
# F_SETPIPE_SZ: a batch of 256 writes of 1 KB fits the pipe whole, so sending it does not
# wait for the applier to read.
_F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20
ERROR_SEQ = -1
READY_SEQ = 0  # log records are numbered from 1
# An applier imports and opens LMDB in ~0.1 s here.
START_TIMEOUT_S = 30.0
_ENCODER = msgspec.msgpack.Encoder()
# A partition's statistics after a commit: (name, item_count, size_bytes).
PartitionCounts = tuple[str, int, int]


class ApplierFailed(RuntimeError):
    """The applier reported a failed commit, exited, or did not answer in time."""


def _frame(message: Any) -> bytes:
    body = _ENCODER.encode(message)
    return _LENGTH.pack(len(body)) + body


class Applier:
    """The engine's side: starts the child, sends batches, collects its answers.

    Answers are read without blocking (``read_answers``, from the event loop's reader
    callback) or by waiting (``wait_answer``, for a synchronous settle)."""

    def __init__(self, path: str) -> None:
        import quorumdb

        package_root = os.path.dirname(os.path.dirname(os.path.abspath(quorumdb.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [package_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "quorumdb.storage.applier", path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._out = self.process.stdin.fileno()
        self._in = self.process.stdout.fileno()
        with contextlib.suppress(OSError):  # a smaller pipe only costs a short wait
            fcntl.fcntl(self._out, _F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        self._buffer = bytearray()
        try:
            ready = self.wait_answer(START_TIMEOUT_S)
        except ApplierFailed:
            self.stop(1.0)
            raise
        if ready != [(READY_SEQ, [])]:
            self.stop(1.0)
            raise ApplierFailed(f"the LMDB applier started with {ready!r}")

    @property
    def answers_fd(self) -> int:
        return self._in

    def send(self, seq: int, parts: Sequence[tuple[str, list[tuple[bytes, bytes | None]]]],
             timeout_s: float) -> None:
        """Writes one batch. The applier is reading when a batch is sent (the previous
        one is answered), so this waits at most for it to copy what does not fit the
        pipe; ``ApplierFailed`` when it is gone or does not read for ``timeout_s``."""
        view = memoryview(_frame([seq, parts]))
        deadline = time.monotonic() + timeout_s
        try:
            while view:
                try:
                    view = view[os.write(self._out, view):]
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise ApplierFailed(
                            f"the LMDB applier did not read for {timeout_s} s") from None
                    select.select([], [self._out], [], left)
        except OSError as exc:
            raise ApplierFailed(f"the LMDB applier is gone: {exc!r}") from exc

    def read_answers(self) -> list[tuple[int, list[PartitionCounts]]]:
        """Every answer complete in the pipe now; ``ApplierFailed`` when the applier has
        reported a failure or exited."""
        while True:
            try:
                chunk = os.read(self._in, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                raise ApplierFailed(f"the LMDB applier exited ({self.process.poll()})")
            self._buffer += chunk
        answers = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if len(self._buffer) < _LENGTH.size + length:
                break
            seq, body = msgspec.msgpack.decode(
                bytes(self._buffer[_LENGTH.size:_LENGTH.size + length]))
            del self._buffer[:_LENGTH.size + length]
            if seq == ERROR_SEQ:
                raise ApplierFailed(f"the LMDB applier failed: {body}")
            answers.append((seq, [(name, count, size) for name, count, size in body]))
        return answers

    def wait_answer(self, timeout_s: float) -> list[tuple[int, list[PartitionCounts]]]:
        """Blocks until at least one answer is complete (``ApplierFailed`` after
        ``timeout_s``: a commit takes milliseconds, a stuck applier must not hang the
        engine)."""
        deadline = time.monotonic() + timeout_s
        while True:
            answers = self.read_answers()
            if answers:
                return answers
            left = deadline - time.monotonic()
            if left <= 0:
                raise ApplierFailed(f"the LMDB applier did not answer in {timeout_s} s")
            select.select([self._in], [], [], left)

    def stop(self, timeout_s: float) -> None:
        """Closes its input (it exits after the batch in hand) and waits for it; kills it
        after ``timeout_s``."""
        assert self.process.stdin is not None and self.process.stdout is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


def _read_exactly(stream: Any, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(path: str) -> int:
    """The child: commits every batch that arrives on stdin, answers on stdout."""
    import lmdb

    from quorumdb.storage import engine as eng

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: an ordinary priority
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    env = lmdb.open(path, map_size=eng.MAP_SIZE_BYTES, max_dbs=eng.MAX_PARTITIONS,
                    sync=False, metasync=False, readahead=False, writemap=False,
                    max_readers=1024, create=False)
    meta = env.open_db(eng.META_DB, create=False)
    # handles stay valid when the engine drops and recreates a database: LMDB re-reads a
    # named database's root by name in every transaction
    handles: dict[str, Any] = {}
    decoder = msgspec.msgpack.Decoder()
    source = sys.stdin.buffer
    answers = sys.stdout.buffer
    answers.write(_frame([READY_SEQ, []]))
    answers.flush()
    while True:
        head = _read_exactly(source, _LENGTH.size)
        if head is None:
            return 0
        body = _read_exactly(source, _LENGTH.unpack(head)[0])
        if body is None:
            return 0  # the engine died while sending: nothing of this batch is applied
        seq, parts = decoder.decode(body)
        try:
            counts = _commit(env, meta, handles, eng, seq, parts)
        except Exception as exc:
            answers.write(_frame([ERROR_SEQ, repr(exc)]))
            answers.flush()
            return 1
        answers.write(_frame([seq, counts]))
        answers.flush()


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
