"""The engine's helper processes (``quorumdb serve --data-dir``). The LMDB applier:
acknowledged writes are committed to LMDB by a child process while reads see them in two
overlay layers; its statistics and log position come back with its answers; a checkpoint
records the position its snapshot holds; back-pressure when it falls behind; a dead
applier refuses writes and loses nothing acknowledged. The WAL syncer: group commits of
several writes are acknowledged when it has synced the log, conditions see them before;
a dead syncer fails its batch and refuses writes. (Crash and power-loss histories with the applier:
``test_engine_recovery.py``.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_engine_recovery import Model, check, reopen_and_check, until, value, write_phase

from quorumdb.storage import child
from quorumdb.storage.engine import (
    APPLIED_KEY,
    MAX_UNAPPLIED_BYTES,
    MAX_UNAPPLIED_WRITES,
    Engine,
    pack_item,
    unwrap,
)

DEADLINE_S = 30.0
# 3 MB in 300 images: more than a pipe to a helper holds
BIG_IMAGES = {b"big%03d" % n: pack_item(b"x" * 10_000, 10_000 + n) for n in range(300)}


def applier_engine(path: Path) -> Engine:
    engine = Engine(str(path), defer_apply=True, applier=True)
    engine._apply_when_quiet = lambda: None  # type: ignore[method-assign]
    assert engine._applier is not None
    return engine


def lmdb_items(engine: Engine, name: str) -> dict[bytes, bytes]:
    """What LMDB itself holds for a partition (a transaction of its own, no overlay)."""
    partition = engine.open_partition(name)
    with engine.env.begin(db=partition.db, buffers=False) as txn:
        return dict(unwrap(key, val) for key, val in txn.cursor().iternext())


def lmdb_applied(engine: Engine) -> int:
    with engine.env.begin(db=engine.meta) as txn:
        raw = txn.get(APPLIED_KEY)
    return int(raw) if raw else 0


@contextlib.contextmanager
def reopened(path: Path) -> Iterator[Engine]:
    """The engine opened again on what ``path`` holds (without helpers), closed after."""
    engine = Engine(str(path))
    try:
        yield engine
    finally:
        engine.close()


def test_reads_see_both_layers_while_the_applier_commits(tmp_path: Path) -> None:
    """Writes sent to the applier (``applying``) and newer ones for the same keys
    (``unapplied``) are read newest first by get and scans, before and after the applier
    answers; once it has, LMDB itself holds them (committed by the child: this process
    commits nothing), with statistics and the log position."""
    rng = random.Random(2)
    model: Model = {}

    def check_reads(engine: Engine) -> None:
        items = model["a"]
        part = engine.open_partition("a")
        for key in (b"k%03d" % n for n in range(300)):
            assert part.get(key) == items.get(key)
        for _ in range(20):
            low, high = sorted(b"k%03d" % rng.randrange(300) for _ in range(2))
            want = sorted((k, v) for k, v in items.items() if low <= k < high)
            assert list(part.scan(low, high)) == want
            assert list(part.scan(low, high, reverse=True)) == want[::-1]

    async def scenario() -> None:
        engine = applier_engine(tmp_path)
        engine._commit = None  # type: ignore[assignment,method-assign]  # not here
        try:
            for _ in range(5):
                await write_phase(engine, model, rng, 150, ["a"])
                engine._apply_now()
                part = engine.open_partition("a")
                assert part.applying and not part.unapplied
                await write_phase(engine, model, rng, 150, ["a"])
                assert part.unapplied and (part.applying or engine._applying is None)
                check_reads(engine)
                await until(lambda: engine._applying is None, "the applier's answer")
                check_reads(engine)
            engine.settle()
            assert not engine._unapplied and engine._applying is None
            assert lmdb_items(engine, "a") == model["a"]
            assert engine.open_partition("a").stats.item_count == len(model["a"])
            assert lmdb_applied(engine) == engine._applied_seq > 0
            check(engine, model, {})
        finally:
            engine.close()
        assert engine._applier is not None and engine._applier.process.returncode == 0

    asyncio.run(scenario())
    with reopened(tmp_path) as engine:
        assert engine.replayed_records == 0  # the close checkpointed what it applied
        check(engine, model, {})


def test_a_checkpoint_records_the_position_its_snapshot_holds(tmp_path: Path) -> None:
    """The applier may commit a batch before the engine has read its answer: a checkpoint
    taken then records the log position in its snapshot, not the engine's older one
    (else a restart would replay from too early, or — once the log before it is let go —
    find a gap)."""
    model: Model = {}

    async def scenario() -> None:
        engine = applier_engine(tmp_path)
        try:
            await write_phase(engine, model, random.Random(4), 100, ["a"])
            engine._apply_now()
            sent = engine._unapplied_seq
            assert engine._applied_seq < sent
            # no await from here on: the event loop, which reads its answer, does not run
            deadline = time.monotonic() + DEADLINE_S
            while lmdb_applied(engine) != sent:
                assert time.monotonic() < deadline, "the applier never committed"
                time.sleep(0.002)
            checkpoint, pin = engine._capture()
            pin.abort()
            assert engine._applied_seq < sent
            assert checkpoint.applied_seq == sent
            engine.settle()  # reads the answer
            assert engine._applied_seq == sent
        finally:
            engine.close()

    asyncio.run(scenario())
    reopen_and_check(tmp_path, model, {})


@pytest.mark.parametrize("item_bytes", [200, 64 * 1024])
def test_writes_wait_while_the_applier_falls_behind(tmp_path: Path, item_bytes: int) -> None:
    """A stopped applier: the overlay fills to ``MAX_UNAPPLIED_WRITES`` (small items) or
    ``MAX_UNAPPLIED_BYTES`` (large ones) and the engine says it has no room (requests
    wait in ``wait_for_room``); when the applier goes on, the waiter is let through and
    everything reaches LMDB."""
    model: Model = {"a": {}}

    def image(number: int) -> bytes:
        return pack_item(b"%07d" % number + b"x" * (item_bytes - 7), item_bytes)

    async def scenario() -> None:
        engine = applier_engine(tmp_path)
        assert engine._applier is not None
        child = engine._applier.process.pid
        part = engine.open_partition("a")
        try:
            await part.stage(b"first", value("first"))
            model["a"][b"first"] = value("first")
            os.kill(child, signal.SIGSTOP)
            engine._apply_now()
            number = 0
            while engine.has_room():
                futures = []
                for _ in range(100 if item_bytes < 1024 else 10):
                    key = b"k%05d" % number
                    futures.append(part.stage(key, image(number)))
                    model["a"][key] = image(number)
                    number += 1
                await asyncio.gather(*futures)
                engine._apply_now()
                assert number < MAX_UNAPPLIED_WRITES * 2, "never out of room"
            if item_bytes < 1024:
                assert engine._unapplied_writes >= MAX_UNAPPLIED_WRITES
            else:
                assert engine._unapplied_bytes >= MAX_UNAPPLIED_BYTES
                assert engine._unapplied_writes < MAX_UNAPPLIED_WRITES / 4
            waiter = asyncio.ensure_future(engine.wait_for_room())
            await asyncio.sleep(0.05)
            assert not waiter.done()
            os.kill(child, signal.SIGCONT)
            await asyncio.wait_for(waiter, DEADLINE_S)
            engine.settle()
            assert lmdb_items(engine, "a") == model["a"]
        finally:
            os.kill(child, signal.SIGCONT)
            engine.close()

    asyncio.run(scenario())


def test_a_dead_applier_refuses_writes_and_loses_nothing(tmp_path: Path) -> None:
    """The applier killed with a batch in flight: reads still see every acknowledged
    write (from the overlay), writes are refused from then on, the engine closes
    without hanging, and a restart replays what LMDB lacks from the log."""
    rng = random.Random(9)
    model: Model = {}

    async def scenario() -> None:
        engine = applier_engine(tmp_path)
        assert engine._applier is not None
        try:
            await write_phase(engine, model, rng, 300, ["a", "b"])
            os.kill(engine._applier.process.pid, signal.SIGSTOP)
            engine._apply_now()  # in flight, never answered
            await write_phase(engine, model, rng, 100, ["a", "b"])
            os.kill(engine._applier.process.pid, signal.SIGKILL)
            await until(lambda: engine._failure is not None, "the engine to notice")
            for name, items in model.items():
                part = engine.open_partition(name)
                assert dict(part.scan(b"", None)) == items
                assert all(part.get(key) == item for key, item in items.items())
            with pytest.raises(RuntimeError, match="failed earlier"):
                await engine.open_partition("a").stage(b"late", value("late"))
        finally:
            engine.close()

    asyncio.run(scenario())
    reopen_and_check(tmp_path, model, {})


def test_the_applier_outlives_a_terminal_interrupt(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: the applier ignores it (and SIGTERM) and
    stops when the engine closes its input, after everything acknowledged is applied."""
    async def scenario() -> None:
        engine = applier_engine(tmp_path)
        assert engine._applier is not None
        process = engine._applier.process
        try:
            # the applier is started but may still be importing: wait for it to answer
            await engine.open_partition("a").stage(b"k", value("v"))
            engine.settle()
            for signum in (signal.SIGINT, signal.SIGTERM):
                os.kill(process.pid, signum)
            await engine.open_partition("a").stage(b"k2", value("w"))
            engine.settle()
            assert process.poll() is None
            assert lmdb_items(engine, "a") == {b"k": value("v"), b"k2": value("w")}
        finally:
            engine.close()
        assert process.returncode == 0

    asyncio.run(scenario())


