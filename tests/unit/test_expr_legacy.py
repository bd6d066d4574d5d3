"""Legacy parameters: conversion to the shared trees and their validation messages."""

from __future__ import annotations

from typing import Any

import pytest

from quorumdb.errors import ValidationException
from quorumdb.expressions import (
    KeyCondition,
    Path,
    SortKeyCondition,
    apply_update,
    check_parameter_mix,
    evaluate_condition,
    prepare_legacy,
)

INVALID = "One or more parameter values were invalid: "


def error(**kwargs: Any) -> str:
    with pytest.raises(ValidationException) as caught:
        prepare_legacy(**kwargs)
    return caught.value.message


def test_expected_value_and_exists() -> None:
    prepared = prepare_legacy(expected={"a": {"Value": {"S": "x"}}, "b": {"Exists": False}})
    assert prepared.condition is not None
    assert evaluate_condition(prepared.condition, {"a": {"S": "x"}})
    assert not evaluate_condition(prepared.condition, {"a": {"S": "x"}, "b": {"N": "1"}})


def test_expected_comparison_and_or() -> None:
    prepared = prepare_legacy(
        expected={
            "n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "5"}]},
            "s": {"ComparisonOperator": "BEGINS_WITH", "Value": {"S": "ab"}},
        },
        conditional_operator="OR",
    )
    assert prepared.condition is not None
    assert evaluate_condition(prepared.condition, {"s": {"S": "abc"}})
    assert evaluate_condition(prepared.condition, {"n": {"N": "6"}})
    assert not evaluate_condition(prepared.condition, {"n": {"N": "5"}})


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        ({"a": {}}, INVALID + "Value must be provided when Exists is null for Attribute: a"),
        (
            {"a": {"Exists": True}},
            INVALID + "Value must be provided when Exists is true for Attribute: a",
        ),
        (
            {"a": {"Exists": False, "Value": {"S": "x"}}},
            INVALID + "Value cannot be used when Exists is false for Attribute: a",
        ),
        (
            {"a": {"ComparisonOperator": "EQ"}},
            INVALID
            + "Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a",
        ),
        (
            {"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}]}},
            INVALID + "Invalid number of argument(s) for the BETWEEN ComparisonOperator",
        ),
        (
            {"a": {"ComparisonOperator": "EQ", "Exists": True, "Value": {"S": "x"}}},
            INVALID + "Exists and ComparisonOperator cannot be used together for Attribute: a",
        ),
        (
            {"a": {"AttributeValueList": [{"S": "x"}]}},
            INVALID
            + "AttributeValueList can only be used with a ComparisonOperator for Attribute: a",
        ),
    ],
)
def test_expected_messages(expected: dict[str, Any], message: str) -> None:
    assert error(expected=expected) == message


def test_filter_messages() -> None:
    assert error(
        scan_filter={"a": {"ComparisonOperator": "LE", "AttributeValueList": [{"SS": ["a"]}]}}
    ) == (INVALID + "ComparisonOperator LE is not valid for SS AttributeValue type")
    assert (
        error(
            query_filter={
                "a": {"ComparisonOperator": "IN", "AttributeValueList": [{"S": "a"}, {"N": "1"}]}
            }
        )
        == INVALID + "AttributeValues inside AttributeValueList must be of same type"
    )
    assert (
        error(
            scan_filter={
                "a": {
                    "ComparisonOperator": "BETWEEN",
                    "AttributeValueList": [{"N": "2"}, {"N": "1"}],
                }
            }
        )
        == "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"
    )


def test_filter_semantics() -> None:
    prepared = prepare_legacy(
        scan_filter={
            "a": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "z"}]},
            "b": {"ComparisonOperator": "NULL"},
        }
    )
    assert prepared.filter is not None
    assert evaluate_condition(prepared.filter, {"a": {"SS": ["x"]}})
    assert not evaluate_condition(prepared.filter, {"a": {"SS": ["z"]}})


def test_key_conditions() -> None:
    prepared = prepare_legacy(
        key_conditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "sk": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "3"}]},
        },
        key_schema=("pk", "sk"),
    )
    assert prepared.key_condition == KeyCondition(
        "pk", {"S": "p"}, SortKeyCondition("sk", "LT", ({"N": "3"},))
    )
    assert (
        error(
            key_conditions={"pk": {"ComparisonOperator": "NE", "AttributeValueList": [{"S": "p"}]}},
            key_schema=("pk", None),
        )
        == "Attempted conditional constraint is not an indexable operation"
    )


def test_attribute_updates() -> None:
    prepared = prepare_legacy(
        attribute_updates={
            "a": {"Value": {"S": "x"}},
            "n": {"Action": "ADD", "Value": {"N": "2"}},
            "l": {"Action": "ADD", "Value": {"L": [{"S": "new"}]}},
            "gone": {"Action": "DELETE"},
        }
    )
    assert prepared.update is not None
    item: dict[str, Any] = {
        "pk": {"S": "k"},
        "n": {"N": "1"},
        "l": {"L": [{"S": "old"}]},
        "gone": {"S": "g"},
    }
    new, _ = apply_update(prepared.update, item, {"pk": {"S": "k"}})
    assert new == {
        "pk": {"S": "k"},
        "a": {"S": "x"},
        "n": {"N": "3"},
        "l": {"L": [{"S": "old"}, {"S": "new"}]},
    }
    assert error(attribute_updates={"a": {"Action": "PUT"}}) == (
        INVALID + "Only DELETE action is allowed when no attribute value is specified"
    )
    assert error(attribute_updates={"a": {"Action": "DELETE", "Value": {"S": "x"}}}) == (
        INVALID + "DELETE action with value is not supported for the type S"
    )


def test_attributes_to_get() -> None:
    assert prepare_legacy(attributes_to_get=["a", "b"]).projection == (Path(("a",)), Path(("b",)))
    assert error(attributes_to_get=["a", "a"]) == INVALID + "Duplicate value in attribute name: a"


def test_parameter_mix() -> None:
    with pytest.raises(ValidationException) as caught:
        check_parameter_mix("PutItem", {"Expected": {}, "ConditionExpression": "a = :a"})
    assert caught.value.message == (
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"
    )
    check_parameter_mix("Query", {"KeyConditions": {}, "FilterExpression": "a = :a"})
    with pytest.raises(ValidationException) as caught:
        check_parameter_mix("Scan", {"ExpressionAttributeValues": {":a": {"S": "x"}}})
    assert caught.value.message == (
        "ExpressionAttributeValues can only be specified when using expressions: "
        "FilterExpression is null"
    )
