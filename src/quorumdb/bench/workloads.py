"""The operations of ``quorumdb bench``, their mixes, and how items and keys are laid out.

Data model (every workload, so one preload serves several runs): the table has a string
hash key ``pk`` and a numeric sort key ``sk``. Key number ``k`` is the item
``pk = "user%010d" % (k // group_size)``, ``sk = k``, with a version number ``v`` and
``fields`` string attributes ``field0..`` (YCSB's 10 fields by default) that bring the
item to about ``item_size`` bytes (DynamoDB's size: names plus values). ``group_size``
items share a partition key: 1 for put/get/batch-write (one item per partition), the
``--query-items`` count for ``query`` (a Query returns the whole group), and 1,000 for the
YCSB workloads so that E's range queries (``sk >= start``, ``Limit`` 1..100) have ranges
to read; a range that reaches the end of its group returns fewer items.

Mixes (YCSB core workloads; ``op`` names are YCSB's):

* ``ycsb-a`` read 50% / update 50%, ``ycsb-b`` read 95% / update 5%, ``ycsb-c`` read 100%
  (zipfian by default);
* ``ycsb-d`` read 95% / insert 5%, reads skewed to the latest inserts (``latest``);
* ``ycsb-e`` scan 95% / insert 5%: a Query of ``Limit`` uniform in 1..``scan_max`` from a
  zipfian start key;
* ``ycsb-f`` read 50% / rmw 50%: GetItem (strongly consistent), then UpdateItem of one
  field with ``ConditionExpression #v = :expected`` and ``#v = :expected + 1``; losing the
  race to another client is a ``conflict`` (a valid answer, not an error).

A read is GetItem, an update is UpdateItem ``SET fieldN = :value`` of one field (YCSB's
``writeallfields=false``), an insert is PutItem of a new key. Inserted keys start at
``keys`` and are striped over the client processes (``keys + process + processes * n``),
so processes never insert the same key; ``latest`` reads follow the process's own
inserts (a key another process has not yet written reads as ``not_found``).

Bodies are assembled from pre-encoded byte templates (``%`` formatting of bytes), never
through ``json.dumps``, so a request costs a few microseconds of client CPU.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from typing import Any

from quorumdb.bench.client import Connection, HttpError, error_type
from quorumdb.bench.distributions import KeyChooser, make_chooser

__all__ = ["MIXES", "OK", "Layout", "Workload", "default_distribution", "default_group_size",
           "default_preload"]

MIXES: dict[str, tuple[tuple[str, float], ...]] = {
    "put": (("put", 1.0),),
    "get": (("get", 1.0),),
    "query": (("query", 1.0),),
    "batch-write": (("batch-write", 1.0),),
    "ycsb-a": (("read", 0.5), ("update", 0.5)),
    "ycsb-b": (("read", 0.95), ("update", 0.05)),
    "ycsb-c": (("read", 1.0),),
    "ycsb-d": (("read", 0.95), ("insert", 0.05)),
    "ycsb-e": (("scan", 0.95), ("insert", 0.05)),
    "ycsb-f": (("read", 0.5), ("rmw", 0.5)),
}

YCSB_GROUP_SIZE = 1000
BATCH_WRITE_MAX = 25  # DynamoDB's BatchWriteItem limit

OK = "ok"
NOT_FOUND = "not_found"
CONFLICT = "conflict"


def default_distribution(workload: str) -> str:
    if workload == "ycsb-d":
        return "latest"
    return "zipfian" if workload.startswith("ycsb-") else "uniform"


def default_group_size(workload: str, query_items: int) -> int:
    if workload == "query":
        return query_items
    return YCSB_GROUP_SIZE if workload.startswith("ycsb-") else 1


def default_preload(workload: str) -> bool:
    return workload not in ("put", "batch-write")


def _json_str(text: str) -> bytes:
    return json.dumps(text).encode()


@dataclass(frozen=True)
class Layout:
    table: str
    group_size: int
    item_size: int
    fields: int

    @property
    def field_bytes(self) -> int:
        # pk: 2 + 14, sk: 2 + ~6, v: 1 + ~2, field names: 6 or 7 each.
        overhead = 16 + 8 + 3 + sum(len(f"field{i}") for i in range(self.fields))
        return max(1, (self.item_size - overhead) // max(1, self.fields))


class Workload:
    """One process's generator of operations; ``execute`` runs one on a connection."""

    def __init__(self, name: str, layout: Layout, keys: int, distribution: str,
                 rng: random.Random, process_index: int = 0, processes: int = 1,
                 batch_size: int = BATCH_WRITE_MAX, scan_max: int = 100) -> None:
        self.name = name
        self.layout = layout
        self.keys = keys
        self.rng = rng
        self.random = rng.random
        self.chooser: KeyChooser = make_chooser(distribution, rng)
        self.process_index = process_index
        self.processes = processes
        self.batch_size = max(1, min(batch_size, BATCH_WRITE_MAX, keys))
        self.scan_max = max(1, scan_max)
        self.inserted = 0  # inserts started by this process
        self.latest = keys  # one past the highest key this process knows to exist
        cumulative = 0.0
        mix: list[tuple[float, str]] = []
        for op, share in MIXES[name]:
            cumulative += share
            mix.append((cumulative, op))
        mix[-1] = (2.0, mix[-1][1])  # absorb rounding
        self.mix = tuple(mix)
        self.kinds = tuple(op for op, _ in MIXES[name])
        # Templates.
        table = _json_str(layout.table)
        payload = "".join(random.Random(7).choices(string.ascii_letters + string.digits,
                                                   k=layout.field_bytes))
        self.field_value = _json_str(payload)
        fields = b"".join(b',"field%d":{"S":%s}' % (i, self.field_value)
                          for i in range(layout.fields))
        self.item_template = b'{"pk":{"S":"user%010d"},"sk":{"N":"%d"},"v":{"N":"%d"}' + \
            fields.replace(b"%", b"%%") + b"}"
        self.key_template = b'{"pk":{"S":"user%010d"},"sk":{"N":"%d"}}'
        self.get_template = b'{"TableName":' + table + b',"Key":' + self.key_template + b"}"
        self.get_consistent_template = self.get_template[:-1] + b',"ConsistentRead":true}'
        self.put_prefix = b'{"TableName":' + table + b',"Item":'
        self.query_template = (b'{"TableName":' + table + b',"KeyConditionExpression":'
                               b'"pk = :p","ExpressionAttributeValues":{":p":{"S":"user%010d"}}}')
        self.scan_template = (b'{"TableName":' + table + b',"KeyConditionExpression":'
                              b'"pk = :p AND sk >= :s","ExpressionAttributeValues":'
                              b'{":p":{"S":"user%010d"},":s":{"N":"%d"}},"Limit":%d}')
        self.update_template = (b'{"TableName":' + table + b',"Key":' + self.key_template +
                                b',"UpdateExpression":"SET field%d = :f",'
                                b'"ExpressionAttributeValues":{":f":{"S":' +
                                self.field_value.replace(b"%", b"%%") + b"}}}")
        self.rmw_template = (b'{"TableName":' + table + b',"Key":' + self.key_template +
                             b',"UpdateExpression":"SET field%d = :f, #v = :n",'
                             b'"ConditionExpression":"#v = :e",'
                             b'"ExpressionAttributeNames":{"#v":"v"},'
                             b'"ExpressionAttributeValues":{":f":{"S":' +
                             self.field_value.replace(b"%", b"%%") + b'},":n":{"N":"%d"},'
                             b'":e":{"N":"%d"}}}')
        self.rmw_new_template = (b'{"TableName":' + table + b',"Key":' + self.key_template +
                                 b',"UpdateExpression":"SET field%d = :f, #v = :n",'
                                 b'"ConditionExpression":"attribute_not_exists(#v)",'
                                 b'"ExpressionAttributeNames":{"#v":"v"},'
                                 b'"ExpressionAttributeValues":{":f":{"S":' +
                                 self.field_value.replace(b"%", b"%%") + b'},":n":{"N":"1"}}}')
        self.batch_prefix = b'{"RequestItems":{' + table + b":["
        # Counters beyond latencies (merged by the runner).
        self.items_read = 0
        self.items_written = 0
        self.unprocessed = 0

    # -- pieces ------------------------------------------------------------------------
    def item(self, key: int, version: int = 0) -> bytes:
        return self.item_template % (key // self.layout.group_size, key, version)

    def batch_body(self, keys: list[int]) -> bytes:
        items = b",".join(b'{"PutRequest":{"Item":' + self.item(key) + b"}}" for key in keys)
        return self.batch_prefix + items + b"]}}"

    def choose_op(self) -> str:
        u = self.random()
        for bound, op in self.mix:
            if u < bound:
                return op
        return self.mix[-1][1]

    def _key(self) -> int:
        return self.chooser.next(self.latest)

    def _new_key(self) -> int:
        key = self.keys + self.process_index + self.processes * self.inserted
        self.inserted += 1
        return key

    # -- execution ---------------------------------------------------------------------
    async def execute(self, connection: Connection, op: str) -> str:
        """Runs one operation; returns ``OK``, ``NOT_FOUND``, ``CONFLICT`` or an error type."""
        try:
            return await self._execute(connection, op)
        except TimeoutError:
            connection.close()
            return "Timeout"
        except (HttpError, OSError) as exc:
            connection.close()
            return "HttpError" if isinstance(exc, HttpError) else type(exc).__name__
        except Exception as exc:  # e.g. an unparsable answer: counted, never fatal
            return type(exc).__name__

    async def _execute(self, connection: Connection, op: str) -> str:
        group = self.layout.group_size
        if op in ("get", "read"):
            key = self._key()
            status, payload = await connection.call(
                "GetItem", self.get_template % (key // group, key))
            if status != 200:
                return error_type(status, payload)
            return OK if b'"Item"' in payload else NOT_FOUND
        if op == "update":
            key = self._key()
            body = self.update_template % (key // group, key,
                                           int(self.random() * self.layout.fields))
            status, payload = await connection.call("UpdateItem", body)
            return OK if status == 200 else error_type(status, payload)
        if op in ("put", "insert"):
            key = self._new_key() if op == "insert" else self._key()
            status, payload = await connection.call("PutItem", self.put_prefix + self.item(key)
                                                    + b"}")
            if status != 200:
                return error_type(status, payload)
            self.items_written += 1
            if op == "insert" and key >= self.latest:
                self.latest = key + 1
            return OK
        if op == "query":
            groups = max(1, -(-self.keys // group))
            status, payload = await connection.call(
                "Query", self.query_template % self.chooser.next(groups))
            if status != 200:
                return error_type(status, payload)
            return self._count(payload)
        if op == "scan":
            start = self._key()
            limit = 1 + int(self.random() * self.scan_max)
            status, payload = await connection.call(
                "Query", self.scan_template % (start // group, start, limit))
            if status != 200:
                return error_type(status, payload)
            return self._count(payload)
        if op == "rmw":
            return await self._rmw(connection)
        if op == "batch-write":
            return await self._batch_write(connection)
        raise ValueError(f"unknown operation {op!r}")

    def _count(self, payload: bytes) -> str:
        at = payload.find(b'"Count":')
        if at < 0:
            return "MalformedResponse"
        end = at + 8
        while end < len(payload) and payload[end] in b"0123456789 ":
            end += 1
        count = int(payload[at + 8:end])
        self.items_read += count
        return OK if count else NOT_FOUND

    async def _rmw(self, connection: Connection) -> str:
        group = self.layout.group_size
        key = self._key()
        status, payload = await connection.call(
            "GetItem", self.get_consistent_template % (key // group, key))
        if status != 200:
            return error_type(status, payload)
        field = int(self.random() * self.layout.fields)
        at = payload.find(b'"v":{"N":"')
        if at < 0:
            body = self.rmw_new_template % (key // group, key, field)
        else:
            end = payload.index(b'"', at + 10)
            version = int(payload[at + 10:end])
            body = self.rmw_template % (key // group, key, field, version + 1, version)
        status, payload = await connection.call("UpdateItem", body)
        if status == 200:
            return OK
        kind = error_type(status, payload)
        return CONFLICT if kind == "ConditionalCheckFailedException" else kind

    async def _batch_write(self, connection: Connection) -> str:
        chosen: set[int] = set()
        while len(chosen) < self.batch_size:
            chosen.add(self._key())
        status, payload = await connection.call("BatchWriteItem",
                                                self.batch_body(sorted(chosen)))
        if status != 200:
            return error_type(status, payload)
        unprocessed = 0
        if b'"UnprocessedItems":{}' not in payload:
            answer: dict[str, Any] = json.loads(payload)
            for requests in (answer.get("UnprocessedItems") or {}).values():
                unprocessed += len(requests)
        self.unprocessed += unprocessed
        self.items_written += len(chosen) - unprocessed
        return OK
