"""GroupCommitter: concurrent commits share one append+fdatasync; bounds and
back-pressure; errors reach every waiter. Syncs are counted through the injectable
fdatasync, never inferred from timing."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from quorumdb.storage.wal import (
    GroupCommitter,
    RecordTooLargeError,
    Wal,
    WalClosedError,
    WalFailedError,
)


class CountingSync:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def __call__(self, fd: int) -> None:
        if self.fail:
            raise OSError(5, "injected EIO")
        self.calls += 1
        os.fdatasync(fd)


class GatedWal:
    """The real Wal, with ``sync`` held at a gate the test opens: a slow disk, made
    deterministic. Records what the committer had admitted at each sync."""

    def __init__(self, wal: Wal, committer_bytes: list[int]) -> None:
        self.wal = wal
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.admitted_at_sync = committer_bytes
        self.committer: GroupCommitter | None = None

    @property
    def first_seq(self) -> int:
        return self.wal.first_seq

    @property
    def last_seq(self) -> int:
        return self.wal.last_seq

    @property
    def synced_seq(self) -> int:
        return self.wal.synced_seq

    @property
    def max_payload_bytes(self) -> int:
        return self.wal.max_payload_bytes

    def append(self, payloads: Sequence[bytes]) -> int:
        return self.wal.append(payloads)

    def sync(self) -> int:
        assert self.committer is not None
        self.admitted_at_sync.append(self.committer.admitted_bytes)
        self.entered.set()
        assert self.gate.wait(timeout=30)
        return self.wal.sync()

    def replay(self, from_seq: int) -> Iterator[tuple[int, bytes]]:
        return self.wal.replay(from_seq)

    def truncate_before(self, seq: int) -> int:
        return self.wal.truncate_before(seq)

    def close(self) -> None:
        self.wal.close()


async def settle(rounds: int = 50) -> None:
    """Lets every ready task run (a yield, not a sleep)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def test_concurrent_commits_share_few_fsyncs(tmp_path: Path) -> None:
    sync = CountingSync()
    wal = Wal.open(tmp_path, fdatasync=sync)
    commits = 200

    async def main() -> list[int]:
        committer = GroupCommitter(wal)
        before = sync.calls
        seqs = await asyncio.gather(
            *(
                committer.commit([f"group {n} a".encode(), f"group {n} b".encode()])
                for n in range(commits)
            )
        )
        assert sync.calls - before == committer.batches
        assert committer.batches <= 2 and committer.commits == commits
        await committer.aclose()
        return seqs

    seqs = asyncio.run(main())
    records = dict(wal.replay(1))
    assert len(records) == 2 * commits and wal.synced_seq == 2 * commits
    for n, seq in enumerate(seqs):  # each commit got the seq of its own last record
        assert records[seq] == f"group {n} b".encode()
        assert records[seq - 1] == f"group {n} a".encode()
    wal.close()


def test_commits_arriving_during_a_sync_form_the_next_batch(tmp_path: Path) -> None:
    admitted: list[int] = []
    gated = GatedWal(Wal.open(tmp_path), admitted)

    async def main() -> None:
        committer = GroupCommitter(gated)
        gated.committer = committer
        first = asyncio.ensure_future(committer.commit([b"first"]))
        await asyncio.get_running_loop().run_in_executor(None, gated.entered.wait, 30)
        later = [asyncio.ensure_future(committer.commit([b"x%d" % n])) for n in range(30)]
        await settle()
        assert not first.done() and committer.batches == 0
        gated.gate.set()
        assert await first == 1
        assert sorted(await asyncio.gather(*later)) == list(range(2, 32))
        assert committer.batches == 2  # one for the first, one for all thirty others
        await committer.aclose()

    asyncio.run(main())
    gated.close()


def test_batch_bytes_bound_splits_batches(tmp_path: Path) -> None:
    sync = CountingSync()
    wal = Wal.open(tmp_path, fdatasync=sync)

    async def main() -> None:
        # Each commit is 100 + 16 header bytes; a batch holds at most two.
        committer = GroupCommitter(wal, max_batch_bytes=250)
        before = sync.calls
        await asyncio.gather(*(committer.commit([b"z" * 100]) for _ in range(10)))
        assert committer.batches == 5 and sync.calls - before == 5
        await committer.aclose()

    asyncio.run(main())
    assert wal.synced_seq == 10
    wal.close()


