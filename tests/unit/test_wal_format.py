"""The WAL's pure record codec: CRC32C, record and segment-header encoding, decoding
bounds, the in-memory scan the simulator uses."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorumdb.storage import wal_format as fmt

CHECK_INPUT = b"123456789"
CHECK_VALUE = 0xE3069283  # the standard CRC-32C check value (RFC 3720, Appendix B.4)


def test_python_crc32c_gives_the_standard_check_value() -> None:
    assert fmt.crc32c_python(CHECK_INPUT) == CHECK_VALUE


def test_native_crc32c_gives_the_standard_check_value() -> None:
    if fmt.crc32c_native is None:
        pytest.skip("google-crc32c is not installed; the pure-Python fallback is in use")
    assert fmt.crc32c_native(CHECK_INPUT, 0) == CHECK_VALUE
    assert fmt.crc32c(CHECK_INPUT, 0) == CHECK_VALUE


def test_crc32c_known_vectors() -> None:
    # RFC 3720 B.4: 32 bytes of zeroes, of 0xFF, and an ascending run.
    assert fmt.crc32c_python(bytes(32)) == 0x8A9136AA
    assert fmt.crc32c_python(b"\xff" * 32) == 0x62A8AB43
    assert fmt.crc32c_python(bytes(range(32))) == 0x46DD794E
    assert fmt.crc32c_python(b"") == 0


@given(st.binary(max_size=2048), st.binary(max_size=256))
def test_native_and_python_crc32c_agree_and_extend(first: bytes, second: bytes) -> None:
    whole = fmt.crc32c_python(first + second)
    assert fmt.crc32c_python(second, fmt.crc32c_python(first)) == whole
    assert fmt.crc32c(first + second, 0) == whole
    if fmt.crc32c_native is not None:
        assert fmt.crc32c_native(second, fmt.crc32c_native(first, 0)) == whole


def test_record_layout_matches_the_documented_format() -> None:
    record = fmt.encode_record(7, b"abc")
    length, seq, checksum = struct.unpack_from("<IQI", record)
    assert (length, seq) == (3, 7)
    assert record[16:] == b"abc"
    assert checksum == fmt.crc32c_python(record[:12] + b"abc")
    assert fmt.RECORD_HEADER_BYTES == 16 and fmt.SEGMENT_HEADER_BYTES == 20


@given(st.integers(1, fmt.U64_MAX), st.binary(max_size=4096))
def test_record_round_trip(seq: int, payload: bytes) -> None:
    record = fmt.encode_record(seq, payload)
    result = fmt.decode_record(b"junk" + record + b"next", 4, seq)
    assert result == fmt.Decoded(seq, payload, len(record))


def test_every_proper_prefix_of_a_record_is_incomplete() -> None:
    record = fmt.encode_record(3, b"payload bytes")
    for cut in range(len(record)):
        result = fmt.decode_record(record[:cut], 0, 3)
        assert isinstance(result, fmt.Incomplete)
        assert result.needed_bytes > cut


def test_every_single_bit_flip_is_detected() -> None:
    record = fmt.encode_record(1234, b"some payload")
    for index in range(len(record)):
        for bit in range(8):
            damaged = bytearray(record)
            damaged[index] ^= 1 << bit
            result = fmt.decode_record(bytes(damaged), 0, 1234)
            # A flip in the length field may ask for more bytes than there are: the reader
            # then meets end of file (torn) or a checksum mismatch, never a wrong record.
            assert not isinstance(result, fmt.Decoded), (index, bit)


def test_length_bound_is_checked_on_read() -> None:
    header = struct.pack("<IQI", 101, 1, 0)
    result = fmt.decode_record(header, 0, 1, max_payload_bytes=100)
    assert result == fmt.Invalid(fmt.DecodeFailure.LENGTH, 1)
    huge = struct.pack("<IQI", fmt.MAX_PAYLOAD_BYTES + 1, 1, 0)
    assert isinstance(fmt.decode_record(huge, 0, 1), fmt.Invalid)


def test_length_bound_is_checked_on_write() -> None:
    with pytest.raises(AssertionError):
        fmt.encode_record(1, b"x" * 11, max_payload_bytes=10)


def test_valid_checksum_with_wrong_sequence_is_a_sequence_failure() -> None:
    record = fmt.encode_record(5, b"x")
    assert fmt.decode_record(record, 0, 6) == fmt.Invalid(fmt.DecodeFailure.SEQUENCE, 5)


def test_segment_header_round_trip_and_damage() -> None:
    header = fmt.encode_segment_header(42)
    assert header[:4] == b"QWAL" and len(header) == fmt.SEGMENT_HEADER_BYTES
    assert fmt.decode_segment_header(header) == 42
    for index in range(len(header)):
        damaged = bytearray(header)
        damaged[index] ^= 0x10
        assert isinstance(fmt.decode_segment_header(bytes(damaged)), str)
    assert isinstance(fmt.decode_segment_header(header[:-1]), str)


def test_segment_file_names() -> None:
    name = fmt.segment_file_name(17)
    assert name == "wal-00000000000000000017.log"
    assert fmt.parse_segment_file_name(name) == 17
    assert fmt.parse_segment_file_name(fmt.segment_file_name(fmt.U64_MAX)) == fmt.U64_MAX
    for stranger in ("wal.lock", name + ".tmp", "wal-17.log", "wal-0000000000000000001x.log"):
        assert fmt.parse_segment_file_name(stranger) is None


def test_scan_records_stops_at_torn_and_damaged_records() -> None:
    records = [fmt.encode_record(10 + index, bytes([index]) * index) for index in range(5)]
    data = fmt.encode_segment_header(10) + b"".join(records)
    clean = fmt.scan_records(data, fmt.SEGMENT_HEADER_BYTES, 10)
    assert [seq for _, seq, _ in clean.records] == [10, 11, 12, 13, 14]
    assert clean.valid_end == len(data) and clean.failure is None and not clean.torn

    torn = fmt.scan_records(data[:-2], fmt.SEGMENT_HEADER_BYTES, 10)
    assert len(torn.records) == 4 and torn.torn and torn.valid_end == len(data) - len(records[4])

    damaged = bytearray(data)
    third = fmt.SEGMENT_HEADER_BYTES + len(records[0]) + len(records[1])
    damaged[third + fmt.RECORD_HEADER_BYTES] ^= 0xFF
    result = fmt.scan_records(bytes(damaged), fmt.SEGMENT_HEADER_BYTES, 10)
    assert len(result.records) == 2 and result.valid_end == third
    assert result.failure is fmt.DecodeFailure.CHECKSUM


def test_find_record_candidates_locates_headers_by_sequence() -> None:
    data = b"xx" + fmt.encode_record(7, b"abc") + fmt.encode_record(8, b"") + b"tail"
    assert fmt.find_record_candidates(data, range(7, 9)) == [(2, 7), (2 + 19, 8)]
    assert fmt.find_record_candidates(data, range(100, 101)) == []


def test_find_survivor_tells_torn_tails_from_damaged_records() -> None:
    records = [fmt.encode_record(seq, b"r%d" % seq * 5) for seq in range(1, 6)]
    data = b"".join(records)
    third = len(records[0]) + len(records[1])
    damaged = bytearray(data)
    damaged[third + 20] ^= 1
    assert fmt.find_survivor(bytes(damaged), third + 1, 3) == (third + len(records[2]), 4)
    torn = data[: third + 7]
    assert fmt.find_survivor(torn, third + 1, 3) is None
    zeroes = data[:third] + bytes(len(data) - third)
    assert fmt.find_survivor(zeroes, third + 1, 3) is None
    assert fmt.find_survivor(bytes(damaged), third + 1, 3, window=1) is None  # only seq 3


def test_pure_python_fallback_is_used_when_the_package_is_missing() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['google_crc32c'] = None\n"
        "from quorumdb.storage import wal_format as f\n"
        "assert f.CRC32C_IMPLEMENTATION == 'python' and f.crc32c_native is None\n"
        "assert f.crc32c(b'123456789', 0) == 0xE3069283\n"
        "assert f.decode_record(f.encode_record(1, b'x'), 0, 1) == f.Decoded(1, b'x', 17)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
