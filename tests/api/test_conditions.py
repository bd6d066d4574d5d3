"""ConditionExpression on PutItem/UpdateItem/DeleteItem: every comparator and function,
boolean logic, ConditionalCheckFailedException and ReturnValuesOnConditionCheckFailure."""

from __future__ import annotations

from typing import Any

import pytest

from ._helpers import expect_error, n, s

# message verified: aws-sdk-dynamodb ConditionalCheckFailedException.message documentation
# (docs.rs aws_sdk_dynamodb / rubydoc Aws::DynamoDB::Types::ConditionalCheckFailedException)
CCF_MESSAGE = "The conditional request failed"

ITEM: dict[str, Any] = {
    "pk": s("k"),
    "n": n(10),
    "s": s("hello world"),
    "b": {"B": b"\x01\x02\x03"},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "l": {"L": [s("x"), n(2), {"L": [s("nested")]}]},
    "m": {"M": {"k1": s("v1"), "k2": n(2)}},
    "ss": {"SS": ["red", "green"]},
    "ns": {"NS": ["1", "2", "3"]},
    "bs": {"BS": [b"\x01"]},
    "e": s(""),
}


@pytest.fixture
def table(ddb: Any, make_table: Any) -> str:
    name: str = make_table()
    ddb.put_item(TableName=name, Item=ITEM)
    return name


def check(ddb: Any, table: str, expr: str, values: dict[str, Any] | None = None,
          names: dict[str, str] | None = None) -> bool:
    """Evaluates `expr` against ITEM with a conditional UpdateItem; True if it held."""
    kwargs: dict[str, Any] = {"TableName": table, "Key": {"pk": s("k")},
                              "UpdateExpression": "SET touched = :__t",
                              "ConditionExpression": expr,
                              "ExpressionAttributeValues": {":__t": {"BOOL": True},
                                                            **(values or {})}}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    try:
        ddb.update_item(**kwargs)
    except ddb.exceptions.ConditionalCheckFailedException as err:
        assert err.response["Error"]["Message"] == CCF_MESSAGE
        return False
    ddb.update_item(TableName=table, Key={"pk": s("k")}, UpdateExpression="REMOVE touched")
    return True


@pytest.mark.parametrize(("expr", "values", "expected"), [
    ("n = :v", {":v": n(10)}, True),
    ("n = :v", {":v": n("10.0")}, True),
    ("n = :v", {":v": n(11)}, False),
    ("n = :v", {":v": s("10")}, False),      # different type: not equal
    ("n <> :v", {":v": n(11)}, True),
    ("n <> :v", {":v": n(10)}, False),
    ("n <> :v", {":v": s("10")}, True),
    ("n < :v", {":v": n(11)}, True),
    ("n < :v", {":v": n(10)}, False),
    ("n <= :v", {":v": n(10)}, True),
    ("n > :v", {":v": n(9)}, True),
    ("n > :v", {":v": n("10.5")}, False),
    ("n >= :v", {":v": n(10)}, True),
    ("n > :v", {":v": n(-100)}, True),
    ("n < :v", {":v": s("a")}, False),       # comparing different types is false
    ("s < :v", {":v": s("world")}, True),
    ("s > :v", {":v": s("Hello")}, True),    # 'h' (0x68) > 'H' (0x48)
    ("s BETWEEN :a AND :b", {":a": s("a"), ":b": s("z")}, True),
    ("n BETWEEN :a AND :b", {":a": n(10), ":b": n(10)}, True),
    ("n BETWEEN :a AND :b", {":a": n(11), ":b": n(20)}, False),
    ("b < :v", {":v": {"B": b"\x01\x02\x04"}}, True),
    ("b = :v", {":v": {"B": b"\x01\x02\x03"}}, True),
    ("n IN (:a, :b, :c)", {":a": n(1), ":b": n(10), ":c": n(3)}, True),
    ("n IN (:a, :b)", {":a": n(1), ":b": n(2)}, False),
    ("s IN (:a)", {":a": s("hello world")}, True),
    ("t = :v", {":v": {"BOOL": True}}, True),
    ("z = :v", {":v": {"NULL": True}}, True),
    ("m = :v", {":v": {"M": {"k2": n(2), "k1": s("v1")}}}, True),
    ("l = :v", {":v": {"L": [s("x"), n(2), {"L": [s("nested")]}]}}, True),
    ("ss = :v", {":v": {"SS": ["green", "red"]}}, True),
    ("m.k1 = :v", {":v": s("v1")}, True),
    ("l[0] = :v", {":v": s("x")}, True),
    ("l[2][0] = :v", {":v": s("nested")}, True),
    ("absent = :v", {":v": n(1)}, False),
    ("absent <> :v", {":v": n(1)}, True),
])
def test_comparators(ddb: Any, table: str, expr: str, values: dict[str, Any] | None,
                     expected: bool) -> None:
    assert check(ddb, table, expr, values) is expected