def test_queue_bound_applies_back_pressure(tmp_path: Path) -> None:
    admitted: list[int] = []
    gated = GatedWal(Wal.open(tmp_path), admitted)
    record_bytes = 100 + 16

    async def main() -> None:
        committer = GroupCommitter(gated, max_queue_bytes=3 * record_bytes)
        gated.committer = committer
        tasks = [asyncio.ensure_future(committer.commit([b"q" * 100])) for _ in range(10)]
        await settle()
        assert committer.admitted_bytes == 3 * record_bytes  # seven commits wait outside
        gated.gate.set()
        assert sorted(await asyncio.gather(*tasks)) == list(range(1, 11))
        assert committer.admitted_bytes == 0
        await committer.aclose()

    asyncio.run(main())
    assert max(admitted) <= 3 * record_bytes
    gated.close()


def test_oversized_commit_is_admitted_alone(tmp_path: Path) -> None:
    wal = Wal.open(tmp_path)

    async def main() -> None:
        committer = GroupCommitter(wal, max_queue_bytes=50, max_batch_bytes=50)
        assert await committer.commit([b"w" * 500]) == 1
        assert await committer.commit([b"v"]) == 2
        await committer.aclose()

    asyncio.run(main())
    wal.close()


def test_cancelled_waiter_gives_up_its_place(tmp_path: Path) -> None:
    admitted: list[int] = []
    gated = GatedWal(Wal.open(tmp_path), admitted)

    async def main() -> None:
        committer = GroupCommitter(gated, max_queue_bytes=120)
        gated.committer = committer
        first = asyncio.ensure_future(committer.commit([b"a" * 100]))
        blocked = asyncio.ensure_future(committer.commit([b"b" * 100]))
        third = asyncio.ensure_future(committer.commit([b"c" * 100]))
        await settle()
        blocked.cancel()
        await settle()
        gated.gate.set()
        assert await first == 1
        assert await third == 2  # the cancelled commit never reached the log
        with pytest.raises(asyncio.CancelledError):
            await blocked
        await committer.aclose()

    asyncio.run(main())
    assert [payload for _, payload in gated.replay(1)] == [b"a" * 100, b"c" * 100]
    gated.close()


def test_sync_failure_fails_every_commit_of_the_batch_and_after(tmp_path: Path) -> None:
    sync = CountingSync()
    wal = Wal.open(tmp_path, fdatasync=sync)

    async def main() -> None:
        committer = GroupCommitter(wal)
        assert await committer.commit([b"ok"]) == 1
        sync.fail = True
        results = await asyncio.gather(
            *(committer.commit([b"doomed"]) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(result, WalFailedError) for result in results)
        sync.fail = False
        with pytest.raises(WalFailedError):
            await committer.commit([b"later"])
        await committer.aclose()

    asyncio.run(main())
    wal.close()


def test_commit_validates_before_queueing(tmp_path: Path) -> None:
    wal = Wal.open(tmp_path, max_payload_bytes=10)

    async def main() -> None:
        committer = GroupCommitter(wal)
        with pytest.raises(RecordTooLargeError):
            await committer.commit([b"fine", b"x" * 11])
        with pytest.raises(ValueError, match="no records"):
            await committer.commit([])
        assert await committer.commit([b"fine"]) == 1
        await committer.aclose()
        with pytest.raises(WalClosedError):
            await committer.commit([b"late"])

    asyncio.run(main())
    wal.close()


def test_aclose_drains_queued_commits(tmp_path: Path) -> None:
    wal = Wal.open(tmp_path)

    async def main() -> None:
        committer = GroupCommitter(wal)
        tasks = [asyncio.ensure_future(committer.commit([b"d"])) for _ in range(5)]
        await settle(3)
        await committer.aclose()
        assert sorted(await asyncio.gather(*tasks)) == [1, 2, 3, 4, 5]

    asyncio.run(main())
    assert wal.synced_seq == 5
    wal.close()
