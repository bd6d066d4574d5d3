"""Scan: filters (expression and legacy), paging, Select, parallel segments,
the 1 MB page limit and consumed capacity."""

from __future__ import annotations

from typing import Any

import pytest

from ._helpers import batch_put, expect_error, n, s


@pytest.fixture
def table(ddb: Any, make_table: Any) -> str:
    name: str = make_table()
    batch_put(ddb, name, [{"pk": s(f"item{i:03d}"), "v": n(i), "odd": {"BOOL": i % 2 == 1}}
                          for i in range(60)])
    return name


def all_keys(ddb: Any, table: str, **kwargs: Any) -> list[str]:
    keys: list[str] = []
    while True:
        out = ddb.scan(TableName=table, **kwargs)
        keys += [item["pk"]["S"] for item in out.get("Items", [])]
        if "LastEvaluatedKey" not in out:
            return keys
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def test_scan_all(ddb: Any, table: str) -> None:
    out = ddb.scan(TableName=table)
    assert out["Count"] == 60
    assert out["ScannedCount"] == 60
    assert sorted(i["pk"]["S"] for i in out["Items"]) == [f"item{i:03d}" for i in range(60)]
    assert "LastEvaluatedKey" not in out


def test_scan_empty_table(ddb: Any, make_table: Any) -> None:
    out = ddb.scan(TableName=make_table())
    assert out["Items"] == [] and out["Count"] == 0 and out["ScannedCount"] == 0


def test_scan_paging_visits_each_item_once(ddb: Any, table: str) -> None:
    seen: list[str] = []
    kwargs: dict[str, Any] = {"Limit": 7}
    while True:
        out = ddb.scan(TableName=table, **kwargs)
        assert out["Count"] <= 7
        seen += [item["pk"]["S"] for item in out["Items"]]
        if "LastEvaluatedKey" not in out:
            break
        assert set(out["LastEvaluatedKey"]) == {"pk"}
        assert out["LastEvaluatedKey"]["pk"] == out["Items"][-1]["pk"]
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
    assert len(seen) == 60
    assert len(set(seen)) == 60


def test_scan_order_is_stable(ddb: Any, table: str) -> None:
    first = [i["pk"]["S"] for i in ddb.scan(TableName=table)["Items"]]
    second = [i["pk"]["S"] for i in ddb.scan(TableName=table)["Items"]]
    assert first == second
    assert all_keys(ddb, table, Limit=11) == first


def test_scan_filter_expression(ddb: Any, table: str) -> None:
    out = ddb.scan(TableName=table, FilterExpression="v < :x AND odd = :t",
                   ExpressionAttributeValues={":x": n(10), ":t": {"BOOL": True}})
    assert sorted(int(i["v"]["N"]) for i in out["Items"]) == [1, 3, 5, 7, 9]
    assert out["Count"] == 5
    assert out["ScannedCount"] == 60


def test_scan_filter_on_key_allowed(ddb: Any, table: str) -> None:
    out = ddb.scan(TableName=table, FilterExpression="begins_with(pk, :p)",
                   ExpressionAttributeValues={":p": s("item00")})
    assert sorted(i["pk"]["S"] for i in out["Items"]) == [f"item00{i}" for i in range(10)]


def test_scan_filter_with_limit(ddb: Any, table: str) -> None:
    out = ddb.scan(TableName=table, Limit=10, FilterExpression="v < :zero",
                   ExpressionAttributeValues={":zero": n(0)})
    assert out["Count"] == 0
    assert out["ScannedCount"] == 10
    assert "LastEvaluatedKey" in out


def test_scan_projection(ddb: Any, table: str) -> None:
    out = ddb.scan(TableName=table, ProjectionExpression="v", Limit=3)
    assert all(set(item) == {"v"} for item in out["Items"])


def test_scan_select_count(ddb: Any, table: str) -> None:
    out = ddb.scan(TableName=table, Select="COUNT", FilterExpression="odd = :t",
                   ExpressionAttributeValues={":t": {"BOOL": True}})
    assert "Items" not in out
    assert out["Count"] == 30
    assert out["ScannedCount"] == 60


def test_scan_select_specific_attributes(ddb: Any, table: str) -> None:
    out = ddb.scan(TableName=table, Select="SPECIFIC_ATTRIBUTES", ProjectionExpression="pk")
    assert len(out["Items"]) == 60
    assert all(set(item) == {"pk"} for item in out["Items"])


def test_scan_select_all_attributes(ddb: Any, table: str) -> None:
    out = ddb.scan(TableName=table, Select="ALL_ATTRIBUTES", Limit=1)
    assert set(out["Items"][0]) == {"pk", "v", "odd"}


def test_scan_select_conflicts(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.scan, TableName=table,
                 Select="SPECIFIC_ATTRIBUTES")
    expect_error("ValidationException", raw_ddb.scan, TableName=table,
                 Select="ALL_ATTRIBUTES", ProjectionExpression="v")


@pytest.mark.parametrize("total", [1, 2, 3, 4, 7])
def test_parallel_scan_segments_partition_table(ddb: Any, table: str, total: int) -> None:
    segments = [set(all_keys(ddb, table, Segment=i, TotalSegments=total, Limit=9))
                for i in range(total)]
    union: set[str] = set().union(*segments)
    assert union == {f"item{i:03d}" for i in range(60)}
    assert sum(len(seg) for seg in segments) == 60  # pairwise disjoint


