"""Passing a request on to the primary process over its Unix socket, unchanged.

Theory of operation: a front-end worker (``quorumdb.api.worker``) answers reads itself
and hands every other request to the primary, which owns the write path and the catalog.
The request goes on as it came (method, path, every header, the body), so the primary
verifies the same signature and answers exactly as if the client had reached it directly;
the answer comes back as it left (status, headers, body).

``Upstream`` keeps a pool of keep-alive connections, one request in flight on each (no
pipelining, so an answer never waits behind another). Bounds: at most
``MAX_CONNECTIONS`` connections; requests beyond that wait for one to be free; an answer
body is bounded by ``MAX_ANSWER_BYTES``; a request that gets no answer within
``TIMEOUT_S`` fails. A failure is answered by the caller (ServiceUnavailable).
"""

from __future__ import annotations

import asyncio
from collections import deque

import httptools

from quorumdb.api.http import Response

MAX_CONNECTIONS = 128
MAX_ANSWER_BYTES = 64 * 1024 * 1024
TIMEOUT_S = 60.0
# Framing is the upstream connection's own business; every other header goes on as is.
_HOP_BY_HOP = frozenset(("connection", "keep-alive", "content-length", "transfer-encoding",
                         "expect", "te", "upgrade", "proxy-connection"))


class UpstreamError(Exception):
    """The primary could not be reached or gave no answer."""


def encode_request(method: str, url: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {url} HTTP/1.1\r\n"]
    for name, value in headers.items():
        if name not in _HOP_BY_HOP:
            lines.append(f"{name}: {value}\r\n")
    lines.append(f"content-length: {len(body)}\r\n\r\n")
    return "".join(lines).encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection to the primary with at most one request in flight."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[Response] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.reusable = True
        self.head_only = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.reusable = False
        self._fail(UpstreamError(f"connection to the primary lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.reusable = False
            self._fail(UpstreamError(f"bad answer from the primary: {exc}"))
            self.close()

    def on_message_begin(self) -> None:
        self.headers = []
        self.body = []
        self.size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower().decode("latin-1") not in _HOP_BY_HOP:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.head_only:
            # an answer to HEAD: a Content-Length but no body follows; the parser cannot
            # know that, so the answer ends here and the connection is not reused
            self.reusable = False
            self._complete()
            self.close()

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > MAX_ANSWER_BYTES:
            raise UpstreamError("answer from the primary too large")
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self.reusable and self.parser.should_keep_alive()
        self._complete()

    def _complete(self) -> None:
        answer, self.answer = self.answer, None
        if answer is not None and not answer.done():
            answer.set_result((self.parser.get_status_code(), self.headers,
                               b"".join(self.body)))

    def send(self, request: bytes, head_only: bool = False) -> asyncio.Future[Response]:
        assert self.transport is not None and self.answer is None
        self.head_only = head_only
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.answer

    def _fail(self, error: Exception) -> None:
        answer, self.answer = self.answer, None
        if answer is not None and not answer.done():
            answer.set_exception(error)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class Upstream:
    """A bounded pool of connections to the primary's Unix socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.idle: deque[_Connection] = deque()
        self.count = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def forward(self, request: bytes, head_only: bool = False) -> Response:
        connection = await self._take()
        try:
            answer = await asyncio.wait_for(connection.send(request, head_only), TIMEOUT_S)
        except BaseException:
            connection.reusable = False
            connection.close()
            raise
        finally:
            self._give_back(connection)
        return answer

    async def _take(self) -> _Connection:
        while True:
            while self.idle:
                connection = self.idle.pop()
                if connection.transport is not None and connection.reusable:
                    return connection
                self.count -= 1
            if self.count < MAX_CONNECTIONS:
                self.count += 1
                try:
                    _, connection = await asyncio.get_running_loop().create_unix_connection(
                        _Connection, self.path)
                except OSError as exc:
                    self.count -= 1
                    raise UpstreamError(f"cannot reach the primary: {exc}") from exc
                return connection
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            await waiter

    def _give_back(self, connection: _Connection) -> None:
        if connection.transport is not None and connection.reusable:
            self.idle.append(connection)
        else:
            connection.close()
            self.count -= 1
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()
        self.count = 0
