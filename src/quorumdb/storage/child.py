"""Helper processes of the storage engine (``quorumdb serve --data-dir``): the LMDB
applier (``applier.py``) and the WAL syncer (``syncer.py``).

Each is ``python -m MODULE ARGS`` with a pipe each way. Frames in both directions are a
little-endian u32 length and a msgpack array whose first element is a number: the
engine sends ``[seq, ...]``, the helper answers ``[seq, body]`` when it is done with it,
``[0, []]`` once it is ready (the engine waits for that: a helper that cannot start fails
the server's start, not its first write) and ``[-1, message]`` when it failed (it exits
then). One request is in flight at a time, so a pipe never holds more than one frame and
the helper is always reading when a request comes.

A helper exits when its input closes: the engine closed, or died (a frame cut short is
not acted on). It ignores SIGINT and SIGTERM, which a terminal or a service manager sends
to the whole process group: the engine decides when it stops, after it has answered
everything it acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from typing import IO, Any

import msgspec

_LENGTH = struct.Struct("<I")
# F_SETPIPE_SZ: a batch of 256 writes of 1 KB fits the pipe whole, so sending it does not
# wait for the helper to read.
_F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20
ERROR_SEQ = -1
READY_SEQ = 0  # log records are numbered from 1
# A helper imports and opens what it needs in ~0.1 s here.
START_TIMEOUT_S = 30.0
_ENCODER = msgspec.msgpack.Encoder()


class ChildFailed(RuntimeError):
    """A helper reported a failure, exited, or did not answer in time."""


def _encode_frame(message: Any) -> tuple[bytes, bytes]:
    """The frame of ``message``: its head (the length) and its msgpack body, written one
    after the other (``writev``). msgspec's ``encode`` makes the body in a fresh bytes
    object, which the allocator serves from memory it already has; reusing one bytearray
    (``encode_into``) did not work as meant: msgspec cuts the buffer down to the offset
    (or to a smaller message) and CPython then gives its memory back, so every batch grew
    it again 4 KB after 4 KB (mremap and a page fault each): 0.39 ms to encode a 0.9 MB
    applier batch against 0.03 ms."""
    body = _ENCODER.encode(message)
    return _LENGTH.pack(len(body)), body


class Child:
    """The engine's side of one helper: starts it, sends requests, collects answers.

    Answers are read without blocking (``read_answers``, from the event loop's reader
    callback) or by waiting (``wait_answer``, for a synchronous caller)."""

    def __init__(self, module: str, args: list[str], what: str) -> None:
        import quorumdb

        self.what = what
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(quorumdb.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [package_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._out = self.process.stdin.fileno()
        self._in = self.process.stdout.fileno()
        with contextlib.suppress(OSError):  # a smaller pipe only costs a short wait
            fcntl.fcntl(self._out, _F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        self._buffer = bytearray()
        self._watching: asyncio.AbstractEventLoop | None = None
        # the request being written: its head and body, how much of the two is written,
        # and who hears of a failure while the event loop writes the rest
        self._head = self._body = b""
        self._sent = _LENGTH.size
        self._sending: asyncio.AbstractEventLoop | None = None
        self._send_failed: Callable[[BaseException], None] | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        try:
            ready = self.wait_answer(START_TIMEOUT_S)
        except ChildFailed:
            self.stop(1.0)
            raise
        if ready != [(READY_SEQ, [])]:
            self.stop(1.0)
            raise ChildFailed(f"the {what} started with {ready!r}")

    def watch(self, callback: Callable[[], None]) -> None:
        """Has the running event loop call ``callback`` whenever answers arrive (once
        set, it stays; outside a loop nothing: a synchronous caller waits itself)."""
        if self._watching is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.add_reader(self._in, callback)
        self._watching = loop

    def unwatch(self) -> None:
        """The event loop stops watching the helper: its answers, and a request it was
        writing (abandoned: a helper that failed or is stopping reads no more of it)."""
        self._stop_sending()
        self._clear_frame()
        if self._watching is not None:
            with contextlib.suppress(Exception):  # the loop may be closed already
                self._watching.remove_reader(self._in)
            self._watching = None

    def send(self, message: list[Any], timeout_s: float) -> None:
        """Writes one request. The helper is reading when a request is sent (the previous
        one is answered), so this waits at most for it to copy what does not fit the
        pipe; ``ChildFailed`` when it is gone or does not read for ``timeout_s``."""
        self._encode(message)
        self._finish_sending(time.monotonic() + timeout_s, timeout_s)

    def send_soon(self, message: list[Any], timeout_s: float,
                  failed: Callable[[BaseException], None]) -> None:
        """``send`` for the event loop: writes what the pipe takes now and the rest
        whenever the helper has read some (the loop serves requests meanwhile: a batch
        larger than the pipe held it until an idle-priority helper got the CPU, 6 ms at
        p99 under load). A failure afterwards goes to ``failed``; ``ChildFailed`` now
        when the helper is already gone."""
        self._encode(message)
        if not self._write_some():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._finish_sending(time.monotonic() + timeout_s, timeout_s)
            return
        self._sending, self._send_failed = loop, failed
        loop.add_writer(self._out, self._on_writable)
        self._send_timer = loop.call_later(timeout_s, self._send_timed_out, timeout_s)

    def _encode(self, message: list[Any]) -> None:
        assert self._sending is None and not self._body, "one at a time"
        self._head, self._body = _encode_frame(message)
        self._sent = 0

    def _write_some(self) -> bool:
        """Writes what the pipe takes; True while some of the frame is left."""
        head = _LENGTH.size
        try:
            with memoryview(self._body) as body:
                while self._sent < head + len(body):
                    if self._sent < head:
                        self._sent += os.writev(self._out, [self._head[self._sent:], body])
                    else:
                        self._sent += os.write(self._out, body[self._sent - head:])
        except BlockingIOError:
            return True
        except OSError as exc:
            self._clear_frame()
            raise ChildFailed(f"the {self.what} is gone: {exc!r}") from exc
        self._clear_frame()  # written: the batch need not stay in memory until the next
        return False

    def _finish_sending(self, deadline: float, timeout_s: float) -> None:
        """Blocks until the frame is written (a synchronous caller, or one that must
        wait for an answer to a request the loop is still writing)."""
        self._stop_sending()
        while self._write_some():
            left = deadline - time.monotonic()
            if left <= 0:
                self._clear_frame()
                raise ChildFailed(f"the {self.what} did not read for {timeout_s} s")
            select.select([], [self._out], [], left)

    def _on_writable(self) -> None:
        try:
            if self._write_some():
                return
        except ChildFailed as exc:
            self._send_failure(exc)
            return
        self._stop_sending()

    def _send_timed_out(self, timeout_s: float) -> None:
        self._clear_frame()
        self._send_failure(ChildFailed(f"the {self.what} did not read for {timeout_s} s"))

    def _send_failure(self, exc: BaseException) -> None:
        failed = self._send_failed
        self._stop_sending()
        if failed is not None:
            failed(exc)

    def _clear_frame(self) -> None:
        """The frame is written, or is not to be written further (the helper failed,
        timed out, or is no longer watched); the next request may be encoded."""
        self._body = b""
        self._sent = _LENGTH.size

    def _stop_sending(self) -> None:
        """The event loop stops writing (done, failed, or a blocking caller takes over)."""
        if self._sending is not None:
            with contextlib.suppress(Exception):  # the loop may be closed already
                self._sending.remove_writer(self._out)
            self._sending = None
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        self._send_failed = None

    def read_answers(self) -> list[tuple[int, Any]]:
        """Every answer complete in the pipe now, as (seq, body); ``ChildFailed`` when
        the helper has reported a failure or exited."""
        while True:
            try:
                chunk = os.read(self._in, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                raise ChildFailed(f"the {self.what} exited ({self.process.poll()})")
            self._buffer += chunk
        answers = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if len(self._buffer) < _LENGTH.size + length:
                break
            seq, body = msgspec.msgpack.decode(
                bytes(self._buffer[_LENGTH.size:_LENGTH.size + length]))
            del self._buffer[:_LENGTH.size + length]
            if seq == ERROR_SEQ:
                raise ChildFailed(f"the {self.what} failed: {body}")
            answers.append((seq, body))
        return answers

    def wait_answer(self, timeout_s: float) -> list[tuple[int, Any]]:
        """Blocks until at least one answer is complete (``ChildFailed`` after
        ``timeout_s``: a stuck helper must not hang the engine)."""
        deadline = time.monotonic() + timeout_s
        self._finish_sending(deadline, timeout_s)
        while True:
            answers = self.read_answers()
            if answers:
                return answers
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildFailed(f"the {self.what} did not answer in {timeout_s} s")
            select.select([self._in], [], [], left)

    def stop(self, timeout_s: float) -> None:
        """Closes its input (it exits after the request in hand) and waits for it; kills
        it after ``timeout_s``."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.unwatch()
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


