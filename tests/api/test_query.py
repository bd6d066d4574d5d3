"""Query: key conditions (expression and legacy), filters, ordering, paging, Select,
the 1 MB page limit and consumed capacity."""

from __future__ import annotations

from typing import Any

import pytest

from ._helpers import batch_put, expect_error, n, s


@pytest.fixture
def numeric(ddb: Any, make_table: Any) -> str:
    """pk 'a' with sk 0..19 (N), pk 'b' with sk 0..4; attribute v = sk % 3."""
    name: str = make_table(range_key=("sk", "N"))
    items = [{"pk": s("a"), "sk": n(i), "v": n(i % 3)} for i in range(20)]
    items += [{"pk": s("b"), "sk": n(i), "v": n(i)} for i in range(5)]
    items.append({"pk": s("a"), "sk": n("-1.5"), "v": n(9)})
    batch_put(ddb, name, items)
    return name


@pytest.fixture
def strings(ddb: Any, make_table: Any) -> str:
    name: str = make_table(range_key=("sk", "S"))
    sks = ["apple", "apricot", "banana", "Zebra", "a", "ap", "b", "cherry", "appz"]
    batch_put(ddb, name, [{"pk": s("p"), "sk": s(x)} for x in sks])
    return name


def query(ddb: Any, table: str, kce: str, values: dict[str, Any], **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = ddb.query(TableName=table, KeyConditionExpression=kce,
                                    ExpressionAttributeValues=values, **kw)
    return out


def sks(out: dict[str, Any], tag: str = "N") -> list[Any]:
    if tag == "N":
        return [float(item["sk"]["N"]) for item in out["Items"]]
    return [item["sk"][tag] for item in out["Items"]]


def test_query_partition_only(ddb: Any, numeric: str) -> None:
    out = query(ddb, numeric, "pk = :p", {":p": s("a")})
    assert sks(out) == [-1.5, *range(20)]
    assert out["Count"] == 21
    assert out["ScannedCount"] == 21
    assert "LastEvaluatedKey" not in out


def test_query_missing_partition(ddb: Any, numeric: str) -> None:
    out = query(ddb, numeric, "pk = :p", {":p": s("zzz")})
    assert out["Items"] == [] and out["Count"] == 0 and out["ScannedCount"] == 0


@pytest.mark.parametrize(("cond", "values", "expected"), [
    ("sk = :x", {":x": n(5)}, [5]),
    ("sk < :x", {":x": n(2)}, [-1.5, 0, 1]),
    ("sk <= :x", {":x": n(1)}, [-1.5, 0, 1]),
    ("sk > :x", {":x": n(17)}, [18, 19]),
    ("sk >= :x", {":x": n(18)}, [18, 19]),
    ("sk BETWEEN :x AND :y", {":x": n(3), ":y": n(6)}, [3, 4, 5, 6]),
    ("sk BETWEEN :x AND :y", {":x": n("-2"), ":y": n("0.5")}, [-1.5, 0]),
    ("sk > :x", {":x": n(100)}, []),
])
def test_sort_key_operators_numeric(ddb: Any, numeric: str, cond: str,
                                    values: dict[str, Any], expected: list[float]) -> None:
    out = query(ddb, numeric, f"pk = :p AND {cond}", {":p": s("a"), **values})
    assert sks(out) == expected


def test_key_condition_order_reversed_and_parentheses(ddb: Any, numeric: str) -> None:
    out = query(ddb, numeric, "(sk < :x) AND (pk = :p)", {":p": s("a"), ":x": n(1)})
    assert sks(out) == [-1.5, 0]


def test_string_sort_key_order_and_begins_with(ddb: Any, strings: str) -> None:
    out = query(ddb, strings, "pk = :p", {":p": s("p")})
    # byte order: uppercase before lowercase, prefixes first
    assert sks(out, "S") == ["Zebra", "a", "ap", "apple", "appz", "apricot", "b", "banana",
                             "cherry"]
    out = query(ddb, strings, "pk = :p AND begins_with(sk, :pre)", {":p": s("p"),
                                                                   ":pre": s("ap")})
    assert sks(out, "S") == ["ap", "apple", "appz", "apricot"]
    out = query(ddb, strings, "pk = :p AND sk BETWEEN :a AND :b",
                {":p": s("p"), ":a": s("apple"), ":b": s("b")})
    assert sks(out, "S") == ["apple", "appz", "apricot", "b"]


def test_begins_with_binary_sort_key(ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "B"))
    batch_put(ddb, t, [{"pk": s("p"), "sk": {"B": bytes([1, i])}} for i in range(3)]
              + [{"pk": s("p"), "sk": {"B": b"\x02"}}])
    out = query(ddb, t, "pk = :p AND begins_with(sk, :b)", {":p": s("p"), ":b": {"B": b"\x01"}})
    assert [i["sk"]["B"] for i in out["Items"]] == [b"\x01\x00", b"\x01\x01", b"\x01\x02"]


