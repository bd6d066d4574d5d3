"""BatchGetItem and BatchWriteItem."""

from __future__ import annotations

from typing import Any

import pytest

from ._helpers import batch_put, expect_error, n, s

# message verified: real-service answers quoted in boto/boto3#4131 (BatchGetItem) and
# feast-dev/feast#2483, mirrorfm/core#8 (BatchWriteItem)
DUPLICATES = "Provided list of item keys contains duplicates"


@pytest.fixture
def table(ddb: Any, make_table: Any) -> str:
    name: str = make_table()
    batch_put(ddb, name, [{"pk": s(f"k{i}"), "v": n(i), "w": s("x")} for i in range(150)])
    return name


# --------------------------------------------------------------------------- BatchGetItem


def test_batch_get(ddb: Any, table: str) -> None:
    keys = [{"pk": s(f"k{i}")} for i in (1, 5, 9)] + [{"pk": s("absent")}]
    out = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
    got = sorted(int(i["v"]["N"]) for i in out["Responses"][table])
    assert got == [1, 5, 9]
    assert out["UnprocessedKeys"] == {}


def test_batch_get_100_keys(ddb: Any, table: str) -> None:
    keys = [{"pk": s(f"k{i}")} for i in range(100)]
    out = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
    assert len(out["Responses"][table]) == 100
    assert out["UnprocessedKeys"] == {}


def test_batch_get_too_many_keys(raw_ddb: Any, table: str) -> None:
    keys = [{"pk": s(f"k{i}")} for i in range(101)]
    resp = expect_error("ValidationException", raw_ddb.batch_get_item,
                        RequestItems={table: {"Keys": keys}})
    # message verified: BatchGetItem API Reference ("Too many items requested for the
    # BatchGetItem call"); the trailing period differs between versions of the page
    assert resp["Error"]["Message"].startswith(
        "Too many items requested for the BatchGetItem call")


def test_batch_get_too_many_keys_across_tables(raw_ddb: Any, table: str,
                                              make_table: Any) -> None:
    other = make_table()
    resp = expect_error("ValidationException", raw_ddb.batch_get_item, RequestItems={
        table: {"Keys": [{"pk": s(f"k{i}")} for i in range(60)]},
        other: {"Keys": [{"pk": s(f"k{i}")} for i in range(41)]}})
    assert resp["Error"]["Message"].startswith(
        "Too many items requested for the BatchGetItem call")


def test_batch_get_duplicate_keys(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.batch_get_item, message=DUPLICATES,
                 RequestItems={table: {"Keys": [{"pk": s("k1")}, {"pk": s("k1")}]}})


def test_batch_get_projection(ddb: Any, table: str) -> None:
    out = ddb.batch_get_item(RequestItems={table: {
        "Keys": [{"pk": s("k1")}, {"pk": s("k2")}],
        "ProjectionExpression": "#v", "ExpressionAttributeNames": {"#v": "v"}}})
    assert sorted(out["Responses"][table], key=lambda i: i["v"]["N"]) == [{"v": n(1)},
                                                                          {"v": n(2)}]
    out = ddb.batch_get_item(RequestItems={table: {
        "Keys": [{"pk": s("k3")}], "AttributesToGet": ["pk", "w"]}})
    assert out["Responses"][table] == [{"pk": s("k3"), "w": s("x")}]


def test_batch_get_several_tables(ddb: Any, table: str, make_table: Any) -> None:
    other = make_table(hash_key=("id", "N"))
    ddb.put_item(TableName=other, Item={"id": n(7), "x": s("seven")})
    out = ddb.batch_get_item(RequestItems={
        table: {"Keys": [{"pk": s("k0")}], "ConsistentRead": True},
        other: {"Keys": [{"id": n(7)}, {"id": n(8)}]}})
    assert out["Responses"][table] == [{"pk": s("k0"), "v": n(0), "w": s("x")}]
    assert out["Responses"][other] == [{"id": n(7), "x": s("seven")}]
    assert out["UnprocessedKeys"] == {}


def test_batch_get_consumed_capacity(ddb: Any, table: str, make_table: Any) -> None:
    other = make_table()
    ddb.put_item(TableName=other, Item={"pk": s("a")})
    out = ddb.batch_get_item(RequestItems={
        table: {"Keys": [{"pk": s("k0")}, {"pk": s("k1")}], "ConsistentRead": True},
        other: {"Keys": [{"pk": s("a")}]}}, ReturnConsumedCapacity="TOTAL")
    by_table = {c["TableName"]: c["CapacityUnits"] for c in out["ConsumedCapacity"]}
    assert by_table == {table: 2.0, other: 0.5}


def test_batch_get_missing_table(ddb: Any) -> None:
    expect_error("ResourceNotFoundException", ddb.batch_get_item,
                 RequestItems={"no-such-table-bg": {"Keys": [{"pk": s("a")}]}})


def test_batch_get_wrong_key(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.batch_get_item,
                 RequestItems={table: {"Keys": [{"pk": n(1)}]}})


def test_batch_get_empty_request(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.batch_get_item, RequestItems={})
    expect_error("ValidationException", raw_ddb.batch_get_item,
                 RequestItems={table: {"Keys": []}})


def test_batch_get_large_items_are_paged_via_unprocessed_keys(
        ddb: Any, make_table: Any) -> None:
    t = make_table()
    blob = "x" * (390 * 1024)
    batch_put(ddb, t, [{"pk": s(f"b{i}"), "d": s(blob)} for i in range(45)])  # ~17.6 MB
    request: dict[str, Any] = {t: {"Keys": [{"pk": s(f"b{i}")} for i in range(45)],
                                   "ProjectionExpression": "pk"}}
    seen: list[str] = []
    rounds = 0
    while request:
        out = ddb.batch_get_item(RequestItems=request)
        rounds += 1
        seen += [i["pk"]["S"] for i in out["Responses"].get(t, [])]
        request = out["UnprocessedKeys"]
        assert rounds < 20
    assert sorted(seen) == sorted(f"b{i}" for i in range(45))
    assert len(seen) == 45