@pytest.mark.parametrize(("expr", "values", "expected"), [
    ("attribute_exists(n)", None, True),
    ("attribute_exists(absent)", None, False),
    ("attribute_exists(m.k1)", None, True),
    ("attribute_exists(m.k9)", None, False),
    ("attribute_exists(l[2])", None, True),
    ("attribute_exists(l[3])", None, False),
    ("attribute_exists(z)", None, True),
    ("attribute_not_exists(absent)", None, True),
    ("attribute_not_exists(n)", None, False),
    ("attribute_type(n, :t)", {":t": s("N")}, True),
    ("attribute_type(n, :t)", {":t": s("S")}, False),
    ("attribute_type(s, :t)", {":t": s("S")}, True),
    ("attribute_type(b, :t)", {":t": s("B")}, True),
    ("attribute_type(t, :t)", {":t": s("BOOL")}, True),
    ("attribute_type(z, :t)", {":t": s("NULL")}, True),
    ("attribute_type(l, :t)", {":t": s("L")}, True),
    ("attribute_type(m, :t)", {":t": s("M")}, True),
    ("attribute_type(ss, :t)", {":t": s("SS")}, True),
    ("attribute_type(ns, :t)", {":t": s("NS")}, True),
    ("attribute_type(bs, :t)", {":t": s("BS")}, True),
    ("begins_with(s, :p)", {":p": s("hello")}, True),
    ("begins_with(s, :p)", {":p": s("world")}, False),
    ("begins_with(b, :p)", {":p": {"B": b"\x01\x02"}}, True),
    ("begins_with(n, :p)", {":p": s("1")}, False),   # not a string
    ("contains(s, :p)", {":p": s("o w")}, True),
    ("contains(s, :p)", {":p": s("xyz")}, False),
    ("contains(ss, :p)", {":p": s("red")}, True),
    ("contains(ss, :p)", {":p": s("blue")}, False),
    ("contains(ns, :p)", {":p": n(2)}, True),
    ("contains(l, :p)", {":p": s("x")}, True),
    ("contains(l, :p)", {":p": n(2)}, True),
    ("contains(l, :p)", {":p": s("nested")}, False),
    ("contains(b, :p)", {":p": {"B": b"\x02\x03"}}, True),
    ("size(s) = :v", {":v": n(11)}, True),
    ("size(b) = :v", {":v": n(3)}, True),
    ("size(l) = :v", {":v": n(3)}, True),
    ("size(m) = :v", {":v": n(2)}, True),
    ("size(ss) = :v", {":v": n(2)}, True),
    ("size(ns) > :v", {":v": n(2)}, True),
    ("size(e) = :v", {":v": n(0)}, True),
    ("size(absent) = :v", {":v": n(0)}, False),
    ("size(s) BETWEEN :a AND :b", {":a": n(1), ":b": n(20)}, True),
    ("size(l[2]) = :v", {":v": n(1)}, True),
])
def test_functions(ddb: Any, table: str, expr: str, values: dict[str, Any] | None,
                   expected: bool) -> None:
    assert check(ddb, table, expr, values) is expected


