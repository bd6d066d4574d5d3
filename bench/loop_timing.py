"""``quorumdb serve`` (one node, durable) with timers around what its event loop waits on:
where a latency tail comes from.

In this process only (the package is not changed) it times the WAL's write and
``fdatasync`` (``Wal._sync_dirty``), each group commit (``Engine._start_flush``), the
overlay's LMDB commits when this process makes them (``Engine._write_batch``;
``Engine._write_images`` is their B-tree updates) or what sending them to the applier
process and reading its answers costs, the checkpoint thread's write-back (``lmdb_checkpoint.write_back``), reading and
answering requests (``HttpProtocol.data_received``) and garbage collection
(``gc.callbacks``), and runs a 1 ms timer on the loop whose lateness shows every stall
whatever its cause (uvloop's timers have millisecond resolution). Also: each group
commit's size in writes, a sync through the syncer process from hand-over to answer (the
device's queue as the log sees it), how long writes waited for room (back-pressure), the
checkpoint thread's whole sync and its checkpoint file write. ``kill -USR1 PID`` prints
each distribution since the last report and starts over; the process prints them once
more when it stops (SIGTERM or Ctrl-C). Once requests arrive, a watchdog thread prints
the event loop's Python stack whenever the loop is ``--stall-ms`` late (what held it,
caught in the act); ``kill -USR2 PID`` stalls the loop that long, to check it.

    .venv/bin/python bench/loop_timing.py --port 8802 --data-dir /tmp/qd &
    .venv/bin/python bench/openloop.py --endpoint http://127.0.0.1:8802 --workload put \\
        --keys 100000 --rate 5400 --duration 10
    kill -USR1 %1

The sixth session's figures in docs/performance.md ("What bounds durable PutItem's p99")
were taken this way.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import gc
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from quorumdb.api import http, server
from quorumdb.bench.histogram import Histogram
from quorumdb.storage import engine, lmdb_checkpoint, wal

TICK_S = 0.001
# What is timed: (owner, attribute, the report's name for it)
TIMED: tuple[tuple[Any, str, str], ...] = (
    (http.HttpProtocol, "data_received", "requests (data_received)"),
    (engine.Engine, "_start_flush", "group commit (_start_flush)"),
    (wal.Wal, "_sync_dirty", "WAL write + fdatasync"),
    (engine.Engine, "_write_batch", "LMDB commit of the overlay (in process)"),
    (engine.Engine, "_write_images", "  of which B-tree updates"),
    (engine.Engine, "_send_to_applier", "overlay sent to the applier process"),
    (engine.Engine, "_read_applier", "applier's answers read and handled"),
    (engine.Engine, "_start_sync", "group commit handed to the syncer process"),
    (engine.Engine, "_read_syncer", "syncer's answers read and handled"),
    (engine.Engine, "begin_checkpoint", "checkpoint capture"),
    (lmdb_checkpoint, "write_back", "checkpoint write-back (its thread)"),
    (engine.Engine, "_sync_checkpoint",
     "checkpoint on its thread: write-back, data file sync, checkpoint file"),
    (lmdb_checkpoint, "write", "  of which the checkpoint file written"),
)
GROUP_SIZE = "group commit size"  # in writes, not time
SYNCER_ROUND_TRIP = "a sync through the syncer, handed over to answered"
ROOM_WAIT = "a write waiting for room (back-pressure)"
LOOP_LATE = "1 ms loop timer, late by"
RESIDENCE = "a request in the server, parsing began to answer written"
# microseconds (or, for GROUP_SIZE, writes), in bounded histograms (HDR-like, within
# 0.8%), since the last report
samples: dict[str, Histogram] = {}
# set by the first request: the loop's lateness and the watchdog count from then on
# (opening the engine before serving blocks the loop by design)
serving = threading.Event()


def _record(name: str, seconds: float) -> None:
    _record_count(name, int(seconds * 1e6))


def _record_count(name: str, value: int) -> None:
    histogram = samples.get(name)
    if histogram is None:
        histogram = samples[name] = Histogram()
    histogram.record(value)


def _timed(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _record(name, time.perf_counter() - began)
    return timed


def _time_residence() -> None:
    """Each request from its first parser callback to its answer's write: what the
    server holds it for (waiting for its group commit included), without the time its
    bytes waited in the socket for the loop to read them."""
    begin, write = http.HttpProtocol.on_message_begin, http.HttpProtocol._write
    began: dict[int, collections.deque[float]] = {}

    def on_message_begin(self: http.HttpProtocol) -> None:
        serving.set()
        began.setdefault(id(self), collections.deque()).append(time.perf_counter())
        begin(self)

    def _write(self: http.HttpProtocol, *args: Any) -> None:
        queue = began.get(id(self))
        if queue:
            _record(RESIDENCE, time.perf_counter() - queue.popleft())
        write(self, *args)

    http.HttpProtocol.on_message_begin = on_message_begin  # type: ignore[method-assign]
    http.HttpProtocol._write = _write  # type: ignore[method-assign]


def _time_the_engine() -> None:
    """Group commit sizes, a sync's round trip through the syncer, waits for room."""
    owner = engine.Engine
    start_flush, start_sync, end_sync = owner._start_flush, owner._start_sync, owner._end_sync
    wait_for_room = owner.wait_for_room
    handed_over: list[float] = []

    def _start_flush(self: engine.Engine) -> None:
        if self._staged_count:
            _record_count(GROUP_SIZE, self._staged_count)
        start_flush(self)

    def _start_sync(self: engine.Engine, *args: Any) -> None:
        handed_over.append(time.perf_counter())
        start_sync(self, *args)

    def _end_sync(self: engine.Engine, *args: Any) -> Any:
        if handed_over:  # one sync in flight at a time
            _record(SYNCER_ROUND_TRIP, time.perf_counter() - handed_over.pop())
        return end_sync(self, *args)

    async def _wait_for_room(self: engine.Engine) -> None:
        began = time.perf_counter()
        await wait_for_room(self)
        _record(ROOM_WAIT, time.perf_counter() - began)

    owner._start_flush = _start_flush  # type: ignore[method-assign]
    owner._start_sync = _start_sync  # type: ignore[method-assign]
    owner._end_sync = _end_sync  # type: ignore[method-assign]
    owner.wait_for_room = _wait_for_room  # type: ignore[method-assign]


