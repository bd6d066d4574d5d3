"""A minimal keep-alive HTTP/1.1 client for signed DynamoDB requests (benchmark only).

Theory of operation: ``Connection`` is an ``asyncio.Protocol`` (uvloop in the workers)
with one request in flight at a time; ``data_received`` parses the answer in place (status
line, ``Content-Length`` or chunked body) and resolves the caller's future, which avoids
the per-line awaits of asyncio streams. ``Signer`` produces exactly the SigV4 headers of
``quorumdb.api.sigv4.sign_request`` (a unit test pins the equality) using the same cached
signing key, but with the canonical request pre-assembled per operation and the
``X-Amz-Date`` formatted once per second, so a signature costs two SHA-256 and one HMAC.
Whole requests are assembled with one ``bytes.join``.

Bounds: a request that is not answered within ``timeout_s`` fails with ``TimeoutError``
(a watchdog in the worker calls ``expire``) and the connection is dropped and reopened on
the next request; a response header block is bounded by ``MAX_HEADER_BYTES``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from quorumdb.api.sigv4 import ALGORITHM, SERVICE, derive_signing_key, format_amz_date

__all__ = ["Connection", "Endpoint", "HttpError", "Signer", "error_type"]

MAX_HEADER_BYTES = 64 * 1024
TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"


class HttpError(Exception):
    """A malformed answer or a broken connection."""


class Endpoint:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url if "://" in url else "http://" + url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        self.host_header = parts.netloc
        self.path = parts.path or "/"


class Signer:
    """SigV4 for ``POST`` of DynamoDB JSON to one endpoint with fixed credentials."""

    def __init__(self, endpoint: Endpoint, access_key: str, secret_key: str, region: str,
                 session_token: str | None = None) -> None:
        self.endpoint = endpoint
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.session_token = session_token
        names = ["content-type", "host", "x-amz-date", "x-amz-target"]
        if session_token is not None:
            names.append("x-amz-security-token")
        self.signed_headers = ";".join(sorted(names))
        self._second = -1
        self._amz_date = ""
        self._scope = ""
        self._key = b""
        self._per_operation: dict[str, tuple[bytes, bytes]] = {}

    def _tick(self, second: int) -> None:
        self._second = second
        self._amz_date = format_amz_date(second)
        date = self._amz_date[:8]
        self._scope = f"{date}/{self.region}/{SERVICE}/aws4_request"
        self._key = derive_signing_key(self.secret_key, date, self.region, SERVICE)
        self._per_operation.clear()

    def _templates(self, operation: str) -> tuple[bytes, bytes]:
        """(canonical request up to the payload hash, request head up to Authorization)."""
        target = TARGET_PREFIX + operation
        token_line = ("" if self.session_token is None
                      else f"x-amz-security-token:{self.session_token.strip()}\n")
        canonical = (f"POST\n{self.endpoint.path}\n\ncontent-type:{CONTENT_TYPE}\n"
                     f"host:{self.endpoint.host_header}\nx-amz-date:{self._amz_date}\n"
                     f"{token_line}x-amz-target:{target}\n\n{self.signed_headers}\n")
        token_header = ("" if self.session_token is None
                        else f"X-Amz-Security-Token: {self.session_token}\r\n")
        head = (f"POST {self.endpoint.path} HTTP/1.1\r\nHost: {self.endpoint.host_header}\r\n"
                f"Content-Type: {CONTENT_TYPE}\r\nX-Amz-Target: {target}\r\n"
                f"X-Amz-Date: {self._amz_date}\r\n{token_header}"
                f"Authorization: {ALGORITHM} Credential={self.access_key}/{self._scope}, "
                f"SignedHeaders={self.signed_headers}, Signature=")
        templates = (canonical.encode(), head.encode())
        self._per_operation[operation] = templates
        return templates

    def signature(self, operation: str, body: bytes, now_s: float) -> str:
        second = int(now_s)
        if second != self._second:
            self._tick(second)
        templates = self._per_operation.get(operation) or self._templates(operation)
        digest = hashlib.sha256(templates[0] + hashlib.sha256(body).hexdigest().encode())
        string_to_sign = (f"{ALGORITHM}\n{self._amz_date}\n{self._scope}\n"
                          f"{digest.hexdigest()}").encode()
        return hmac.digest(self._key, string_to_sign, "sha256").hex()

    def headers(self, operation: str, body: bytes, now_s: float) -> dict[str, str]:
        """The signed headers, as ``sign_request`` returns them (for tests)."""
        signature = self.signature(operation, body, now_s)
        out = {"x-amz-date": self._amz_date}
        if self.session_token is not None:
            out["x-amz-security-token"] = self.session_token
        out["authorization"] = (f"{ALGORITHM} Credential={self.access_key}/{self._scope}, "
                                f"SignedHeaders={self.signed_headers}, Signature={signature}")
        return out

    def request(self, operation: str, body: bytes, now_s: float) -> bytes:
        """The complete HTTP/1.1 request."""
        signature = self.signature(operation, body, now_s)
        head = self._per_operation[operation][1]
        return b"".join((head, signature.encode(), b"\r\nContent-Length: ",
                         str(len(body)).encode(), b"\r\n\r\n", body))


def error_type(status: int, payload: bytes) -> str:
    """DynamoDB's error name from an error answer (``__type`` after ``#``)."""
    try:
        answer = json.loads(payload)
        kind = str(answer.get("__type") or answer.get("code") or "")
    except (ValueError, AttributeError):
        kind = ""
    kind = kind.rsplit("#", 1)[-1]
    return kind or f"HTTP {status}"


