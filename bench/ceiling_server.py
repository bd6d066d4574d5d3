"""The ceiling: a DynamoDB endpoint that does no work, on quorumdb's own HTTP stack.

It runs the same stack as ``quorumdb serve`` (asyncio on uvloop, httptools through
``quorumdb.api.http.HttpProtocol``) and answers every request with a fixed, valid
DynamoDB response chosen by the ``X-Amz-Target`` operation, with the ``x-amzn-RequestId``
and ``x-amz-crc32`` headers the SDKs expect. It parses no JSON, checks no signature and
stores nothing, so a benchmark against it measures what the client and the HTTP stack
alone allow on this machine: the ceiling row of ``bench/compare.py``'s table.

Fixed answers: ``{}`` for PutItem (and anything unknown), one item of ``--item-size``
bytes (shaped like ``quorumdb bench``'s items) for GetItem, ``--query-items`` such items
for Query and Scan, ``{"UnprocessedItems": {}}`` for BatchWriteItem, and an ACTIVE table
for DescribeTable and CreateTable so that the benchmark's setup passes.

    python bench/ceiling_server.py --port 8100 [--host 127.0.0.1]

Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import signal
import sys
import time
import zlib
from typing import Any

import uvloop

from quorumdb.api.http import HttpProtocol, Response

JSON_10 = b"application/x-amz-json-1.0"
TARGET_PREFIX = "DynamoDB_20120810."


def _item(size: int) -> dict[str, Any]:
    """One item like ``quorumdb bench`` writes: about ``size`` bytes of attribute data."""
    return {"pk": {"S": "user0000000000"}, "sk": {"N": "0"},
            "data": {"S": "x" * max(0, size - 40)}}


def _table(name: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "TableStatus": "ACTIVE",
        "TableArn": f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}",
        "TableId": "00000000-0000-0000-0000-000000000000",
        "CreationDateTime": time.time(),
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                      {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0,
                                  "NumberOfDecreasesToday": 0},
        "ItemCount": 0,
        "TableSizeBytes": 0,
    }


def fixed_bodies(item_size: int, query_items: int, table: str) -> dict[str, bytes]:
    """The answer body for each operation (``""`` is the default for anything else)."""
    items = [_item(item_size) for _ in range(query_items)]
    answers: dict[str, Any] = {
        "": {},
        "PutItem": {},
        "UpdateItem": {},
        "DeleteItem": {},
        "GetItem": {"Item": _item(item_size)},
        "Query": {"Items": items, "Count": len(items), "ScannedCount": len(items)},
        "Scan": {"Items": items, "Count": len(items), "ScannedCount": len(items)},
        "BatchWriteItem": {"UnprocessedItems": {}},
        "BatchGetItem": {"Responses": {table: [_item(item_size)]}, "UnprocessedKeys": {}},
        "DescribeTable": {"Table": _table(table)},
        "CreateTable": {"TableDescription": _table(table)},
        "ListTables": {"TableNames": [table]},
    }
    return {name: json.dumps(body, separators=(",", ":")).encode()
            for name, body in answers.items()}


class CeilingService:
    """The handler ``HttpProtocol`` calls: a dictionary lookup and three headers."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        # crc32 of a fixed body is fixed too: computed once, as a real server cannot.
        self.answers = {name: (body, b"%d" % zlib.crc32(body)) for name, body in bodies.items()}
        self.default = self.answers[""]
        self.prefix = base64.b32encode(os.urandom(20)).decode()[:32]
        self.counter = itertools.count()

    def _request_id(self) -> bytes:
        return f"{self.prefix}{next(self.counter):020d}".encode()

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Response:
        if method == "GET":
            return (200, [(b"Content-Type", b"text/plain"),
                          (b"x-amzn-RequestId", self._request_id())], b"healthy: ceiling ")
        target = headers.get("x-amz-target", "")
        operation = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
        answer, crc = self.answers.get(operation, self.default)
        return (200, [(b"x-amzn-RequestId", self._request_id()), (b"x-amz-crc32", crc),
                      (b"Content-Type", JSON_10)], answer)

    def too_large(self) -> Response:
        body = (b'{"__type":"com.amazonaws.dynamodb.v20120810#RequestEntityTooLarge",'
                b'"message":"Request Entity Too Large"}')
        return (413, [(b"x-amzn-RequestId", self._request_id()),
                      (b"x-amz-crc32", b"%d" % zlib.crc32(body)),
                      (b"Content-Type", JSON_10)], body)


async def serve(host: str, port: int, service: CeilingService) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(service.handle, service.too_large),
                                      host, port, reuse_address=True, backlog=1024)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"ceiling serving on http://{host}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--item-size", type=int, default=1024,
                        help="bytes of the fixed GetItem/Query items (default 1024)")
    parser.add_argument("--query-items", type=int, default=10,
                        help="items in the fixed Query answer (default 10)")
    parser.add_argument("--table", default="bench", help="table name in fixed answers")
    args = parser.parse_args(argv)
    service = CeilingService(fixed_bodies(args.item_size, args.query_items, args.table))
    uvloop.run(serve(args.host, args.port, service))
    return 0


if __name__ == "__main__":
    sys.exit(main())
