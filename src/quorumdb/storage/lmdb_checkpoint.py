"""A snapshot of an LMDB environment that a power loss cannot take away.

Why this exists
---------------
The single-node engine makes writes durable in its WAL and commits them to LMDB without
syncing (one ``fdatasync`` of a preallocated log instead of LMDB's two syncs of scattered
pages). Unsynced LMDB commits are not crash-safe by themselves: LMDB writes data pages and
then its meta page with plain ``pwrite``; the kernel may write them back in any order, so
after a power loss the newest meta page on disk can point at pages that never arrived, and
pages of the last synced snapshot may have been reused and half-overwritten. LMDB opens
whichever meta page has the higher transaction id and has no checksums to notice.

A checkpoint closes that hole without syncing every commit:

1. a read transaction *pins* snapshot C: LMDB never reuses a page a live reader can reach,
   so every page of C stays on disk exactly as it is now until the pin is released;
2. ``env.sync()`` makes every page of C durable;
3. C's meta page (its bytes as LMDB wrote them) is saved, with the WAL position C had
   applied, to a checkpoint file (written to a temporary name, synced, renamed);
4. only then is the previous pin released and the WAL before C's position deleted.

On open, ``restore`` writes the saved meta page back over both of LMDB's meta slots (the
second copy relabelled as transaction C-1), so LMDB opens snapshot C whatever reached the
disk after it, and the caller replays the WAL from C's position. A process crash, where
every page after C survived in the page cache, takes the same path: one recovery, tested
by both. This is what LMDB's own ``MDB_PREVSNAPSHOT`` does, which py-lmdb does not expose.

LMDB's on-disk layout used here (``mdb.c``, stable since format version 1): meta pages are
pages 0 and 1, transaction T writes page ``T & 1``; a page starts with a 16-byte header
(page number first, flags at offset 10) and a meta page's transaction id is at offset
``16 + 128``. ``read_meta_page`` checks the magic number and the transaction id before
anything is saved, so a layout that differs fails loudly instead of saving a wrong page.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from quorumdb.storage.errors import DataDirectoryError
from quorumdb.storage.wal import replace_durably, write_back_range
from quorumdb.storage.wal_format import crc32c

CHECKPOINT_FILE: Final = "checkpoint"
DATA_FILE: Final = "data.mdb"
LOCK_FILE: Final = "lock.mdb"

_PAGE_NUMBER_OFFSET: Final = 0  # of every page
_FLAGS_OFFSET: Final = 10
_P_META: Final = 0x08
_MAGIC_OFFSET: Final = 16
_MDB_MAGIC: Final = 0xBEEFC0DE
_TXNID_OFFSET: Final = 16 + 128
_U64 = struct.Struct("<Q")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")

_FILE_MAGIC: Final = b"QDBCKPT1"
_HEADER = struct.Struct("<8sQQI")  # magic, txnid, applied WAL seq, page size
_CRC = struct.Struct("<I")


class CheckpointError(DataDirectoryError):
    """The checkpoint file or LMDB's meta page is not what this module expects."""


