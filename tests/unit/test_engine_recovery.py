"""The single-node engine's WAL and checkpoints: every acknowledged write survives a
process crash and a power loss, the log stays bounded, catalog records and dropped
partitions replay in order.

A power loss is simulated at page granularity: the disk holds LMDB's file as it was at the
last checkpoint's sync, with an arbitrary subset of the pages written since then (meta
pages included) replaced by their newer content — the kernel writes unsynced pages back
in any order. The WAL's synced records are on disk (that is what an acknowledgement
means)."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from power_loss import copy_state, power_loss_image, synced_images
from quorumdb.storage import engine as engine_module
from quorumdb.storage import lmdb_checkpoint
from quorumdb.storage.engine import (
    APPLY_DELAY_S,
    CHECKPOINT_NICE,
    WAL_DIR,
    Engine,
    pack_item,
)
from quorumdb.storage.errors import DataDirectoryError

Model = dict[str, dict[bytes, bytes]]


def value(text: str) -> bytes:
    return pack_item(text.encode() * 40, len(text) * 40)


async def write_phase(engine: Engine, model: Model, rng: random.Random, writes: int,
                      names: list[str]) -> None:
    """Random puts and deletes over ``names``, 1-20 per group commit, all acknowledged."""
    for start in range(0, writes, 20):
        futures = []
        for _ in range(rng.randint(1, 20)):
            name = rng.choice(names)
            part = engine.open_partition(name)
            key = b"k%03d" % rng.randrange(300)
            if rng.random() < 0.2:
                futures.append(part.stage(key, None))
                model.setdefault(name, {}).pop(key, None)
            else:
                image = value(f"{name}-{start}-{rng.random()}")
                futures.append(part.stage(key, image))
                model.setdefault(name, {})[key] = image
        await asyncio.gather(*futures)


def check(engine: Engine, model: Model, catalog: dict[bytes, bytes]) -> None:
    for name, items in model.items():
        part = engine.open_partition(name)
        assert dict(part.scan(b"", None)) == items, name
        assert part.stats.item_count == len(items), name
    for key, record in catalog.items():
        assert engine.meta_get(key) == record


def reopen_and_check(path: Path, model: Model, catalog: dict[bytes, bytes]) -> int:
    """Opens the engine on what a crash left, checks everything acknowledged is there
    (and nothing deleted is), closes it; returns the log records the open replayed."""
    engine = Engine(str(path))
    try:
        check(engine, model, catalog)
        assert engine.meta_get(b"table/t1") is None
        return engine.replayed_records
    finally:
        engine.close()


def run_history(live: Path, crash: Path, seed: int, *, power_loss: bool,
                applier: bool = False) -> tuple[Model, dict[bytes, bytes]]:
    """Writes, checkpoints (one asked for, the others every 64 KB of log, in the
    background), catalog records and a dropped partition; copies the state a crash (or
    power loss) leaves after the last acknowledgement, while the engine runs.
    ``applier``: as ``quorumdb serve`` runs it, the overlay committed to LMDB by the
    applier process (which may be committing while the state is copied)."""
    rng = random.Random(seed)
    model: Model = {}
    catalog: dict[bytes, bytes] = {}
    async def scenario() -> None:
        engine = Engine(str(live), checkpoint_bytes=64 * 1024, defer_apply=applier,
                        applier=applier)
        try:
            await write_phase(engine, model, rng, 600, ["a", "b", "c"])
            engine.meta_put(b"table/t1", b"one")
            catalog[b"table/t1"] = b"one"
            engine.checkpoint()
            engine.drop_partition("b")
            model["b"] = {}
            await write_phase(engine, model, rng, 1500, ["a", "c", "d"])
            engine.meta_put(b"table/t2", b"two")
            engine.meta_put(b"table/t1", None)
            catalog.update({b"table/t2": b"two"})
            catalog.pop(b"table/t1")
            await write_phase(engine, model, rng, 300, ["a", "b"])
            # a background checkpoint still syncing would race the copy below
            engine._wait_for_checkpoint_threads()
            copy_state(live, crash)
            if power_loss:
                power_loss_image(synced[str(live)], crash, seed)
        finally:
            engine.close()

    with synced_images() as synced:
        asyncio.run(scenario())
    return model, catalog


@pytest.mark.parametrize("applier", [False, True], ids=["in-process", "applier"])
@pytest.mark.parametrize("seed", range(4))
def test_a_process_crash_loses_no_acknowledged_write(tmp_path: Path, seed: int,
                                                      applier: bool) -> None:
    model, catalog = run_history(tmp_path / "live", tmp_path / "crash", seed,
                                 power_loss=False, applier=applier)
    reopen_and_check(tmp_path / "crash", model, catalog)


def test_writes_after_the_last_checkpoint_are_replayed_from_the_log(tmp_path: Path) -> None:
    rng = random.Random(3)
    model: Model = {}

    async def scenario() -> None:
        engine = Engine(str(tmp_path / "live"), checkpoint_bytes=1 << 40)
        try:
            await write_phase(engine, model, rng, 500, ["a", "b"])
            engine.meta_put(b"table/x", b"x")
            engine.drop_partition("b")
            model["b"] = {}
            await write_phase(engine, model, rng, 200, ["a", "b"])
            copy_state(tmp_path / "live", tmp_path / "crash")
        finally:
            engine.close()

    asyncio.run(scenario())
    # no checkpoint since the open: every record is replayed
    assert reopen_and_check(tmp_path / "crash", model, {b"table/x": b"x"}) > 3


@pytest.mark.parametrize("applier", [False, True], ids=["in-process", "applier"])
@pytest.mark.parametrize("seed", range(6))
def test_a_power_loss_loses_no_acknowledged_write(tmp_path: Path, seed: int,
                                                  applier: bool) -> None:
    model, catalog = run_history(tmp_path / "live", tmp_path / "crash", seed,
                                 power_loss=True, applier=applier)
    reopen_and_check(tmp_path / "crash", model, catalog)
    # and again: recovery checkpointed its work
    assert reopen_and_check(tmp_path / "crash", model, catalog) == 0


_PLAIN_OPEN = """
import sys, lmdb
env = lmdb.open(sys.argv[1], max_dbs=16, readonly=True, lock=False)
with env.begin() as txn:
    names = [k for k, _ in txn.cursor()]
    for name in names:
        if name.startswith(b"__"):
            continue
        db = env.open_db(name, txn=txn, create=False)
        sum(1 for _ in txn.cursor(db=db))
