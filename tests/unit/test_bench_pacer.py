"""The open-loop pacer wakes waiters in due order and never before their time (what a
wake-up costs is measured by ``quorumdb bench``'s schedule lag, not asserted here)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import pytest
import uvloop

from quorumdb.bench import pacer as pacer_module
from quorumdb.bench.pacer import Pacer


def run(main: Coroutine[Any, Any, None]) -> None:
    uvloop.run(main)


def test_waiters_wake_in_due_order_and_never_early() -> None:
    async def main() -> None:
        pacer = Pacer()
        assert pacer.precise  # Linux: a timerfd
        start = time.perf_counter()
        dues = [start + 0.002 * k for k in (5, 1, 4, 2, 3, 1)]
        woke: list[tuple[float, float]] = []

        async def wait(due: float) -> None:
            await pacer.sleep_until(due)
            woke.append((due, time.perf_counter()))

        await asyncio.gather(*(wait(due) for due in dues))
        pacer.close()
        assert [due for due, _ in woke] == sorted(dues)
        assert all(at >= due for due, at in woke)

    run(main())


def test_a_due_time_in_the_past_returns_at_once_and_cancelled_waiters_are_skipped() -> None:
    async def main() -> None:
        pacer = Pacer()
        await pacer.sleep_until(time.perf_counter() - 1.0)
        later = asyncio.ensure_future(pacer.sleep_until(time.perf_counter() + 0.005))
        await asyncio.sleep(0)
        later.cancel()
        await pacer.sleep_until(time.perf_counter() + 0.01)  # fires past the cancelled one
        assert later.cancelled()
        pacer.close()

    run(main())


def test_without_a_timerfd_it_falls_back_to_asyncio_sleep(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pacer_module, "_TIMERFD", None)

    async def main() -> None:
        pacer = Pacer()
        assert not pacer.precise
        await pacer.sleep_until(time.perf_counter() + 0.003)
        pacer.close()

    run(main())


def test_precise_pacing_is_asked_for() -> None:
    import argparse

    from quorumdb.bench.run import add_arguments, options_from_args

    async def main() -> None:
        pacer = Pacer(precise=False)
        assert not pacer.precise
        pacer.close()

    run(main())
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--endpoint", "http://127.0.0.1:1", "--rate", "100"]
    assert not options_from_args(parser.parse_args(base)).precise_pacing
    assert options_from_args(parser.parse_args([*base, "--precise-pacing"])).precise_pacing
