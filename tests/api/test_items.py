"""Item API: PutItem, GetItem, DeleteItem, UpdateItem basics, attribute types, numbers,
limits, ReturnValues, consumed capacity, projections and expression-parameter errors."""

from __future__ import annotations

from typing import Any

import pytest

from ._helpers import expect_error, n, s

ALL_TYPES: dict[str, Any] = {
    "str": {"S": "hello ✓"},
    "num": {"N": "-12.5"},
    "bin": {"B": b"\x00\xffbinary"},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "nul": {"NULL": True},
    "map": {"M": {"a": {"S": "x"}, "b": {"L": [{"N": "1"}, {"BOOL": False}]},
                  "c": {"M": {"d": {"NULL": True}}}}},
    "list": {"L": [{"S": "a"}, {"N": "2"}, {"B": b"\x01"}, {"M": {}}, {"L": []}]},
    "ss": {"SS": ["b", "a", "c"]},
    "ns": {"NS": ["3", "1.5", "-2"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "empty_s": {"S": ""},
    "empty_b": {"B": b""},
}


def normalise_sets(item: dict[str, Any]) -> dict[str, Any]:
    """Sets are unordered: sort them for comparison."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        ((tag, inner),) = value.items()
        if tag in ("SS", "BS"):
            out[key] = {tag: sorted(inner)}
        elif tag == "NS":
            out[key] = {tag: sorted(inner, key=float)}
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------- round trips


def test_put_get_all_types(ddb: Any, make_table: Any) -> None:
    t = make_table()
    item = {"pk": s("k1"), **ALL_TYPES}
    assert ddb.put_item(TableName=t, Item=item).get("Attributes") is None
    got = ddb.get_item(TableName=t, Key={"pk": s("k1")})["Item"]
    assert normalise_sets(got) == normalise_sets(item)


def test_get_missing_item_has_no_item_key(ddb: Any, make_table: Any) -> None:
    t = make_table()
    out = ddb.get_item(TableName=t, Key={"pk": s("nope")})
    assert "Item" not in out


def test_put_replaces_whole_item(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "a": n(1), "b": n(2)})
    ddb.put_item(TableName=t, Item={"pk": s("k"), "c": n(3)})
    assert ddb.get_item(TableName=t, Key={"pk": s("k")})["Item"] == {"pk": s("k"), "c": n(3)}


def test_delete_item(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "a": n(1)})
    out = ddb.delete_item(TableName=t, Key={"pk": s("k")})
    assert "Attributes" not in out
    assert "Item" not in ddb.get_item(TableName=t, Key={"pk": s("k")})
    # deleting a missing item is not an error
    ddb.delete_item(TableName=t, Key={"pk": s("k")})


def test_composite_key_items_are_distinct(ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "N"))
    for i in range(3):
        ddb.put_item(TableName=t, Item={"pk": s("a"), "sk": n(i), "v": n(i * 10)})
    for i in range(3):
        got = ddb.get_item(TableName=t, Key={"pk": s("a"), "sk": n(i)})["Item"]
        assert got["v"] == n(i * 10)
    assert "Item" not in ddb.get_item(TableName=t, Key={"pk": s("a"), "sk": n(3)})


def test_number_key_normalised(ddb: Any, make_table: Any) -> None:
    t = make_table(hash_key=("id", "N"))
    ddb.put_item(TableName=t, Item={"id": n("1.0"), "v": s("x")})
    got = ddb.get_item(TableName=t, Key={"id": n("1")})["Item"]
    assert got == {"id": n("1"), "v": s("x")}
    got = ddb.get_item(TableName=t, Key={"id": n("001.000")})["Item"]
    assert got["v"] == s("x")


def test_binary_key_round_trip(ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "B"))
    ddb.put_item(TableName=t, Item={"pk": s("a"), "sk": {"B": b"\x00\x00\xff"}})
    got = ddb.get_item(TableName=t, Key={"pk": s("a"), "sk": {"B": b"\x00\x00\xff"}})
    assert got["Item"]["sk"] == {"B": b"\x00\x00\xff"}


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(("given", "stored"), [
    ("01.50", "1.5"),
    ("-0", "0"),
    ("0.000", "0"),
    ("1E+2", "100"),
    ("1e2", "100"),
    ("0.10", "0.1"),
    ("-00012.3400", "-12.34"),
    ("1.5e-3", "0.0015"),
])
def test_number_normalisation(ddb: Any, make_table: Any, given: str, stored: str) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "x": n(given)})
    assert ddb.get_item(TableName=t, Key={"pk": s("k")})["Item"]["x"] == n(stored)


def test_number_38_digits_exact(ddb: Any, make_table: Any) -> None:
    t = make_table()
    big = "12345678901234567890123456789012345678"
    frac = "0.12345678901234567890123456789012345678"
    neg = "-9.9999999999999999999999999999999999999E+125"
    ddb.put_item(TableName=t, Item={"pk": s("k"), "a": n(big), "b": n(frac), "c": n(neg)})
    item = ddb.get_item(TableName=t, Key={"pk": s("k")})["Item"]
    assert item["a"] == n(big)
    assert item["b"] == n(frac)
    assert item["c"] == n("-" + "9" * 38 + "0" * 88)


def test_number_range_edges_accepted(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "small": n("1E-130"), "large": n("1E+125")})
    item = ddb.get_item(TableName=t, Key={"pk": s("k")})["Item"]
    assert item["small"] == n("0." + "0" * 129 + "1")
    assert item["large"] == n("1" + "0" * 125)


@pytest.mark.parametrize("bad", [
    "123456789012345678901234567890123456789",  # 39 significant digits
    "1E+126",                                   # magnitude too large
    "-1E+126",
    "1E-131",                                   # magnitude too small
    "abc",
    "",
    "1.2.3",
    "NaN",
    "Infinity",
])
def test_invalid_numbers_rejected(raw_ddb: Any, make_table: Any, bad: str) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                 Item={"pk": s("k"), "x": {"N": bad}})


def test_trailing_zeros_not_significant(ddb: Any, make_table: Any) -> None:
    t = make_table()
    value = "1" + "0" * 50  # one significant digit
    ddb.put_item(TableName=t, Item={"pk": s("k"), "x": n(value)})
    assert ddb.get_item(TableName=t, Key={"pk": s("k")})["Item"]["x"] == n(value)


# --------------------------------------------------------------------------- limits


def test_item_size_limit(raw_ddb: Any, ddb: Any, make_table: Any) -> None:
    t = make_table()
    # size = len("pk") + len("k") + len("d") + len(data) = 4 + len(data)
    ok = 400 * 1024 - 4
    ddb.put_item(TableName=t, Item={"pk": s("k"), "d": s("x" * ok)})
    assert len(ddb.get_item(TableName=t, Key={"pk": s("k")})["Item"]["d"]["S"]) == ok
    expect_error("ValidationException", raw_ddb.put_item,
                 # message verified: real-service answer quoted in gist khalidx/f52ecc477578a074f0c5d76f06ecbb31
                 message="Item size has exceeded the maximum allowed size",
                 TableName=t, Item={"pk": s("k2"), "d": s("x" * (ok + 1))})
    assert "Item" not in ddb.get_item(TableName=t, Key={"pk": s("k2")})


def test_update_beyond_item_size_limit(raw_ddb: Any, ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "d": s("x" * 300_000)})
    expect_error("ValidationException", raw_ddb.update_item, TableName=t,
                 Key={"pk": s("k")}, UpdateExpression="SET e = :e",
                 ExpressionAttributeValues={":e": s("y" * 200_000)})
    assert "e" not in ddb.get_item(TableName=t, Key={"pk": s("k")})["Item"]


def test_partition_key_size_limit(raw_ddb: Any, ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("p" * 2048)})
    assert "Item" in ddb.get_item(TableName=t, Key={"pk": s("p" * 2048)})
    expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                 Item={"pk": s("p" * 2049)})
    expect_error("ValidationException", raw_ddb.get_item, TableName=t,
                 Key={"pk": s("p" * 2049)})


def test_partition_key_size_counts_utf8_bytes(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                 Item={"pk": s("é" * 1025)})  # 2050 bytes


def test_sort_key_size_limit(raw_ddb: Any, ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "S"))
    ddb.put_item(TableName=t, Item={"pk": s("a"), "sk": s("s" * 1024)})
    expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                 Item={"pk": s("a"), "sk": s("s" * 1025)})


def test_binary_key_size_limit(raw_ddb: Any, ddb: Any, make_table: Any) -> None:
    t = make_table(hash_key=("id", "B"))
    ddb.put_item(TableName=t, Item={"id": {"B": b"\x01" * 2048}})
    expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                 Item={"id": {"B": b"\x01" * 2049}})


@pytest.mark.parametrize("key", [{"S": ""}, {"B": b""}])
def test_empty_key_value_rejected(raw_ddb: Any, make_table: Any, key: dict[str, Any]) -> None:
    kind = next(iter(key))
    t = make_table(hash_key=("pk", kind))
    expect_error("ValidationException", raw_ddb.put_item, TableName=t, Item={"pk": key})
    expect_error("ValidationException", raw_ddb.get_item, TableName=t, Key={"pk": key})


def test_empty_sort_key_rejected(raw_ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "S"))
    expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                 Item={"pk": s("a"), "sk": s("")})


@pytest.mark.parametrize("value", [{"SS": []}, {"NS": []}, {"BS": []}])
def test_empty_set_rejected(raw_ddb: Any, make_table: Any, value: dict[str, Any]) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                 Item={"pk": s("k"), "x": value})


@pytest.mark.parametrize("value", [
    {"SS": ["a", "a"]},
    {"NS": ["1", "1"]},
    {"NS": ["1", "1.0"]},
    {"BS": [b"\x01", b"\x01"]},
])
def test_duplicate_set_members_rejected(raw_ddb: Any, make_table: Any,
                                        value: dict[str, Any]) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                 Item={"pk": s("k"), "x": value})


def nested_map(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(depth):
        value = {"M": {"m": value}}
    return value


def test_nesting_depth(raw_ddb: Any, ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("ok"), "x": nested_map(20)})
    assert ddb.get_item(TableName=t, Key={"pk": s("ok")})["Item"]["x"] == nested_map(20)
    expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                 Item={"pk": s("deep"), "x": nested_map(40)})


def test_invalid_attribute_value_shapes(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    for bad in ({}, {"S": "a", "N": "1"}, {"NULL": False}):
        expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                     Item={"pk": s("k"), "x": bad})


# --------------------------------------------------------------------------- key errors


def test_missing_key_attribute(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    # message verified: real-service answers quoted in aws/aws-sdk-js#4057 and
    # aws-samples/aws-serverless-workshops#31 ("... Missing the key RideID in the item")
    expect_error("ValidationException", raw_ddb.put_item,
                 message="One or more parameter values were invalid: Missing the key pk in the item",
                 TableName=t, Item={"other": s("x")})


def test_missing_sort_key_attribute(raw_ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "N"))
    expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                 Item={"pk": s("x")})


def test_wrong_key_type(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.put_item, TableName=t, Item={"pk": n(1)})


# message verified: real-service answers quoted in MitocGroup/deep-framework#538
KEY_MISMATCH = "The provided key element does not match the schema"


def test_get_with_wrong_key(raw_ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "N"))
    # missing sort key
    expect_error("ValidationException", raw_ddb.get_item, message=KEY_MISMATCH,
                 TableName=t, Key={"pk": s("a")})
    # wrong type
    expect_error("ValidationException", raw_ddb.get_item, message=KEY_MISMATCH,
                 TableName=t, Key={"pk": s("a"), "sk": s("1")})
    # extra attribute
    expect_error("ValidationException", raw_ddb.get_item, message=KEY_MISMATCH,
                 TableName=t, Key={"pk": s("a"), "sk": n(1), "x": s("y")})
    # wrong name
    expect_error("ValidationException", raw_ddb.get_item, message=KEY_MISMATCH,
                 TableName=t, Key={"pk": s("a"), "other": n(1)})


def test_delete_with_wrong_key(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.delete_item, message=KEY_MISMATCH,
                 TableName=t, Key={"pk": n(1)})


def test_update_with_wrong_key(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.update_item, message=KEY_MISMATCH,
                 TableName=t, Key={"id": s("1")}, UpdateExpression="SET a = :a",
                 ExpressionAttributeValues={":a": n(1)})


# message verified: real-service answers quoted in boto/boto3#4101 (GetItem) and
# hashicorp-education/learn-terraform-aft-account-request#4 (raw PutItem response body)
NOT_FOUND = "Requested resource not found"


@pytest.mark.parametrize("op", ["get_item", "put_item", "delete_item", "update_item"])
def test_missing_table(ddb: Any, op: str) -> None:
    kwargs: dict[str, Any] = {"TableName": "no-such-table-items"}
    if op == "put_item":
        kwargs["Item"] = {"pk": s("a")}
    else:
        kwargs["Key"] = {"pk": s("a")}
    if op == "update_item":
        kwargs["UpdateExpression"] = "SET a = :a"
        kwargs["ExpressionAttributeValues"] = {":a": n(1)}
    resp = expect_error("ResourceNotFoundException", getattr(ddb, op), **kwargs)
    assert resp["Error"]["Message"].startswith(NOT_FOUND)


def test_get_item_missing_table_exact_message(ddb: Any) -> None:
    expect_error("ResourceNotFoundException", ddb.get_item, message=NOT_FOUND,
                 TableName="no-such-table-get", Key={"pk": s("a")})


# --------------------------------------------------------------------------- ReturnValues


def test_put_return_values(ddb: Any, raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    out = ddb.put_item(TableName=t, Item={"pk": s("k"), "v": n(1)}, ReturnValues="ALL_OLD")
    assert "Attributes" not in out
    out = ddb.put_item(TableName=t, Item={"pk": s("k"), "v": n(2)}, ReturnValues="ALL_OLD")
    assert out["Attributes"] == {"pk": s("k"), "v": n(1)}
    out = ddb.put_item(TableName=t, Item={"pk": s("k"), "v": n(3)}, ReturnValues="NONE")
    assert "Attributes" not in out
    for bad in ("ALL_NEW", "UPDATED_OLD", "UPDATED_NEW", "SOMETHING"):
        expect_error("ValidationException", raw_ddb.put_item, TableName=t,
                     Item={"pk": s("k"), "v": n(4)}, ReturnValues=bad)
    assert ddb.get_item(TableName=t, Key={"pk": s("k")})["Item"]["v"] == n(3)


def test_delete_return_values(ddb: Any, raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "v": n(1)})
    for bad in ("ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"):
        expect_error("ValidationException", raw_ddb.delete_item, TableName=t,
                     Key={"pk": s("k")}, ReturnValues=bad)
    out = ddb.delete_item(TableName=t, Key={"pk": s("k")}, ReturnValues="ALL_OLD")
    assert out["Attributes"] == {"pk": s("k"), "v": n(1)}
    out = ddb.delete_item(TableName=t, Key={"pk": s("k")}, ReturnValues="ALL_OLD")
    assert "Attributes" not in out


@pytest.mark.parametrize(("mode", "expected"), [
    ("NONE", None),
    ("ALL_OLD", {"pk": s("k"), "a": n(1), "b": n(2)}),
    ("UPDATED_OLD", {"a": n(1)}),
    ("ALL_NEW", {"pk": s("k"), "a": n(5), "b": n(2), "c": n(9)}),
    ("UPDATED_NEW", {"a": n(5), "c": n(9)}),
])
def test_update_return_values(ddb: Any, make_table: Any, mode: str,
                              expected: dict[str, Any] | None) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "a": n(1), "b": n(2)})
    out = ddb.update_item(TableName=t, Key={"pk": s("k")}, UpdateExpression="SET a = :a, c = :c",
                          ExpressionAttributeValues={":a": n(5), ":c": n(9)}, ReturnValues=mode)
    assert out.get("Attributes") == expected


def test_update_return_values_on_new_item(ddb: Any, make_table: Any) -> None:
    t = make_table()
    out = ddb.update_item(TableName=t, Key={"pk": s("new")}, UpdateExpression="SET a = :a",
                          ExpressionAttributeValues={":a": n(1)}, ReturnValues="ALL_OLD")
    assert "Attributes" not in out
    out = ddb.update_item(TableName=t, Key={"pk": s("new2")}, UpdateExpression="SET a = :a",
                          ExpressionAttributeValues={":a": n(1)}, ReturnValues="ALL_NEW")
    assert out["Attributes"] == {"pk": s("new2"), "a": n(1)}


# --------------------------------------------------------------------------- capacity


def test_get_item_consumed_capacity(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "v": s("small")})
    out = ddb.get_item(TableName=t, Key={"pk": s("k")}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["TableName"] == t
    assert out["ConsumedCapacity"]["CapacityUnits"] == 0.5
    out = ddb.get_item(TableName=t, Key={"pk": s("k")}, ReturnConsumedCapacity="TOTAL",
                       ConsistentRead=True)
    assert out["ConsumedCapacity"]["CapacityUnits"] == 1.0


def test_get_item_large_item_capacity(ddb: Any, make_table: Any) -> None:
    t = make_table()
    # 4 + 10_000 bytes -> 3 blocks of 4 KB
    ddb.put_item(TableName=t, Item={"pk": s("k"), "d": s("x" * 10_000)})
    out = ddb.get_item(TableName=t, Key={"pk": s("k")}, ReturnConsumedCapacity="TOTAL",
                       ConsistentRead=True)
    assert out["ConsumedCapacity"]["CapacityUnits"] == 3.0
    out = ddb.get_item(TableName=t, Key={"pk": s("k")}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["CapacityUnits"] == 1.5


def test_get_missing_item_still_consumes(ddb: Any, make_table: Any) -> None:
    t = make_table()
    out = ddb.get_item(TableName=t, Key={"pk": s("none")}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["CapacityUnits"] == 0.5


def test_put_item_consumed_capacity(ddb: Any, make_table: Any) -> None:
    t = make_table()
    # size = 2 + 2 + 1 + 1500 = 1505 bytes (about 1.5 KB) -> 2 write units
    out = ddb.put_item(TableName=t, Item={"pk": s("p1"), "d": s("x" * 1500)},
                       ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["TableName"] == t
    assert out["ConsumedCapacity"]["CapacityUnits"] == 2.0
    out = ddb.put_item(TableName=t, Item={"pk": s("p2"), "d": s("x")},
                       ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["CapacityUnits"] == 1.0


def test_put_overwrite_capacity_uses_larger_image(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("p1"), "d": s("x" * 2500)})
    out = ddb.put_item(TableName=t, Item={"pk": s("p1")}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["CapacityUnits"] == 3.0


def test_delete_item_consumed_capacity(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("p1"), "d": s("x" * 1500)})
    out = ddb.delete_item(TableName=t, Key={"pk": s("p1")}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["CapacityUnits"] == 2.0


def test_update_item_consumed_capacity(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("p1"), "d": s("x" * 1500)})
    out = ddb.update_item(TableName=t, Key={"pk": s("p1")}, UpdateExpression="SET e = :e",
                          ExpressionAttributeValues={":e": s("y" * 1000)},
                          ReturnConsumedCapacity="TOTAL")
    # new image 2506 bytes -> 3 units
    assert out["ConsumedCapacity"]["CapacityUnits"] == 3.0


def test_no_consumed_capacity_by_default(ddb: Any, make_table: Any) -> None:
    t = make_table()
    out = ddb.put_item(TableName=t, Item={"pk": s("p1")})
    assert "ConsumedCapacity" not in out
    out = ddb.put_item(TableName=t, Item={"pk": s("p1")}, ReturnConsumedCapacity="NONE")
    assert "ConsumedCapacity" not in out


def test_invalid_return_consumed_capacity(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.get_item, TableName=t, Key={"pk": s("a")},
                 ReturnConsumedCapacity="EVERYTHING")


# --------------------------------------------------------------------------- reads


def test_consistent_read_sees_write(ddb: Any, make_table: Any) -> None:
    t = make_table()
    for i in range(20):
        ddb.put_item(TableName=t, Item={"pk": s("k"), "v": n(i)})
        got = ddb.get_item(TableName=t, Key={"pk": s("k")}, ConsistentRead=True)
        assert got["Item"]["v"] == n(i)


PROJ_ITEM = {
    "pk": s("k"),
    "a": {"M": {"b": {"S": "B"}, "c": {"M": {"d": {"N": "4"}, "e": {"N": "5"}}}}},
    "l": {"L": [{"S": "l0"}, {"S": "l1"}, {"M": {"x": {"S": "X"}, "y": {"S": "Y"}}}]},
    "tp": {"S": "T"},
    "oth": {"S": "O"},
}


@pytest.mark.parametrize(("projection", "names", "expected"), [
    ("tp", None, {"tp": s("T")}),
    ("tp, oth", None, {"tp": s("T"), "oth": s("O")}),
    ("a.b", None, {"a": {"M": {"b": s("B")}}}),
    ("a.c.d, tp", None, {"a": {"M": {"c": {"M": {"d": n(4)}}}}, "tp": s("T")}),
    ("a.b, a.c.e", None, {"a": {"M": {"b": s("B"), "c": {"M": {"e": n(5)}}}}}),
    ("l[1]", None, {"l": {"L": [s("l1")]}}),
    ("l[0], l[2].y", None, {"l": {"L": [s("l0"), {"M": {"y": s("Y")}}]}}),
    ("l[7]", None, {}),
    ("absent", None, {}),
    ("a.absent", None, {}),
    ("#t", {"#t": "tp"}, {"tp": s("T")}),
    ("#a.#b", {"#a": "a", "#b": "b"}, {"a": {"M": {"b": s("B")}}}),
])
def test_projection_expression(ddb: Any, make_table: Any, projection: str,
                               names: dict[str, str] | None, expected: dict[str, Any]) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item=PROJ_ITEM)
    kwargs: dict[str, Any] = {"ProjectionExpression": projection}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    out = ddb.get_item(TableName=t, Key={"pk": s("k")}, **kwargs)
    assert out.get("Item", {}) == expected


def test_projection_with_dotted_attribute_name(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "a.b": s("dotted"),
                                    "a": {"M": {"b": s("nested")}}})
    out = ddb.get_item(TableName=t, Key={"pk": s("k")}, ProjectionExpression="#ab",
                       ExpressionAttributeNames={"#ab": "a.b"})
    assert out["Item"] == {"a.b": s("dotted")}


def test_projection_overlapping_paths_rejected(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.get_item, TableName=t, Key={"pk": s("k")},
                 ProjectionExpression="a, a.b")


def test_projection_syntax_error(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.get_item, TableName=t, Key={"pk": s("k")},
                 ProjectionExpression="a,, b")


def test_projection_reserved_word(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.get_item, TableName=t, Key={"pk": s("k")},
                 ProjectionExpression="name")
    expect_error("ValidationException", raw_ddb.get_item, TableName=t, Key={"pk": s("k")},
                 ProjectionExpression="Comment")


# --------------------------------------------------------------------------- names/values


def test_unused_expression_attribute_names(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    # message verified: real-service answer quoted in AllocZero/EfficientDynamoDb#170
    expect_error("ValidationException", raw_ddb.get_item,
                 message="Value provided in ExpressionAttributeNames unused in expressions: "
                         "keys: {#x}",
                 TableName=t, Key={"pk": s("k")}, ProjectionExpression="a",
                 ExpressionAttributeNames={"#x": "x"})


def test_unused_expression_attribute_values(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    # message verified: real-service answer quoted in kestra-io/plugin-aws#358
    expect_error("ValidationException", raw_ddb.put_item,
                 message="Value provided in ExpressionAttributeValues unused in expressions: "
                         "keys: {:v}",
                 TableName=t, Item={"pk": s("k")},
                 ConditionExpression="attribute_not_exists(pk)",
                 ExpressionAttributeValues={":v": n(1)})


def test_undefined_expression_attribute_name(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.get_item, TableName=t, Key={"pk": s("k")},
                 ProjectionExpression="#x")


def test_undefined_expression_attribute_value(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    # message verified: real-service answer quoted in goamz/goamz#132
    expect_error("ValidationException", raw_ddb.update_item,
                 message="Invalid UpdateExpression: An expression attribute value used in "
                         "expression is not defined; attribute value: :game",
                 TableName=t, Key={"pk": s("k")}, UpdateExpression="SET a = :game")


def test_names_or_values_without_expression(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.get_item, TableName=t, Key={"pk": s("k")},
                 ExpressionAttributeNames={"#x": "x"})
    expect_error("ValidationException", raw_ddb.put_item, TableName=t, Item={"pk": s("k")},
                 ExpressionAttributeValues={":x": n(1)})


def test_empty_expression_attribute_maps_rejected(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.get_item, TableName=t, Key={"pk": s("k")},
                 ProjectionExpression="a", ExpressionAttributeNames={})


def test_reserved_word_in_condition(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    # message verified: real-service answer quoted in kritish-dhaubanjar/dynamodb-dashboard#1437
    expect_error("ValidationException", raw_ddb.put_item,
                 message="Invalid ConditionExpression: Attribute name is a reserved keyword; "
                         "reserved keyword: key",
                 TableName=t, Item={"pk": s("k")}, ConditionExpression="attribute_not_exists(key)")


# --------------------------------------------------------------------------- legacy params


def test_legacy_attributes_to_get(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "a": n(1), "b": n(2), "c": n(3)})
    out = ddb.get_item(TableName=t, Key={"pk": s("k")}, AttributesToGet=["a", "c", "zz"])
    assert out["Item"] == {"a": n(1), "c": n(3)}


def test_legacy_and_expression_mixed_rejected(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.get_item, TableName=t, Key={"pk": s("k")},
                 AttributesToGet=["a"], ProjectionExpression="b")


def test_legacy_expected(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "v": n(1)},
                 Expected={"pk": {"Exists": False}})
    expect_error("ConditionalCheckFailedException", ddb.put_item, TableName=t,
                 Item={"pk": s("k"), "v": n(2)}, Expected={"pk": {"Exists": False}})
    ddb.put_item(TableName=t, Item={"pk": s("k"), "v": n(2)},
                 Expected={"v": {"Value": n(1)}})
    ddb.put_item(TableName=t, Item={"pk": s("k"), "v": n(3)},
                 Expected={"v": {"ComparisonOperator": "GT", "AttributeValueList": [n(1)]}})
    expect_error("ConditionalCheckFailedException", ddb.delete_item, TableName=t,
                 Key={"pk": s("k")},
                 Expected={"v": {"ComparisonOperator": "LT", "AttributeValueList": [n(1)]}})
    ddb.delete_item(TableName=t, Key={"pk": s("k")},
                    Expected={"v": {"ComparisonOperator": "BETWEEN",
                                    "AttributeValueList": [n(1), n(5)]},
                              "zz": {"ComparisonOperator": "NULL"}},
                    ConditionalOperator="AND")
    assert "Item" not in ddb.get_item(TableName=t, Key={"pk": s("k")})


def test_legacy_expected_conditional_operator_or(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "v": n(1)})
    ddb.put_item(TableName=t, Item={"pk": s("k"), "v": n(2)},
                 Expected={"v": {"Value": n(99)}, "w": {"Exists": False}},
                 ConditionalOperator="OR")
    expect_error("ConditionalCheckFailedException", ddb.put_item, TableName=t,
                 Item={"pk": s("k"), "v": n(3)},
                 Expected={"v": {"Value": n(99)}, "pk": {"Exists": False}},
                 ConditionalOperator="OR")


def test_legacy_expected_mixed_with_condition_expression(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.put_item, TableName=t, Item={"pk": s("k")},
                 Expected={"pk": {"Exists": False}},
                 ConditionExpression="attribute_not_exists(pk)")


def test_legacy_attribute_updates(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "n": n(1), "ss": {"SS": ["a", "b"]},
                                    "gone": s("x")})
    out = ddb.update_item(TableName=t, Key={"pk": s("k")}, ReturnValues="ALL_NEW",
                          AttributeUpdates={
                              "n": {"Action": "ADD", "Value": n(4)},
                              "ss": {"Action": "DELETE", "Value": {"SS": ["a"]}},
                              "gone": {"Action": "DELETE"},
                              "new": {"Action": "PUT", "Value": s("v")},
                          })
    assert out["Attributes"] == {"pk": s("k"), "n": n(5), "ss": {"SS": ["b"]}, "new": s("v")}


def test_legacy_attribute_updates_mixed_with_update_expression(
        raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.update_item, TableName=t, Key={"pk": s("k")},
                 AttributeUpdates={"a": {"Action": "PUT", "Value": n(1)}},
                 UpdateExpression="SET b = :b", ExpressionAttributeValues={":b": n(1)})


def test_legacy_attribute_updates_on_key_rejected(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.update_item, TableName=t, Key={"pk": s("k")},
                 AttributeUpdates={"pk": {"Action": "PUT", "Value": s("other")}})


# --------------------------------------------------------------------------- validation


def test_missing_table_name_parameter(raw_ddb: Any) -> None:
    expect_error("ValidationException", raw_ddb.get_item, Key={"pk": s("k")})


def test_missing_item_parameter(raw_ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ValidationException", raw_ddb.put_item, TableName=t)