# --------------------------------------------------------------------------- BatchWriteItem


def test_batch_write_put_and_delete(ddb: Any, table: str) -> None:
    out = ddb.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": {"pk": s("new1"), "v": n(1)}}},
        {"PutRequest": {"Item": {"pk": s("k0"), "v": n(100)}}},
        {"DeleteRequest": {"Key": {"pk": s("k1")}}},
        {"DeleteRequest": {"Key": {"pk": s("absent")}}},
    ]})
    assert out["UnprocessedItems"] == {}
    get = ddb.batch_get_item(RequestItems={table: {"Keys": [
        {"pk": s("new1")}, {"pk": s("k0")}, {"pk": s("k1")}], "ConsistentRead": True}})
    got = {i["pk"]["S"]: i["v"]["N"] for i in get["Responses"][table]}
    assert got == {"new1": "1", "k0": "100"}


def test_batch_write_25_requests(ddb: Any, make_table: Any) -> None:
    t = make_table()
    out = ddb.batch_write_item(RequestItems={t: [
        {"PutRequest": {"Item": {"pk": s(f"p{i}")}}} for i in range(25)]})
    assert out["UnprocessedItems"] == {}
    assert ddb.scan(TableName=t, Select="COUNT")["Count"] == 25


def test_batch_write_too_many_requests(raw_ddb: Any, ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.batch_write_item, RequestItems={t: [
        {"PutRequest": {"Item": {"pk": s(f"p{i}")}}} for i in range(26)]})
    assert ddb.scan(TableName=t, Select="COUNT")["Count"] == 0


def test_batch_write_too_many_across_tables(raw_ddb: Any, make_table: Any) -> None:
    a, b = make_table(), make_table()
    expect_error("ValidationException", raw_ddb.batch_write_item, RequestItems={
        a: [{"PutRequest": {"Item": {"pk": s(f"p{i}")}}} for i in range(13)],
        b: [{"PutRequest": {"Item": {"pk": s(f"p{i}")}}} for i in range(13)]})


def test_batch_write_duplicate_keys(raw_ddb: Any, ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.batch_write_item, message=DUPLICATES,
                 RequestItems={t: [{"PutRequest": {"Item": {"pk": s("a"), "v": n(1)}}},
                                   {"PutRequest": {"Item": {"pk": s("a"), "v": n(2)}}}]})
    expect_error("ValidationException", raw_ddb.batch_write_item, message=DUPLICATES,
                 RequestItems={t: [{"PutRequest": {"Item": {"pk": s("a")}}},
                                   {"DeleteRequest": {"Key": {"pk": s("a")}}}]})
    assert ddb.scan(TableName=t, Select="COUNT")["Count"] == 0


def test_batch_write_same_key_in_two_tables_allowed(ddb: Any, make_table: Any) -> None:
    a, b = make_table(), make_table()
    out = ddb.batch_write_item(RequestItems={
        a: [{"PutRequest": {"Item": {"pk": s("same")}}}],
        b: [{"PutRequest": {"Item": {"pk": s("same")}}}]})
    assert out["UnprocessedItems"] == {}
    assert "Item" in ddb.get_item(TableName=a, Key={"pk": s("same")})
    assert "Item" in ddb.get_item(TableName=b, Key={"pk": s("same")})


def test_batch_write_invalid_item_rejects_whole_batch(raw_ddb: Any, ddb: Any,
                                                       make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.batch_write_item, RequestItems={t: [
        {"PutRequest": {"Item": {"pk": s("good")}}},
        {"PutRequest": {"Item": {"nokey": s("bad")}}}]})
    assert "Item" not in ddb.get_item(TableName=t, Key={"pk": s("good")})


def test_batch_write_item_too_large(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.batch_write_item, RequestItems={t: [
        {"PutRequest": {"Item": {"pk": s("big"), "d": s("x" * (400 * 1024))}}}]})


def test_batch_write_request_shape_errors(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    for bad in ({}, {"PutRequest": {"Item": {"pk": s("a")}},
                     "DeleteRequest": {"Key": {"pk": s("b")}}}):
        expect_error("ValidationException", raw_ddb.batch_write_item, RequestItems={t: [bad]})
    expect_error("ValidationException", raw_ddb.batch_write_item, RequestItems={})
    expect_error("ValidationException", raw_ddb.batch_write_item, RequestItems={t: []})


def test_batch_write_missing_table(ddb: Any) -> None:
    expect_error("ResourceNotFoundException", ddb.batch_write_item, RequestItems={
        "no-such-table-bw": [{"PutRequest": {"Item": {"pk": s("a")}}}]})


def test_batch_write_consumed_capacity(ddb: Any, make_table: Any) -> None:
    t = make_table()
    out = ddb.batch_write_item(RequestItems={t: [
        {"PutRequest": {"Item": {"pk": s("a"), "d": s("x" * 1500)}}},   # 2 units
        {"PutRequest": {"Item": {"pk": s("b")}}},                        # 1 unit
    ]}, ReturnConsumedCapacity="TOTAL")
    assert len(out["ConsumedCapacity"]) == 1
    assert out["ConsumedCapacity"][0]["TableName"] == t
    assert out["ConsumedCapacity"][0]["CapacityUnits"] == 3.0