class MetaPageMoved(CheckpointError):
    """The meta slot no longer holds the snapshot's page (a newer commit overwrote it):
    the caller tries again at its next chance."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    txnid: int  # the LMDB snapshot the meta page describes
    applied_seq: int  # the last WAL record that snapshot holds
    meta_page: bytes


def read_meta_page(fd: int, txnid: int, page_size: int) -> bytes:
    """The meta page of transaction ``txnid`` as it is in the file now."""
    page = os.pread(fd, page_size, (txnid & 1) * page_size)
    if len(page) != page_size:
        raise CheckpointError(f"{DATA_FILE} is shorter than its meta pages")
    flags = _U16.unpack_from(page, _FLAGS_OFFSET)[0]
    magic = _U32.unpack_from(page, _MAGIC_OFFSET)[0]
    if not flags & _P_META or magic != _MDB_MAGIC:
        raise CheckpointError(f"page {txnid & 1} of {DATA_FILE} is not an LMDB meta page")
    found = _U64.unpack_from(page, _TXNID_OFFSET)[0]
    if found != txnid:
        raise MetaPageMoved(f"meta slot {txnid & 1} holds txn {found}, not {txnid}")
    return page


def encode(checkpoint: Checkpoint) -> bytes:
    body = _HEADER.pack(_FILE_MAGIC, checkpoint.txnid, checkpoint.applied_seq,
                        len(checkpoint.meta_page)) + checkpoint.meta_page
    return body + _CRC.pack(crc32c(body, 0))


def decode(data: bytes) -> Checkpoint:
    if len(data) < _HEADER.size + _CRC.size:
        raise CheckpointError("checkpoint file is truncated")
    magic, txnid, applied_seq, page_size = _HEADER.unpack_from(data)
    if magic != _FILE_MAGIC:
        raise CheckpointError("checkpoint file has an unknown format")
    body = data[: _HEADER.size + page_size]
    if len(data) != len(body) + _CRC.size or _CRC.unpack_from(data, len(body))[0] != crc32c(
            body, 0):
        raise CheckpointError("checkpoint file fails its checksum")
    return Checkpoint(txnid, applied_seq, body[_HEADER.size:])


def write(directory: str, checkpoint: Checkpoint) -> None:
    """Replaces the checkpoint file atomically and durably."""
    replace_durably(Path(directory) / CHECKPOINT_FILE, encode(checkpoint))


def read(directory: str) -> Checkpoint | None:
    try:
        data = (Path(directory) / CHECKPOINT_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return decode(data)


def restore(directory: str, checkpoint: Checkpoint) -> None:
    """Makes LMDB open at the checkpoint's snapshot: its meta page into its own slot, and
    a copy relabelled as the transaction before it (and as the other page) into the other
    slot, so both slots are valid and the checkpoint's is the newer."""
    page = checkpoint.meta_page
    page_size = len(page)
    other = bytearray(page)
    other_slot = (checkpoint.txnid & 1) ^ 1
    _U64.pack_into(other, _PAGE_NUMBER_OFFSET, other_slot)
    _U64.pack_into(other, _TXNID_OFFSET, checkpoint.txnid - 1)
    fd = os.open(Path(directory) / DATA_FILE, os.O_RDWR | os.O_CLOEXEC)
    try:
        for slot, content in ((checkpoint.txnid & 1, page), (other_slot, bytes(other))):
            if os.pwrite(fd, content, slot * page_size) != page_size:
                raise CheckpointError(f"short write restoring meta page {slot}")
        os.fdatasync(fd)
    finally:
        os.close(fd)


def wait_until_unshared(directory: str, timeout_s: float) -> None:
    """Waits until no other process has the environment open. LMDB holds a shared
    ``fcntl`` lock on the first byte of its lock file in every process that has the
    environment open; the exclusive lock is free only when none does. Meta pages must
    not be rewritten under another process's reader (a front-end worker of a primary
    that just died may take a moment to notice)."""
    path = Path(directory) / LOCK_FILE
    if not path.exists():
        return
    deadline = time.monotonic() + timeout_s
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
            except OSError:
                if time.monotonic() > deadline:
                    raise CheckpointError(
                        f"{directory} is still open in another process") from None
                time.sleep(0.02)
                continue
            with contextlib.suppress(OSError):
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, 0)
            return
    finally:
        os.close(fd)


def write_back(fd: int, chunk_bytes: int) -> None:
    """Writes the file's dirty pages back one chunk at a time, waiting for each, before
    the checkpoint's fdatasync (which then finds little left to do). One fdatasync of
    everything a checkpoint interval dirtied queues all of it on the device at once, and
    the WAL's syncs on the event loop wait behind it (measured: PutItem p99 12-17 ms at
    half of peak with checkpoints against 3.6 ms without); chunks let them in between.
    Only starts and waits for writeback: durability still comes from the fdatasync.
    Linux's ``sync_file_range``; elsewhere nothing to do."""
    size = os.fstat(fd).st_size
    for offset in range(0, size, chunk_bytes):
        if not write_back_range(fd, offset, chunk_bytes):
            return  # not supported here: the fdatasync does it all
