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

    directory, segment_size_bytes = sys.argv[1], int(sys.argv[2])
    with Wal.open(directory, segment_size_bytes=segment_size_bytes) as wal:
        print("start", wal.last_seq, flush=True)
        while True:
            first = wal.last_seq + 1
            wal.append([payload(seq) for seq in range(first, first + 7)])
            print(wal.sync(), flush=True)
    """
)


def payload(seq: int) -> bytes:
    return (b"%d:" % seq) * (seq % 50 + 1)


def run_until_killed(directory: Path, acknowledgements: int) -> tuple[int, int]:
    """Starts the writer, reads ``acknowledgements`` synced seqs, SIGKILLs it. Returns
    (last seq the child found on start, highest acknowledged seq)."""
    source = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": str(source)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), str(SEGMENT_SIZE_BYTES)],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        words = child.stdout.readline().split()
        assert words[0] == b"start", words
        started_at = int(words[1])
        acknowledged = started_at
        for _ in range(acknowledgements):
            line = child.stdout.readline()
            assert line, "writer died on its own"
            seq = int(line)
            assert seq > acknowledged
            acknowledged = seq
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return started_at, acknowledged


def test_every_acknowledged_seq_survives_sigkill(tmp_path: Path) -> None:
    rng = random.Random(20240604)
    acknowledged = 0
    for _ in range(4):
        started_at, acknowledged_now = run_until_killed(tmp_path, rng.randint(20, 200))
        assert started_at >= acknowledged  # the restart saw everything acknowledged before
        acknowledged = acknowledged_now
        with Wal.open(tmp_path, segment_size_bytes=SEGMENT_SIZE_BYTES) as wal:
            assert wal.last_seq >= acknowledged
            for seq, data in wal.replay(1):
                assert data == payload(seq), seq
            assert [seq for seq, _ in wal.replay(1)] == list(range(1, wal.last_seq + 1))
    with Wal.open(tmp_path, segment_size_bytes=SEGMENT_SIZE_BYTES) as wal:
        assert len(wal.segment_names) > 3  # the writer crossed segment boundaries