@pytest.mark.parametrize(("expr", "expected"), [
    ("attribute_exists(n) AND attribute_exists(s)", True),
    ("attribute_exists(n) AND attribute_exists(absent)", False),
    ("attribute_exists(absent) OR attribute_exists(s)", True),
    ("attribute_exists(absent) OR attribute_exists(absent2)", False),
    ("NOT attribute_exists(absent)", True),
    ("NOT attribute_exists(n)", False),
    ("NOT (attribute_exists(n) AND attribute_exists(absent))", True),
    # AND binds tighter than OR
    ("attribute_exists(n) OR attribute_exists(absent) AND attribute_exists(absent2)", True),
    ("(attribute_exists(n) OR attribute_exists(absent)) AND attribute_exists(absent2)", False),
    # NOT binds tighter than AND
    ("NOT attribute_exists(absent) AND attribute_exists(n)", True),
    ("attribute_exists(n) and not attribute_exists(absent)", True),   # keywords any case
])
def test_boolean_logic(ddb: Any, table: str, expr: str, expected: bool) -> None:
    assert check(ddb, table, expr) is expected


def test_condition_with_names(ddb: Any, table: str) -> None:
    assert check(ddb, table, "#a.#b = :v", {":v": s("v1")}, {"#a": "m", "#b": "k1"})
    assert check(ddb, table, "#x = :v", {":v": n(10)}, {"#x": "n"})


def test_put_if_not_exists_pattern(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("a"), "v": n(1)},
                 ConditionExpression="attribute_not_exists(pk)")
    expect_error("ConditionalCheckFailedException", ddb.put_item, message=CCF_MESSAGE,
                 TableName=t, Item={"pk": s("a"), "v": n(2)},
                 ConditionExpression="attribute_not_exists(pk)")
    assert ddb.get_item(TableName=t, Key={"pk": s("a")})["Item"]["v"] == n(1)


def test_condition_against_missing_item(ddb: Any, make_table: Any) -> None:
    t = make_table()
    expect_error("ConditionalCheckFailedException", ddb.update_item, TableName=t,
                 Key={"pk": s("none")}, UpdateExpression="SET a = :v",
                 ConditionExpression="attribute_exists(pk)",
                 ExpressionAttributeValues={":v": n(1)})
    assert "Item" not in ddb.get_item(TableName=t, Key={"pk": s("none")})
    expect_error("ConditionalCheckFailedException", ddb.delete_item, TableName=t,
                 Key={"pk": s("none")}, ConditionExpression="v = :v",
                 ExpressionAttributeValues={":v": n(1)})


def test_conditional_delete(ddb: Any, table: str) -> None:
    expect_error("ConditionalCheckFailedException", ddb.delete_item, TableName=table,
                 Key={"pk": s("k")}, ConditionExpression="n > :v",
                 ExpressionAttributeValues={":v": n(100)})
    assert "Item" in ddb.get_item(TableName=table, Key={"pk": s("k")})
    ddb.delete_item(TableName=table, Key={"pk": s("k")}, ConditionExpression="n < :v",
                    ExpressionAttributeValues={":v": n(100)})
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": s("k")})


def test_optimistic_locking(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("doc"), "ver": n(1)})
    ddb.update_item(TableName=t, Key={"pk": s("doc")}, UpdateExpression="SET ver = :new",
                    ConditionExpression="ver = :old",
                    ExpressionAttributeValues={":old": n(1), ":new": n(2)})
    expect_error("ConditionalCheckFailedException", ddb.update_item, TableName=t,
                 Key={"pk": s("doc")}, UpdateExpression="SET ver = :new",
                 ConditionExpression="ver = :old",
                 ExpressionAttributeValues={":old": n(1), ":new": n(3)})
    assert ddb.get_item(TableName=t, Key={"pk": s("doc")})["Item"]["ver"] == n(2)