print("ok", env.info()["last_txnid"])
"""


def test_the_power_loss_images_really_need_the_restore(tmp_path: Path) -> None:
    """The mixed images are damaged: LMDB opened on them without the checkpoint's meta
    page (in a child process: it may crash) fails or lands on a snapshot that is not
    the checkpoint's, for some seed. Otherwise the test above would prove nothing."""
    outcomes = []
    for seed in range(6):
        run_history(tmp_path / f"live{seed}", tmp_path / f"crash{seed}", seed, power_loss=True)
        checkpoint = lmdb_checkpoint.read(str(tmp_path / f"crash{seed}"))
        assert checkpoint is not None
        done = subprocess.run([sys.executable, "-c", _PLAIN_OPEN, str(tmp_path / f"crash{seed}")],
                              capture_output=True, text=True, timeout=60)
        outcomes.append(done.returncode != 0
                        or done.stdout.split() != ["ok", str(checkpoint.txnid)])
    assert any(outcomes)


def test_the_log_stays_bounded_and_checkpoints_run_under_traffic(tmp_path: Path) -> None:
    rng = random.Random(7)
    model: Model = {}

    async def scenario() -> Engine:
        engine = Engine(str(tmp_path), checkpoint_bytes=64 * 1024)
        await write_phase(engine, model, rng, 4000, ["a", "b"])
        return engine

    engine = asyncio.run(scenario())
    try:
        assert engine.checkpoints >= 10
        wal_bytes = sum(f.stat().st_size for f in (tmp_path / WAL_DIR).iterdir())
        assert wal_bytes < 80 * 1024 * 1024  # one preallocated segment, not the history
        check(engine, model, {})
    finally:
        engine.close()
    reopened = Engine(str(tmp_path))
    try:
        assert reopened.replayed_records == 0  # a clean close checkpointed everything
        check(reopened, model, {})
    finally:
        reopened.close()


