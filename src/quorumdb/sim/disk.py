"""A simulated disk: one append-only, CRC-framed log per node, with seeded faults.

Theory of operation: bytes a node appends go to a *volatile* buffer (the page cache);
``sync`` moves them to the *durable* image (the platter). A crash (a power cut) keeps the
durable image, and of the volatile buffer keeps a seeded prefix of whole records (writes
the kernel happened to flush) and possibly a torn piece of the next one; the rest is lost.
So "writes not yet synced are lost on crash" and "torn last record" are both exercised.

Latent corruption is a bit flip in the *durable* image. Every record is framed as::

    payload_length u32 | payload_crc32 u32 | header_crc32 u32 | payload

and ``read_records`` distinguishes the two kinds of damage it can find:

* an *incomplete* record at the very end (the file ends inside a header or payload) is a
  torn write of data that was never synced: it is cut off and the log is usable;
* a *complete* record whose header or payload checksum does not match is corruption of
  data that may have been synced (and acknowledged): the log is reported corrupt at that
  offset, and the node must not use it. The simulator's policy is that such a node
  refuses to start (it stays down, a permanently failed replica that an operator would
  rebuild from its peers); runs inject corruption into at most one node so a quorum
  survives. Because tears are truncations in this model, a flip can never be mistaken for
  a tear: the header checksum covers the length field.

The framing mirrors the WAL's (length, checksum per record); CRC32 from ``zlib`` stands in
for CRC32C, which the standard library lacks.
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass
from enum import Enum

_HEADER = struct.Struct("<III")
HEADER_SIZE_BYTES = _HEADER.size
MS = 1_000_000


def encode_record(payload: bytes) -> bytes:
    prefix = struct.pack("<II", len(payload), zlib.crc32(payload))
    return prefix + struct.pack("<I", zlib.crc32(prefix)) + payload


class LogStatus(Enum):
    CLEAN = "clean"
    TORN_TAIL = "torn-tail"  # an unsynced, partly written last record was cut off
    CORRUPT = "corrupt"  # a complete record failed its checksum: refuse to use the log


@dataclass(frozen=True)
class ReadResult:
    payloads: list[bytes]
    status: LogStatus
    valid_size_bytes: int  # bytes up to the end of the last good record


def decode_records(image: bytes) -> ReadResult:
    payloads: list[bytes] = []
    offset = 0
    while offset < len(image):
        if len(image) - offset < HEADER_SIZE_BYTES:
            return ReadResult(payloads, LogStatus.TORN_TAIL, offset)
        length, payload_crc, header_crc = _HEADER.unpack_from(image, offset)
        if zlib.crc32(image[offset : offset + 8]) != header_crc:
            return ReadResult(payloads, LogStatus.CORRUPT, offset)
        end = offset + HEADER_SIZE_BYTES + length
        if end > len(image):
            return ReadResult(payloads, LogStatus.TORN_TAIL, offset)
        payload = image[offset + HEADER_SIZE_BYTES : end]
        if zlib.crc32(payload) != payload_crc:
            return ReadResult(payloads, LogStatus.CORRUPT, offset)
        payloads.append(payload)
        offset = end
    return ReadResult(payloads, LogStatus.CLEAN, offset)


@dataclass(frozen=True)
class DiskFaults:
    sync_ns_min: int = 200_000  # 0.2 ms: an NVMe fsync
    sync_ns_max: int = 2 * MS
    keep_unsynced_probability: float = 0.5  # on a crash, chance each unsynced record survives
    torn_probability: float = 0.0  # on a crash, chance the first lost record is half-written
    bit_flip_probability: float = 0.0  # per crash of the one flaky-disk node

    def describe(self) -> str:
        return (
            f"sync_ms={self.sync_ns_min / MS:g}..{self.sync_ns_max / MS:g} "
            f"keep_unsynced={self.keep_unsynced_probability:.2f} "
            f"torn={self.torn_probability:.2f} bitflip={self.bit_flip_probability:.2f}"
        )


class SimDisk:
    """One node's log file. Byte-level so that tears and flips are real."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.durable = bytearray()
        self._volatile: list[bytes] = []  # framed records written but not yet synced
        self.syncs = 0
        self.records_lost = 0
        self.tears = 0
        self.flips = 0

    def append(self, payload: bytes) -> None:
        self._volatile.append(encode_record(payload))

    def unsynced_records(self) -> int:
        return len(self._volatile)

    def sync(self) -> None:
        for record in self._volatile:
            self.durable += record
        self._volatile.clear()
        self.syncs += 1

    def crash(self, rng: random.Random, faults: DiskFaults) -> None:
        """A power cut: a prefix of the unsynced records survives, the next may tear."""
        survivors = 0
        while (
            survivors < len(self._volatile)
            and rng.random() < faults.keep_unsynced_probability
        ):
            survivors += 1
        for record in self._volatile[:survivors]:
            self.durable += record
        lost = self._volatile[survivors:]
        self.records_lost += len(lost)
        if lost and faults.torn_probability and rng.random() < faults.torn_probability:
            torn = lost[0]
            self.durable += torn[: rng.randrange(1, len(torn))]
            self.tears += 1
        self._volatile.clear()

    def flip_bit(self, rng: random.Random) -> bool:
        """Flips one bit of the durable image (a latent sector error)."""
        if not self.durable:
            return False
        position = rng.randrange(len(self.durable) * 8)
        self.durable[position // 8] ^= 1 << (position % 8)
        self.flips += 1
        return True

    def recover(self) -> ReadResult:
        """Reads the log after a restart; a torn tail is truncated away on disk too."""
        assert not self._volatile, "recover() is called on a crashed disk"
        result = decode_records(bytes(self.durable))
        if result.status is LogStatus.TORN_TAIL:
            del self.durable[result.valid_size_bytes :]
        return result

    def peek(self) -> ReadResult:
        """Reads everything written so far, synced or not (a live node's view of its log)."""
        return decode_records(bytes(self.durable) + b"".join(self._volatile))

    def rewrite(self, payloads: list[bytes]) -> None:
        """Replaces the whole log atomically (write new file, fsync, rename): compaction."""
        assert not self._volatile
        self.durable = bytearray(b"".join(encode_record(payload) for payload in payloads))
