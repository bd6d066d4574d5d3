"""The file-backed WAL: round trips, segments, recovery of torn tails, corruption that
must raise, truncation after checkpoint, sync counting, failure handling."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pytest

from quorumdb.storage import wal_format as fmt
from quorumdb.storage.wal import (
    FRESH_SPARE_PREFIX,
    MAX_SPARE_SEGMENTS,
    PREALLOCATED_REASON,
    SPARE_PREFIX,
    RecordTooLargeError,
    Wal,
    WalClosedError,
    WalCorruption,
    WalFailedError,
    WalLockedError,
    WalStorage,
    _make_fresh_spare,
)
from quorumdb.storage.wal_format import segment_file_name


class CountingSync:
    """An injectable fdatasync that counts calls (and can be told to fail)."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def __call__(self, fd: int) -> None:
        if self.fail:
            raise OSError(5, "injected EIO")
        self.calls += 1
        os.fdatasync(fd)


def payload_for(seq: int) -> bytes:
    return f"record-{seq}-".encode() * (seq % 7 + 1)


def write_log(directory: Path, count: int, segment_size_bytes: int = 1 << 20) -> list[bytes]:
    payloads = [payload_for(seq) for seq in range(1, count + 1)]
    with Wal.open(directory, segment_size_bytes=segment_size_bytes) as wal:
        wal.append(payloads)
        wal.sync()
    return payloads


def read_all(directory: Path, segment_size_bytes: int = 1 << 20) -> list[tuple[int, bytes]]:
    with Wal.open(directory, segment_size_bytes=segment_size_bytes) as wal:
        return list(wal.replay(wal.first_seq))


def record_offsets(path: Path) -> list[int]:
    """Start offset of each record in a segment file, plus its end."""
    data = path.read_bytes()
    first_seq = fmt.decode_segment_header(data)
    assert isinstance(first_seq, int)
    scan = fmt.scan_records(data, fmt.SEGMENT_HEADER_BYTES, first_seq)
    assert scan.valid_end == len(data)
    return [offset for offset, _, _ in scan.records] + [len(data)]


def only_segment(directory: Path) -> Path:
    (segment,) = sorted(directory.glob("wal-*.log"))
    return segment


def test_wal_implements_the_storage_protocol(tmp_path: Path) -> None:
    with Wal.open(tmp_path) as wal:
        assert isinstance(wal, WalStorage)


def test_round_trip(tmp_path: Path) -> None:
    with Wal.open(tmp_path) as wal:
        assert (wal.first_seq, wal.last_seq, wal.synced_seq) == (1, 0, 0)
        assert wal.append([b"a", b"", b"c" * 1000]) == 3
        assert wal.append([b"d"]) == 4
        assert wal.synced_seq == 0
        assert list(wal.replay(1)) == []  # replay yields durable records only
        assert wal.sync() == 4
        assert list(wal.replay(1)) == [(1, b"a"), (2, b""), (3, b"c" * 1000), (4, b"d")]
        assert list(wal.replay(3)) == [(3, b"c" * 1000), (4, b"d")]
        assert list(wal.replay(5)) == []
    assert read_all(tmp_path) == [(1, b"a"), (2, b""), (3, b"c" * 1000), (4, b"d")]


def test_append_of_nothing_changes_nothing(tmp_path: Path) -> None:
    sync = CountingSync()
    with Wal.open(tmp_path, fdatasync=sync) as wal:
        before = sync.calls
        assert wal.append([]) == 0
        assert wal.sync() == 0
        assert sync.calls == before


def test_one_fdatasync_per_sync_covers_every_append(tmp_path: Path) -> None:
    sync = CountingSync()
    with Wal.open(tmp_path, fdatasync=sync) as wal:
        before = sync.calls
        for group in range(50):  # fifty replication groups append, the node syncs once
            wal.append([f"group {group}".encode()])
        wal.sync()
        assert sync.calls == before + 1
        wal.sync()  # nothing new: no sync
        assert sync.calls == before + 1


