"""The table catalog: the source of truth for tables on this deployment.

Theory of operation: a ``TableRecord`` (a frozen msgspec struct, the value stored) says
everything DescribeTable reports that is not derived from data: key schema, attribute
definitions, billing, throughput, tags, streams, timestamps. Records live in the storage
engine's meta database (``table/<name>``) and in memory; every change is written through
synchronously and durably before it is acknowledged (control-plane operations are rare).

Status transitions are computed, not scheduled: a record stores when it enters its
current transitional state and ``status(now)`` reports ACTIVE once the configured delay
has passed. There are no timers to lose on a crash, and boto3's waiters see the sequence
DynamoDB shows (CREATING → ACTIVE, UPDATING → ACTIVE, DELETING → gone).

This module is the single-node metadata service; the cluster issue moves the same
records into a replicated system partition.
"""

from __future__ import annotations

import msgspec

from quorumdb.model.keys import KeySchema
from quorumdb.storage.host import PartitionHost, PartitionLike

MAX_TABLES = 2500  # DynamoDB's default per-region table quota


class Throughput(msgspec.Struct, frozen=True):
    read: int = 0
    write: int = 0
    last_increase: float | None = None
    last_decrease: float | None = None
    decreases_today: int = 0


class TableRecord(msgspec.Struct, frozen=True):
    name: str
    table_id: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    billing_mode: str
    throughput: Throughput
    created_at: float
    partition: str
    status: str = "ACTIVE"  # the state entered at ``status_since``
    status_since: float = 0.0
    billing_mode_updated_at: float | None = None
    tags: list[dict[str, str]] = []
    deletion_protection: bool = False
    table_class: str = "STANDARD"
    stream_spec: dict[str, object] | None = None
    stream_label: str | None = None
    on_demand_throughput: dict[str, int] | None = None
    warm_throughput: dict[str, int] | None = None

    @property
    def schema(self) -> KeySchema:
        types = {d["AttributeName"]: d["AttributeType"] for d in self.attribute_definitions}
        hash_name = next(k["AttributeName"] for k in self.key_schema if k["KeyType"] == "HASH")
        range_name = next(
            (k["AttributeName"] for k in self.key_schema if k["KeyType"] == "RANGE"), None
        )
        return KeySchema(
            hash_name, types[hash_name], range_name,
            types[range_name] if range_name is not None else None,
        )


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(TableRecord)


class Table:
    """A table as the data plane sees it: its record, its key schema, its partition."""

    __slots__ = ("partition", "record", "schema")

    def __init__(self, record: TableRecord, partition: PartitionLike) -> None:
        self.record = record
        self.schema = record.schema
        self.partition = partition


GENERATION_KEY = b"catalog/generation"


class Catalog:
    """The tables of a node, from the records in its meta database. Every change bumps a
    generation counter stored beside them, so that front-end workers, which read the same
    LMDB from other processes, know when to load the records again."""

    def __init__(self, engine: PartitionHost, transition_delay_s: float = 0.0) -> None:
        self.engine = engine
        self.transition_delay_s = transition_delay_s
        self.tables: dict[str, Table] = {}
        raw_generation = engine.meta_get(GENERATION_KEY)
        self.generation = int(raw_generation) if raw_generation else 0
        for _, raw in engine.meta_items(b"table/"):
            record = _DECODER.decode(raw)
            self.tables[record.name] = Table(record, engine.open_partition(record.partition))

    def get(self, name: str) -> Table | None:
        return self.tables.get(name)

    def status(self, record: TableRecord, now: float) -> str:
        if record.status in ("CREATING", "UPDATING") and (
            now - record.status_since >= self.transition_delay_s
        ):
            table = self.tables.get(record.name)
            if record.status == "CREATING" and table is not None and not table.partition.ready():
                return "CREATING"  # its replication group has no leader yet
            return "ACTIVE"
        return record.status

    def _changed(self) -> None:
        self.generation += 1
        self.engine.meta_put(GENERATION_KEY, b"%d" % self.generation)

    def put(self, record: TableRecord) -> Table:
        self.engine.meta_put(b"table/" + record.name.encode(), _ENCODER.encode(record))
        self._changed()
        table = self.tables.get(record.name)
        if table is None or table.record.partition != record.partition:
            table = Table(record, self.engine.open_partition(record.partition))
            self.tables[record.name] = table
        else:
            table.record = record
        return table

    def delete(self, name: str) -> None:
        table = self.tables.pop(name)
        self.engine.meta_put(b"table/" + name.encode(), None)
        self.engine.drop_partition(table.record.partition)
        self._changed()
