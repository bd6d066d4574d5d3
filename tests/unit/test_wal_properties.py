"""Hypothesis properties of the WAL against a dumb model (a Python list): any sequence of
appends and syncs round-trips through reopen, and cutting the log anywhere after the last
segment's header recovers exactly the prefix of records that lie wholly before the cut."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.storage import wal_format as fmt
from quorumdb.storage.wal import Wal

batches = st.lists(st.lists(st.binary(max_size=300), max_size=8), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(batches=batches, segment_size_bytes=st.integers(64, 2048), sync_every=st.integers(1, 4))
def test_random_payload_sequences_round_trip(
    batches: list[list[bytes]], segment_size_bytes: int, sync_every: int
) -> None:
    model: list[bytes] = []
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        with Wal.open(directory, segment_size_bytes=segment_size_bytes) as wal:
            for index, batch in enumerate(batches):
                assert wal.append(batch) == len(model) + len(batch)
                model.extend(batch)
                if index % sync_every == 0:
                    wal.sync()
                    assert list(wal.replay(1)) == list(enumerate(model, start=1))
            wal.sync()
        with Wal.open(directory, segment_size_bytes=segment_size_bytes) as wal:
            assert wal.recovery.truncated_bytes == 0
            assert list(wal.replay(1)) == list(enumerate(model, start=1))
            for start in (1, len(model) // 2 + 1, len(model) + 1):
                assert [seq for seq, _ in wal.replay(start)] == list(range(start, len(model) + 1))


@settings(max_examples=80, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=200), min_size=1, max_size=40),
    segment_size_bytes=st.integers(64, 1024),
    cut_fraction=st.floats(0.0, 1.0),
)
def test_random_truncation_points_recover_a_prefix(
    payloads: list[bytes], segment_size_bytes: int, cut_fraction: float
) -> None:
    """A crash loses a suffix of the log: later segments (never created) and the end of
    the one being written. Recovery must return exactly the records before the cut."""
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        with Wal.open(directory, segment_size_bytes=segment_size_bytes) as wal:
            wal.append(payloads)
            wal.sync()
        segments = sorted(directory.glob("wal-*.log"))
        # Read every record's end offset before damaging anything: the expectation comes
        # from the intact log, not from the code under test reading the damaged one.
        ends = {path: record_ends(path) for path in segments}
        # Lay the segments' record areas end to end and pick a point in that span.
        spans = [path.stat().st_size - fmt.SEGMENT_HEADER_BYTES for path in segments]
        point = round(cut_fraction * sum(spans))
        survivors = 0
        for index, path in enumerate(segments):
            if point >= spans[index] and index < len(segments) - 1:
                point -= spans[index]
                survivors += len(ends[path])
                continue
            cut = fmt.SEGMENT_HEADER_BYTES + point
            os.truncate(path, cut)
            survivors += sum(1 for offset in ends[path] if offset <= cut)
            for later in segments[index + 1 :]:
                later.unlink()
            break
        with Wal.open(directory, segment_size_bytes=segment_size_bytes) as wal:
            recovered = list(wal.replay(1))
            assert recovered == list(enumerate(payloads[:survivors], start=1))
            assert wal.last_seq == survivors
            assert wal.append([b"after"]) == survivors + 1


def record_ends(path: Path) -> list[int]:
    data = path.read_bytes()
    first_seq = fmt.decode_segment_header(data)
    assert isinstance(first_seq, int)
    scan = fmt.scan_records(data, fmt.SEGMENT_HEADER_BYTES, first_seq)
    assert scan.valid_end == len(data) and scan.failure is None
    return [offset + fmt.RECORD_HEADER_BYTES + len(payload) for offset, _, payload in scan.records]