def _watch_for_stalls(ticked: list[float], stall_s: float) -> None:
    """Prints the loop thread's stack while the loop is ``stall_s`` late (once a stall).
    ``ticked``: when the loop's timer last ran, by ``time.monotonic`` (the loop's own
    clock is not read from another thread)."""
    loop_thread = threading.get_ident()

    def watch() -> None:
        reported = None
        while True:
            time.sleep(stall_s / 4)
            last = ticked[0]
            late = time.monotonic() - last - TICK_S
            if not serving.is_set() or late < stall_s or reported == last:
                continue
            reported = last
            frame = sys._current_frames().get(loop_thread)
            stack = "".join(traceback.format_stack(frame)[-12:]) if frame else ""
            print(f"-- {time.strftime('%H:%M:%S')} the event loop is {late * 1e3:.0f} ms "
                  f"late; it is in:\n{stack}", flush=True)

    threading.Thread(target=watch, name="stall-watchdog", daemon=True).start()


def _stall(seconds: float) -> None:
    """``kill -USR2``: holds the event loop, so that the watchdog has a stall to report."""
    time.sleep(seconds)


def _gc_timer() -> Callable[[str, dict[str, int]], None]:
    started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            _record(f"garbage collection, generation {info['generation']}",
                    time.perf_counter() - started[0])
    return on_gc


def report(*_: Any) -> None:
    """Each distribution since the last report, in milliseconds; then starts over."""
    print(f"-- {time.strftime('%H:%M:%S')}", flush=True)
    for name, histogram in list(samples.items()):
        if not histogram.total:
            continue

        def at(q: float, histogram: Histogram = histogram) -> float:
            return histogram.percentile_us(q) / 1e3

        if name == GROUP_SIZE:
            print(f"{name}: n={histogram.total} total {histogram.sum_us} writes, "
                  f"p50 {histogram.percentile_us(0.5)} writes, "
                  f"p90 {histogram.percentile_us(0.9)}, p99 {histogram.percentile_us(0.99)}, "
                  f"max {histogram.max_us}", flush=True)
        else:
            print(f"{name}: n={histogram.total} total {histogram.sum_us / 1e6:.2f} s, "
                  f"p50 {at(0.5):.3f} ms, p90 {at(0.9):.3f}, p99 {at(0.99):.3f}, "
                  f"max {histogram.max_us / 1e3:.2f}", flush=True)
        samples[name] = Histogram()


def install(stall_s: float) -> None:
    for owner, attribute, name in TIMED:
        setattr(owner, attribute, _timed(getattr(owner, attribute), name))
    _time_residence()
    _time_the_engine()
    gc.callbacks.append(_gc_timer())
    serve = server.serve

    async def serve_with_ticker(*args: Any, **kwargs: Any) -> None:
        loop = asyncio.get_running_loop()
        due = [loop.time() + TICK_S]
        ticked = [time.monotonic()]

        def tick() -> None:
            now = loop.time()
            ticked[0] = time.monotonic()
            if serving.is_set():
                _record(LOOP_LATE, max(0.0, now - due[0]))
            due[0] = now + TICK_S
            loop.call_at(due[0], tick)

        loop.call_at(due[0], tick)
        _watch_for_stalls(ticked, stall_s)
        loop.add_signal_handler(signal.SIGUSR2, _stall, stall_s * 3)
        await serve(*args, **kwargs)

    server.serve = serve_with_ticker
    signal.signal(signal.SIGUSR1, report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--wal-dir", default=None)
    parser.add_argument("--stall-ms", type=float, default=50.0,
                        help="print the loop's stack when it is this late")
    args = parser.parse_args()
    logging.basicConfig(level="WARNING", stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install(args.stall_ms / 1e3)
    code = server.run(server.ServeOptions(host=args.host, port=args.port,
                                          data_dir=args.data_dir, wal_dir=args.wal_dir))
    report()
    return code


if __name__ == "__main__":
    sys.exit(main())
