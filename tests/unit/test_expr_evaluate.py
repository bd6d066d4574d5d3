"""Condition evaluation semantics, key-condition matching, and Hypothesis checks
against a deliberately dumb model of DynamoDB comparisons."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from quorumdb.expressions import evaluate_condition, key_condition_matches, prepare

ITEM: dict[str, Any] = {
    "pk": {"S": "k"},
    "s": {"S": "hello"},
    "n": {"N": "10"},
    "b": {"B": base64.b64encode(b"\x01\x02\x03").decode()},
    "ss": {"SS": ["x", "y"]},
    "ns": {"NS": ["1", "2.5"]},
    "l": {"L": [{"S": "a"}, {"N": "1"}, {"M": {"z": {"BOOL": True}}}]},
    "m": {"M": {"deep": {"L": [{"N": "7"}]}, "flag": {"NULL": True}}},
}


def holds(text: str, item: dict[str, Any] | None = ITEM, **values: Any) -> bool:
    prepared = prepare(condition=text, values={f":{k}": v for k, v in values.items()} or None)
    assert prepared.condition is not None
    return evaluate_condition(prepared.condition, item)


def test_comparisons() -> None:
    assert holds("n = :v", v={"N": "10.0"})
    assert holds("n > :v", v={"N": "9.99"})
    assert not holds("n > :v", v={"S": "9"})  # different types: false, not an error
    assert holds("s < :v", v={"S": "hellp"})
    assert holds("n <> :v", v={"S": "10"})
    assert holds("absent <> :v", v={"N": "1"})
    assert not holds("absent = :v", v={"N": "1"})
    assert not holds("absent < :v", v={"N": "1"})


def test_deep_equality_and_sets() -> None:
    assert holds("ss = :v", v={"SS": ["y", "x"]})
    assert holds("ns = :v", v={"NS": ["2.50", "1"]})
    assert holds("m.deep = :v", v={"L": [{"N": "7"}]})
    assert holds("l[2] = :v", v={"M": {"z": {"BOOL": True}}})
    assert not holds("ss < :v", v={"SS": ["z"]})


def test_between_and_in() -> None:
    assert holds("n BETWEEN :a AND :b", a={"N": "10"}, b={"N": "11"})
    assert not holds("n BETWEEN :a AND :b", a={"N": "11"}, b={"N": "12"})
    assert holds("s IN (:a, :b)", a={"N": "1"}, b={"S": "hello"})
    assert not holds("s IN (:a)", a={"S": "nope"})


def test_functions() -> None:
    assert holds("attribute_exists(m.deep[0])")
    assert holds("attribute_not_exists(m.deep[1])")
    assert holds("attribute_not_exists(s.x)")
    assert holds("attribute_type(ns, :t)", t={"S": "NS"})
    assert holds("begins_with(s, :p)", p={"S": "he"})
    assert holds("begins_with(b, :p)", p={"B": base64.b64encode(b"\x01").decode()})
    assert not holds("begins_with(n, :p)", p={"S": "1"})
    assert holds("contains(s, :p)", p={"S": "ell"})
    assert holds("contains(ss, :p)", p={"S": "x"})
    assert holds("contains(ns, :p)", p={"N": "2.50"})
    assert not holds("contains(ss, :p)", p={"N": "1"})
    assert holds("contains(l, :p)", p={"N": "1.0"})


def test_size() -> None:
    assert holds("size(s) = :v", v={"N": "5"})
    assert holds("size(b) = :v", v={"N": "3"})
    assert holds("size(l) = :v", v={"N": "3"})
    assert holds("size(m) = :v", v={"N": "2"})
    assert not holds("size(n) = :v", v={"N": "2"})


def test_no_item() -> None:
    assert holds("attribute_not_exists(pk)", None)
    assert not holds("attribute_exists(pk)", None)
    assert not holds("pk = :v", None, v={"S": "k"})
    assert holds("NOT pk = :v", None, v={"S": "k"})


def test_key_condition_matches() -> None:
    prepared = prepare(
        key_condition="pk = :p AND sk BETWEEN :a AND :b",
        values={":p": {"S": "k"}, ":a": {"N": "1"}, ":b": {"N": "5"}},
        key_schema=("pk", "sk"),
    )
    assert prepared.key_condition is not None
    assert key_condition_matches(prepared.key_condition, {"pk": {"S": "k"}, "sk": {"N": "5"}})
    assert not key_condition_matches(prepared.key_condition, {"pk": {"S": "k"}, "sk": {"N": "6"}})
    assert not key_condition_matches(prepared.key_condition, {"pk": {"S": "j"}, "sk": {"N": "2"}})


# -- Hypothesis: comparisons against a dumb model ----------------------------------------

numbers = st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False).map(
    lambda d: {"N": str(d)}
)
strings = st.text(alphabet="abcxyz\u00e9\U0001f600", max_size=4).map(lambda s: {"S": s})
binaries = st.binary(max_size=4).map(lambda b: {"B": base64.b64encode(b).decode()})
scalars = st.one_of(numbers, strings, binaries, st.booleans().map(lambda b: {"BOOL": b}))


def dumb_key(value: dict[str, Any]) -> tuple[str, Any]:
    tag, payload = next(iter(value.items()))
    if tag == "N":
        return tag, Decimal(payload)
    if tag == "S":
        return tag, payload.encode("utf-8")  # DynamoDB orders strings by UTF-8 bytes
    if tag == "B":
        return tag, base64.b64decode(payload)
    return tag, payload


def dumb(op: str, left: dict[str, Any], right: dict[str, Any]) -> bool:
    (left_tag, a), (right_tag, b) = dumb_key(left), dumb_key(right)
    same = left_tag == right_tag
    if op == "=":
        return same and a == b
    if op == "<>":
        return not (same and a == b)
    if not same or left_tag == "BOOL":
        return False
    return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


@given(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), scalars, scalars)
def test_comparison_matches_dumb_model(
    op: str, left: dict[str, Any], right: dict[str, Any]
) -> None:
    item = {"a": left}
    assert holds(f"a {op} :v", item, v=right) == dumb(op, left, right)


@given(scalars, scalars, scalars)
def test_between_is_two_comparisons(
    value: dict[str, Any], low: dict[str, Any], high: dict[str, Any]
) -> None:
    if dumb_key(low)[0] != dumb_key(high)[0] or (dumb(">", low, high)):
        return  # rejected at validation time
    item = {"a": value}
    expected = dumb(">=", value, low) and dumb("<=", value, high)
    assert holds("a BETWEEN :l AND :h", item, l=low, h=high) == expected