async def until(condition: Callable[[], bool], what: str, deadline_s: float = 30.0) -> None:
    """Lets the event loop run (where helpers' answers and finished checkpoints are
    handled) until ``condition`` holds."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.002)


async def checkpoints_done(engine: Engine, count: int) -> None:
    await until(lambda: engine.checkpoints >= count, f"{count} checkpoints")


def _thread_ids(prefix: str) -> list[int]:
    return [thread.native_id for thread in threading.enumerate()
            if thread.name.startswith(prefix) and thread.native_id is not None]


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value")
def test_checkpoints_run_below_normal_priority(tmp_path: Path) -> None:
    """The checkpoint thread's write-back yields to the event loop (its nice value), and
    background checkpoints still complete while writes go on."""
    model: Model = {}
    caller = os.getpriority(os.PRIO_PROCESS, 0)

    async def scenario() -> Engine:
        engine = Engine(str(tmp_path), checkpoint_bytes=64 * 1024)
        await write_phase(engine, model, random.Random(3), 1000, ["a"])
        await checkpoints_done(engine, 3)  # the one on open, then background ones
        return engine

    engine = asyncio.run(scenario())
    try:
        nice = _thread_ids("quorumdb-ckpt-nice")
        assert len(nice) == 1
        assert os.getpriority(os.PRIO_PROCESS, nice[0]) == min(19, caller + CHECKPOINT_NICE)
        assert os.getpriority(os.PRIO_PROCESS, 0) == caller  # the caller's stays as it was
        assert engine.checkpoints_at_normal_priority == 0  # none fell behind
        check(engine, model, {})
    finally:
        engine.close()


def test_after_a_checkpoint_that_fell_behind_the_next_runs_at_normal_priority(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The nice thread held back (as by a CPU busy with other work) while more than
    ``CHECKPOINT_LAG_BYTES`` of log is written: the checkpoint after it runs on the
    normal-priority thread, the one after that at nice again; nothing is lost."""
    monkeypatch.setattr(engine_module, "CHECKPOINT_LAG_BYTES", 256 * 1024)
    model: Model = {}
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        held.set()
        release.wait(60)

    async def scenario() -> Engine:
        engine = Engine(str(tmp_path), checkpoint_bytes=64 * 1024)
        engine._background_thread().submit(hold)
        assert held.wait(10)
        await write_phase(engine, model, random.Random(6), 2000, ["a", "b"])
        assert engine.checkpoints == 1  # the one on open; the next waits for its thread
        release.set()
        await checkpoints_done(engine, 2)
        assert engine.checkpoints_at_normal_priority == 0
        await write_phase(engine, model, random.Random(7), 200, ["a"])
        await checkpoints_done(engine, 3)
        assert engine.checkpoints_at_normal_priority == 1
        await write_phase(engine, model, random.Random(8), 200, ["a"])
        await checkpoints_done(engine, 4)
        await write_phase(engine, model, random.Random(9), 200, ["a"])
        assert engine.checkpoints_at_normal_priority == 1  # caught up: nice again
        return engine

    try:
        engine = asyncio.run(scenario())
    finally:
        release.set()
    try:
        check(engine, model, {})
    finally:
        engine.close()
    reopened = Engine(str(tmp_path))
    try:
        check(reopened, model, {})
    finally:
        reopened.close()


def test_a_second_process_cannot_open_the_directory(tmp_path: Path) -> None:
    engine = Engine(str(tmp_path))
    try:
        with pytest.raises(DataDirectoryError, match="in use"):
            Engine(str(tmp_path))
    finally:
        engine.close()