def test_many_segments(tmp_path: Path) -> None:
    segment_size_bytes = 256
    payloads = write_log(tmp_path, 200, segment_size_bytes)
    names = sorted(path.name for path in tmp_path.glob("wal-*.log"))
    assert len(names) > 20
    expected_first = 1
    for name in names:
        path = tmp_path / name
        assert fmt.parse_segment_file_name(name) == expected_first
        offsets = record_offsets(path)
        count = len(offsets) - 1
        assert count >= 1
        assert path.stat().st_size <= segment_size_bytes or count == 1
        expected_first += count
    assert expected_first == 201
    assert read_all(tmp_path, segment_size_bytes=segment_size_bytes) == list(
        enumerate(payloads, start=1)
    )


def test_record_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path: Path) -> None:
    with Wal.open(tmp_path, segment_size_bytes=100) as wal:
        wal.append([b"a", b"b" * 500, b"c"])
        wal.sync()
        assert wal.segment_names == [fmt.segment_file_name(seq) for seq in (1, 2, 3)]
        assert list(wal.replay(1)) == [(1, b"a"), (2, b"b" * 500), (3, b"c")]


def test_reopen_continues_the_sequence(tmp_path: Path) -> None:
    for round_number in range(4):
        with Wal.open(tmp_path, segment_size_bytes=300) as wal:
            assert wal.last_seq == round_number * 10
            assert wal.append([payload_for(round_number)] * 10) == (round_number + 1) * 10
            wal.sync()
    seqs = [seq for seq, _ in read_all(tmp_path, segment_size_bytes=300)]
    assert seqs == list(range(1, 41))


def test_initial_seq_numbers_a_new_log(tmp_path: Path) -> None:
    with Wal.open(tmp_path, initial_seq=1000) as wal:
        assert (wal.first_seq, wal.last_seq) == (1000, 999)
        assert wal.append([b"x"]) == 1000
        wal.sync()
    with Wal.open(tmp_path, initial_seq=5) as wal:  # ignored for an existing log
        assert (wal.first_seq, wal.last_seq) == (1000, 1000)


def test_payload_bound_is_checked_on_write_and_append_is_all_or_nothing(tmp_path: Path) -> None:
    with Wal.open(tmp_path, max_payload_bytes=100) as wal:
        with pytest.raises(RecordTooLargeError):
            wal.append([b"ok", b"x" * 101])
        assert wal.last_seq == 0
        assert wal.append([b"x" * 100]) == 1


def test_pending_bytes_are_bounded_by_writing_early_without_syncing(tmp_path: Path) -> None:
    sync = CountingSync()
    with Wal.open(tmp_path, max_pending_bytes=1000, fdatasync=sync) as wal:
        before = sync.calls
        size_before = only_segment(tmp_path).stat().st_size
        for _ in range(20):
            wal.append([b"y" * 100])
        assert only_segment(tmp_path).stat().st_size > size_before  # handed to the OS
        assert sync.calls == before and wal.synced_seq == 0  # but not acknowledged
        wal.sync()
        assert sync.calls == before + 1 and wal.synced_seq == 20


def test_second_open_of_the_same_directory_is_refused(tmp_path: Path) -> None:
    with Wal.open(tmp_path), pytest.raises(WalLockedError):
        Wal.open(tmp_path)
    Wal.open(tmp_path).close()  # released on close


def test_use_after_close_raises(tmp_path: Path) -> None:
    wal = Wal.open(tmp_path)
    wal.close()
    wal.close()
    with pytest.raises(WalClosedError):
        wal.append([b"x"])
    with pytest.raises(WalClosedError):
        wal.sync()


def test_failed_fdatasync_poisons_the_log(tmp_path: Path) -> None:
    sync = CountingSync()
    with Wal.open(tmp_path, fdatasync=sync) as wal:
        wal.append([b"a"])
        sync.fail = True
        with pytest.raises(WalFailedError):
            wal.sync()
        sync.fail = False  # a retry must not pretend the lost pages were made durable
        with pytest.raises(WalFailedError):
            wal.sync()
        with pytest.raises(WalFailedError):
            wal.append([b"b"])
        assert wal.synced_seq == 0


