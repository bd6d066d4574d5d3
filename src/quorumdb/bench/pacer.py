"""Sub-millisecond wake-ups for the open-loop schedule of ``quorumdb bench``.

asyncio's timers (uvloop's and the default loop's alike) end up as the timeout of
``epoll_wait``, which counts whole milliseconds: every request due within one millisecond
leaves when it expires, together. The client then sends in bursts that an open-loop
schedule (request ``k`` at ``t0 + k / R``) does not have, and the server queues them: at
11,000 GetItem/s, 64% of requests reached the server in runs of five or more less than
50 us apart, and the client's own schedule lag had a p99 of 1.1-1.3 ms.

``Pacer`` wakes each waiter at its time through a Linux ``timerfd`` (nanosecond expiry on
``CLOCK_MONOTONIC``, the clock behind ``time.perf_counter``) that the event loop watches
like a socket: one timer armed for the earliest waiter, a heap for the rest. Elsewhere it
falls back to ``asyncio.sleep``, which is also the default (``precise=False``): a wake-up
per request costs the client about twice the CPU (GetItem at 11,000/s from one pinned
client process: 0.79 of a core against ~0.4), so precise pacing is asked for
(``quorumdb bench --precise-pacing``). Measured with it, in-memory server, 11,000
GetItem/s: schedule lag p99 0.13 ms instead of 1.1-1.2, p50 0.13 ms instead of 0.33-0.35
(the server's latency at concurrency 1), p99 0.43-0.56 instead of 0.77-1.01.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import itertools
import os
import sys
import time
from typing import Any

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc_timerfd() -> tuple[Any, Any] | None:
    """libc's ``timerfd_create`` and ``timerfd_settime`` (Python 3.11 has no binding)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        create, settime = libc.timerfd_create, libc.timerfd_settime
    except AttributeError:
        return None
    create.argtypes = [ctypes.c_int, ctypes.c_int]
    settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec),
                        ctypes.POINTER(_Itimerspec)]
    return create, settime


_TIMERFD = _libc_timerfd()


class Pacer:
    """``await pacer.sleep_until(t)``: resumes at ``time.perf_counter() >= t``."""

    def __init__(self, precise: bool = True) -> None:
        self._loop = asyncio.get_running_loop()
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._armed: float | None = None
        self._fd: int | None = None
        if precise and _TIMERFD is not None:
            create = _TIMERFD[0]
            fd = create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                self._loop.add_reader(fd, self._fire)

    @property
    def precise(self) -> bool:
        return self._fd is not None

    async def sleep_until(self, when: float) -> None:
        if self._fd is None:
            await asyncio.sleep(max(0.0, when - time.perf_counter()))
            return
        if when <= time.perf_counter():
            return
        future: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._heap, (when, next(self._order), future))
        if self._armed is None or when < self._armed:
            self._arm(when)
        await future

    def _fire(self) -> None:
        assert self._fd is not None
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)
        self._armed = None
        now = time.perf_counter()
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, future = heapq.heappop(heap)
            if not future.done():
                future.set_result(None)
        if heap:
            self._arm(heap[0][0])

    def _arm(self, when: float) -> None:
        assert self._fd is not None and _TIMERFD is not None
        seconds = int(when)
        spec = _Itimerspec(_Timespec(0, 0),
                           _Timespec(seconds, max(1, int((when - seconds) * 1e9))))
        settime = _TIMERFD[1]
        if settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self._armed = when

    def close(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
        for _, _, future in self._heap:
            future.cancel()
        self._heap = []
