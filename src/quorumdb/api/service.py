"""DynamoDB's wire protocol over HTTP: routing, authentication, JSON, errors.

Theory of operation: ``Service.handle`` is the one entry point for every HTTP request.
It answers ``GET /`` as DynamoDB's health check does, and for ``POST /`` checks, in
DynamoDB's order, the content type, the ``X-Amz-Target`` operation, the SigV4
signature, the (optionally gzip-compressed) JSON body, and then runs the operation's
handler. A handler returns a response dict, or an awaitable of one when it must wait for
a durable commit. Every ``DynamoDBError`` becomes DynamoDB's error JSON; anything else
is our bug and becomes ``InternalServerError`` with the details in our log only.

Every response carries ``x-amzn-RequestId`` and ``x-amz-crc32`` (the SDKs verify the
CRC32 of the body and retry on mismatch).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import itertools
import logging
import os
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from quorumdb.api.http import MAX_BODY_BYTES, PendingResponse, Response
from quorumdb.api.sigv4 import Credentials, SigV4Verifier
from quorumdb.errors import (
    DynamoDBError,
    InternalServerError,
    RequestEntityTooLargeException,
    SerializationException,
    UnknownOperationException,
    ValidationException,
)
from quorumdb.metadata.catalog import Catalog
from quorumdb.model.values import NESTING_MESSAGE

log = logging.getLogger("quorumdb.api")

JSON_10 = "application/x-amz-json-1.0"
JSON_11 = "application/x-amz-json-1.1"
TARGET_PREFIX = "DynamoDB_20120810."

Result = dict[str, Any]
OperationHandler = Callable[["Context", dict[str, Any]], "Result | Deferred | Awaitable[Result]"]


def media_type(headers: dict[str, str]) -> str:
    """The request's Content-Type without parameters, lower-cased (clients send one or
    two values: remembered, up to ``MAX_CACHED_MEDIA_TYPES``)."""
    raw = headers.get("content-type", "")
    known = _MEDIA_TYPES.get(raw)
    if known is None:
        known = raw.split(";", 1)[0].strip().lower()
        if len(_MEDIA_TYPES) < MAX_CACHED_MEDIA_TYPES:
            _MEDIA_TYPES[raw] = known
    return known


MAX_CACHED_MEDIA_TYPES = 64
_MEDIA_TYPES: dict[str, str] = {}


def reply_format(headers: dict[str, str]) -> str:
    """The JSON protocol version an answer (or error) to this request is written in."""
    return JSON_11 if media_type(headers) == JSON_11 else JSON_10


class Deferred:
    """An answer decided now (a result or a DynamoDB error) that may be sent only once
    ``durable`` completes: the common shape of a write waiting for its group commit.

    Handlers return it instead of a coroutine so that a write costs one callback on the
    commit's shared future rather than a Task and two coroutine frames (py-spy: Task
    creation alone was ~10% of the event loop's time under PutItem load). It can still be
    awaited where a coroutine needs the result."""

    __slots__ = ("durable", "error", "result")

    def __init__(self, durable: Awaitable[None], result: Result | None = None,
                 error: DynamoDBError | None = None) -> None:
        self.durable: asyncio.Future[None] = asyncio.ensure_future(durable)
        self.result = result
        self.error = error

    def outcome(self) -> Result:
        """The answer, once ``durable`` is done (raises its failure or the error)."""
        self.durable.result()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def __await__(self) -> Generator[Any, None, Result]:
        yield from self.durable.__await__()
        return self.outcome()

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


@dataclass
class Context:
    """What operation handlers see of the node: the catalog, the region and a clock."""

    catalog: Catalog
    region: str = "us-east-1"
    account_id: str = "000000000000"
    clock: Callable[[], float] = time.time
    options: dict[str, Any] = field(default_factory=dict)

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{name}"


class _RequestIds:
    """52-character request ids like DynamoDB's: a random per-process prefix and a
    counter (unique, cheap, no per-request entropy)."""

    def __init__(self) -> None:
        self.prefix = base64.b32encode(os.urandom(20))[:32]
        self.counter = itertools.count()

    def next(self) -> bytes:
        return b"%s%020d" % (self.prefix, next(self.counter))


class Service:
    def __init__(self, context: Context, operations: dict[str, OperationHandler],
                 credentials: Credentials | None = None) -> None:
        self.context = context
        self.operations = operations
        self.verifier = SigV4Verifier(credentials, None)
        self.request_ids = _RequestIds()
        self.health_body = f"healthy: dynamodb.{context.region}.amazonaws.com ".encode()

    # -- responses ---------------------------------------------------------------------
    def _response(self, status: int, body: bytes, content_type: str = JSON_10) -> Response:
        return (status, [
            (b"x-amzn-RequestId", self.request_ids.next()),
            (b"x-amz-crc32", b"%d" % zlib.crc32(body)),
            (b"Content-Type", content_type.encode()),
        ], body)

    def error_response(self, error: DynamoDBError, content_type: str = JSON_10) -> Response:
        return self._response(error.status, _encoder.encode(error.body()), content_type)

    def too_large(self) -> Response:
        return self.error_response(RequestEntityTooLargeException(
            "Request Entity Too Large"))

    # -- the entry point ---------------------------------------------------------------
    def handle(self, method: str, url: str, headers: dict[str, str],
               body: bytes) -> Response | PendingResponse | Coroutine[Any, Any, Response]:
        if method == "GET" and url.split("?", 1)[0] == "/":
            return (200, [(b"Content-Type", b"text/plain"),
                          (b"x-amzn-RequestId", self.request_ids.next())], self.health_body)
        content_type = media_type(headers)
        reply_type = JSON_11 if content_type == JSON_11 else JSON_10
        try:
            handler = self._route(method, headers, content_type)
            path, _, query = url.partition("?")
            self.verifier.verify(method, path, query, headers, body, self.context.clock())
            request = self._decode(headers, body)
            result = handler(self.context, request)
        except DynamoDBError as error:
            return self.error_response(error, reply_type)
        except Exception:
            log.exception("internal error before the operation completed")
            return self.error_response(InternalServerError("Internal server error"),
                                       reply_type)
        if isinstance(result, dict):
            return self._response(200, _encoder.encode(result), reply_type)
        if isinstance(result, Deferred):
            return _PendingResponse(self, result, reply_type)
        return self._finish(result, reply_type)

    def respond(self, outcome: Callable[[], Result], reply_type: str) -> Response:
        """The response for a completed operation, its errors mapped as ``handle`` does."""
        try:
            result = outcome()
        except DynamoDBError as error:
            return self.error_response(error, reply_type)
        except (Exception, asyncio.CancelledError):  # a cancelled commit is no answer either
            log.exception("internal error while the operation completed")
            return self.error_response(InternalServerError("Internal server error"),
                                       reply_type)
        return self._response(200, _encoder.encode(result), reply_type)

    async def _finish(self, pending: Awaitable[Result], reply_type: str) -> Response:
        future = asyncio.ensure_future(pending)
        try:
            await future
        except (Exception, asyncio.CancelledError):  # respond maps it, from the future
            if not future.done():  # this task itself is being cancelled
                raise
        return self.respond(future.result, reply_type)

    def _route(self, method: str, headers: dict[str, str],
               content_type: str) -> OperationHandler:
        if method != "POST" or content_type not in (JSON_10, JSON_11, "application/json"):
            raise UnknownOperationException("")
        target = headers.get("x-amz-target", "")
        if not target.startswith(TARGET_PREFIX):
            raise UnknownOperationException("")
        operation = target[len(TARGET_PREFIX):]
        handler = self.operations.get(operation)
        if handler is None:
            raise UnknownOperationException("")
        return handler

    def _decode(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding == "gzip":
            try:
                decompressor = zlib.decompressobj(wbits=31)
                body = decompressor.decompress(body, MAX_BODY_BYTES)
                if decompressor.unconsumed_tail:
                    raise RequestEntityTooLargeException("Request Entity Too Large")
            except (zlib.error, gzip.BadGzipFile) as exc:
                raise SerializationException("Invalid gzip request body") from exc
        elif encoding not in ("", "identity", "amz-1.0"):
            raise SerializationException(f"Unsupported Content-Encoding: {encoding}")
        if not body:
            raise SerializationException("Start of structure or map expected")
        try:
            request = _decoder.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise SerializationException("Malformed JSON request body") from exc
        except RecursionError as exc:  # only AttributeValues nest; DynamoDB caps them at 32
            raise ValidationException(NESTING_MESSAGE) from exc
        if not isinstance(request, dict):
            raise SerializationException("Start of structure or map expected")
        return request


class _PendingResponse:
    """What ``HttpProtocol`` waits on for a ``Deferred``: the response exists once the
    commit it waits for is done (the future-like surface the protocol needs, no Task)."""

    __slots__ = ("deferred", "reply_type", "response", "service")

    def __init__(self, service: Service, deferred: Deferred, reply_type: str) -> None:
        self.service = service
        self.deferred = deferred
        self.reply_type = reply_type
        self.response: Response | None = None

    def done(self) -> bool:
        return self.deferred.durable.done()

    def result(self) -> Response:
        if self.response is None:
            self.response = self.service.respond(self.deferred.outcome, self.reply_type)
        return self.response

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self.deferred.durable.add_done_callback(lambda _: callback(self))