def test_an_applier_that_cannot_start_stops_the_open(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine waits for the applier to say it has LMDB open: one that exits at once
    (here: a program that is not Python) fails the open, with the directory let go, so
    the server does not start and then refuse its first write."""
    monkeypatch.setattr(child.sys, "executable", "/bin/false")
    with pytest.raises(child.ChildFailed, match="exited"):
        Engine(str(tmp_path), defer_apply=True, applier=True)
    monkeypatch.undo()
    Engine(str(tmp_path)).close()  # not left locked


def test_a_batch_larger_than_the_pipe_reaches_lmdb(tmp_path: Path) -> None:
    """A batch of 3 MB (the pipe holds 1 MB, or 64 KB where it cannot be enlarged) is
    written in parts while the applier reads it."""
    async def scenario() -> None:
        engine = applier_engine(tmp_path)
        try:
            part = engine.open_partition("a")
            await asyncio.gather(*(part.stage(key, image) for key, image in BIG_IMAGES.items()))
            engine.settle()
            assert lmdb_items(engine, "a") == BIG_IMAGES
            assert part.stats.item_count == 300
        finally:
            engine.close()

    asyncio.run(scenario())


async def half_sent(engine: Engine) -> int:
    """Stops the applier (SIGSTOP) and commits ``BIG_IMAGES`` (3 MB) to partition "a":
    the batch is sent to it as far as the pipe takes it. Its pid."""
    assert engine._applier is not None
    pid = engine._applier.process.pid
    os.kill(pid, signal.SIGSTOP)
    part = engine.open_partition("a")
    await asyncio.gather(*(part.stage(key, image) for key, image in BIG_IMAGES.items()))
    assert engine._applying is not None and engine._applier._sending is not None
    return pid


def test_the_event_loop_writes_a_large_batch_while_it_serves(tmp_path: Path) -> None:
    """With the applier stopped, a 3 MB batch is sent as far as the pipe takes it and
    the event loop goes on (the group commit is answered, reads see the batch); the rest
    is written when the applier reads again, and LMDB gets all of it. A send that
    blocked would hold the loop until the applier's timeout and fail it."""
    async def scenario() -> None:
        engine = applier_engine(tmp_path)
        assert engine._applier is not None
        try:
            pid = await half_sent(engine)
            try:
                assert engine._failure is None
                assert engine.open_partition("a").get(b"big007") == BIG_IMAGES[b"big007"]
                assert lmdb_items(engine, "a") == {}
            finally:
                os.kill(pid, signal.SIGCONT)
            await until(lambda: engine._applying is None, "the applier's answer")
            assert engine._applier._sending is None
            assert lmdb_items(engine, "a") == BIG_IMAGES
        finally:
            engine.close()

    asyncio.run(scenario())


def test_an_applier_killed_mid_batch_fails_the_write_the_loop_was_making(
        tmp_path: Path) -> None:
    """The applier dies with a 3 MB batch half written: the event loop's next write to
    the pipe fails, and that is a failed LMDB commit (reads intact, writes refused,
    nothing acknowledged lost on reopen)."""
    async def scenario() -> None:
        engine = applier_engine(tmp_path)
        assert engine._applier is not None
        try:
            os.kill(await half_sent(engine), signal.SIGKILL)
            await until(lambda: engine._failure is not None, "the failed write noticed")
            assert engine._applier._sending is None
            part = engine.open_partition("a")
            assert part.get(b"big123") == BIG_IMAGES[b"big123"]
            with pytest.raises(RuntimeError):
                await part.stage(b"later", pack_item(b"y", 1))
        finally:
            engine.close()

    asyncio.run(scenario())
    with reopened(tmp_path) as engine:
        assert lmdb_items(engine, "a") == BIG_IMAGES


async def stopped_sync(engine: Engine, writes: dict[bytes, bytes]
                       ) -> list[asyncio.Future[None]]:
    """Stages ``writes`` in partition "a" with the syncer process stopped (SIGSTOP) and
    lets the group commit start: it is in flight, unanswered."""
    assert engine._log_syncer is not None
    os.kill(engine._log_syncer.process.pid, signal.SIGSTOP)
    part = engine.open_partition("a")
    futures = [part.stage(key, image) for key, image in writes.items()]
    await until(lambda: engine._syncing is not None, "the group commit to start")
    return futures


def test_a_group_commit_waits_for_the_syncer_and_conditions_see_it(tmp_path: Path) -> None:
    """Several writes at once: their log sync is the syncer process's. Until it answers
    they are not acknowledged and not readable (``get``), but conditions see them
    (``latest``, with the future of their sync); ``drain`` waits for them; a catalog
    record waits for that sync and goes to the log after it. A single write syncs on the
    event loop, without the syncer (fewer than ``SYNCER_MIN_WRITES``)."""
    writes = {b"k%d" % n: value(f"v{n}") for n in range(5)}

    async def scenario() -> None:
        engine = applier_engine(tmp_path)
        assert engine._log_syncer is not None
        syncer = engine._log_syncer.process.pid
        part = engine.open_partition("a")
        try:
            await part.stage(b"alone", value("alone"))  # one write: on the loop
            futures = await stopped_sync(engine, writes)
            assert engine._unapplied_writes == 1
            for key, image in writes.items():
                assert part.get(key) is None
                latest, future = part.latest(key)
                assert latest == image and future is not None and not future.done()
            drained = asyncio.ensure_future(engine.drain())
            await asyncio.sleep(0.05)
            assert not drained.done() and not any(f.done() for f in futures)
            os.kill(syncer, signal.SIGCONT)
            await asyncio.wait_for(drained, DEADLINE_S)
            assert all(f.done() and f.exception() is None for f in futures)
            assert all(part.get(key) == image for key, image in writes.items())
            await stopped_sync(engine, {b"late": value("late")} | writes)
            os.kill(syncer, signal.SIGCONT)
            engine.meta_put(b"table/x", b"x")  # waits for the sync in flight first
            assert engine._syncing is None and part.get(b"late") == value("late")
        finally:
            os.kill(syncer, signal.SIGCONT)
            engine.close()

    asyncio.run(scenario())
    with reopened(tmp_path) as engine:
        part = engine.open_partition("a")
        assert part.get(b"alone") == value("alone") and part.get(b"late") == value("late")
        assert all(part.get(key) == image for key, image in writes.items())
        assert engine.meta_get(b"table/x") == b"x"


def test_a_dead_syncer_fails_its_batch_and_refuses_writes(tmp_path: Path) -> None:
    """The syncer killed with a group commit in flight: its writes are answered with an
    error (never acknowledged), later writes are refused, what was acknowledged before
    stays readable and survives a reopen."""
    async def scenario() -> None:
        engine = applier_engine(tmp_path)
        assert engine._log_syncer is not None
        part = engine.open_partition("a")
        try:
            await asyncio.gather(part.stage(b"x", value("x")), part.stage(b"y", value("y")))
            futures = await stopped_sync(engine, {b"k%d" % n: value(str(n)) for n in range(5)})
            os.kill(engine._log_syncer.process.pid, signal.SIGKILL)
            for future in futures:
                with pytest.raises(RuntimeError, match="sync failed"):
                    await asyncio.wait_for(future, DEADLINE_S)
            assert part.latest(b"k1") == (None, None)  # never acknowledged
            assert part.get(b"x") == value("x")
            with pytest.raises(RuntimeError, match="failed earlier"):
                await part.stage(b"late", value("late"))
        finally:
            engine.close()

    asyncio.run(scenario())
    with reopened(tmp_path) as engine:
        part = engine.open_partition("a")
        assert part.get(b"x") == value("x") and part.get(b"y") == value("y")
        assert part.get(b"late") is None
