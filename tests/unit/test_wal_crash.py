"""kill -9 of a real process mid-stream: every sequence number it acknowledged (printed
after ``sync`` returned) must be present, intact, after reopening.

SIGKILL ends the process but not the kernel, so this checks the process-crash path
(buffers the process held, segment rolls cut short, the lock released by the kernel);
power loss -- torn and unwritten tails -- is covered at the file level in test_wal.py.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from quorumdb.storage.wal import Wal

SEGMENT_SIZE_BYTES = 16 * 1024

CHILD = textwrap.dedent(
    """
    import sys
    from quorumdb.storage.wal import Wal

    def payload(seq):
        return (b"%d:" % seq) * (seq % 50 + 1)

    directory, segment_size_bytes, recycle = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    options = {"preallocate_bytes": 4096} if recycle == "1" else {}
    with Wal.open(directory, segment_size_bytes=segment_size_bytes, **options) as wal:
        print("start", wal.last_seq, flush=True)
        while True:
            first = wal.last_seq + 1
            wal.append([payload(seq) for seq in range(first, first + 7)])
            synced = wal.sync()
            if recycle == "1" and synced % 5 == 0:
                # a checkpoint's release: segments behind the last 200 records go
                wal.release_before(max(1, synced - 200))
            print(synced, wal.recycled, flush=True)
    """
)


def payload(seq: int) -> bytes:
    return (b"%d:" % seq) * (seq % 50 + 1)


def run_until_killed(directory: Path, acknowledgements: int, recycle: bool = False
                     ) -> tuple[int, int, int]:
    """Starts the writer, reads ``acknowledgements`` synced seqs, SIGKILLs it. Returns
    (last seq the child found on start, highest acknowledged seq, segments it recycled)."""
    source = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": str(source)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), str(SEGMENT_SIZE_BYTES),
         "1" if recycle else "0"],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        words = child.stdout.readline().split()
        assert words[0] == b"start", words
        started_at = int(words[1])
        acknowledged = started_at
        recycled = 0
        for _ in range(acknowledgements):
            line = child.stdout.readline()
            assert line, "writer died on its own"
            seq, recycled = (int(word) for word in line.split())
            assert seq > acknowledged
            acknowledged = seq
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return started_at, acknowledged, recycled


def test_every_acknowledged_seq_survives_sigkill(tmp_path: Path) -> None:
    rng = random.Random(20240604)
    acknowledged = 0
    for _ in range(4):
        started_at, acknowledged_now, _ = run_until_killed(tmp_path, rng.randint(20, 200))
        assert started_at >= acknowledged  # the restart saw everything acknowledged before
        acknowledged = acknowledged_now
        with Wal.open(tmp_path, segment_size_bytes=SEGMENT_SIZE_BYTES) as wal:
            assert wal.last_seq >= acknowledged
            for seq, data in wal.replay(1):
                assert data == payload(seq), seq
            assert [seq for seq, _ in wal.replay(1)] == list(range(1, wal.last_seq + 1))
    with Wal.open(tmp_path, segment_size_bytes=SEGMENT_SIZE_BYTES) as wal:
        assert len(wal.segment_names) > 3  # the writer crossed segment boundaries


def test_acknowledged_seqs_survive_sigkill_while_segments_are_recycled(tmp_path: Path) -> None:
    """The same with a preallocating log that releases segments as it goes: released
    files become spares and then new segments, their old records overwritten; a kill at
    any point (mid-rename, mid-recycle, old records behind the tail) loses nothing
    acknowledged after the release point."""
    rng = random.Random(20261127)
    acknowledged = 0
    recycled = 0
    for _ in range(5):
        started_at, acknowledged_now, recycled_now = run_until_killed(
            tmp_path, rng.randint(100, 400), recycle=True)
        recycled += recycled_now
        assert started_at >= acknowledged
        acknowledged = acknowledged_now
        with Wal.open(tmp_path, segment_size_bytes=SEGMENT_SIZE_BYTES) as wal:
            assert wal.last_seq >= acknowledged
            first = wal.first_seq
            assert first <= max(1, acknowledged - 200)
            assert [seq for seq, _ in wal.replay(first)] == list(range(first, wal.last_seq + 1))
            for seq, data in wal.replay(first):
                assert data == payload(seq), seq
    assert recycled >= 5  # the runs did reuse released segments