# -- the helper's side ----------------------------------------------------------------
def start_helper() -> tuple[IO[bytes], IO[bytes]]:
    """In a helper: ignores the process group's SIGINT/SIGTERM; its (requests, answers)
    streams."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return sys.stdin.buffer, sys.stdout.buffer


def serve_requests(requests: IO[bytes], answers: IO[bytes],
                   handle: Callable[[list[Any]], Any]) -> int:
    """A helper's loop, once it is ready: says so, then answers each request ``[seq,
    ...]`` with ``[seq, handle(request)]`` until its input closes (0); a request that
    fails is answered ``[ERROR_SEQ, message]`` and ends it (1)."""
    decoder = msgspec.msgpack.Decoder()
    _answer(answers, READY_SEQ, [])
    while (request := _read_request(requests)) is not None:
        message = decoder.decode(request)
        try:
            body = handle(message)
        except Exception as exc:
            _answer(answers, ERROR_SEQ, repr(exc))
            return 1
        _answer(answers, message[0], body)
    return 0


def _answer(stream: IO[bytes], seq: int, body: Any) -> None:
    head, encoded = _encode_frame([seq, body])
    stream.write(head)
    stream.write(encoded)
    stream.flush()


def _read_request(stream: IO[bytes]) -> bytes | None:
    """The next request's msgpack body, or None when the engine closed the pipe (or died
    while writing: a request cut short is not acted on)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    length = _LENGTH.unpack(head)[0]
    body = stream.read(length)
    return body if len(body) == length else None
