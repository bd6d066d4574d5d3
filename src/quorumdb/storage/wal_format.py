"""The write-ahead log's on-disk format: a pure codec, bytes in and bytes out.

Theory of operation
-------------------
This module owns the byte layout of WAL segments and nothing else. It never opens a file,
reads a clock or allocates more than one record: the real driver (``storage/wal.py``) and
the simulator's in-memory disk (``quorumdb.sim``) both use it, so a format bug is caught by
either. Decoding is a step function (``decode_record``) over a caller-owned buffer; the
caller decides how many bytes to hold, which is how both drivers stay memory-bounded.

Format
------
A segment file ``wal-<first_seq:020d>.log`` is a segment header followed by records::

    segment header (20 bytes, little-endian)
    +--------+---------+----------+-----------+-----------+
    | magic  | version | reserved | first_seq | crc32c    |
    | "QWAL" | u16 = 1 | u16 = 0  | u64       | u32       |
    +--------+---------+----------+-----------+-----------+
      0        4         6          8           16         20
                                         crc32c covers bytes 0..16

    record (16-byte header + payload, little-endian)
    +------------+---------+---------+-------------------+
    | length u32 | seq u64 | crc u32 | payload (length)  |
    +------------+---------+---------+-------------------+
      0            4         12        16                 16 + length
            crc32c covers length ‖ seq ‖ payload (bytes 0..12, then the payload)

Invariants
----------
* ``length <= max_payload_bytes`` (at most ``MAX_PAYLOAD_BYTES``), checked when encoding
  *and* when decoding: a corrupt length can never make a reader allocate more.
* Sequence numbers are contiguous: the first record of a segment carries the segment's
  ``first_seq`` and every following record the previous one plus one. Continuity is
  checked on every read, not only on recovery.
* A record is valid only if its checksum matches; a valid checksum with the wrong sequence
  number is never a torn write (it is a misdirected write or a bug) and is reported as
  ``DecodeFailure.SEQUENCE``.
* CRC32C (Castagnoli, as iSCSI/ext4/TigerBeetle) rather than zlib's CRC32: better error
  detection for the same width and hardware support on x86 and ARM. The fast path is the
  ``google-crc32c`` package (C, SSE4.2/ARMv8); a pure-Python table implementation is the
  fallback when it is not installed, and a test pins both to the standard check value.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

# --- bounds -------------------------------------------------------------------------------

# One record holds one batch of one replication group's entries: 16 MiB is forty items of
# DynamoDB's 400 KB maximum, so any proposal batch fits, and it is the largest buffer a
# reader ever allocates (a corrupt length field can ask for no more).
MAX_PAYLOAD_BYTES: Final = 16 * 1024 * 1024
# A segment is the unit of archival and deletion: large enough that per-segment costs (one
# extra fsync, one directory entry, one archive object) vanish, small enough that deleting
# one after a checkpoint frees space promptly. Kafka and etcd use 1 GiB and 64 MiB.
DEFAULT_SEGMENT_SIZE_BYTES: Final = 64 * 1024 * 1024

# --- layout -------------------------------------------------------------------------------

SEGMENT_MAGIC: Final = b"QWAL"
SEGMENT_VERSION: Final = 1
_SEGMENT_HEADER = struct.Struct("<4sHHQI")
SEGMENT_HEADER_BYTES: Final = _SEGMENT_HEADER.size  # 20
_SEGMENT_CHECKED_BYTES: Final = SEGMENT_HEADER_BYTES - 4

_RECORD_HEADER = struct.Struct("<IQI")
_RECORD_PREFIX = struct.Struct("<IQ")
RECORD_HEADER_BYTES: Final = _RECORD_HEADER.size  # 16
RECORD_PREFIX_BYTES: Final = _RECORD_PREFIX.size  # 12: the checksummed part of the header
SEQ_OFFSET: Final = 4  # where the u64 sequence number sits inside a record header

U64_MAX: Final = (1 << 64) - 1

SEGMENT_PREFIX: Final = "wal-"
SEGMENT_SUFFIX: Final = ".log"
_SEGMENT_NAME_DIGITS: Final = 20


# --- CRC32C -------------------------------------------------------------------------------


def _make_table() -> tuple[int, ...]:
    poly = 0x82F63B78  # Castagnoli polynomial, reflected
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE: Final = _make_table()


def crc32c_python(data: bytes, crc: int = 0) -> int:
    """Pure-Python CRC32C, continuing from ``crc`` (0 to start). Slow (a few MB/s): only the
    fallback when ``google-crc32c`` is missing, and the reference the fast path is tested
    against."""
    table = _TABLE
    value = crc ^ 0xFFFFFFFF
    for byte in data:
        value = table[(value ^ byte) & 0xFF] ^ (value >> 8)
    return value ^ 0xFFFFFFFF


crc32c_native: Callable[[bytes, int], int] | None
try:
    import google_crc32c as _google_crc32c

    def _crc32c_google(data: bytes, crc: int = 0) -> int:
        return int(_google_crc32c.extend(crc, data))  # C; takes immutable bytes only

    crc32c_native = _crc32c_google
    crc32c: Callable[[bytes, int], int] = _crc32c_google
    CRC32C_IMPLEMENTATION: str = f"google-crc32c ({_google_crc32c.implementation})"
except ImportError:  # pragma: no cover - exercised only where the package is absent
    crc32c_native = None
    crc32c = crc32c_python
    CRC32C_IMPLEMENTATION = "python"


def record_checksum(prefix: bytes, payload: bytes) -> int:
    """CRC32C over the record's length ‖ seq (``prefix``, 12 bytes) then its payload."""
    return crc32c(payload, crc32c(prefix, 0))