def test_close_without_sync_drops_unsynced_records_like_a_crash(tmp_path: Path) -> None:
    with Wal.open(tmp_path) as wal:
        wal.append([b"a"])
        wal.sync()
        wal.append([b"b"])
    assert read_all(tmp_path) == [(1, b"a")]


# --- torn tails ----------------------------------------------------------------------------

TORN_RECORDS = 5
_TORN_LAST_RECORD_BYTES = fmt.RECORD_HEADER_BYTES + len(payload_for(TORN_RECORDS))


@pytest.mark.parametrize("cut", range(_TORN_LAST_RECORD_BYTES))
def test_torn_last_record_is_truncated_at_every_byte_offset(tmp_path: Path, cut: int) -> None:
    payloads = write_log(tmp_path, TORN_RECORDS)
    segment = only_segment(tmp_path)
    last_start = record_offsets(segment)[-2]
    assert segment.stat().st_size - last_start == _TORN_LAST_RECORD_BYTES
    os.truncate(segment, last_start + cut)

    with Wal.open(tmp_path) as wal:
        assert wal.recovery.truncated_bytes == cut
        assert wal.recovery.truncated_offset == (last_start if cut else None)
        assert wal.last_seq == wal.synced_seq == TORN_RECORDS - 1
        assert list(wal.replay(1)) == list(enumerate(payloads[:-1], start=1))
        assert wal.append([b"after the crash"]) == TORN_RECORDS  # the lost seq is reused
        wal.sync()
    assert segment.stat().st_size == last_start + fmt.RECORD_HEADER_BYTES + 15
    assert read_all(tmp_path)[-1] == (TORN_RECORDS, b"after the crash")


@pytest.mark.parametrize("garbage", ["zeroes", "ones", "stale"])
def test_unwritten_tail_bytes_after_the_last_record_are_truncated(
    tmp_path: Path, garbage: str
) -> None:
    """File size durable, data not: the tail reads as zeroes or junk (ext4 data=writeback,
    XFS). Whatever it holds, no valid record follows, so it is a torn tail."""
    payloads = write_log(tmp_path, 4)
    segment = only_segment(tmp_path)
    junk = {"zeroes": bytes(4096), "ones": b"\xff" * 4096, "stale": b"QWAL" * 1024}[garbage]
    with segment.open("ab") as file:
        file.write(junk)
    with Wal.open(tmp_path) as wal:
        assert wal.recovery.truncated_bytes == 4096
        assert list(wal.replay(1)) == list(enumerate(payloads, start=1))


def test_bit_flip_in_the_tail_record_is_truncated(tmp_path: Path) -> None:
    payloads = write_log(tmp_path, 6)
    segment = only_segment(tmp_path)
    last_start = record_offsets(segment)[-2]
    flip_byte(segment, last_start + fmt.RECORD_HEADER_BYTES + 3)
    with Wal.open(tmp_path) as wal:
        assert wal.recovery.truncated_offset == last_start
        assert "checksum" in (wal.recovery.reason or "")
        assert list(wal.replay(1)) == list(enumerate(payloads[:-1], start=1))


# --- corruption that must raise --------------------------------------------------------------


