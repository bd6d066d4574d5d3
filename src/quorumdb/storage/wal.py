"""The storage node's write-ahead log: segmented, CRC32C per record, group commit.

Theory of operation
-------------------
One WAL per storage node (DESIGN.md, "Data layout"). Every replication group on the node
hands its persists (promises, accepted entries) to the same log as opaque payloads, and
one ``sync()`` makes all of them durable with a single ``fdatasync``: the caller appends
the records of many groups, syncs once, and only then sends the messages that depend on
them (persist before send; etcd-raft's ``Ready``/``MustSync``). The WAL assigns each
record a sequence number; the payload says which group and slot it belongs to.

The log is a directory of segment files ``wal-<first_seq:020d>.log`` (format and codec in
``wal_format``, which is pure so the simulator's disks reuse it). Records go to the last
segment (the *tail*) until the next record would push it past ``segment_size_bytes``;
then a new segment starts. ``truncate_before(seq)`` deletes whole segments once every
record in them is below ``seq`` (the caller checkpointed and archived them);
``release_before(seq)`` does the same for a caller on an event loop, the files retired
on a thread (up to two kept as spares that the next segments reuse).

::

    <directory>/
      wal.lock                       flock: one process per log
      wal-00000000000000000001.log   sealed: records 1..40, fdatasynced, closed
      wal-00000000000000000041.log   tail:   [segment header][rec 41][rec 42]...[rec n]
      wal-00000000000000000093.log.tmp  a creation cut short by a crash; removed on open

Layers: ``Wal`` is the blocking driver (files, fdatasync); ``WalStorage`` is the interface
it implements and the simulator's disk implements too; ``GroupCommitter`` is the asyncio
helper that batches concurrent ``await commit(records)`` calls into one append+sync run
in a worker thread, with bounded bytes and back-pressure.

Durability and recovery
-----------------------
* ``append`` only buffers (it writes to the OS early when the buffer passes its bound, but
  never syncs); ``sync`` writes the buffer and fdatasyncs. A record is acknowledged
  (``synced_seq``) only after the fdatasync covering it returned.
* A segment is created as ``<name>.tmp`` holding only its header, fdatasynced, renamed to
  its final name and the directory fsynced: a segment under its final name always has a
  durable, valid header. Deleting segments is followed by a directory fsync as well.
* A segment is created only after its predecessor is fully written and fdatasynced. So a
  crash can leave damage (a torn write, unwritten zeroes) only in the *last* segment,
  after its last acknowledged record.
* On open every record of every segment is read and its checksum and sequence number
  checked, streaming through a bounded buffer. Damage in the last segment is a torn tail
  and truncated away if no valid record follows it (searching the next
  ``SURVIVOR_SEARCH_RECORDS`` sequence numbers); damage anywhere else, or damage followed
  by a surviving record (a bit flip, a lost sector in acknowledged data), raises
  ``WalCorruption`` naming the segment and offset. Nothing is ever skipped silently.
  Known limit: a damaged region in the last segment that wipes more than
  ``SURVIVOR_SEARCH_RECORDS`` consecutive records up to the end of the file cannot be
  told apart from a torn unsynced batch and is truncated.
* An I/O error from write or fdatasync poisons the log (``WalFailedError`` from then on):
  after a failed fsync the kernel may have dropped the dirty pages, so retrying could
  report durability that does not exist ("fsyncgate", PostgreSQL 2018).

Invariants (asserted)
---------------------
* Sequence numbers are contiguous from ``first_seq`` to ``last_seq``; ``synced_seq`` is
  between ``first_seq - 1`` and ``last_seq``.
* Segments are contiguous: each starts at the previous segment's last seq + 1; only the
  tail may be empty; the tail is never deleted.
* No buffer holds more than ``max_pending_bytes`` + one record (appends), or one read
  chunk + one record (reads); payloads are at most ``max_payload_bytes`` when
  written and at most the format's ``MAX_PAYLOAD_BYTES`` when read.

Not thread-safe: one thread appends and syncs (``GroupCommitter`` guarantees this).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import fcntl
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol, TypeVar, runtime_checkable

from quorumdb.storage.wal_format import (
    DEFAULT_SEGMENT_SIZE_BYTES,
    MAX_PAYLOAD_BYTES,
    RECORD_HEADER_BYTES,
    SEGMENT_HEADER_BYTES,
    SEQ_OFFSET,
    SURVIVOR_SEARCH_RECORDS,
    U64_MAX,
    Decoded,
    DecodeFailure,
    Incomplete,
    Invalid,
    decode_record,
    decode_segment_header,
    encode_record,
    encode_segment_header,
    find_record_candidates,
    parse_segment_file_name,
    segment_file_name,
)

_T = TypeVar("_T")

# Reads go through a buffer of this size (plus at most one record): 1 MiB amortises the
# syscall per read to nothing while staying far below a segment.
READ_CHUNK_BYTES: Final = 1024 * 1024
# Appended-but-unsynced bytes held in memory before they are handed to the OS early. One
# group-commit batch is typically far smaller; this bounds a caller that never syncs.
DEFAULT_MAX_PENDING_BYTES: Final = 16 * 1024 * 1024
LOCK_FILE_NAME: Final = "wal.lock"
# RecoveryReport.reason when the tail's bytes after its last record are all zero: the
# preallocated region (see ``Wal._preallocate``), not damage.
PREALLOCATED_REASON: Final = "preallocated zeroes after the last record"
_TMP_SUFFIX: Final = ".tmp"


# --- errors -------------------------------------------------------------------------------


class WalError(Exception):
    """Base of every error this module raises.

    ::

        WalError
        ├── WalCorruption       the disk returned bytes that fail a check (segment, offset)
        ├── WalFailedError      an I/O error poisoned the log; reopen to recover
        ├── WalClosedError      used after close()
        ├── WalLockedError      another process holds the directory
        └── RecordTooLargeError payload above max_payload_bytes (also a ValueError)
    """


class WalCorruption(WalError):
    def __init__(self, segment: str, offset: int, reason: str) -> None:
        super().__init__(f"WAL corruption in {segment} at offset {offset}: {reason}")
        self.segment = segment
        self.offset = offset
        self.reason = reason


class WalFailedError(WalError):
    pass


class WalClosedError(WalError):
    pass


class WalLockedError(WalError):
    pass


class RecordTooLargeError(WalError, ValueError):
    pass


log = logging.getLogger("quorumdb.wal")

# Retired segments kept as spares (``release_before``), and their file name prefix.
MAX_SPARE_SEGMENTS: Final = 2
SPARE_PREFIX: Final = "spare-"
# A spare made from nothing, ahead of need, when there is none to recycle: its name is
# this prefix and the name of the segment that was being filled meanwhile.
FRESH_SPARE_PREFIX: Final = SPARE_PREFIX + "fresh-"
# Spares are zeroed a chunk at a time, each written back before the next, so a WAL sync
# never queues behind more than this many of their bytes on the device.
ZERO_CHUNK_BYTES: Final = 1 << 20


# --- the interface ------------------------------------------------------------------------


@runtime_checkable
class WalStorage(Protocol):
    """What the replication driver needs from a write-ahead log; ``Wal`` on files, the
    simulator's disk in memory. Sequence numbers start at 1 and are contiguous."""

    @property
    def first_seq(self) -> int:
        """The oldest sequence number still held (``last_seq + 1`` when empty)."""
        ...

    @property
    def last_seq(self) -> int:
        """The newest sequence number appended (durable or not); ``first_seq - 1`` if none."""
        ...

    @property
    def synced_seq(self) -> int:
        """The newest sequence number known durable."""
        ...

    @property
    def max_payload_bytes(self) -> int: ...

    def append(self, payloads: Sequence[bytes]) -> int:
        """Buffers records; returns the sequence number of the last. Not durable yet."""
        ...

    def sync(self) -> int:
        """Makes everything appended so far durable with one sync; returns ``synced_seq``."""
        ...

    def replay(self, from_seq: int) -> Iterator[tuple[int, bytes]]:
        """Durable records with ``seq >= from_seq`` in order, each verified on read."""
        ...

    def truncate_before(self, seq: int) -> int:
        """Deletes whole segments whose records are all below ``seq``; returns how many."""
        ...

    def close(self) -> None: ...