# --- segment names and headers ------------------------------------------------------------


def segment_file_name(first_seq: int) -> str:
    assert 0 <= first_seq <= U64_MAX
    return f"{SEGMENT_PREFIX}{first_seq:0{_SEGMENT_NAME_DIGITS}d}{SEGMENT_SUFFIX}"


def parse_segment_file_name(name: str) -> int | None:
    """The first sequence number a segment file name carries, or None if the name is not a
    segment's (temporary files, the lock file, strangers)."""
    if not (name.startswith(SEGMENT_PREFIX) and name.endswith(SEGMENT_SUFFIX)):
        return None
    digits = name[len(SEGMENT_PREFIX) : -len(SEGMENT_SUFFIX)]
    if len(digits) != _SEGMENT_NAME_DIGITS or not digits.isdigit() or not digits.isascii():
        return None
    value = int(digits)
    return value if value <= U64_MAX else None


def encode_segment_header(first_seq: int) -> bytes:
    assert 1 <= first_seq <= U64_MAX
    body = _SEGMENT_HEADER.pack(SEGMENT_MAGIC, SEGMENT_VERSION, 0, first_seq, 0)
    checksum = crc32c(body[:_SEGMENT_CHECKED_BYTES], 0)
    header = body[:_SEGMENT_CHECKED_BYTES] + struct.pack("<I", checksum)
    assert decode_segment_header(header) == first_seq  # pair the check across the boundary
    return header


def decode_segment_header(data: bytes | bytearray | memoryview) -> int | str:
    """The segment's first sequence number, or a reason string why the header is invalid."""
    if len(data) < SEGMENT_HEADER_BYTES:
        return f"segment header truncated ({len(data)} of {SEGMENT_HEADER_BYTES} bytes)"
    magic, version, reserved, first_seq, checksum = _SEGMENT_HEADER.unpack_from(data, 0)
    if crc32c(bytes(data[:_SEGMENT_CHECKED_BYTES]), 0) != checksum:
        return "segment header checksum mismatch"
    if magic != SEGMENT_MAGIC:
        return f"bad segment magic {magic!r}"
    if version != SEGMENT_VERSION:
        return f"unsupported segment version {version}"
    if reserved != 0 or first_seq == 0:
        return "invalid segment header fields"
    return int(first_seq)


# --- records ------------------------------------------------------------------------------


