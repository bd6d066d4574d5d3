"""HTTP/1.1 on asyncio with httptools: the thinnest driver that keeps DynamoDB's wire.

Theory of operation: one ``HttpProtocol`` per connection feeds bytes to httptools'
parser, collects one request at a time (headers lower-cased, body bounded) and hands it
to the application, which answers either at once (reads, errors) or with an awaitable
(writes waiting for group commit). Responses leave in request order even when a client
pipelines. Keep-alive follows the request's own HTTP version and Connection header.

Bounds: headers and URL are bounded by ``MAX_HEADER_BYTES``; the body by
``MAX_BODY_BYTES`` (DynamoDB's largest requests, 16 MB batch writes, plus framing); a
connection with more than ``MAX_PIPELINED`` unanswered requests stops being read until
its answers drain.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, cast

import httptools

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024 + 64 * 1024
MAX_PIPELINED = 16

Response = tuple[int, list[tuple[bytes, bytes]], bytes]


class PendingResponse(Protocol):
    """A response that is not ready yet, without the cost of a Task: an asyncio Future
    has this surface, and so does the service's answer to a write awaiting its commit."""

    def done(self) -> bool: ...

    def result(self) -> Response: ...

    def add_done_callback(self, callback: Callable[[Any], None]) -> None: ...


Handler = Callable[[str, str, dict[str, str], bytes],
                   "Response | PendingResponse | Coroutine[Any, Any, Response]"]

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 413: b"Request Entity Too Large",
            500: b"Internal Server Error", 503: b"Service Unavailable"}


# Clients send the same few header names on every request: lower-cased once each.
MAX_CACHED_HEADER_NAMES = 256
_HEADER_NAMES: dict[bytes, str] = {}


class _TooLarge(Exception):
    pass


class HttpProtocol(asyncio.Protocol):
    def __init__(self, handler: Handler, too_large: Callable[[], Response],
                 connections: set[HttpProtocol] | None = None) -> None:
        self.handler = handler
        self.connections = connections
        self.too_large = too_large
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body_parts: list[bytes] = []
        self.body_size = 0
        self.header_size = 0
        self.pending: deque[PendingResponse | Response] = deque()
        self.framing: deque[tuple[bool, bool]] = deque()  # (keep-alive, HEAD) per request
        self.closing = False
        self.paused = False

    # -- asyncio callbacks -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        if self.connections is not None:
            self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.closing = True
        if self.connections is not None:
            self.connections.discard(self)

    def idle(self) -> bool:
        return not self.pending

    def stop_reading(self) -> None:
        """Shutdown, step 1: take no further requests on this connection."""
        if self.transport is not None:
            self.transport.pause_reading()
            self.paused = True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            # httptools wraps exceptions raised in callbacks (our size bounds)
            if isinstance(exc.__context__, _TooLarge) or isinstance(exc.__cause__, _TooLarge):
                self._respond_now(self.too_large())
            else:
                self._respond_now((400, [(b"Content-Type", b"text/plain")], b"Bad Request"))

    # -- httptools callbacks -----------------------------------------------------------
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}
        self.body_parts = []
        self.body_size = 0
        self.header_size = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.header_size += len(url)
        if self.header_size > MAX_HEADER_BYTES:
            raise _TooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_size += len(name) + len(value)
        if self.header_size > MAX_HEADER_BYTES:
            raise _TooLarge
        key = _HEADER_NAMES.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(_HEADER_NAMES) < MAX_CACHED_HEADER_NAMES:
                _HEADER_NAMES[name] = key
        text = value.decode("latin-1")
        previous = self.headers.get(key)
        self.headers[key] = text if previous is None else previous + "," + text

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > MAX_BODY_BYTES:
            raise _TooLarge
        self.body_parts.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.body_parts) if len(self.body_parts) != 1 else self.body_parts[0]
        method = self.parser.get_method().decode("latin-1")
        # a HEAD answer carries headers only (RFC 9110 9.3.2)
        framing = (self.parser.should_keep_alive(), method == "HEAD")
        try:
            result = self.handler(method, self.url.decode("latin-1"), self.headers, body)
        except Exception:  # the handler maps every error; this is a last line of defence
            result = (500, [(b"Content-Type", b"text/plain")], b"Internal Server Error")
        if isinstance(result, tuple):
            if not self.pending:
                self._write(result, framing)
                return
            self.pending.append(result)
        else:
            # future-like (the service's pending answers) as is, a coroutine as a task:
            # asyncio.iscoroutine took 0.5 us to say no (an ABC's isinstance)
            pending: PendingResponse
            if hasattr(result, "add_done_callback"):
                pending = cast(PendingResponse, result)
            else:
                pending = asyncio.ensure_future(result)
            self.pending.append(pending)
            if len(self.pending) >= MAX_PIPELINED and self.transport is not None:
                self.transport.pause_reading()
                self.paused = True
            pending.add_done_callback(self._drain)
        self.framing.append(framing)

    # -- writing -----------------------------------------------------------------------
    def _drain(self, _: Any = None) -> None:
        while self.pending:
            head = self.pending[0]
            if isinstance(head, tuple):
                response = head
            elif head.done():
                try:
                    response = head.result()
                except Exception:
                    response = (500, [(b"Content-Type", b"text/plain")],
                                b"Internal Server Error")
            else:
                return
            self.pending.popleft()
            self._write(response, self.framing.popleft())
        if self.paused and self.transport is not None and not self.closing:
            self.paused = False
            self.transport.resume_reading()

    def _respond_now(self, response: Response) -> None:
        """Answers a request the parser rejected, then closes the connection."""
        self.pending.clear()
        self.framing.clear()
        self._write(response, (False, False))

    def _write(self, response: Response, framing: tuple[bool, bool]) -> None:
        transport = self.transport
        if transport is None:
            return
        status, headers, body = response
        keep_alive, head_only = framing
        out = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"OK"))]
        out += [b"%s: %s\r\n" % header for header in headers]
        out.append(b"Content-Length: %d\r\n" % len(body))
        if not keep_alive:
            out.append(b"Connection: close\r\n")
        out.append(b"\r\n")
        if not head_only:
            out.append(body)
        transport.write(b"".join(out))
        if not keep_alive:
            transport.close()
            self.transport = None