def test_scan_index_forward_false(ddb: Any, numeric: str) -> None:
    out = query(ddb, numeric, "pk = :p AND sk >= :x", {":p": s("a"), ":x": n(15)},
                ScanIndexForward=False)
    assert sks(out) == [19, 18, 17, 16, 15]


def test_limit_and_paging_visits_each_item_once(ddb: Any, numeric: str) -> None:
    for forward in (True, False):
        seen: list[float] = []
        kwargs: dict[str, Any] = {"Limit": 4, "ScanIndexForward": forward}
        pages = 0
        while True:
            out = query(ddb, numeric, "pk = :p", {":p": s("a")}, **kwargs)
            pages += 1
            assert out["Count"] <= 4
            seen += sks(out)
            if "LastEvaluatedKey" not in out:
                break
            assert set(out["LastEvaluatedKey"]) == {"pk", "sk"}
            assert out["LastEvaluatedKey"]["sk"] == out["Items"][-1]["sk"]
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        expected = [-1.5, *range(20)]
        assert seen == (expected if forward else expected[::-1])
        assert pages in (6, 7)


def test_limit_exact_multiple_may_end_with_empty_page(ddb: Any, numeric: str) -> None:
    out = query(ddb, numeric, "pk = :p", {":p": s("b")}, Limit=5)
    assert out["Count"] == 5
    if "LastEvaluatedKey" in out:
        out = query(ddb, numeric, "pk = :p", {":p": s("b")}, Limit=5,
                    ExclusiveStartKey=out["LastEvaluatedKey"])
        assert out["Count"] == 0 and "LastEvaluatedKey" not in out


def test_filter_expression_count_and_scanned_count(ddb: Any, numeric: str) -> None:
    out = query(ddb, numeric, "pk = :p", {":p": s("a"), ":z": n(0)},
                FilterExpression="v = :z")
    assert sks(out) == [0, 3, 6, 9, 12, 15, 18]
    assert out["Count"] == 7
    assert out["ScannedCount"] == 21


def test_filter_applies_after_limit(ddb: Any, numeric: str) -> None:
    out = query(ddb, numeric, "pk = :p AND sk >= :zero", {":p": s("a"), ":zero": n(0),
                                                          ":one": n(1)},
                FilterExpression="v = :one", Limit=6)
    # the first six items (sk 0..5) are read; of those, sk 1 and 4 match
    assert sks(out) == [1, 4]
    assert out["ScannedCount"] == 6
    assert "LastEvaluatedKey" in out


def test_filter_on_key_attribute_rejected(raw_ddb: Any, numeric: str) -> None:
    # Developer Guide, "Filter expressions for the Query operation": "A filter expression
    # cannot contain partition key or sort key attributes."
    expect_error("ValidationException", raw_ddb.query, TableName=numeric,
                 KeyConditionExpression="pk = :p", FilterExpression="sk > :x",
                 ExpressionAttributeValues={":p": s("a"), ":x": n(1)})


def test_select_count(ddb: Any, numeric: str) -> None:
    out = query(ddb, numeric, "pk = :p", {":p": s("a")}, Select="COUNT")
    assert "Items" not in out
    assert out["Count"] == 21
    assert out["ScannedCount"] == 21


def test_select_specific_attributes(ddb: Any, numeric: str) -> None:
    out = query(ddb, numeric, "pk = :p AND sk = :x", {":p": s("a"), ":x": n(1)},
                Select="SPECIFIC_ATTRIBUTES", ProjectionExpression="v")
    assert out["Items"] == [{"v": n(1)}]
    out = query(ddb, numeric, "pk = :p AND sk = :x", {":p": s("a"), ":x": n(1)},
                ProjectionExpression="sk, v")
    assert out["Items"] == [{"sk": n(1), "v": n(1)}]