# --- the file driver ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What opening the log found; the caller logs it."""

    segments: int
    records: int
    truncated_bytes: int = 0
    truncated_segment: str | None = None
    truncated_offset: int | None = None
    reason: str | None = None
    removed_temporary_files: int = 0


@dataclass(slots=True, eq=False)  # identity semantics: `in` compares objects, not bytes
class _Segment:
    first_seq: int
    name: str
    end_seq: int  # one past its last record, pending ones included
    size_bytes: int  # header + records, pending ones included
    on_disk: bool
    fd: int | None = None  # open for appending while it may still receive or sync data
    pending: bytearray = field(default_factory=bytearray)
    file_bytes: int = 0  # the file's length: size_bytes written, plus preallocated zeroes
    # the prefix known to hold only records and zeroes: below file_bytes in a recycled
    # file, whose old records are overwritten with zeroes ahead of the tail (all of it
    # in a spare zeroed in the background)
    clean_bytes: int = 0

    @property
    def record_count(self) -> int:
        return self.end_seq - self.first_seq


def fsync_directory(path: Path) -> None:
    """Makes a directory's entries (created, renamed, deleted files) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | bytearray) -> None:
    with memoryview(data) as view:
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])


def replace_durably(path: Path, data: bytes) -> None:
    """Replaces a small file atomically and durably: written to a temporary beside it,
    synced, renamed over it, and the directory synced."""
    temporary = path.with_name(path.name + _TMP_SUFFIX)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, data)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    os.rename(temporary, path)
    fsync_directory(path.parent)


_default_fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)

_libc = ctypes.CDLL(None, use_errno=True)
_sync_file_range = getattr(_libc, "sync_file_range", None)
if _sync_file_range is not None:
    _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
_SFR_WAIT_BEFORE, _SFR_WRITE, _SFR_WAIT_AFTER = 1, 2, 4


def write_back_range(fd: int, offset: int, length: int) -> bool:
    """Starts and waits for the write-back of a file's dirty pages in one range (Linux's
    ``sync_file_range``): paces a large write so that it reaches the device a chunk at a
    time. Not a durability point (no metadata, no device cache flush): an fdatasync still
    has to follow. False where it is not supported."""
    if _sync_file_range is None:
        return False
    flags = _SFR_WAIT_BEFORE | _SFR_WRITE | _SFR_WAIT_AFTER
    return bool(_sync_file_range(fd, offset, length, flags) == 0)


_ZEROES = bytes(ZERO_CHUNK_BYTES)  # made once, not at each preallocation on the event loop


def _pwrite_zeroes(fd: int, offset: int, length: int) -> None:
    """Writes ``length`` (at most ``ZERO_CHUNK_BYTES``) zeroes at ``offset``."""
    with memoryview(_ZEROES) as view:
        written = 0
        while written < length:
            written += os.pwrite(fd, view[written:length], offset + written)


def _zero_from(fd: int, offset: int) -> bool:
    """Whether every byte of the file from ``offset`` on is zero (read in chunks)."""
    while chunk := os.pread(fd, READ_CHUNK_BYTES, offset):
        if chunk.count(0) != len(chunk):
            return False
        offset += len(chunk)
    return True


class Wal:
    """A write-ahead log in a directory. Open with ``Wal.open``; see the module docstring."""

    def __init__(self, directory: Path, *, _token: object) -> None:
        assert _token is _OPEN_TOKEN, "use Wal.open()"
        self._directory = directory
        self._segment_size_bytes = DEFAULT_SEGMENT_SIZE_BYTES
        self._max_payload_bytes: int = MAX_PAYLOAD_BYTES
        self._max_pending_bytes = DEFAULT_MAX_PENDING_BYTES
        self._preallocate_bytes = 0
        self._fdatasync: Callable[[int], None] = _default_fdatasync
        self._segments: list[_Segment] = []
        self._dirty: list[_Segment] = []  # segments with pending or written-unsynced bytes
        self._pending_bytes = 0
        self._synced_seq = 0
        self._lock_fd: int | None = None
        self._failure: BaseException | None = None
        self._closed = False
        self._deleter: concurrent.futures.ThreadPoolExecutor | None = None  # release_before
        # retired segment files kept for reuse (filled by the deleter thread; deque's
        # append and popleft are atomic)
        self._spares: deque[Path] = deque()
        # spares the deleter thread zeroed whole (this process's knowledge only: after a
        # restart spares are zeroed ahead of the tail as they fill, as any recycled file)
        self._zeroed: set[Path] = set()
        self._making_spare = False  # a fresh spare being made on the deleter thread
        self._stopping = threading.Event()  # close(): background zeroing gives up
        self.recycled = 0  # segments created from a spare
        self.recovery = RecoveryReport(segments=0, records=0)

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        segment_size_bytes: int = DEFAULT_SEGMENT_SIZE_BYTES,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        initial_seq: int = 1,
        fdatasync: Callable[[int], None] = _default_fdatasync,
        preallocate_bytes: int = 0,
    ) -> Wal:
        """Opens (creating if needed) the log in ``directory`` and recovers it.

        ``initial_seq`` numbers the first record of a brand-new log only. ``fdatasync`` is
        injectable so tests can count syncs; it is called once per segment per ``sync``.
        ``preallocate_bytes``: keep about this many zeroed bytes written ahead of the
        tail's last record (see ``_preallocate``); 0 appends to the end of the file.
        """
        if segment_size_bytes < SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES:
            raise ValueError(f"segment_size_bytes {segment_size_bytes} is too small")
        if not 0 <= max_payload_bytes <= MAX_PAYLOAD_BYTES:
            raise ValueError(f"max_payload_bytes must be at most {MAX_PAYLOAD_BYTES}")
        if not 1 <= initial_seq < U64_MAX:
            raise ValueError("initial_seq out of range")
        wal = cls(Path(directory), _token=_OPEN_TOKEN)
        wal._segment_size_bytes = segment_size_bytes
        wal._max_payload_bytes = max_payload_bytes
        wal._max_pending_bytes = max(0, max_pending_bytes)
        wal._preallocate_bytes = max(0, preallocate_bytes)
        wal._fdatasync = fdatasync
        if not wal._directory.is_dir():
            wal._directory.mkdir(parents=True)
            fsync_directory(wal._directory.parent)  # the new directory's own entry
        wal._lock()
        try:
            wal._recover(initial_seq)
        except BaseException:
            wal._release()
            raise
        return wal

    # --- properties -------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def first_seq(self) -> int:
        return self._segments[0].first_seq

    @property
    def last_seq(self) -> int:
        return self._segments[-1].end_seq - 1

    @property
    def synced_seq(self) -> int:
        return self._synced_seq

    @property
    def max_payload_bytes(self) -> int:
        return self._max_payload_bytes

    @property
    def segment_names(self) -> list[str]:
        """Names of the segments on disk, oldest first (for archival and tests)."""
        return [segment.name for segment in self._segments if segment.on_disk]

    # --- writing ----------------------------------------------------------------------

    def append(self, payloads: Sequence[bytes]) -> int:
        self._check_usable()
        for payload in payloads:  # all or nothing: check every bound before any change
            if len(payload) > self._max_payload_bytes:
                raise RecordTooLargeError(
                    f"payload of {len(payload)} bytes exceeds {self._max_payload_bytes}"
                )
        seq = self.last_seq + 1
        if seq + len(payloads) > U64_MAX:
            raise WalFailedError("sequence numbers exhausted")
        for payload in payloads:
            record = encode_record(seq, bytes(payload), self._max_payload_bytes)
            tail = self._segments[-1]
            if tail.record_count > 0 and tail.size_bytes + len(record) > self._segment_size_bytes:
                tail = self._start_segment(seq)
            if not tail.pending and tail not in self._dirty:
                self._dirty.append(tail)
            tail.pending += record
            tail.size_bytes += len(record)
            tail.end_seq = seq + 1
            self._pending_bytes += len(record)
            seq += 1
        if self._pending_bytes > self._max_pending_bytes:
            self._guarded(self._write_pending)
        return self.last_seq

    def sync(self) -> int:
        self._check_usable()
        if self._dirty:
            self._guarded(self._sync_dirty)
        return self._synced_seq

    def begin_sync(self) -> tuple[Path, int] | None:
        """``sync`` in two halves, for a caller whose fdatasync runs elsewhere (the
        engine's syncer process): hands every record to the OS now and returns the tail
        segment's file and the last record in it, or None when nothing is unsynced.
        Whoever syncs that file (any descriptor of it) then calls ``end_sync``; until
        then this is the only sync in flight: the next ``begin_sync`` may create the
        next segment, which needs its predecessor synced."""
        self._check_usable()
        if not self._dirty:
            return None
        tail = self._guarded(self._hand_over)
        return self._directory / tail.name, self.last_seq

    def end_sync(self, seq: int, error: BaseException | None = None) -> None:
        """The records up to ``seq`` that ``begin_sync`` handed over are durable (or their
        sync failed, which fails the log as a failed ``sync`` does)."""
        if error is not None:
            self._failure = error
            return
        self._synced_seq = max(self._synced_seq, seq)

    def _start_segment(self, first_seq: int) -> _Segment:
        """A new tail, in memory only: its file is created when its bytes are written."""
        previous = self._segments[-1] if self._segments else None
        if previous is not None and previous not in self._dirty and previous.fd is not None:
            if previous.file_bytes > previous.size_bytes:  # records synced, zeroes to cut
                self._guarded(lambda: self._sync_cut(previous))
            os.close(previous.fd)  # fully synced already: nothing left to seal
            previous.fd = None
        segment = _Segment(
            first_seq=first_seq,
            name=segment_file_name(first_seq),
            end_seq=first_seq,
            size_bytes=SEGMENT_HEADER_BYTES,
            on_disk=False,
        )
        self._segments.append(segment)
        return segment

    def _write_pending(self) -> None:
        """Hands every buffered byte to the OS. A segment is created only after its
        predecessor's bytes are all written and synced (so only the last segment can
        ever hold a torn write)."""
        for index, segment in enumerate(self._dirty):
            if not segment.on_disk:
                self._create_segment_file(segment)
            assert segment.fd is not None
            if segment.pending:
                write_all(segment.fd, segment.pending)
                self._pending_bytes -= len(segment.pending)
                segment.pending = bytearray()
            if index + 1 < len(self._dirty):
                assert not self._dirty[index + 1].on_disk
                self._seal(segment)
        self._dirty = [segment for segment in self._dirty if segment.fd is not None]
        assert self._pending_bytes == 0

    def _sync_dirty(self) -> None:
        tail = self._hand_over()
        assert tail.fd is not None
        self._fdatasync(tail.fd)
        self._synced_seq = self.last_seq

    def _hand_over(self) -> _Segment:
        """Every pending byte written (segments before the tail sealed) and zeroes kept
        ahead of the tail's records: what is left of a sync is the tail's fdatasync."""
        self._write_pending()
        tail = self._segments[-1]
        assert all(segment is tail for segment in self._dirty)
        self._preallocate(tail)
        self._dirty = []
        return tail

    def _preallocate(self, segment: _Segment) -> None:
        """Writes zeroes ahead of the tail's records once fewer than half of
        ``preallocate_bytes`` are left, up to the segment's size. An fdatasync that
        changes the file's length also writes the inode through the journal (measured
        here: 4 KB appended + fdatasync p50 0.22 ms, p99 0.78 ms; the same write over
        zeroes already on disk p50 0.15 ms, p99 0.23 ms), so records land on allocated
        blocks and only every ``preallocate_bytes / 2`` of records pays for a length
        change. Recovery reads the zeroes as a torn tail and trims them; sealing trims
        them too, because only the last segment may end in anything but records.

        Zeroes written here reach the disk with the next sync, which then waits for them
        (2 MB at a time: a group commit's acknowledgement waited milliseconds longer every
        2 MB of log). So the next segment's file is prepared ahead, zeroed whole on the
        deleter thread: a retired segment (``release_before``), or, when none will be
        ready, a fresh file once the tail is half full (``_make_fresh_spare``). Records
        then land on zeroes already on disk and this writes nothing."""
        if (self._preallocate_bytes and segment.size_bytes * 2 > self._segment_size_bytes
                and not self._spares and not self._making_spare):
            self._making_spare = True
            path = self._directory / (FRESH_SPARE_PREFIX + segment.name)
            self._background().submit(
                _make_fresh_spare, path, self._segment_size_bytes, self._spares, self._zeroed,
                self._stopping).add_done_callback(lambda _: self._end_making_spare())
        want = min(segment.size_bytes + self._preallocate_bytes, self._segment_size_bytes)
        if segment.clean_bytes - segment.size_bytes >= self._preallocate_bytes // 2:
            return
        start = max(segment.clean_bytes, segment.size_bytes)
        if want <= start:
            return
        assert segment.fd is not None
        for offset in range(start, want, ZERO_CHUNK_BYTES):
            _pwrite_zeroes(segment.fd, offset, min(ZERO_CHUNK_BYTES, want - offset))
        segment.clean_bytes = want
        segment.file_bytes = max(segment.file_bytes, want)

    def _end_making_spare(self) -> None:
        self._making_spare = False

    def _sync_cut(self, segment: _Segment) -> None:
        """Cuts preallocated zeroes off a segment that receives no more records (only the
        last segment may end in anything but records) and syncs it."""
        assert segment.fd is not None
        if segment.file_bytes > segment.size_bytes:
            os.ftruncate(segment.fd, segment.size_bytes)
            segment.file_bytes = segment.clean_bytes = segment.size_bytes
        self._fdatasync(segment.fd)

    def _seal(self, segment: _Segment) -> None:
        """Syncs a segment that will receive no more records and closes it."""
        assert segment is not self._segments[-1] and segment.fd is not None
        self._sync_cut(segment)
        os.close(segment.fd)
        segment.fd = None
        self._synced_seq = max(self._synced_seq, segment.end_seq - 1)

    def _create_segment_file(self, segment: _Segment) -> None:
        final = self._directory / segment.name
        spare = self._take_spare()
        if spare is not None:
            self._recycle(spare, segment)
            return
        temporary = self._directory / (segment.name + _TMP_SUFFIX)
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            write_all(fd, encode_segment_header(segment.first_seq))
            self._fdatasync(fd)
            os.rename(temporary, final)
            fsync_directory(self._directory)
            os.lseek(fd, 0, os.SEEK_END)
        except BaseException:
            os.close(fd)
            raise
        segment.fd = fd
        segment.on_disk = True
        segment.file_bytes = segment.clean_bytes = SEGMENT_HEADER_BYTES

    def _take_spare(self) -> Path | None:
        try:
            return self._spares.popleft()
        except IndexError:
            return None

    def _recycle(self, spare: Path, segment: _Segment) -> None:
        """A retired segment's file becomes the new segment: its header is rewritten and
        synced before it takes the segment's name, so the name never points at the old
        header. Its old records stay on disk until the records and preallocated zeroes
        of the new segment overwrite them; recovery reads an intact record whose sequence
        number is older than expected, in the last segment, as the end of the log."""
        fd = os.open(spare, os.O_WRONLY | os.O_CLOEXEC)
        try:
            header = encode_segment_header(segment.first_seq)
            if os.pwrite(fd, header, 0) != len(header):
                raise OSError(f"short write of a segment header to {spare.name}")
            self._fdatasync(fd)
            os.rename(spare, self._directory / segment.name)
            fsync_directory(self._directory)
            os.lseek(fd, SEGMENT_HEADER_BYTES, os.SEEK_SET)
            length = os.fstat(fd).st_size
        except BaseException:
            os.close(fd)
            raise
        segment.fd = fd
        segment.on_disk = True
        segment.file_bytes = length
        segment.clean_bytes = SEGMENT_HEADER_BYTES
        if spare in self._zeroed:
            self._zeroed.discard(spare)
            segment.clean_bytes = length
        self.recycled += 1

    def _guarded(self, operation: Callable[[], _T]) -> _T:
        try:
            return operation()
        except OSError as exc:
            self._failure = exc
            raise WalFailedError(f"WAL I/O failed; the log must be reopened: {exc}") from exc

    def _check_usable(self) -> None:
        if self._closed:
            raise WalClosedError("WAL is closed")
        if self._failure is not None:
            raise WalFailedError("WAL failed earlier; reopen it") from self._failure

    # --- deleting -----------------------------------------------------------------------

    def truncate_before(self, seq: int) -> int:
        """Deletes, oldest first, every segment whose records are all below ``seq``. The
        tail is never deleted, nor a segment whose successor is not yet on disk."""
        deleted = 0
        for victim in self._detach_before(seq):
            try:
                (self._directory / victim.name).unlink()
            except OSError as exc:
                self._failure = exc
                raise WalFailedError(f"cannot delete {victim.name}: {exc}") from exc
            deleted += 1
        if deleted:
            self._guarded(lambda: fsync_directory(self._directory))
        return deleted

    def release_before(self, seq: int) -> int:
        """``truncate_before`` for a caller on an event loop: the segments leave the log
        now, their files are retired on a thread of the WAL's own (kept as spares for
        the next segments, or deleted: ``_retire_files``). Deleting a full 64 MB segment
        took up to 17 ms here (measured under PutItem at half of peak: one such stall per
        segment set the run's p99.9). A crash before the files are retired leaves whole
        segments older than the log's start, which the next open reads past and the next
        release retires."""
        victims = [self._directory / segment.name for segment in self._detach_before(seq)]
        if victims:
            zero_bytes = self._segment_size_bytes if self._preallocate_bytes else 0
            self._background().submit(_retire_files, victims, self._spares, zero_bytes,
                                      self._zeroed, self._stopping)
        return len(victims)

    def _background(self) -> concurrent.futures.ThreadPoolExecutor:
        """The WAL's own thread: retires segment files and prepares spares."""
        if self._deleter is None:
            self._deleter = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="quorumdb-wal-delete")
        return self._deleter

    def _detach_before(self, seq: int) -> list[_Segment]:
        """Takes, oldest first, every segment whose records are all below ``seq`` out of
        the log (the tail never, nor a segment whose successor is not yet on disk)."""
        self._check_usable()
        if seq > self._synced_seq + 1:
            raise ValueError(f"cannot truncate before {seq}: only {self._synced_seq} is durable")
        detached: list[_Segment] = []
        while (
            len(self._segments) > 1
            and self._segments[1].first_seq <= seq
            and self._segments[1].on_disk
        ):
            victim = self._segments.pop(0)
            assert victim.fd is None and not victim.pending
            detached.append(victim)
        return detached

    # --- reading ------------------------------------------------------------------------

    def replay(self, from_seq: int) -> Iterator[tuple[int, bytes]]:
        """Durable records from ``from_seq`` (at least ``first_seq``) to the ``synced_seq``
        of the moment of the call, re-verified as they are read. Starts reading at the
        beginning of the segment holding ``from_seq`` (segments carry no index)."""
        self._check_usable()
        if from_seq < self.first_seq:
            raise ValueError(f"seq {from_seq} was truncated; the log starts at {self.first_seq}")
        return self._replay(from_seq, self._synced_seq, list(self._segments))

    def _replay(
        self, from_seq: int, upto_seq: int, segments: list[_Segment]
    ) -> Iterator[tuple[int, bytes]]:
        for segment in segments:
            if segment.end_seq <= from_seq or not segment.on_disk:
                continue
            if segment.first_seq > upto_seq:
                return
            try:
                fd = os.open(self._directory / segment.name, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError as exc:
                raise WalError(f"{segment.name} was deleted during replay") from exc
            try:
                self._check_segment_header(fd, segment.name, segment.first_seq)
                stream = _RecordStream(fd, segment.first_seq)
                for _offset, seq, payload in stream:
                    if seq > upto_seq:
                        return
                    if seq >= from_seq:
                        yield seq, payload
                last_wanted = min(upto_seq, segment.end_seq - 1)
                if stream.next_seq <= last_wanted:
                    raise WalCorruption(
                        segment.name, stream.end_offset, stream.describe_stop(last_wanted)
                    )
            finally:
                os.close(fd)

    # --- recovery -----------------------------------------------------------------------

    def _lock(self) -> None:
        fd = os.open(self._directory / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise WalLockedError(f"{self._directory} is in use by another process") from exc
        self._lock_fd = fd

    def _recover(self, initial_seq: int) -> None:
        removed = 0
        found: list[tuple[int, str]] = []
        for entry in os.listdir(self._directory):
            stem = entry.removesuffix(_TMP_SUFFIX)
            if stem != entry and parse_segment_file_name(stem) is not None:
                (self._directory / entry).unlink()  # a segment whose creation never finished
                removed += 1
                continue
            first_seq = parse_segment_file_name(entry)
            if first_seq is not None:
                found.append((first_seq, entry))
            elif entry.startswith(SPARE_PREFIX) and parse_segment_file_name(
                    entry.removeprefix(FRESH_SPARE_PREFIX).removeprefix(SPARE_PREFIX)
                    .removesuffix(_TMP_SUFFIX)) is not None:
                if entry.endswith(_TMP_SUFFIX):  # a spare whose zeroing never finished
                    (self._directory / entry).unlink()
                    removed += 1
                    continue
                self._spares.append(self._directory / entry)
        found.sort()
        if removed:
            fsync_directory(self._directory)
        if not found:
            self._create_segment_file(self._start_segment(initial_seq))
            self._synced_seq = initial_seq - 1
            self.recovery = RecoveryReport(1, 0, removed_temporary_files=removed)
            return
        records = 0
        report: RecoveryReport | None = None
        expected_seq = found[0][0]
        for index, (first_seq, name) in enumerate(found):
            if first_seq != expected_seq:
                raise WalCorruption(
                    name, 0, f"segment starts at seq {first_seq}, expected {expected_seq}"
                )
            is_last = index == len(found) - 1
            segment, report = self._recover_segment(name, first_seq, is_last)
            if segment.record_count == 0 and not is_last:
                raise WalCorruption(name, SEGMENT_HEADER_BYTES, "empty segment before the tail")
            self._segments.append(segment)
            records += segment.record_count
            expected_seq = segment.end_seq
        self._synced_seq = self.last_seq
        self.recovery = RecoveryReport(
            segments=len(found),
            records=records,
            truncated_bytes=report.truncated_bytes if report else 0,
            truncated_segment=report.truncated_segment if report else None,
            truncated_offset=report.truncated_offset if report else None,
            reason=report.reason if report else None,
            removed_temporary_files=removed,
        )

    def _check_segment_header(self, fd: int, name: str, first_seq: int) -> None:
        header = os.pread(fd, SEGMENT_HEADER_BYTES, 0)
        decoded = decode_segment_header(header)
        if isinstance(decoded, str):
            raise WalCorruption(name, 0, decoded)
        if decoded != first_seq:
            raise WalCorruption(name, 0, f"header says first seq {decoded}, name says {first_seq}")

    def _recover_segment(
        self, name: str, first_seq: int, is_last: bool
    ) -> tuple[_Segment, RecoveryReport | None]:
        path = self._directory / name
        fd = os.open(path, (os.O_RDWR if is_last else os.O_RDONLY) | os.O_CLOEXEC)
        keep_open = False
        try:
            self._check_segment_header(fd, name, first_seq)
            stream = _RecordStream(fd, first_seq)
            for _record in stream:
                pass
            file_size = os.fstat(fd).st_size
            report = None
            if stream.end_offset != file_size:
                reason = stream.describe_stop(None)
                stale = (stream.failure is DecodeFailure.SEQUENCE
                         and stream.seq_found is not None and stream.seq_found < first_seq)
                if stale:
                    reason = f"{reason}: a recycled segment's old records"
                if not is_last or (stream.failure is DecodeFailure.SEQUENCE and not stale):
                    raise WalCorruption(name, stream.end_offset, reason)
                if _zero_from(fd, stream.end_offset):
                    reason = PREALLOCATED_REASON
                    survivor = None
                else:
                    survivor = self._find_survivor(fd, stream.end_offset + 1, stream.next_seq)
                if survivor is not None:
                    offset, seq = survivor
                    raise WalCorruption(
                        name,
                        stream.end_offset,
                        f"{reason}, but record seq {seq} at offset {offset} after it is intact",
                    )
                os.ftruncate(fd, stream.end_offset)
                self._fdatasync(fd)
                report = RecoveryReport(
                    segments=0,
                    records=0,
                    truncated_bytes=file_size - stream.end_offset,
                    truncated_segment=name,
                    truncated_offset=stream.end_offset,
                    reason=reason,
                )
            segment = _Segment(
                first_seq=first_seq,
                name=name,
                end_seq=stream.next_seq,
                size_bytes=stream.end_offset,
                on_disk=True,
                file_bytes=stream.end_offset,
                clean_bytes=stream.end_offset,
            )
            if is_last:
                os.lseek(fd, stream.end_offset, os.SEEK_SET)
                segment.fd = fd
                keep_open = True
            return segment, report
        finally:
            if not keep_open:
                os.close(fd)

    def _find_survivor(self, fd: int, start: int, next_seq: int) -> tuple[int, int] | None:
        """``wal_format.find_survivor`` over the file, read in bounded chunks."""
        seqs = range(next_seq, min(next_seq + SURVIVOR_SEARCH_RECORDS, U64_MAX + 1))
        file_size = os.fstat(fd).st_size
        chunk_start = start
        while chunk_start < file_size:
            # A candidate's header may start up to SEQ_OFFSET bytes before the chunk and its
            # seq field may straddle the chunk end: read with overlap on both sides.
            read_from = max(start, chunk_start - SEQ_OFFSET)
            chunk = os.pread(fd, READ_CHUNK_BYTES + 8, read_from)
            for relative, seq in find_record_candidates(chunk, seqs):
                offset = read_from + relative
                if offset < start:
                    continue
                head = os.pread(fd, RECORD_HEADER_BYTES, offset)
                probe = decode_record(head, 0, seq, MAX_PAYLOAD_BYTES)
                if isinstance(probe, Incomplete) and len(head) == RECORD_HEADER_BYTES:
                    whole = os.pread(fd, probe.needed_bytes, offset)
                    probe = decode_record(whole, 0, seq, MAX_PAYLOAD_BYTES)
                if isinstance(probe, Decoded):
                    return offset, seq
            chunk_start += READ_CHUNK_BYTES
        return None

    # --- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Closes files and releases the directory. Does not sync: records appended since
        the last ``sync`` are as good as lost, exactly as in a crash."""
        if self._closed:
            return
        self._closed = True
        self._dirty = []
        tail = self._segments[-1] if self._segments else None
        if tail is not None and tail.fd is not None and tail.file_bytes > tail.clean_bytes:
            # a recycled tail: cut the old records beyond its zeroes, so the next open
            # finds a preallocated tail rather than something to report
            with contextlib.suppress(OSError):
                os.ftruncate(tail.fd, max(tail.clean_bytes, tail.size_bytes - len(tail.pending)))
        if self._deleter is not None:
            self._stopping.set()
            self._deleter.shutdown(wait=True)
        self._release()

    def _release(self) -> None:
        for segment in self._segments:
            if segment.fd is not None:
                with contextlib.suppress(OSError):
                    os.close(segment.fd)
                segment.fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def __enter__(self) -> Wal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_OPEN_TOKEN: Final = object()


def _retire_files(paths: list[Path], spares: deque[Path], zero_bytes: int,
                  zeroed: set[Path], stopping: threading.Event) -> None:
    """``release_before``'s thread: up to ``MAX_SPARE_SEGMENTS`` retired segments are
    renamed to spares for the next segments to reuse (no blocks freed now, none to
    allocate then), the rest deleted. With ``zero_bytes`` a spare is first zeroed to
    that length (see ``Wal._preallocate``)."""
    for index, path in enumerate(paths):
        if len(spares) >= MAX_SPARE_SEGMENTS:
            _delete_files(paths[index:])
            return
        spare = path.with_name(SPARE_PREFIX + path.name)
        try:
            os.rename(path, spare)
            if zero_bytes:
                # the new name durable before the old records go: a crash must not bring
                # back a segment of zeroes under a segment's name
                fsync_directory(spare.parent)
                if _zero_file(spare, zero_bytes, stopping):
                    zeroed.add(spare)
        except OSError as exc:
            log.warning("could not keep WAL segment %s as a spare: %r", path.name, exc)
            if not spare.exists():
                continue
        spares.append(spare)


def _make_fresh_spare(path: Path, size: int, spares: deque[Path], zeroed: set[Path],
                      stopping: threading.Event) -> None:
    """The deleter thread: a new file of ``size`` zeroes, synced, becomes a spare (under a
    temporary name until then: an open deletes one a crash left)."""
    if len(spares) >= MAX_SPARE_SEGMENTS:
        return
    temporary = path.with_name(path.name + _TMP_SUFFIX)
    try:
        if not _zero_file(temporary, size, stopping):
            temporary.unlink()
            return
        os.rename(temporary, path)
    except OSError as exc:
        log.warning("could not prepare a WAL spare %s: %r", path.name, exc)
        with contextlib.suppress(OSError):
            temporary.unlink()
        return
    zeroed.add(path)
    spares.append(path)


def _zero_file(path: Path, size: int, stopping: threading.Event) -> bool:
    """Writes ``size`` zeroes over a file (created if need be), a chunk at a time, each
    written back before the next (``ZERO_CHUNK_BYTES``: a WAL sync meanwhile waits behind
    one chunk at most), cuts anything after them and syncs it. False when ``stopping``
    is set first."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        for offset in range(0, size, ZERO_CHUNK_BYTES):
            if stopping.is_set():
                return False
            length = min(ZERO_CHUNK_BYTES, size - offset)
            _pwrite_zeroes(fd, offset, length)
            write_back_range(fd, offset, length)
        if os.fstat(fd).st_size > size:
            os.ftruncate(fd, size)
        os.fdatasync(fd)
        return True
    finally:
        os.close(fd)


def _delete_files(paths: list[Path]) -> None:
    """``release_before``'s thread. No directory sync: a deletion the disk loses in a
    crash brings back whole segments behind the log's start, which is harmless (see
    ``release_before``), and a forced journal commit here delayed the WAL's own syncs.
    A file that cannot be deleted costs space, not correctness: logged."""
    try:
        for path in paths:
            path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not delete WAL segments %s: %r", [p.name for p in paths], exc)


class _RecordStream:
    """Iterates the records of one segment through a bounded buffer (one read chunk plus
    at most one record), verifying checksum, bounds and sequence continuity. Reads check
    lengths against the format's bound ``MAX_PAYLOAD_BYTES``, not the configured write
    bound, so lowering ``max_payload_bytes`` never turns valid old records into damage. When it stops,
    ``end_offset`` is just past the last valid record and ``failure``/``torn`` say why."""

    def __init__(self, fd: int, first_seq: int) -> None:
        self._fd = fd
        self.next_seq = first_seq
        self.end_offset = SEGMENT_HEADER_BYTES
        self.failure: DecodeFailure | None = None
        self.seq_found: int | None = None
        self.torn_bytes = 0

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        buffer = bytearray()
        buffer_offset = self.end_offset  # file offset of buffer[0]
        position = 0
        while True:
            result = decode_record(buffer, position, self.next_seq, MAX_PAYLOAD_BYTES)
            match result:
                case Decoded():
                    yield buffer_offset + position, result.seq, result.payload
                    position += result.size_bytes
                    self.end_offset = buffer_offset + position
                    self.next_seq += 1
                case Incomplete():
                    del buffer[:position]
                    buffer_offset += position
                    position = 0
                    want = max(READ_CHUNK_BYTES, result.needed_bytes - len(buffer))
                    data = os.pread(self._fd, want, buffer_offset + len(buffer))
                    if not data:
                        self.torn_bytes = len(buffer)
                        return
                    buffer += data
                case Invalid():
                    self.failure = result.failure
                    self.seq_found = result.seq_found
                    return

    def describe_stop(self, last_wanted: int | None) -> str:
        if self.failure is DecodeFailure.SEQUENCE:
            return f"found seq {self.seq_found}, expected {self.next_seq}"
        if self.failure is not None:
            return f"record seq {self.next_seq}: {self.failure.value}"
        if self.torn_bytes:
            return f"record seq {self.next_seq} is incomplete ({self.torn_bytes} bytes)"
        return f"segment ends before seq {last_wanted}"


# --- group commit for asyncio -------------------------------------------------------------

# Bytes (payloads + record headers) admitted to the committer but not yet durable. Above
# it, commit() waits: back-pressure instead of an unbounded queue.
DEFAULT_MAX_QUEUE_BYTES: Final = 64 * 1024 * 1024
# Bytes written by one append+sync. A batch holds at least one commit, so a single commit
# up to the queue bound always makes progress.
DEFAULT_MAX_BATCH_BYTES: Final = 8 * 1024 * 1024


@dataclass(slots=True)
class _Request:
    payloads: Sequence[bytes]
    size_bytes: int
    future: asyncio.Future[int]


class GroupCommitter:
    """Batches concurrent ``await commit(records)`` calls into one append + sync.

    One flusher task at a time takes every queued request (up to ``max_batch_bytes``),
    runs ``append`` for each and a single ``sync`` in a worker thread (one thread, so the
    ``Wal`` is only ever touched by it), then resolves each request with the sequence
    number of its last record. Requests arriving meanwhile form the next batch: the
    slower the disk, the larger the batches. ``commit`` waits, first in, first admitted,
    while ``max_queue_bytes`` are admitted but not yet durable.

    The committer does not own the log: close it with ``aclose`` before closing the log.
    A cancelled ``commit`` does not withdraw its records; like a crash, it leaves their
    durability unknown to the canceller.
    """

    def __init__(
        self,
        wal: WalStorage,
        *,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        if max_queue_bytes <= 0 or max_batch_bytes <= 0:
            raise ValueError("bounds must be positive")
        self._wal = wal
        self._max_queue_bytes = max_queue_bytes
        self._max_batch_bytes = max_batch_bytes
        self._own_executor = executor is None
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="wal-sync"
        )
        self._queue: deque[_Request] = deque()
        self._admission: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._admitted_bytes = 0
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0  # statistics: append+sync rounds run
        self.commits = 0  # statistics: commit() calls made durable

    @property
    def admitted_bytes(self) -> int:
        """Bytes admitted and not yet durable (never above ``max_queue_bytes`` except for
        one oversized commit admitted alone)."""
        return self._admitted_bytes

    async def commit(self, payloads: Sequence[bytes]) -> int:
        """Durably appends ``payloads``; returns the sequence number of the last one."""
        if self._closed:
            raise WalClosedError("group committer is closed")
        if not payloads:
            raise ValueError("commit of no records")
        for payload in payloads:
            if len(payload) > self._wal.max_payload_bytes:
                raise RecordTooLargeError(
                    f"payload of {len(payload)} bytes exceeds {self._wal.max_payload_bytes}"
                )
        size_bytes = sum(len(payload) + RECORD_HEADER_BYTES for payload in payloads)
        await self._admit(size_bytes)
        loop = asyncio.get_running_loop()
        request = _Request(list(payloads), size_bytes, loop.create_future())
        self._queue.append(request)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await asyncio.shield(request.future)

    def _has_room(self, size_bytes: int) -> bool:
        return (
            self._admitted_bytes == 0 or self._admitted_bytes + size_bytes <= self._max_queue_bytes
        )

    async def _admit(self, size_bytes: int) -> None:
        if not self._admission and self._has_room(size_bytes):
            self._admitted_bytes += size_bytes
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._admission.append((size_bytes, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # admitted just before cancel
                self._admitted_bytes -= size_bytes
            else:
                with contextlib.suppress(ValueError):
                    self._admission.remove((size_bytes, waiter))
            self._wake_admissions()
            raise

    def _wake_admissions(self) -> None:
        while self._admission and self._has_room(self._admission[0][0]):
            size_bytes, waiter = self._admission.popleft()
            if waiter.done():
                continue
            self._admitted_bytes += size_bytes
            waiter.set_result(None)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch: list[_Request] = []
                batch_bytes = 0
                while self._queue and (
                    not batch or batch_bytes + self._queue[0].size_bytes <= self._max_batch_bytes
                ):
                    request = self._queue.popleft()
                    batch.append(request)
                    batch_bytes += request.size_bytes
                try:
                    seqs = await loop.run_in_executor(
                        self._executor, self._write_batch, [r.payloads for r in batch]
                    )
                except Exception as exc:
                    for request in batch:
                        if not request.future.done():
                            request.future.set_exception(exc)
                else:
                    self.batches += 1
                    self.commits += len(batch)
                    for request, seq in zip(batch, seqs, strict=True):
                        if not request.future.done():
                            request.future.set_result(seq)
                finally:
                    self._admitted_bytes -= batch_bytes
                    self._wake_admissions()
        finally:
            self._flusher = None

    def _write_batch(self, batch: list[Sequence[bytes]]) -> list[int]:
        """Runs in the worker thread: every commit's append, then one sync for all."""
        seqs = [self._wal.append(payloads) for payloads in batch]
        self._wal.sync()
        return seqs

    async def aclose(self) -> None:
        """Refuses new commits, waits for queued ones to become durable, stops the thread."""
        self._closed = True
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
        if self._own_executor:
            self._executor.shutdown(wait=True)