def test_a_checkpoint_file_that_fails_its_checksum_stops_the_open(tmp_path: Path) -> None:
    Engine(str(tmp_path)).close()
    path = tmp_path / lmdb_checkpoint.CHECKPOINT_FILE
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(lmdb_checkpoint.CheckpointError, match="checksum"):
        Engine(str(tmp_path))
    assert os.path.exists(tmp_path / "data.mdb")


def test_meta_pages_are_not_rewritten_while_another_process_has_the_environment(
        tmp_path: Path) -> None:
    """A front-end worker of a primary that died may still have LMDB open when the next
    primary starts: the restart waits for it (and gives up with an error) rather than
    rewrite meta pages under its readers."""
    Engine(str(tmp_path)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, lmdb; env = lmdb.open(sys.argv[1], max_dbs=16, "
         "readonly=True); print('open', flush=True); sys.stdin.read()", str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        with pytest.raises(lmdb_checkpoint.CheckpointError, match="another process"):
            lmdb_checkpoint.wait_until_unshared(str(tmp_path), 0.2)
    finally:
        holder.communicate("", timeout=30)
    lmdb_checkpoint.wait_until_unshared(str(tmp_path), 0.2)
    Engine(str(tmp_path)).close()


def test_reads_see_acknowledged_writes_not_yet_committed_to_lmdb(tmp_path: Path) -> None:
    """``defer_apply``: writes acknowledged from the log and kept in the read overlay are
    seen by get and by scans in both directions and any bounds (deletes hide committed
    items), before and after LMDB commits them, and after a crash."""
    rng = random.Random(11)
    model: Model = {}

    def check_reads(engine: Engine) -> None:
        items = model.get("a", {})
        part = engine.open_partition("a")
        for _ in range(30):
            key = b"k%03d" % rng.randrange(300)
            assert part.get(key) == items.get(key)
            low, high = sorted(b"k%03d" % rng.randrange(300) for _ in range(2))
            end = None if rng.random() < 0.2 else high
            want = sorted((k, v) for k, v in items.items() if k >= low and (end is None
                                                                             or k < end))
            assert list(part.scan(low, end)) == want
            assert list(part.scan(low, end, reverse=True)) == want[::-1]

    async def scenario() -> None:
        engine = Engine(str(tmp_path / "live"), defer_apply=True)
        engine._apply_when_quiet = lambda: None  # type: ignore[method-assign]
        try:
            for _ in range(6):
                await write_phase(engine, model, rng, 100, ["a"])
                assert engine._unapplied  # the overlay holds writes LMDB does not
                check_reads(engine)
                engine.settle()
                assert not engine.open_partition("a").unapplied
                check_reads(engine)
            await write_phase(engine, model, rng, 60, ["a"])
            copy_state(tmp_path / "live", tmp_path / "crash")
        finally:
            engine.close()

    asyncio.run(scenario())
    reopen_and_check(tmp_path / "crash", model, {})


def test_the_overlay_is_committed_after_the_delay_and_not_after_close(tmp_path: Path) -> None:
    """Below ``APPLY_BATCH_WRITES`` the overlay goes to LMDB ``APPLY_DELAY_S`` after a
    group commit (not at once: requests that come one at a time would each find a commit
    in front of them); a timer still pending when the engine closes does nothing."""
    rng = random.Random(5)
    model: Model = {}
    errors: list[dict[str, Any]] = []

    async def scenario() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        engine = Engine(str(tmp_path / "d"), defer_apply=True)
        try:
            await write_phase(engine, model, rng, 5, ["a"])
            await asyncio.sleep(0)
            assert engine._unapplied, "committed at once"
            deadline = time.monotonic() + 10
            while engine._unapplied and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            assert not engine._unapplied, "never committed"
            await write_phase(engine, model, rng, 5, ["a"])
            assert engine._unapplied
        finally:
            engine.close()  # commits the overlay; the timer still runs afterwards
        await asyncio.sleep(APPLY_DELAY_S * 3)

    asyncio.run(scenario())
    assert errors == []
    reopen_and_check(tmp_path / "d", model, {})