def test_parallel_scan_more_segments_than_items(ddb: Any, make_table: Any) -> None:
    t = make_table()
    batch_put(ddb, t, [{"pk": s(f"k{i}")} for i in range(3)])
    segments = [all_keys(ddb, t, Segment=i, TotalSegments=50) for i in range(50)]
    flat = [k for seg in segments for k in seg]
    assert sorted(flat) == ["k0", "k1", "k2"]


@pytest.mark.parametrize("kwargs", [
    {"Segment": 0},                          # Segment without TotalSegments
    {"TotalSegments": 2},                    # TotalSegments without Segment
    {"Segment": 2, "TotalSegments": 2},      # Segment out of range
    {"Segment": -1, "TotalSegments": 2},
    {"Segment": 0, "TotalSegments": 0},
    {"Segment": 0, "TotalSegments": 1_000_001},
])
def test_parallel_scan_invalid(raw_ddb: Any, table: str, kwargs: dict[str, Any]) -> None:
    expect_error("ValidationException", raw_ddb.scan, TableName=table, **kwargs)


def test_parallel_scan_max_segments_accepted(ddb: Any, table: str) -> None:
    out = ddb.scan(TableName=table, Segment=999_999, TotalSegments=1_000_000)
    assert out["Count"] <= 60


def test_legacy_scan_filter(ddb: Any, table: str) -> None:
    out = ddb.scan(TableName=table, ScanFilter={
        "v": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [n(10), n(12)]}})
    assert sorted(int(i["v"]["N"]) for i in out["Items"]) == [10, 11, 12]
    out = ddb.scan(TableName=table, ConditionalOperator="OR", ScanFilter={
        "v": {"ComparisonOperator": "EQ", "AttributeValueList": [n(1)]},
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [s("item002")]}},
        AttributesToGet=["v"])
    assert sorted(int(i["v"]["N"]) for i in out["Items"]) == [1, 2]
    assert all(set(i) == {"v"} for i in out["Items"])


@pytest.mark.parametrize(("op", "values", "expected"), [
    ("EQ", [n(5)], 1),
    ("NE", [n(5)], 59),
    ("LT", [n(5)], 5),
    ("LE", [n(5)], 6),
    ("GT", [n(55)], 4),
    ("GE", [n(55)], 5),
    ("IN", [n(1), n(2), n(70)], 2),
    ("NOT_NULL", [], 60),
    ("NULL", [], 0),
])
def test_legacy_scan_filter_operators(ddb: Any, table: str, op: str, values: list[Any],
                                      expected: int) -> None:
    cond: dict[str, Any] = {"ComparisonOperator": op}
    if values:
        cond["AttributeValueList"] = values
    out = ddb.scan(TableName=table, ScanFilter={"v": cond}, Select="COUNT")
    assert out["Count"] == expected


def test_legacy_scan_filter_wrong_arity(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.scan, TableName=table, ScanFilter={
        "v": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [n(1)]}})
    expect_error("ValidationException", raw_ddb.scan, TableName=table, ScanFilter={
        "v": {"ComparisonOperator": "EQ", "AttributeValueList": [n(1), n(2)]}})


def test_scan_filter_and_expression_mixed_rejected(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.scan, TableName=table,
                 FilterExpression="v = :v", ExpressionAttributeValues={":v": n(1)},
                 ScanFilter={"v": {"ComparisonOperator": "NOT_NULL"}})


def test_scan_one_megabyte_page_limit(ddb: Any, make_table: Any) -> None:
    t = make_table()
    blob = "x" * (300 * 1024)
    batch_put(ddb, t, [{"pk": s(f"big{i}"), "d": s(blob)} for i in range(5)])
    out = ddb.scan(TableName=t, ProjectionExpression="pk")
    assert "LastEvaluatedKey" in out
    assert 1 <= out["Count"] < 5
    assert sorted(all_keys(ddb, t, ProjectionExpression="pk")) == [f"big{i}" for i in range(5)]


def test_scan_consumed_capacity(ddb: Any, make_table: Any) -> None:
    t = make_table()
    # each item: pk(2+2) + d(1+1500) = 1505 bytes; three = 4515 bytes -> 2 x 4 KB
    batch_put(ddb, t, [{"pk": s(f"k{i}"), "d": s("x" * 1500)} for i in range(3)])
    out = ddb.scan(TableName=t, ReturnConsumedCapacity="TOTAL", ConsistentRead=True)
    assert out["ConsumedCapacity"]["TableName"] == t
    assert out["ConsumedCapacity"]["CapacityUnits"] == 2.0
    out = ddb.scan(TableName=t, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["CapacityUnits"] == 1.0


def test_scan_missing_table(ddb: Any) -> None:
    resp = expect_error("ResourceNotFoundException", ddb.scan, TableName="no-such-table-scan")
    # message verified: real-service answer quoted in aws-samples/chalice-workshop#41
    assert resp["Error"]["Message"] == "Requested resource not found"


@pytest.mark.parametrize("limit", [0, -5])
def test_scan_invalid_limit(raw_ddb: Any, table: str, limit: int) -> None:
    expect_error("ValidationException", raw_ddb.scan, TableName=table, Limit=limit)


def test_scan_invalid_exclusive_start_key(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.scan, TableName=table,
                 ExclusiveStartKey={"wrong": s("x")})