def flip_byte(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


_MIDDLE_RECORD_BYTES = fmt.RECORD_HEADER_BYTES + len(payload_for(3))


@pytest.mark.parametrize("index", range(_MIDDLE_RECORD_BYTES))
@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_bit_flip_in_a_middle_record_of_the_tail_segment_raises(
    tmp_path: Path, index: int, mask: int
) -> None:
    """Any flipped bit of record 3 of 6 -- length, seq, checksum or payload -- is
    corruption, not a torn tail, because later records survive intact."""
    write_log(tmp_path, 6)
    segment = only_segment(tmp_path)
    start = record_offsets(segment)[2]
    flip_byte(segment, start + index, mask)
    before = segment.read_bytes()
    with pytest.raises(WalCorruption) as caught:
        Wal.open(tmp_path)
    assert caught.value.segment == segment.name
    assert caught.value.offset == start
    assert segment.read_bytes() == before  # nothing was truncated or repaired


def test_corruption_in_an_earlier_segment_raises_even_at_its_end(tmp_path: Path) -> None:
    write_log(tmp_path, 40, segment_size_bytes=300)
    first, *_ = sorted(tmp_path.glob("wal-*.log"))
    last_start = record_offsets(first)[-2]
    flip_byte(first, first.stat().st_size - 1)
    with pytest.raises(WalCorruption) as caught:
        Wal.open(tmp_path, segment_size_bytes=300)
    assert (caught.value.segment, caught.value.offset) == (first.name, last_start)

    write_log(tmp_path / "again", 40, segment_size_bytes=300)
    first = sorted((tmp_path / "again").glob("wal-*.log"))[0]
    os.truncate(first, first.stat().st_size - 1)  # a torn end is only legal in the last one
    with pytest.raises(WalCorruption, match="incomplete"):
        Wal.open(tmp_path / "again", segment_size_bytes=300)


def test_corruption_is_caught_on_replay_too(tmp_path: Path) -> None:
    write_log(tmp_path, 10)
    segment = only_segment(tmp_path)
    with Wal.open(tmp_path) as wal:
        start = record_offsets(segment)[4]
        flip_byte(segment, start + fmt.RECORD_HEADER_BYTES)  # rot after a clean open
        replay = wal.replay(1)
        assert [seq for seq, _ in (next(replay) for _ in range(4))] == [1, 2, 3, 4]
        with pytest.raises(WalCorruption) as caught:
            next(replay)
        assert caught.value.offset == start


def test_damage_wiping_many_tail_records_is_torn_only_past_the_search_window(
    tmp_path: Path,
) -> None:
    """Documented limit: damage is classified by whether one of the next
    fmt.SURVIVOR_SEARCH_RECORDS records survives after it."""
    count = fmt.SURVIVOR_SEARCH_RECORDS + 10
    write_log(tmp_path, count)
    segment = only_segment(tmp_path)
    offsets = record_offsets(segment)
    zero_range(segment, offsets[5], offsets[5 + fmt.SURVIVOR_SEARCH_RECORDS - 1])
    with pytest.raises(WalCorruption, match="intact"):
        Wal.open(tmp_path)

    write_log(tmp_path / "wide", count)
    segment = only_segment(tmp_path / "wide")
    zero_range(segment, offsets[5], offsets[5 + fmt.SURVIVOR_SEARCH_RECORDS])
    with Wal.open(tmp_path / "wide") as wal:
        assert wal.last_seq == 5


def zero_range(path: Path, start: int, end: int) -> None:
    data = bytearray(path.read_bytes())
    data[start:end] = bytes(end - start)
    path.write_bytes(bytes(data))


def test_valid_record_with_wrong_sequence_raises_even_at_the_tail(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    segment = only_segment(tmp_path)
    with segment.open("ab") as file:
        file.write(fmt.encode_record(9, b"misdirected"))
    with pytest.raises(WalCorruption, match="found seq 9, expected 4"):
        Wal.open(tmp_path)


def test_damaged_segment_header_raises(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    segment = only_segment(tmp_path)
    flip_byte(segment, 9)
    with pytest.raises(WalCorruption, match="segment header") as caught:
        Wal.open(tmp_path)
    assert caught.value.offset == 0


def test_segment_name_must_match_its_header(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    segment = only_segment(tmp_path)
    segment.rename(tmp_path / fmt.segment_file_name(2))
    with pytest.raises(WalCorruption, match="name says"):
        Wal.open(tmp_path)


def test_missing_segment_in_the_middle_raises(tmp_path: Path) -> None:
    write_log(tmp_path, 40, segment_size_bytes=300)
    segments = sorted(tmp_path.glob("wal-*.log"))
    segments[2].unlink()
    with pytest.raises(WalCorruption, match="expected"):
        Wal.open(tmp_path, segment_size_bytes=300)


def test_empty_segment_before_the_tail_raises(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    (tmp_path / fmt.segment_file_name(4)).write_bytes(fmt.encode_segment_header(4))
    (tmp_path / fmt.segment_file_name(5)).write_bytes(fmt.encode_segment_header(5))
    with pytest.raises(WalCorruption, match="empty segment"):
        Wal.open(tmp_path)


def test_empty_tail_segment_left_by_a_crash_is_used(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    (tmp_path / fmt.segment_file_name(4)).write_bytes(fmt.encode_segment_header(4))
    with Wal.open(tmp_path) as wal:
        assert wal.last_seq == 3
        assert wal.append([b"d"]) == 4
        wal.sync()
        assert len(wal.segment_names) == 2


def test_unfinished_segment_creation_is_cleaned_up(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    (tmp_path / (fmt.segment_file_name(4) + ".tmp")).write_bytes(b"QW")
    with Wal.open(tmp_path) as wal:
        assert wal.recovery.removed_temporary_files == 1
        assert wal.last_seq == 3
    assert not list(tmp_path.glob("*.tmp"))


# --- truncation after checkpoint -------------------------------------------------------------


def test_truncate_before_deletes_only_whole_segments_below_seq(tmp_path: Path) -> None:
    payloads = write_log(tmp_path, 60, segment_size_bytes=300)
    with Wal.open(tmp_path, segment_size_bytes=300) as wal:
        firsts = [fmt.parse_segment_file_name(name) for name in wal.segment_names]
        assert len(firsts) > 4
        cut = firsts[3]
        assert cut is not None
        assert wal.truncate_before(cut + 1) == 3  # seq cut is in segment 3: it stays
        assert wal.first_seq == cut
        assert list(wal.replay(cut)) == list(enumerate(payloads[cut - 1 :], start=cut))
        with pytest.raises(ValueError, match="truncated"):
            wal.replay(cut - 1)
        assert wal.truncate_before(cut) == 0
    with Wal.open(tmp_path, segment_size_bytes=300) as wal:
        assert (wal.first_seq, wal.last_seq) == (cut, 60)


def test_truncate_before_never_deletes_the_tail(tmp_path: Path) -> None:
    write_log(tmp_path, 60, segment_size_bytes=300)
    with Wal.open(tmp_path, segment_size_bytes=300) as wal:
        wal.truncate_before(61)
        assert len(wal.segment_names) == 1
        assert wal.last_seq == 60
        with pytest.raises(ValueError, match="durable"):
            wal.truncate_before(62)
    with Wal.open(tmp_path, segment_size_bytes=300) as wal:
        assert wal.append([b"next"]) == 61


def test_release_before_leaves_the_log_at_once_and_deletes_the_files_on_a_thread(
        tmp_path: Path) -> None:
    payloads = write_log(tmp_path, 60, segment_size_bytes=300)
    with Wal.open(tmp_path, segment_size_bytes=300) as wal:
        firsts = [fmt.parse_segment_file_name(name) for name in wal.segment_names]
        cut = firsts[3]
        assert cut is not None
        assert wal.release_before(cut + 1) == 3
        assert wal.first_seq == cut
        assert list(wal.replay(cut)) == list(enumerate(payloads[cut - 1 :], start=cut))
        assert wal.release_before(cut) == 0
    # close() waited for the deletions
    assert sorted(p.name for p in tmp_path.glob("wal-*.log")) == sorted(
        fmt.segment_file_name(first) for first in firsts[3:] if first is not None)


def test_segments_a_crash_left_behind_a_release_are_read_past_and_deleted_later(
        tmp_path: Path) -> None:
    """A crash between ``release_before`` and its thread's deletions: the old segments are
    still there on the next open, whole, so the log reads them as its start again, and
    the next truncation deletes them."""
    payloads = write_log(tmp_path, 60, segment_size_bytes=300)
    kept = tmp_path / "kept"
    kept.mkdir()
    names = sorted(p.name for p in tmp_path.glob("wal-*.log"))
    for name in names[:3]:
        shutil.copy(tmp_path / name, kept / name)
    with Wal.open(tmp_path, segment_size_bytes=300) as wal:
        cut = fmt.parse_segment_file_name(wal.segment_names[3])
        assert cut is not None
        assert wal.release_before(cut + 1) == 3
    for name in names[:3]:  # as if the deletions had never happened
        shutil.copy(kept / name, tmp_path / name)
    shutil.rmtree(kept)
    with Wal.open(tmp_path, segment_size_bytes=300) as wal:
        assert (wal.first_seq, wal.last_seq) == (1, 60)
        assert list(wal.replay(cut)) == list(enumerate(payloads[cut - 1 :], start=cut))
        assert wal.release_before(cut + 1) == 3
    assert len(list(tmp_path.glob("wal-*.log"))) == len(names) - 3


@pytest.mark.parametrize("preallocate", [0, 200])
def test_released_segments_are_recycled_as_new_segments(tmp_path: Path,
                                                        preallocate: int) -> None:
    """Up to MAX_SPARE_SEGMENTS released files are kept as spares, adopted again on open,
    and become new segments (their old records overwritten, with zeroes ahead of the
    tail when preallocating); every record reads back."""
    written: list[bytes] = []
    with Wal.open(tmp_path, segment_size_bytes=300, preallocate_bytes=preallocate) as wal:
        for seq in range(1, 61):
            written.append(payload_for(seq))
            wal.append([written[-1]])
            wal.sync()
        assert wal.release_before(wal.last_seq) >= 4
    spares = sorted(p.name for p in tmp_path.glob(SPARE_PREFIX + "*"))
    assert len(spares) == MAX_SPARE_SEGMENTS
    with Wal.open(tmp_path, segment_size_bytes=300, preallocate_bytes=preallocate) as wal:
        first = wal.first_seq
        for seq in range(61, 121):
            written.append(payload_for(seq))
            wal.append([written[-1]])
            wal.sync()
        if preallocate:  # spares are made ahead of need too (fresh files of zeroes)
            assert wal.recycled >= MAX_SPARE_SEGMENTS
        else:
            assert wal.recycled == MAX_SPARE_SEGMENTS
        assert list(wal.replay(first)) == list(enumerate(written[first - 1:], start=first))
    left = list(tmp_path.glob(SPARE_PREFIX + "*"))
    assert len(left) <= (MAX_SPARE_SEGMENTS if preallocate else 0)
    assert all(path.name.startswith(FRESH_SPARE_PREFIX) for path in left)
    assert read_all(tmp_path, 300) == list(enumerate(written[first - 1:], start=first))


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def all_zero(path: Path, start: int = 0) -> bool:
    return not path.read_bytes()[start:].strip(b"\0")


def test_the_next_segment_is_zeroed_ahead_on_the_wal_thread(tmp_path: Path) -> None:
    """Preallocating, a fresh file of zeroes is prepared while the tail fills, and a
    retired segment is zeroed whole before it is kept as a spare: the segments made of
    them get no zeroes written ahead of their records (none left to write), and every
    record reads back across a reopen."""
    size = 64 * 1024
    written: list[bytes] = []
    with Wal.open(tmp_path, segment_size_bytes=size, preallocate_bytes=8192) as wal:
        def append(count: int) -> None:
            for _ in range(count):
                written.append(os.urandom(1000))
                wal.append([written[-1]])
                wal.sync()

        append(40)  # more than half of the first segment: a fresh spare is made
        fresh = tmp_path / (FRESH_SPARE_PREFIX + wal._segments[-1].name)
        wait_for(fresh.exists, "a fresh spare")
        assert fresh.stat().st_size == size and all_zero(fresh)
        assert not list(tmp_path.glob("*.tmp"))
        while wal.recycled == 0:
            append(1)
        tail = wal._segments[-1]
        assert not fresh.exists()
        assert tail.clean_bytes == tail.file_bytes == size  # nothing left to zero ahead
        tail_path = tmp_path / tail.name
        assert tail_path.stat().st_size == size and all_zero(tail_path, tail.size_bytes)
        retired = tmp_path / wal._segments[0].name
        assert wal.release_before(tail.first_seq) == 1
        spare = retired.with_name(SPARE_PREFIX + retired.name)
        wait_for(lambda: spare in wal._zeroed, "the retired segment zeroed")
        assert spare.stat().st_size == size and all_zero(spare)
        first = wal.first_seq
        while wal.recycled < 2:
            append(1)
        assert wal._segments[-1].clean_bytes == size
        append(5)
    assert read_all(tmp_path, size) == list(enumerate(written[first - 1:], start=first))


def test_an_unfinished_spare_is_deleted_on_open(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    leftover = tmp_path / (FRESH_SPARE_PREFIX + segment_file_name(1) + ".tmp")
    leftover.write_bytes(bytes(4096))
    with Wal.open(tmp_path) as wal:
        assert wal.recovery.removed_temporary_files == 1
        assert wal.last_seq == 3
    assert not leftover.exists()


def test_zeroing_a_spare_gives_up_when_the_log_closes(tmp_path: Path) -> None:
    stopping = threading.Event()
    stopping.set()
    spares: deque[Path] = deque()
    path = tmp_path / (FRESH_SPARE_PREFIX + segment_file_name(1))
    _make_fresh_spare(path, 8 << 20, spares, set(), stopping)
    assert not spares and not list(tmp_path.iterdir())
    stopping.clear()
    _make_fresh_spare(path, 3 << 20, spares, set(), stopping)
    assert list(spares) == [path] and path.stat().st_size == 3 << 20 and all_zero(path)


@pytest.mark.parametrize("preallocate", [0, 200])
def test_a_clean_close_leaves_no_old_records_behind_a_recycled_tail(
        tmp_path: Path, preallocate: int) -> None:
    with Wal.open(tmp_path, segment_size_bytes=300) as wal:
        for seq in range(1, 61):
            wal.append([payload_for(seq)])
            wal.sync()
        wal.release_before(wal.last_seq)
    with Wal.open(tmp_path, segment_size_bytes=300, preallocate_bytes=preallocate) as wal:
        while wal.recycled == 0:
            wal.append([b"x" * 20])
            wal.sync()
        last = wal.last_seq
    with Wal.open(tmp_path, segment_size_bytes=300) as wal:
        assert wal.recovery.reason in (None, PREALLOCATED_REASON), wal.recovery
        assert wal.last_seq == last


def recycled_tail(tmp_path: Path, new_records: int) -> tuple[list[bytes], int]:
    """A log whose tail segment is a recycled file as a crash may leave it: the new header
    and ``new_records`` new records synced, then the old segment's records (same sizes,
    so the first old record left starts right where the new ones end)."""
    old = [b"o" * 40 for _ in range(8)]
    with Wal.open(tmp_path / "old", segment_size_bytes=1 << 20) as wal:
        wal.append(old)
        wal.sync()
    with Wal.open(tmp_path / "log", segment_size_bytes=1 << 20) as wal:
        wal.append([b"k" * 40 for _ in range(20)])  # the old records' seqs are below
        wal.sync()
        first_new = wal.last_seq + 1
    image = bytearray((tmp_path / "old" / fmt.segment_file_name(1)).read_bytes())
    image[: fmt.SEGMENT_HEADER_BYTES] = fmt.encode_segment_header(first_new)
    offset = fmt.SEGMENT_HEADER_BYTES
    new = [b"n" * 40 for _ in range(new_records)]
    for index, payload in enumerate(new):
        record = fmt.encode_record(first_new + index, payload)
        image[offset: offset + len(record)] = record
        offset += len(record)
    log = tmp_path / "log"
    (log / fmt.segment_file_name(1)).unlink()  # as if released before the crash
    (log / fmt.segment_file_name(first_new)).write_bytes(bytes(image))
    return new, first_new


@pytest.mark.parametrize("new_records", [0, 3])
def test_a_recycled_tails_old_records_end_the_log_on_recovery(
        tmp_path: Path, new_records: int) -> None:
    new, first_new = recycled_tail(tmp_path, new_records)
    with Wal.open(tmp_path / "log", segment_size_bytes=1 << 20) as wal:
        assert (wal.first_seq, wal.last_seq) == (first_new, first_new + new_records - 1)
        assert wal.recovery.reason is not None and "recycled" in wal.recovery.reason
        assert [p for _, p in wal.replay(first_new)] == new
        assert wal.append([b"after"]) == first_new + new_records
        wal.sync()
    assert [p for _, p in read_all(tmp_path / "log")] == [*new, b"after"]


def test_an_intact_record_with_a_newer_unexpected_seq_is_still_corruption(
        tmp_path: Path) -> None:
    """Only older sequence numbers (a recycled file's) end the log quietly."""
    with Wal.open(tmp_path, segment_size_bytes=1 << 20) as wal:
        wal.append([b"a" * 40, b"b" * 40])
        wal.sync()
    path = tmp_path / fmt.segment_file_name(1)
    with path.open("ab") as out:
        out.write(fmt.encode_record(9, b"c" * 40))
    with pytest.raises(WalCorruption, match="found seq 9, expected 3"):
        Wal.open(tmp_path, segment_size_bytes=1 << 20)


def test_truncate_before_keeps_a_segment_whose_successor_is_not_on_disk(tmp_path: Path) -> None:
    with Wal.open(tmp_path, segment_size_bytes=100) as wal:
        wal.append([b"a" * 60])
        wal.sync()
        wal.append([b"b" * 60])  # rolls to a segment that exists only in memory
        assert wal.truncate_before(2) == 0
        assert wal.segment_names == [fmt.segment_file_name(1)]
        wal.sync()
        assert wal.truncate_before(2) == 1
        assert wal.segment_names == [fmt.segment_file_name(2)]


def test_copied_log_directory_reopens_identically(tmp_path: Path) -> None:
    payloads = write_log(tmp_path / "a", 30, segment_size_bytes=200)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "wal.lock").unlink()
    assert read_all(tmp_path / "b", segment_size_bytes=200) == list(enumerate(payloads, start=1))


def test_preallocated_log_round_trips_trims_sealed_segments_and_reopens(tmp_path: Path) -> None:
    """Zeroes written ahead of the tail never read as records: sealed segments are cut to
    their records, a reopen trims the tail's zeroes as preallocation (not damage), and
    appending after it continues the sequence."""
    segment_size = 64 * 1024
    payloads = [payload_for(seq) * 20 for seq in range(1, 301)]
    with Wal.open(tmp_path, segment_size_bytes=segment_size, preallocate_bytes=16 * 1024) as wal:
        for start in range(0, 300, 10):
            wal.append(payloads[start:start + 10])
            wal.sync()
        names = wal.segment_names
        assert len(names) > 2
        tail = tmp_path / names[-1]
        assert tail.stat().st_size > wal._segments[-1].size_bytes  # zeroes ahead
    for name in names[:-1]:  # sealed: records only, so a reopen accepts them
        data = (tmp_path / name).read_bytes()
        first = fmt.decode_segment_header(data)
        assert isinstance(first, int)
        assert record_offsets(tmp_path / name)[-1] == len(data)
    with Wal.open(tmp_path, segment_size_bytes=segment_size, preallocate_bytes=16 * 1024) as wal:
        assert wal.recovery.reason == PREALLOCATED_REASON
        assert [p for _, p in wal.replay(wal.first_seq)] == payloads
        assert wal.append([b"after"]) == 301
        wal.sync()
    assert read_all(tmp_path, segment_size)[-1] == (301, b"after")


def test_preallocated_tail_with_a_torn_record_still_reads_as_torn(tmp_path: Path) -> None:
    """A record torn inside the zeroed region (its first bytes written, the rest still
    zero) is damage in the last segment with nothing valid after it: truncated, and the
    acknowledged records before it survive."""
    with Wal.open(tmp_path, preallocate_bytes=8192) as wal:
        wal.append([b"a" * 100, b"b" * 100])
        wal.sync()
        end = wal._segments[-1].size_bytes
        name = wal.segment_names[-1]
    with open(tmp_path / name, "r+b") as f:  # half a record header where seq 3 would go
        f.seek(end)
        f.write(fmt.encode_record(3, b"c" * 100)[:30])
    with Wal.open(tmp_path, preallocate_bytes=8192) as wal:
        assert wal.recovery.truncated_offset == end
        assert wal.recovery.reason != PREALLOCATED_REASON
        assert [p for _, p in wal.replay(1)] == [b"a" * 100, b"b" * 100]