def test_select_all_attributes(ddb: Any, numeric: str) -> None:
    out = query(ddb, numeric, "pk = :p AND sk = :x", {":p": s("a"), ":x": n(2)},
                Select="ALL_ATTRIBUTES")
    assert out["Items"] == [{"pk": s("a"), "sk": n(2), "v": n(2)}]


def test_select_conflicts_rejected(raw_ddb: Any, numeric: str) -> None:
    base = {"TableName": numeric, "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": s("a")}}
    expect_error("ValidationException", raw_ddb.query, Select="SPECIFIC_ATTRIBUTES", **base)
    expect_error("ValidationException", raw_ddb.query, Select="ALL_ATTRIBUTES",
                 ProjectionExpression="v", **base)
    expect_error("ValidationException", raw_ddb.query, Select="COUNT",
                 ProjectionExpression="v", **base)
    expect_error("ValidationException", raw_ddb.query, Select="EVERYTHING", **base)
    expect_error("ValidationException", raw_ddb.query, Select="ALL_PROJECTED_ATTRIBUTES",
                 **base)


def test_missing_partition_key_condition(raw_ddb: Any, numeric: str) -> None:
    # message verified: real-service answers quoted on openillumi.com
    # ("Query condition missed key schema element: [Partition Key Name]")
    expect_error("ValidationException", raw_ddb.query,
                 message="Query condition missed key schema element: pk",
                 TableName=numeric, KeyConditionExpression="sk = :x",
                 ExpressionAttributeValues={":x": n(1)})


@pytest.mark.parametrize(("kce", "values"), [
    ("pk < :p", {":p": s("a")}),                               # partition needs =
    ("pk = :p OR sk = :x", {":p": s("a"), ":x": n(1)}),        # OR not allowed
    ("pk = :p AND v = :x", {":p": s("a"), ":x": n(1)}),        # non-key attribute
    ("pk = :p AND sk = :x AND sk > :x", {":p": s("a"), ":x": n(1)}),
    ("pk = :p AND sk <> :x", {":p": s("a"), ":x": n(1)}),      # <> not allowed
    ("pk = :p AND NOT sk = :x", {":p": s("a"), ":x": n(1)}),
    ("pk = :p AND sk IN (:x)", {":p": s("a"), ":x": n(1)}),
    ("pk = :p AND begins_with(sk, :x)", {":p": s("a"), ":x": n(1)}),  # N sort key
    ("pk = :p AND sk = :x", {":p": s("a"), ":x": s("1")}),     # wrong type
    ("pk = :p", {":p": n(1)}),                                 # wrong type
    ("pk = :p AND attribute_exists(sk)", {":p": s("a")}),
    ("pk = :p AND sk BETWEEN :y AND :x", {":p": s("a"), ":x": n(1), ":y": n(5)}),
])
def test_invalid_key_conditions(raw_ddb: Any, numeric: str, kce: str,
                                values: dict[str, Any]) -> None:
    expect_error("ValidationException", raw_ddb.query, TableName=numeric,
                 KeyConditionExpression=kce, ExpressionAttributeValues=values)


def test_query_without_key_condition_rejected(raw_ddb: Any, numeric: str) -> None:
    expect_error("ValidationException", raw_ddb.query, TableName=numeric)


def test_key_condition_reserved_word(raw_ddb: Any, make_table: Any) -> None:
    t = make_table(hash_key=("hash", "S"))
    # message verified: real-service answer quoted in aws/aws-sdk-php#1233
    expect_error("ValidationException", raw_ddb.query,
                 message="Invalid KeyConditionExpression: Attribute name is a reserved "
                         "keyword; reserved keyword: hash",
                 TableName=t, KeyConditionExpression="hash = :v_hash",
                 ExpressionAttributeValues={":v_hash": s("x")})


def test_exclusive_start_key_invalid(raw_ddb: Any, numeric: str) -> None:
    expect_error("ValidationException", raw_ddb.query, TableName=numeric,
                 KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": s("a")},
                 ExclusiveStartKey={"pk": s("a")})
    expect_error("ValidationException", raw_ddb.query, TableName=numeric,
                 KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": s("a")},
                 ExclusiveStartKey={"pk": s("b"), "sk": n(1)})   # outside the queried range


@pytest.mark.parametrize("limit", [0, -1])
def test_invalid_limit(raw_ddb: Any, numeric: str, limit: int) -> None:
    expect_error("ValidationException", raw_ddb.query, TableName=numeric,
                 KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": s("a")},
                 Limit=limit)