@pytest.mark.parametrize("op", ["put_item", "update_item", "delete_item"])
def test_return_values_on_condition_check_failure(ddb: Any, table: str, op: str) -> None:
    kwargs: dict[str, Any] = {"TableName": table, "ConditionExpression": "n = :v",
                              "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    values: dict[str, Any] = {":v": n(999)}
    if op == "put_item":
        kwargs["Item"] = {"pk": s("k")}
    else:
        kwargs["Key"] = {"pk": s("k")}
    if op == "update_item":
        kwargs["UpdateExpression"] = "SET a = :a"
        values[":a"] = n(1)
    kwargs["ExpressionAttributeValues"] = values
    resp = expect_error("ConditionalCheckFailedException", getattr(ddb, op),
                        message=CCF_MESSAGE, **kwargs)
    assert resp["Item"] == ITEM


def test_return_values_on_condition_check_failure_none(ddb: Any, table: str) -> None:
    resp = expect_error("ConditionalCheckFailedException", ddb.put_item, TableName=table,
                        Item={"pk": s("k")}, ConditionExpression="attribute_not_exists(pk)",
                        ReturnValuesOnConditionCheckFailure="NONE")
    assert "Item" not in resp
    resp = expect_error("ConditionalCheckFailedException", ddb.put_item, TableName=table,
                        Item={"pk": s("k")}, ConditionExpression="attribute_not_exists(pk)")
    assert "Item" not in resp


def test_return_values_on_condition_check_failure_missing_item(
        ddb: Any, make_table: Any) -> None:
    t = make_table()
    resp = expect_error("ConditionalCheckFailedException", ddb.delete_item, TableName=t,
                        Key={"pk": s("none")}, ConditionExpression="attribute_exists(pk)",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert "Item" not in resp


def test_invalid_return_values_on_condition_check_failure(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.put_item, TableName=table, Item={"pk": s("k")},
                 ConditionExpression="attribute_exists(pk)",
                 ReturnValuesOnConditionCheckFailure="ALL_NEW")


def test_failed_condition_writes_nothing(ddb: Any, table: str) -> None:
    expect_error("ConditionalCheckFailedException", ddb.put_item, TableName=table,
                 Item={"pk": s("k"), "only": n(1)}, ConditionExpression="n = :v",
                 ExpressionAttributeValues={":v": n(0)})
    assert ddb.get_item(TableName=table, Key={"pk": s("k")}, ConsistentRead=True)["Item"] == ITEM


def test_condition_consumes_write_capacity_on_failure(ddb: Any, table: str) -> None:
    resp = expect_error("ConditionalCheckFailedException", ddb.put_item, TableName=table,
                        Item={"pk": s("k")}, ConditionExpression="n = :v",
                        ExpressionAttributeValues={":v": n(0)},
                        ReturnConsumedCapacity="TOTAL")
    assert resp["Error"]["Code"] == "ConditionalCheckFailedException"


@pytest.mark.parametrize("expr", [
    "n = ",
    "n == :v",
    "n = :v AND",
    "(n = :v",
    "n BETWEEN :v",
    "n IN ()",
    "attribute_exists()",
    "attribute_exists(n, :v)",
    "unknown_function(n)",
    "size(n)",                    # size() alone is not a condition
    "n",                          # a bare operand is not a condition
    ":v = :v AND n",
    "n = n",                      # both operands the same path
])
def test_condition_syntax_errors(raw_ddb: Any, table: str, expr: str) -> None:
    expect_error("ValidationException", raw_ddb.put_item, TableName=table, Item={"pk": s("k")},
                 ConditionExpression=expr, ExpressionAttributeValues={":v": n(1)})


def test_attribute_type_invalid_type_name(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.put_item, TableName=table, Item={"pk": s("k")},
                 ConditionExpression="attribute_type(n, :t)",
                 ExpressionAttributeValues={":t": s("STRING")})


def test_begins_with_number_operand_rejected(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.put_item, TableName=table, Item={"pk": s("k")},
                 ConditionExpression="begins_with(s, :v)",
                 ExpressionAttributeValues={":v": n(1)})


def test_in_with_too_many_values_rejected(raw_ddb: Any, table: str) -> None:
    values = {f":v{i}": n(i) for i in range(101)}
    expr = "n IN (" + ", ".join(values) + ")"
    expect_error("ValidationException", raw_ddb.put_item, TableName=table, Item={"pk": s("k")},
                 ConditionExpression=expr, ExpressionAttributeValues=values)


def test_between_wrong_order_rejected(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.put_item, TableName=table, Item={"pk": s("k")},
                 ConditionExpression="n BETWEEN :a AND :b",
                 ExpressionAttributeValues={":a": n(5), ":b": n(1)})


def test_condition_reserved_word(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.put_item, TableName=table, Item={"pk": s("k")},
                 ConditionExpression="attribute_exists(size)")
