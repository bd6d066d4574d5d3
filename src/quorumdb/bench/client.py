"""A minimal keep-alive HTTP/1.1 client for signed DynamoDB requests (benchmark only).

It speaks just enough HTTP for DynamoDB answers (Content-Length bodies) and signs each
request with the cached-signing-key signer, so a request costs a few microseconds of
client CPU."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

from quorumdb.api.sigv4 import sign_request


class DynamoConnection:
    def __init__(self, endpoint: str, region: str = "us-east-1",
                 access_key: str = "bench", secret_key: str = "bench") -> None:
        parts = urlsplit(endpoint)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.host_header = parts.netloc
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def encode(self, operation: str, body: bytes) -> bytes:
        target = f"DynamoDB_20120810.{operation}"
        headers = {"content-type": "application/x-amz-json-1.0", "x-amz-target": target}
        signed = sign_request("POST", self.host_header, "/", body, self.access_key,
                              self.secret_key, self.region, time.time(), headers=headers)
        lines = [f"POST / HTTP/1.1\r\nHost: {self.host_header}\r\n"
                 f"Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: {target}\r\n"
                 f"X-Amz-Date: {signed['x-amz-date']}\r\n"
                 f"Authorization: {signed['authorization']}\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n"]
        return lines[0].encode() + body

    async def call_raw(self, operation: str, body: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(self.encode(operation, body))
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed by server")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    async def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        status, payload = await self.call_raw(operation, json.dumps(request).encode())
        answer: dict[str, Any] = json.loads(payload) if payload else {}
        if status != 200:
            raise RuntimeError(f"{operation} failed with {status}: {answer}")
        return answer