def encode_record(seq: int, payload: bytes, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> bytes:
    """One record's bytes. The caller has already checked the payload bound and reports a
    typed error; here an oversized payload is a programming error."""
    assert 0 <= len(payload) <= max_payload_bytes <= MAX_PAYLOAD_BYTES
    assert 1 <= seq <= U64_MAX
    prefix = _RECORD_PREFIX.pack(len(payload), seq)
    checksum = record_checksum(prefix, payload)
    return prefix + struct.pack("<I", checksum) + payload


class DecodeFailure(enum.Enum):
    """Why the bytes at an offset are not the expected record."""

    LENGTH = "length exceeds the payload bound"
    CHECKSUM = "checksum mismatch"
    SEQUENCE = "valid checksum but unexpected sequence number"


@dataclass(frozen=True, slots=True)
class Decoded:
    seq: int
    payload: bytes
    size_bytes: int  # header + payload: where the next record starts, relative to this one


@dataclass(frozen=True, slots=True)
class Incomplete:
    needed_bytes: int  # bytes needed from the record's offset before decoding can go on


@dataclass(frozen=True, slots=True)
class Invalid:
    failure: DecodeFailure
    seq_found: int  # the header's sequence field (meaningful only for SEQUENCE)


DecodeResult = Decoded | Incomplete | Invalid


def decode_record(
    buffer: bytes | bytearray | memoryview,
    offset: int,
    expected_seq: int,
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
) -> DecodeResult:
    """Decodes the record at ``buffer[offset:]`` if the buffer holds all of it.

    ``Incomplete`` when more bytes are needed (the caller reads more, or at end of file has
    a torn record); ``Invalid`` when the bytes can never become the expected record.
    """
    available = len(buffer) - offset
    assert available >= 0
    if available < RECORD_HEADER_BYTES:
        return Incomplete(RECORD_HEADER_BYTES)
    length, seq, checksum = _RECORD_HEADER.unpack_from(buffer, offset)
    if length > max_payload_bytes:
        return Invalid(DecodeFailure.LENGTH, seq)
    size_bytes = RECORD_HEADER_BYTES + length
    if available < size_bytes:
        return Incomplete(size_bytes)
    with memoryview(buffer) as view:  # released at once, so a bytearray stays resizable
        prefix = bytes(view[offset : offset + RECORD_PREFIX_BYTES])
        payload = bytes(view[offset + RECORD_HEADER_BYTES : offset + size_bytes])
    if record_checksum(prefix, payload) != checksum:
        return Invalid(DecodeFailure.CHECKSUM, seq)
    if seq != expected_seq:
        return Invalid(DecodeFailure.SEQUENCE, seq)
    return Decoded(seq, payload, size_bytes)


def find_record_candidates(
    buffer: bytes | bytearray | memoryview, seqs: range
) -> list[tuple[int, int]]:
    """Offsets in ``buffer`` where a record header carrying one of ``seqs`` may start, as
    sorted ``(offset, seq)`` pairs. A search by the 8-byte sequence field (C-speed
    ``bytes.find``); candidates still have to pass ``decode_record``. Used by recovery to
    tell a torn tail (nothing valid after the damage) from corruption (a later record
    survived)."""
    data = bytes(buffer)
    found: list[tuple[int, int]] = []
    for seq in seqs:
        needle = struct.pack("<Q", seq)
        position = data.find(needle, SEQ_OFFSET)
        while position != -1:
            found.append((position - SEQ_OFFSET, seq))
            position = data.find(needle, position + 1)
    found.sort()
    return found


# How many sequence numbers past a damaged record recovery looks for a surviving record.
# A bit flip destroys one record and a lost 4 KiB sector a handful; 64 covers both for
# records down to ~64 bytes while keeping the search (one bytes.find per seq) cheap.
SURVIVOR_SEARCH_RECORDS: Final = 64


def find_survivor(
    data: bytes, start: int, next_seq: int, window: int = SURVIVOR_SEARCH_RECORDS
) -> tuple[int, int] | None:
    """The first intact record at or after ``data[start:]`` carrying one of the ``window``
    sequence numbers from ``next_seq``, as ``(offset, seq)``; None if there is none.

    Recovery's rule for damage in the last segment: with no survivor it is a torn tail
    (truncate); with one, acknowledged data was damaged (raise). The file driver applies
    the same rule chunk by chunk; the simulator calls this on its in-memory segment.
    """
    seqs = range(next_seq, min(next_seq + window, U64_MAX + 1))
    for offset, seq in find_record_candidates(data[start:], seqs):
        if isinstance(decode_record(data, start + offset, seq), Decoded):
            return start + offset, seq
    return None


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What an in-memory scan of one segment's record area found."""

    records: list[tuple[int, int, bytes]]  # (offset, seq, payload)
    valid_end: int  # offset just past the last valid record
    failure: DecodeFailure | None  # None: clean end, or a torn (incomplete) tail
    torn: bool  # the bytes after valid_end are an incomplete record


def scan_records(
    data: bytes | bytearray | memoryview,
    start: int,
    first_seq: int,
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
) -> ScanResult:
    """Decodes every record of a segment held whole in memory (the simulator's disks are
    small). Stops at the first record that does not decode; the caller classifies it."""
    records: list[tuple[int, int, bytes]] = []
    offset = start
    seq = first_seq
    while offset < len(data):
        result = decode_record(data, offset, seq, max_payload_bytes)
        match result:
            case Decoded():
                records.append((offset, result.seq, result.payload))
                offset += result.size_bytes
                seq += 1
            case Incomplete():
                return ScanResult(records, offset, None, torn=True)
            case Invalid():
                return ScanResult(records, offset, result.failure, torn=False)
    return ScanResult(records, offset, None, torn=False)
