"""Tests for quorumdb.model.values: validation messages, canonical copies, equality, order."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorumdb.errors import SerializationException, ValidationException
from quorumdb.model.values import (
    EMPTY_MESSAGE,
    MULTIPLE_MESSAGE,
    NESTING_MESSAGE,
    b64,
    compare_values,
    validate_item,
    validate_value,
    value_type,
    values_equal,
)


def validation_message(value: object) -> str:
    with pytest.raises(ValidationException) as info:
        validate_value(value)
    return info.value.message


def serialization_message(value: object) -> str:
    with pytest.raises(SerializationException) as info:
        validate_value(value)
    assert info.value.wire_type == "com.amazon.coral.service#SerializationException"
    return info.value.message


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ({"S": "abc"}, {"S": "abc"}),
        ({"S": ""}, {"S": ""}),  # empty strings are fine outside keys since 2020
        ({"B": ""}, {"B": ""}),
        ({"B": "YWJj"}, {"B": "YWJj"}),
        ({"N": "1.50"}, {"N": "1.5"}),
        ({"N": "-0"}, {"N": "0"}),
        ({"BOOL": False}, {"BOOL": False}),
        ({"NULL": True}, {"NULL": True}),
        ({"SS": ["b", "a"]}, {"SS": ["b", "a"]}),
        ({"NS": ["1e2", "2"]}, {"NS": ["100", "2"]}),
        ({"BS": ["YQ==", "Yg=="]}, {"BS": ["YQ==", "Yg=="]}),
        ({"M": {}}, {"M": {}}),
        ({"L": []}, {"L": []}),
        (
            {"M": {"a": {"N": "01"}, "b": {"L": [{"N": "1E1"}]}}},
            {"M": {"a": {"N": "1"}, "b": {"L": [{"N": "10"}]}}},
        ),
        # Coral drops null members and unknown members of a structure.
        ({"S": "x", "N": None}, {"S": "x"}),
        ({"S": "x", "Z": 1}, {"S": "x"}),
        ({"M": {"a": None, "b": {"S": "y"}}}, {"M": {"b": {"S": "y"}}}),
    ],
)
def test_valid_values_come_back_canonical(value: dict[str, Any], canonical: dict[str, Any]) -> None:
    result = validate_value(value)
    assert result == canonical
    assert result is not value


def test_validate_item_returns_a_canonical_copy_without_touching_the_input() -> None:
    item = {"pk": {"S": "a"}, "n": {"N": "1.0"}, "gone": None}
    assert validate_item(item) == {"pk": {"S": "a"}, "n": {"N": "1"}}
    assert item["n"] == {"N": "1.0"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, EMPTY_MESSAGE),
        ({"S": None}, EMPTY_MESSAGE),
        ({"X": "a"}, EMPTY_MESSAGE),
        ({"S": "a", "N": "1"}, MULTIPLE_MESSAGE),
        ({"S": "a", "BOOL": True}, MULTIPLE_MESSAGE),
        # A bad member is reported before the member count.
        ({"S": "a", "N": "b"}, "The parameter cannot be converted to a numeric value: b"),
        ({"N": ""}, "The parameter cannot be converted to a numeric value"),
        (
            {"N": "1e126"},
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            {"NULL": False},
            "One or more parameter values were invalid: Null attribute value types must have the value of true",
        ),
        ({"SS": []}, "One or more parameter values were invalid: An string set  may not be empty"),
        ({"NS": []}, "One or more parameter values were invalid: An number set  may not be empty"),
        ({"BS": []}, "One or more parameter values were invalid: Binary sets should not be empty"),
        (
            {"SS": ["a", ""]},
            "One or more parameter values were invalid: An string set may not have a empty string as a member",
        ),
        (
            {"BS": ["YQ==", ""]},
            "One or more parameter values were invalid: Binary sets may not contain null or empty values",
        ),
        (
            {"SS": ["a", "a"]},
            "One or more parameter values were invalid: Input collection [a, a] contains duplicates.",
        ),
        (
            {"SS": ["a", "b", "a"]},
            "One or more parameter values were invalid: Input collection [a, b, a] contains duplicates.",
        ),
        ({"NS": ["1", "1"]}, "Input collection contains duplicates"),
        ({"NS": ["1", "1.0"]}, "Input collection contains duplicates"),  # by value
        ({"NS": ["1", "b"]}, "The parameter cannot be converted to a numeric value: b"),
        ({"NS": ["1", None]}, "The parameter cannot be converted to a numeric value"),
        (
            {"BS": ["YQ==", "YQ=="]},
            "One or more parameter values were invalid: Input collection [YQ==, YQ==]of type BS contains duplicates.",
        ),
        ({"M": {"a": {}}}, EMPTY_MESSAGE),
        ({"L": [{"N": "x"}]}, "The parameter cannot be converted to a numeric value: x"),
    ],
)
def test_invalid_values_raise_dynamodb_validation_messages(value: object, message: str) -> None:
    assert validation_message(value) == message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"S": 5}, "NUMBER_VALUE can not be converted to a String"),
        ({"S": 1.5}, "NUMBER_VALUE can not be converted to a String"),
        ({"S": True}, "TRUE_VALUE can not be converted to a String"),
        ({"N": 5}, "NUMBER_VALUE can not be converted to a String"),
        ({"S": ["a"]}, "Start of list found where not expected"),
        ({"S": {"a": 1}}, "Start of structure or map found where not expected."),
        ({"BOOL": 1}, "NUMBER_VALUE can not be converted to a Boolean"),
        ({"BOOL": "maybe"}, "'MAYBE' can not be converted to an Boolean"),
        ({"B": 5}, "NUMBER_VALUE can not be converted to a Blob"),
        ({"SS": "a"}, "Expected list or null"),
        ({"SS": {"a": 1}}, "Start of structure or map found where not expected."),
        ({"SS": [1]}, "NUMBER_VALUE can not be converted to a String"),
        ({"L": 5}, "Expected list or null"),
        ({"M": 5}, "Expected map or null"),
        ({"M": []}, "Start of list found where not expected"),
        ("abc", "Expected null"),
        ([], "Start of list found where not expected"),
        ({"L": ["abc"]}, "Expected null"),
        (
            {"B": "abc"},
            "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 3",
        ),
        ({"B": "ab!d"}, "'ab!d' can not be converted to a Blob: Invalid Base64 character: '!'"),
        ({"B": "a=bc"}, "'a=bc' can not be converted to a Blob: Invalid Base64 character: '='"),
        (
            {"B": "YR=="},
            "'YR==' can not be converted to a Blob: Invalid last non-pad Base64 character dectected",
        ),
    ],
)
def test_wrong_json_types_raise_serialization_exception(value: object, message: str) -> None:
    assert serialization_message(value) == message


def test_bool_accepts_coral_spellings() -> None:
    assert validate_value({"BOOL": "true"}) == {"BOOL": True}
    assert validate_value({"BOOL": "No"}) == {"BOOL": False}


def nested(depth: int, kind: str = "M") -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(depth):
        value = {"M": {"a": value}} if kind == "M" else {"L": [value]}
    return value


@pytest.mark.parametrize("kind", ["M", "L"])
def test_nesting_up_to_32_levels_is_accepted_and_33_refused(kind: str) -> None:
    assert validate_value(nested(32, kind)) == nested(32, kind)
    assert validation_message(nested(33, kind)) == NESTING_MESSAGE
    assert validate_item({"a": nested(32, kind)})["a"] == nested(32, kind)


def test_validate_item_requires_a_map() -> None:
    with pytest.raises(SerializationException):
        validate_item([])
    with pytest.raises(SerializationException):
        validate_item("x")


def test_value_type_and_b64() -> None:
    assert value_type({"NS": ["1"]}) == "NS"
    assert b64({"B": "YWJj"}) == b"abc"
    assert b64("AA==") == b"\x00"


def test_values_equal() -> None:
    assert values_equal({"N": "1"}, {"N": "1.0"})
    assert not values_equal({"N": "1"}, {"S": "1"})
    assert values_equal({"SS": ["a", "b"]}, {"SS": ["b", "a"]})
    assert not values_equal({"SS": ["a", "b"]}, {"SS": ["a"]})
    assert values_equal({"NS": ["1", "2"]}, {"NS": ["2.0", "1"]})
    assert values_equal({"BS": ["YQ==", "Yg=="]}, {"BS": ["Yg==", "YQ=="]})
    assert values_equal({"M": {"a": {"N": "1"}}}, {"M": {"a": {"N": "1.00"}}})
    assert not values_equal({"M": {"a": {"N": "1"}}}, {"M": {"b": {"N": "1"}}})
    assert values_equal({"L": [{"N": "1"}, {"S": "x"}]}, {"L": [{"N": "1.0"}, {"S": "x"}]})
    assert not values_equal({"L": [{"N": "1"}]}, {"L": [{"N": "1"}, {"N": "1"}]})
    assert not values_equal({"L": [{"S": "a"}, {"S": "b"}]}, {"L": [{"S": "b"}, {"S": "a"}]})
    assert values_equal({"NULL": True}, {"NULL": True})
    assert not values_equal({"BOOL": True}, {"BOOL": False})
    assert not values_equal({"S": "a"}, {"S": "b"})


@given(st.text(), st.text())
def test_string_order_is_utf8_byte_order(a: str, b: str) -> None:
    left = a.encode("utf-8", "surrogatepass")
    right = b.encode("utf-8", "surrogatepass")
    assert compare_values({"S": a}, {"S": b}) == (left > right) - (left < right)


@given(st.binary(), st.binary())
def test_binary_order_is_unsigned_byte_order(a: bytes, b: bytes) -> None:
    value_a = {"B": base64.b64encode(a).decode()}
    value_b = {"B": base64.b64encode(b).decode()}
    assert compare_values(value_a, value_b) == (a > b) - (a < b)


def test_compare_values_examples() -> None:
    assert compare_values({"N": "10"}, {"N": "9"}) == 1
    assert compare_values({"N": "-10"}, {"N": "9"}) == -1
    assert compare_values({"S": "B"}, {"S": "a"}) == -1
    assert compare_values({"S": "\uffff"}, {"S": "\U00010000"}) == -1  # not UTF-16 order
    assert compare_values({"B": "/w=="}, {"B": "AA=="}) == 1  # 0xff > 0x00 unsigned
    assert compare_values({"S": "1"}, {"N": "1"}) is None
    assert compare_values({"BOOL": True}, {"BOOL": False}) is None
    assert compare_values({"SS": ["a"]}, {"SS": ["a"]}) is None


@given(st.binary(max_size=64))
def test_any_valid_base64_round_trips(data: bytes) -> None:
    text = base64.b64encode(data).decode()
    assert validate_value({"B": text}) == {"B": text}
    assert b64(text) == data
