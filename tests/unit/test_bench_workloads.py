"""The bench's workloads: operation mixes, request bodies, item sizes, F's condition."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from typing import Any

import pytest

from quorumdb.bench.workloads import (
    CONFLICT,
    MIXES,
    NOT_FOUND,
    OK,
    Layout,
    Workload,
    default_distribution,
    default_group_size,
    default_preload,
)
from quorumdb.model.size import item_size

LAYOUT = Layout("bench-g1000", 1000, 1024, 10)


class FakeConnection:
    """Records (operation, decoded body) and answers from a script."""

    def __init__(self, answers: dict[str, tuple[int, bytes]] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answers = answers or {}

    async def call(self, operation: str, body: bytes) -> tuple[int, bytes]:
        self.calls.append((operation, json.loads(body)))
        return self.answers.get(operation, (200, b'{"Count":3,"UnprocessedItems":{}}'))

    def close(self) -> None:
        pass


def run_op(workload: Workload, op: str, connection: FakeConnection) -> str:
    return asyncio.run(workload.execute(connection, op))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(MIXES))
def test_mix_fractions_within_tolerance(name: str) -> None:
    workload = Workload(name, LAYOUT, 10_000, "uniform", random.Random(11))
    draws = 100_000
    counts = Counter(workload.choose_op() for _ in range(draws))
    expected = dict(MIXES[name])
    assert set(counts) == set(expected)
    for op, share in expected.items():
        assert abs(counts[op] / draws - share) < 0.01, (op, counts[op] / draws, share)


def test_ycsb_mixes_are_the_core_workloads() -> None:
    assert dict(MIXES["ycsb-a"]) == {"read": 0.5, "update": 0.5}
    assert dict(MIXES["ycsb-b"]) == {"read": 0.95, "update": 0.05}
    assert dict(MIXES["ycsb-c"]) == {"read": 1.0}
    assert dict(MIXES["ycsb-d"]) == {"read": 0.95, "insert": 0.05}
    assert dict(MIXES["ycsb-e"]) == {"scan": 0.95, "insert": 0.05}
    assert dict(MIXES["ycsb-f"]) == {"read": 0.5, "rmw": 0.5}
    assert default_distribution("ycsb-d") == "latest"
    assert default_distribution("ycsb-a") == "zipfian"
    assert default_distribution("get") == "uniform"
    assert default_group_size("query", 10) == 10 and default_group_size("get", 10) == 1
    assert default_preload("get") and not default_preload("put")


@pytest.mark.parametrize("size", [100, 1024, 4000])
def test_items_are_about_item_size_bytes(size: int) -> None:
    workload = Workload("put", Layout("t", 1, size, 10), 1000, "uniform", random.Random(1))
    item = json.loads(workload.item(123_456, 7))
    assert item["pk"] == {"S": "user0000123456"} and item["sk"] == {"N": "123456"}
    assert item["v"] == {"N": "7"}
    assert abs(item_size(item) - size) <= max(12, size // 50)


def test_key_layout_groups_items_under_a_partition_key() -> None:
    workload = Workload("get", LAYOUT, 5000, "uniform", random.Random(1))
    item = json.loads(workload.item(2345))
    assert item["pk"] == {"S": "user0000000002"} and item["sk"] == {"N": "2345"}


def test_bodies_of_every_operation_are_valid_dynamodb_requests() -> None:
    workload = Workload("ycsb-e", LAYOUT, 5000, "zipfian", random.Random(3))
    connection = FakeConnection()
    for op in ("get", "read", "update", "put", "query", "scan", "batch-write", "insert"):
        run_op(workload, op, connection)
    operations = [operation for operation, _ in connection.calls]
    assert operations == ["GetItem", "GetItem", "UpdateItem", "PutItem", "Query", "Query",
                          "BatchWriteItem", "PutItem"]
    bodies = dict(zip(("get", "read", "update", "put", "query", "scan", "batch", "insert"),
                      (body for _, body in connection.calls)))
    for body in bodies.values():
        if "TableName" in body:
            assert body["TableName"] == "bench-g1000"
    assert bodies["update"]["UpdateExpression"].startswith("SET field")
    scan = bodies["scan"]
    assert scan["KeyConditionExpression"] == "pk = :p AND sk >= :s"
    assert 1 <= scan["Limit"] <= 100
    start = int(scan["ExpressionAttributeValues"][":s"]["N"])
    assert scan["ExpressionAttributeValues"][":p"]["S"] == f"user{start // 1000:010d}"
    writes = bodies["batch"]["RequestItems"]["bench-g1000"]
    keys = [w["PutRequest"]["Item"]["sk"]["N"] for w in writes]
    assert len(keys) == 25 and len(set(keys)) == 25  # distinct: DynamoDB refuses duplicates
    # Inserts take new keys beyond the preloaded ones.
    assert int(bodies["insert"]["Item"]["sk"]["N"]) >= 5000


def test_inserts_are_striped_over_processes_and_move_latest() -> None:
    seen = set()
    for process in range(3):
        workload = Workload("ycsb-d", LAYOUT, 100, "latest", random.Random(1), process, 3)
        connection = FakeConnection()
        for _ in range(4):
            run_op(workload, "insert", connection)
        keys = [int(body["Item"]["sk"]["N"]) for _, body in connection.calls]
        assert keys == [100 + process + 3 * i for i in range(4)]
        assert workload.latest == keys[-1] + 1
        seen.update(keys)
    assert len(seen) == 12


def test_rmw_reads_the_version_and_updates_conditionally() -> None:
    workload = Workload("ycsb-f", LAYOUT, 10, "uniform", random.Random(1))
    connection = FakeConnection({"GetItem": (200, b'{"Item":{"v":{"N":"41"}}}'),
                                 "UpdateItem": (200, b"{}")})
    assert run_op(workload, "rmw", connection) == OK
    (get_op, get_body), (update_op, update_body) = connection.calls
    assert get_op == "GetItem" and get_body["ConsistentRead"] is True
    assert update_op == "UpdateItem"
    assert update_body["Key"] == get_body["Key"]
    assert update_body["ConditionExpression"] == "#v = :e"
    assert update_body["ExpressionAttributeValues"][":e"] == {"N": "41"}
    assert update_body["ExpressionAttributeValues"][":n"] == {"N": "42"}


def test_rmw_of_a_missing_item_and_a_lost_race() -> None:
    workload = Workload("ycsb-f", LAYOUT, 10, "uniform", random.Random(1))
    lost = (400, b'{"__type":"com.amazonaws.dynamodb.v20120810#'
                 b'ConditionalCheckFailedException","message":"The conditional request failed"}')
    connection = FakeConnection({"GetItem": (200, b"{}"), "UpdateItem": lost})
    assert run_op(workload, "rmw", connection) == CONFLICT
    assert connection.calls[1][1]["ConditionExpression"] == "attribute_not_exists(#v)"


def test_outcomes_not_found_and_error_types() -> None:
    workload = Workload("get", LAYOUT, 10, "uniform", random.Random(1))
    assert run_op(workload, "get", FakeConnection({"GetItem": (200, b"{}")})) == NOT_FOUND
    throttled = (400, b'{"__type":"com.amazonaws.dynamodb.v20120810#'
                      b'ProvisionedThroughputExceededException","message":"slow down"}')
    assert run_op(workload, "get", FakeConnection({"GetItem": throttled})) == \
        "ProvisionedThroughputExceededException"
    assert run_op(workload, "get", FakeConnection({"GetItem": (500, b"oops")})) == "HTTP 500"
    assert run_op(workload, "query", FakeConnection({"Query": (200, b'{"Count":0,"Items":[]}')})) \
        == NOT_FOUND


def test_batch_write_counts_unprocessed_items() -> None:
    workload = Workload("batch-write", Layout("t", 1, 100, 1), 1000, "uniform",
                        random.Random(1))
    answer = json.dumps({"UnprocessedItems": {"t": [{"PutRequest": {"Item": {}}}] * 3}})
    assert run_op(workload, "batch-write", FakeConnection(
        {"BatchWriteItem": (200, answer.encode())})) == OK
    assert workload.unprocessed == 3 and workload.items_written == 22
