"""The bench's HTTP client: its fast signer equals sign_request; answers are parsed
whatever their framing or fragmentation; a hung request times out."""

from __future__ import annotations

import asyncio
import time

import pytest

from quorumdb.api.sigv4 import sign_request
from quorumdb.bench.client import Connection, Endpoint, HttpError, Signer, error_type


@pytest.mark.parametrize("token", [None, "session-token-xyz"])
@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "https://dynamodb.eu-west-1.amazonaws.com"])
def test_signer_matches_sign_request(url: str, token: str | None) -> None:
    endpoint = Endpoint(url)
    signer = Signer(endpoint, "AKIDEXAMPLE", "secret/key+", "eu-west-1", token)
    now = time.time()
    for operation, body in (("GetItem", b'{"TableName":"t"}'), ("PutItem", b"x" * 2000),
                            ("GetItem", b"{}")):
        target = f"DynamoDB_20120810.{operation}"
        expected = sign_request("POST", endpoint.host_header, "/", body, "AKIDEXAMPLE",
                                "secret/key+", "eu-west-1", now, token,
                                headers={"content-type": "application/x-amz-json-1.0",
                                         "x-amz-target": target})
        assert signer.headers(operation, body, now) == expected
        request = signer.request(operation, body, now)
        assert expected["authorization"].encode() in request
        assert f"X-Amz-Target: {target}".encode() in request
        assert request.endswith(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    # A new second (and a new day) re-derives the date parts.
    later = now + 86_400
    assert signer.headers("GetItem", b"{}", later)["x-amz-date"] != \
        signer.headers("GetItem", b"{}", now)["x-amz-date"]


def test_error_type_reads_dynamodb_error_names() -> None:
    body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"}'
    assert error_type(400, body) == "ResourceNotFoundException"
    assert error_type(503, b"<html>") == "HTTP 503"
    assert error_type(400, b'{"message":"x"}') == "HTTP 400"


BODY = b'{"Item":{"pk":{"S":"a"}}}'
CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\n" + BODY[:5] + b"\r\n" + (b"%x\r\n" % (len(BODY) - 5)) + BODY[5:] +
           b"\r\n0\r\n\r\n")
LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Other: 1\r\n\r\n" % len(BODY) + BODY
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n" + LENGTH
ERROR = (b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}")


class ScriptServer:
    """Answers the k-th request with answers[k], written in ``pieces`` fragments; then
    either hangs (``close_after=False``) or closes the connection."""

    def __init__(self, answers: list[bytes], pieces: int = 1, close_after: bool = False) -> None:
        self.answers = answers
        self.pieces = pieces
        self.close_after = close_after
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            for answer in self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                step = max(1, len(answer) // self.pieces)
                for at in range(0, len(answer), step):
                    writer.write(answer[at:at + step])
                    await writer.drain()
                    await asyncio.sleep(0.001)
            if not self.close_after:
                await reader.read()  # until the client goes away
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Endpoint:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return Endpoint(f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}")

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("pieces", [1, 7, 1000])
def test_answers_are_parsed_whatever_the_framing(pieces: int) -> None:
    async def main() -> None:
        async with ScriptServer([LENGTH, CHUNKED, CONTINUE, ERROR, LENGTH], pieces) as endpoint:
            connection = Connection(endpoint, Signer(endpoint, "a", "b", "us-east-1"))
            try:
                assert await connection.call("GetItem", b"{}") == (200, BODY)
                assert await connection.call("GetItem", b"{}") == (200, BODY)
                assert await connection.call("GetItem", b"{}") == (200, BODY)
                assert await connection.call("GetItem", b"{}") == (400, b"{}")
                assert await connection.call("GetItem", b'{"x":1}') == (200, BODY)
            finally:
                connection.close()

    asyncio.run(main())


def test_a_request_without_answer_expires() -> None:
    async def main() -> None:
        async with ScriptServer([]) as endpoint:
            connection = Connection(endpoint, Signer(endpoint, "a", "b", "us-east-1"))
            call = asyncio.ensure_future(connection.call("GetItem", b"{}"))
            await asyncio.sleep(0.05)
            connection.expire(time.perf_counter(), 10.0)
            assert not call.done()
            connection.expire(time.perf_counter() + 11.0, 10.0)
            with pytest.raises(TimeoutError):
                await call
            assert connection.wire is None

    asyncio.run(main())


def test_a_connection_closed_mid_answer_fails_the_call_and_reconnects() -> None:
    async def main() -> None:
        async with ScriptServer([b"HTTP/1.1 200 OK\r\nContent-Le"], close_after=True) as endpoint:
            connection = Connection(endpoint, Signer(endpoint, "a", "b", "us-east-1"))
            with pytest.raises(HttpError):
                await asyncio.wait_for(connection.call("GetItem", b"{}"), 5)
            assert connection.wire is None
            # The next call opens a new connection (which this server answers by closing).
            with pytest.raises(HttpError):
                await asyncio.wait_for(connection.call("GetItem", b"{}"), 5)
            connection.close()

    asyncio.run(main())


def test_payload_hash_is_of_the_body() -> None:
    endpoint = Endpoint("http://localhost:8000")
    signer = Signer(endpoint, "a", "b", "us-east-1")
    now = time.time()
    assert signer.signature("GetItem", b"{}", now) != signer.signature("GetItem", b"[]", now)