def test_query_missing_table(ddb: Any) -> None:
    expect_error("ResourceNotFoundException", ddb.query, TableName="no-such-table-query",
                 KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": s("a")})


# --------------------------------------------------------------------------- legacy


def test_legacy_key_conditions(ddb: Any, numeric: str) -> None:
    out = ddb.query(TableName=numeric, KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [s("a")]},
        "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [n(2), n(4)]}})
    assert sks(out) == [2, 3, 4]
    out = ddb.query(TableName=numeric, KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [s("a")]},
        "sk": {"ComparisonOperator": "GT", "AttributeValueList": [n(17)]}})
    assert sks(out) == [18, 19]


def test_legacy_key_conditions_begins_with(ddb: Any, strings: str) -> None:
    out = ddb.query(TableName=strings, KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [s("p")]},
        "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [s("apr")]}})
    assert sks(out, "S") == ["apricot"]


def test_legacy_query_filter_and_attributes_to_get(ddb: Any, numeric: str) -> None:
    out = ddb.query(TableName=numeric,
                    KeyConditions={"pk": {"ComparisonOperator": "EQ",
                                          "AttributeValueList": [s("b")]}},
                    QueryFilter={"v": {"ComparisonOperator": "GE",
                                       "AttributeValueList": [n(3)]}},
                    AttributesToGet=["sk"])
    assert out["Items"] == [{"sk": n(3)}, {"sk": n(4)}]
    assert out["ScannedCount"] == 5


def test_legacy_and_expressions_mixed_rejected(raw_ddb: Any, numeric: str) -> None:
    expect_error("ValidationException", raw_ddb.query, TableName=numeric,
                 KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": s("a")},
                 KeyConditions={"pk": {"ComparisonOperator": "EQ",
                                       "AttributeValueList": [s("a")]}})
    expect_error("ValidationException", raw_ddb.query, TableName=numeric,
                 KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": s("a")},
                 QueryFilter={"v": {"ComparisonOperator": "NOT_NULL"}})


# --------------------------------------------------------------------------- size, capacity


def test_one_megabyte_page_limit(ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "N"))
    blob = "x" * (300 * 1024)
    batch_put(ddb, t, [{"pk": s("big"), "sk": n(i), "d": s(blob)} for i in range(5)])
    out = ddb.query(TableName=t, KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": s("big")}, ProjectionExpression="sk")
    assert "LastEvaluatedKey" in out
    assert 1 <= out["Count"] < 5
    assert out["ScannedCount"] == out["Count"]
    seen = [item["sk"]["N"] for item in out["Items"]]
    while "LastEvaluatedKey" in out:
        out = ddb.query(TableName=t, KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": s("big")}, ProjectionExpression="sk",
                        ExclusiveStartKey=out["LastEvaluatedKey"])
        seen += [item["sk"]["N"] for item in out["Items"]]
    assert seen == ["0", "1", "2", "3", "4"]


def test_query_consumed_capacity(ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "N"))
    # each item: pk(2+1) + sk(2+1) + d(1+1500) = 1507 bytes; three = 4521 bytes -> 2 x 4 KB
    batch_put(ddb, t, [{"pk": s("q"), "sk": n(i), "d": s("x" * 1500)} for i in range(3)])
    out = ddb.query(TableName=t, KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": s("q")}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["TableName"] == t
    assert out["ConsumedCapacity"]["CapacityUnits"] == 1.0
    out = ddb.query(TableName=t, KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": s("q")}, ReturnConsumedCapacity="TOTAL",
                    ConsistentRead=True)
    assert out["ConsumedCapacity"]["CapacityUnits"] == 2.0


def test_query_capacity_counts_filtered_items(ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "N"))
    batch_put(ddb, t, [{"pk": s("q"), "sk": n(i), "d": s("x" * 1500)} for i in range(3)])
    out = ddb.query(TableName=t, KeyConditionExpression="pk = :p",
                    FilterExpression="attribute_exists(nothing)",
                    ExpressionAttributeValues={":p": s("q")}, ReturnConsumedCapacity="TOTAL",
                    ConsistentRead=True)
    assert out["Count"] == 0
    assert out["ConsumedCapacity"]["CapacityUnits"] == 2.0


def test_query_empty_result_consumes_minimum(ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "N"))
    out = ddb.query(TableName=t, KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": s("none")}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["CapacityUnits"] == 0.5
