"""UpdateItem with UpdateExpression: SET, REMOVE, ADD, DELETE, arithmetic, functions,
nested paths, list indexes and the validation errors around them."""

from __future__ import annotations

from typing import Any

import pytest

from ._helpers import expect_error, n, s


def update(ddb: Any, table: str, expr: str, values: dict[str, Any] | None = None,
           names: dict[str, str] | None = None, key: str = "k") -> dict[str, Any]:
    kwargs: dict[str, Any] = {"TableName": table, "Key": {"pk": s(key)},
                              "UpdateExpression": expr, "ReturnValues": "ALL_NEW"}
    if values:
        kwargs["ExpressionAttributeValues"] = values
    if names:
        kwargs["ExpressionAttributeNames"] = names
    out: dict[str, Any] = ddb.update_item(**kwargs)["Attributes"]
    return out


def get(ddb: Any, table: str, key: str = "k") -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(TableName=table, Key={"pk": s(key)},
                                               ConsistentRead=True).get("Item")
    return item


@pytest.fixture
def table(ddb: Any, make_table: Any) -> str:
    name: str = make_table()
    ddb.put_item(TableName=name, Item={
        "pk": s("k"),
        "num": n(10),
        "str": s("hello"),
        "list": {"L": [s("a"), s("b"), s("c")]},
        "map": {"M": {"ival": n(1), "deep": {"M": {"x": s("X")}}}},
        "ss": {"SS": ["a", "b", "c"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": [b"\x01", b"\x02"]},
    })
    return name


# --------------------------------------------------------------------------- SET


def test_update_creates_item(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.update_item(TableName=t, Key={"pk": s("new")}, UpdateExpression="SET a = :a",
                    ExpressionAttributeValues={":a": s("x")})
    assert get(ddb, t, "new") == {"pk": s("new"), "a": s("x")}


def test_update_without_expression_creates_key_only_item(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.update_item(TableName=t, Key={"pk": s("bare")})
    assert get(ddb, t, "bare") == {"pk": s("bare")}


def test_set_several(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET a = :a, b = :b, str = :s",
                 {":a": n(1), ":b": {"BOOL": True}, ":s": s("bye")})
    assert out["a"] == n(1) and out["b"] == {"BOOL": True} and out["str"] == s("bye")


def test_set_copy_from_other_attribute(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET cpy = str, m2 = #m.deep", names={"#m": "map"})
    assert out["cpy"] == s("hello")
    assert out["m2"] == {"M": {"x": s("X")}}


@pytest.mark.parametrize(("expr", "values", "expected"), [
    ("SET num = num + :v", {":v": n(5)}, "15"),
    ("SET num = num - :v", {":v": n(15)}, "-5"),
    ("SET num = :v + num", {":v": n("0.5")}, "10.5"),
    ("SET num = :a - :b", {":a": n(3), ":b": n("0.25")}, "2.75"),
    ("SET num = num + num", None, "20"),
])
def test_set_arithmetic(ddb: Any, table: str, expr: str, values: dict[str, Any] | None,
                        expected: str) -> None:
    assert update(ddb, table, expr, values)["num"] == n(expected)


def test_arithmetic_keeps_38_digit_precision(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET bignum = :a + :b",
                 {":a": n("99999999999999999999999999999999999998"), ":b": n(1)})
    assert out["bignum"] == n("99999999999999999999999999999999999999")


def test_arithmetic_on_non_number_rejected(raw_ddb: Any, ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression="SET str = str + :v",
                 ExpressionAttributeValues={":v": n(1)})
    assert get(ddb, table)["str"] == s("hello")  # type: ignore[index]


def test_arithmetic_on_missing_attribute_rejected(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression="SET nothere = nothere + :v",
                 ExpressionAttributeValues={":v": n(1)})


def test_if_not_exists(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET num = if_not_exists(num, :d), fresh = if_not_exists(fresh, :d)",
                 {":d": n(0)})
    assert out["num"] == n(10)
    assert out["fresh"] == n(0)


def test_if_not_exists_counter_pattern(ddb: Any, make_table: Any) -> None:
    t = make_table()
    for expected in (1, 2, 3):
        out = update(ddb, t, "SET c = if_not_exists(c, :zero) + :one",
                     {":zero": n(0), ":one": n(1)}, key="ctr")
        assert out["c"] == n(expected)


def test_list_append(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET #l = list_append(#l, :tail)", {":tail": {"L": [s("d")]}},
                 names={"#l": "list"})
    assert out["list"] == {"L": [s("a"), s("b"), s("c"), s("d")]}
    out = update(ddb, table, "SET #l = list_append(:head, #l)", {":head": {"L": [s("z")]}},
                 names={"#l": "list"})
    assert out["list"]["L"][0] == s("z")
    assert len(out["list"]["L"]) == 5


def test_list_append_with_if_not_exists(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET nl = list_append(if_not_exists(nl, :empty), :v)",
                 {":empty": {"L": []}, ":v": {"L": [n(1)]}})
    assert out["nl"] == {"L": [n(1)]}


def test_list_append_non_list_rejected(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression="SET str = list_append(str, :v)",
                 ExpressionAttributeValues={":v": {"L": [n(1)]}})


def test_set_nested_map_path(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET #m.ival = :v, #m.deep.y = :y, #m.added = :a",
                 {":v": n(2), ":y": s("Y"), ":a": {"L": []}}, names={"#m": "map"})
    assert out["map"] == {"M": {"ival": n(2), "deep": {"M": {"x": s("X"), "y": s("Y")}},
                                "added": {"L": []}}}


def test_set_path_through_missing_map_rejected(raw_ddb: Any, ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression="SET nomap.child = :v",
                 ExpressionAttributeValues={":v": n(1)})
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression="SET str.child = :v",
                 ExpressionAttributeValues={":v": n(1)})
    assert "nomap" not in get(ddb, table)  # type: ignore[operator]


def test_set_list_index(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET #l[1] = :v", {":v": s("B")}, names={"#l": "list"})
    assert out["list"] == {"L": [s("a"), s("B"), s("c")]}


def test_set_list_index_past_end_appends(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET #l[10] = :v", {":v": s("end")}, names={"#l": "list"})
    assert out["list"] == {"L": [s("a"), s("b"), s("c"), s("end")]}


def test_set_index_on_non_list_rejected(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression="SET str[0] = :v",
                 ExpressionAttributeValues={":v": n(1)})


def test_set_nested_in_list_element(ddb: Any, make_table: Any) -> None:
    t = make_table()
    ddb.put_item(TableName=t, Item={"pk": s("k"), "l": {"L": [{"M": {"a": n(1)}}]}})
    out = update(ddb, t, "SET l[0].b = :b", {":b": n(2)})
    assert out["l"] == {"L": [{"M": {"a": n(1), "b": n(2)}}]}


# --------------------------------------------------------------------------- REMOVE


def test_remove_attributes(ddb: Any, table: str) -> None:
    out = update(ddb, table, "REMOVE str, num, notthere")
    assert "str" not in out and "num" not in out
    assert out["pk"] == s("k")


def test_remove_nested_and_list_index(ddb: Any, table: str) -> None:
    out = update(ddb, table, "REMOVE #m.deep.x, #l[0], #l[2]",
                 names={"#m": "map", "#l": "list"})
    assert out["map"] == {"M": {"ival": n(1), "deep": {"M": {}}}}
    assert out["list"] == {"L": [s("b")]}


def test_remove_list_index_out_of_range_is_noop(ddb: Any, table: str) -> None:
    out = update(ddb, table, "REMOVE #l[9]", names={"#l": "list"})
    assert out["list"] == {"L": [s("a"), s("b"), s("c")]}


def test_set_and_remove_together(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET a = :a REMOVE str", {":a": n(1)})
    assert out["a"] == n(1)
    assert "str" not in out


# --------------------------------------------------------------------------- ADD / DELETE


def test_add_number(ddb: Any, table: str) -> None:
    assert update(ddb, table, "ADD num :v", {":v": n(-3)})["num"] == n(7)
    assert update(ddb, table, "ADD newnum :v", {":v": n("2.5")})["newnum"] == n("2.5")


def test_add_to_sets(ddb: Any, table: str) -> None:
    out = update(ddb, table, "ADD ss :s, ns :n, bs :b, newss :s",
                 {":s": {"SS": ["c", "d"]}, ":n": {"NS": ["2", "3"]}, ":b": {"BS": [b"\x03"]}})
    assert sorted(out["ss"]["SS"]) == ["a", "b", "c", "d"]
    assert sorted(out["ns"]["NS"], key=float) == ["1", "2", "3"]
    assert sorted(out["bs"]["BS"]) == [b"\x01", b"\x02", b"\x03"]
    assert sorted(out["newss"]["SS"]) == ["c", "d"]


def test_add_wrong_type_rejected(raw_ddb: Any, table: str) -> None:
    for expr, value in (("ADD str :v", n(1)),            # ADD to a string
                        ("ADD num :v", {"SS": ["x"]}),   # set into a number
                        ("ADD ss :v", {"NS": ["1"]}),    # wrong set type
                        ("ADD newattr :v", s("x")),      # ADD of a string value
                        ("ADD #l :v", {"L": [n(1)]})):   # ADD of a list
        expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                     Key={"pk": s("k")}, UpdateExpression=expr,
                     ExpressionAttributeValues={":v": value},
                     **({"ExpressionAttributeNames": {"#l": "list"}} if "#l" in expr else {}))


def test_delete_from_sets(ddb: Any, table: str) -> None:
    out = update(ddb, table, "DELETE ss :s, ns :n", {":s": {"SS": ["a", "zz"]},
                                                      ":n": {"NS": ["1"]}})
    assert sorted(out["ss"]["SS"]) == ["b", "c"]
    assert out["ns"] == {"NS": ["2"]}


def test_delete_all_members_removes_attribute(ddb: Any, table: str) -> None:
    out = update(ddb, table, "DELETE ss :s", {":s": {"SS": ["a", "b", "c"]}})
    assert "ss" not in out


def test_delete_from_missing_attribute_is_noop(ddb: Any, table: str) -> None:
    out = update(ddb, table, "DELETE nothere :s", {":s": {"SS": ["a"]}})
    assert "nothere" not in out


def test_delete_wrong_type_rejected(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression="DELETE ss :v",
                 ExpressionAttributeValues={":v": {"NS": ["1"]}})
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression="DELETE num :v",
                 ExpressionAttributeValues={":v": n(1)})


def test_all_four_clauses(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET a = :a REMOVE str ADD num :one DELETE ss :s",
                 {":a": n(1), ":one": n(1), ":s": {"SS": ["a"]}})
    assert out["a"] == n(1)
    assert "str" not in out
    assert out["num"] == n(11)
    assert sorted(out["ss"]["SS"]) == ["b", "c"]


def test_clause_keywords_case_insensitive(ddb: Any, table: str) -> None:
    out = update(ddb, table, "set a = :a remove str add num :one", {":a": n(1), ":one": n(1)})
    assert out["a"] == n(1) and out["num"] == n(11) and "str" not in out


# --------------------------------------------------------------------------- errors


def test_update_key_attribute_rejected(raw_ddb: Any, ddb: Any, table: str) -> None:
    # message verified: real-service answer quoted in truora/minidyn#76
    expect_error("ValidationException", raw_ddb.update_item,
                 message="One or more parameter values were invalid: Cannot update attribute "
                         "pk. This attribute is part of the key",
                 TableName=table, Key={"pk": s("k")}, UpdateExpression="SET pk = :v",
                 ExpressionAttributeValues={":v": s("other")})
    for expr in ("REMOVE pk", "ADD pk :n"):
        kwargs: dict[str, Any] = {"ExpressionAttributeValues": {":n": n(1)}} if ":n" in expr \
            else {}
        expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                     Key={"pk": s("k")}, UpdateExpression=expr, **kwargs)
    assert get(ddb, table) is not None


def test_update_sort_key_rejected(raw_ddb: Any, make_table: Any) -> None:
    t = make_table(range_key=("sk", "N"))
    expect_error("ValidationException", raw_ddb.update_item, TableName=t,
                 Key={"pk": s("a"), "sk": n(1)}, UpdateExpression="SET sk = :v",
                 ExpressionAttributeValues={":v": n(2)})


@pytest.mark.parametrize("expr", [
    "SET a = :v, a = :v",          # same path twice
    "SET a = :v REMOVE a",         # same path in two clauses
    "SET #m.ival = :v, #m = :v",  # overlapping paths
])
def test_overlapping_paths_rejected(raw_ddb: Any, table: str, expr: str) -> None:
    kwargs: dict[str, Any] = {"ExpressionAttributeNames": {"#m": "map"}} if "#m" in expr \
        else {}
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression=expr,
                 ExpressionAttributeValues={":v": n(1)}, **kwargs)


@pytest.mark.parametrize("expr", [
    "SET a = :v SET b = :v",   # clause repeated
    "SET",
    "SET a",
    "SET a = ",
    "UPSERT a = :v",
    "SET a = :v,",
    "REMOVE a = :v",
    "SET a = size(:v)",        # size() is not allowed in an update expression
    "SET a = :v + :v + :v + ",
])
def test_syntax_errors(raw_ddb: Any, table: str, expr: str) -> None:
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression=expr,
                 ExpressionAttributeValues={":v": n(1)})


def test_syntax_error_message_prefix(raw_ddb: Any, table: str) -> None:
    resp = expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                        Key={"pk": s("k")}, UpdateExpression="SET a = = :v",
                        ExpressionAttributeValues={":v": n(1)})
    # message verified (prefix): real-service answer quoted in getndazn/dazn-lambda-powertools#242
    assert resp["Error"]["Message"].startswith("Invalid UpdateExpression: Syntax error; token: ")


def test_reserved_word_in_update(raw_ddb: Any, table: str) -> None:
    # message verified: real-service answer quoted in kayomarz/dynamodb-data-types#18
    expect_error("ValidationException", raw_ddb.update_item,
                 message="Invalid UpdateExpression: Attribute name is a reserved keyword; "
                         "reserved keyword: year",
                 TableName=table, Key={"pk": s("k")}, UpdateExpression="REMOVE year")


def test_reserved_word_via_names_works(ddb: Any, table: str) -> None:
    out = update(ddb, table, "SET #y = :v", {":v": n(2024)}, names={"#y": "year"})
    assert out["year"] == n(2024)


def test_failed_update_changes_nothing(raw_ddb: Any, ddb: Any, table: str) -> None:
    before = get(ddb, table)
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression="SET a = :v, str = str + :v",
                 ExpressionAttributeValues={":v": n(1)})
    assert get(ddb, table) == before


def test_update_with_empty_set_value_rejected(raw_ddb: Any, table: str) -> None:
    expect_error("ValidationException", raw_ddb.update_item, TableName=table,
                 Key={"pk": s("k")}, UpdateExpression="SET a = :v",
                 ExpressionAttributeValues={":v": {"SS": []}})