class _Wire(asyncio.Protocol):
    """The protocol of one TCP connection; it forwards to its ``Connection`` only while
    it is that connection's current wire, so a late ``connection_lost`` of a dropped
    socket cannot fail a request on its replacement."""

    def __init__(self, owner: Connection) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.owner.wire is self:
            self.owner.wire = None
            self.owner._fail(HttpError("connection closed by server"))

    def data_received(self, data: bytes) -> None:
        if self.owner.wire is self:
            self.owner._received(data)


class Connection:
    """One keep-alive connection, one request in flight."""

    def __init__(self, endpoint: Endpoint, signer: Signer) -> None:
        self.endpoint = endpoint
        self.signer = signer
        self.wire: _Wire | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.sent_at = 0.0
        self.close_after = False  # the server said "Connection: close" (moto does)

    def _received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None:
            try:
                answer = self._parse()
            except HttpError as exc:
                self._fail(exc)
                self.close()
                return
            if answer is not None:
                waiter, self.waiter = self.waiter, None
                if self.close_after:
                    self.close()  # the next call reconnects
                if not waiter.done():
                    waiter.set_result(answer)

    # -- the client ----------------------------------------------------------------------
    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        context = ssl.create_default_context() if self.endpoint.tls else None
        self.close()
        self.buffer.clear()
        wire = _Wire(self)
        await loop.create_connection(lambda: wire, self.endpoint.host, self.endpoint.port,
                                     ssl=context)
        self.wire = wire

    def close(self) -> None:
        wire, self.wire = self.wire, None
        if wire is not None and wire.transport is not None:
            wire.transport.close()

    def expire(self, now: float, timeout_s: float) -> None:
        """Called by the worker's watchdog: fail a request older than ``timeout_s``."""
        if self.waiter is not None and now - self.sent_at > timeout_s:
            self._fail(TimeoutError(f"no answer within {timeout_s:g} s"))
            self.close()

    async def call(self, operation: str, body: bytes) -> tuple[int, bytes]:
        """Sends one signed request; returns (HTTP status, body)."""
        if self.wire is None:
            await self.connect()
        transport = self.wire.transport if self.wire is not None else None
        if transport is None:
            raise HttpError("not connected")
        now = time.time()
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        self.sent_at = time.perf_counter()
        transport.write(self.signer.request(operation, body, now))
        return await waiter

    async def call_json(self, operation: str, request: dict[str, Any],
                        timeout_s: float = 30.0) -> dict[str, Any]:
        """For setup: raises ``RuntimeError`` with the error type on a non-200 answer and
        ``TimeoutError`` (dropping the connection) after ``timeout_s``."""
        status, payload = await self.call_bounded(operation, json.dumps(request).encode(),
                                                  timeout_s)
        if status != 200:
            raise RuntimeError(f"{operation}: {error_type(status, payload)}: "
                               f"{payload[:300].decode('utf-8', 'replace')}")
        answer: dict[str, Any] = json.loads(payload) if payload else {}
        return answer

    async def call_bounded(self, operation: str, body: bytes,
                           timeout_s: float) -> tuple[int, bytes]:
        """``call`` with its own timeout (setup and preload; the hot path uses the
        worker's watchdog instead, which costs nothing per request)."""
        try:
            return await asyncio.wait_for(self.call(operation, body), timeout_s)
        except TimeoutError:
            self.close()
            raise

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        self.buffer.clear()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _parse(self) -> tuple[int, bytes] | None:
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEADER_BYTES:
                raise HttpError("response header block too large")
            return None
        head = bytes(buffer[:end]).lower()
        self.close_after = b"\nconnection: close" in head
        try:
            status = int(head[9:12])
        except ValueError as exc:
            raise HttpError(f"bad status line {head[:40]!r}") from exc
        if status < 200:  # 100 Continue and friends: skip the interim answer
            del buffer[:end + 4]
            return self._parse()
        start = end + 4
        at = head.find(b"\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\n", at + 1)
            length = int(head[at + 16:stop if stop > 0 else len(head)])
            if len(buffer) < start + length:
                return None
            payload = bytes(buffer[start:start + length])
            del buffer[:start + length]
            return status, payload
        if b"\ntransfer-encoding:" in head and b"chunked" in head:
            return self._parse_chunked(status, start)
        raise HttpError("response without Content-Length (reading to close is unsupported)")

    def _parse_chunked(self, status: int, start: int) -> tuple[int, bytes] | None:
        buffer = self.buffer
        parts: list[bytes] = []
        at = start
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            try:
                size = int(bytes(buffer[at:line_end]).split(b";", 1)[0], 16)
            except ValueError as exc:
                raise HttpError("bad chunk size") from exc
            if size == 0:
                rest = line_end + 2
                if buffer[rest:rest + 2] == b"\r\n":
                    del buffer[:rest + 2]
                    return status, b"".join(parts)
                trailer_end = buffer.find(b"\r\n\r\n", rest)
                if trailer_end < 0:
                    return None
                del buffer[:trailer_end + 4]
                return status, b"".join(parts)
            data_start = line_end + 2
            if len(buffer) < data_start + size + 2:
                return None
            parts.append(bytes(buffer[data_start:data_start + size]))
            at = data_start + size + 2
