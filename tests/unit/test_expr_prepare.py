"""prepare(): placeholder maps, cross-expression rules, value-dependent checks."""

from __future__ import annotations

from typing import Any

import pytest

from quorumdb.errors import ValidationException
from quorumdb.expressions import KeyCondition, Path, SortKeyCondition, prepare


def error(**kwargs: Any) -> str:
    with pytest.raises(ValidationException) as caught:
        prepare(**kwargs)
    return caught.value.message


def test_resolves_names_and_values() -> None:
    prepared = prepare(
        condition="#s = :v",
        names={"#s": "status"},
        values={":v": {"N": "01.50"}},
    )
    assert prepared.condition is not None
    assert prepared.condition.matches({"status": {"N": "1.5"}})


def test_maps_checks() -> None:
    assert error(condition="a = :a", values={}) == "ExpressionAttributeValues must not be empty"
    assert error(condition="a = :a", names={}, values={":a": {"S": "x"}}) == (
        "ExpressionAttributeNames must not be empty"
    )
    assert error(condition="a = :a", values={"a": {"S": "x"}}) == (
        'ExpressionAttributeValues contains invalid key: Syntax error; key: "a"'
    )
    assert error(condition="a = :a", names={"b": "x"}, values={":a": {"S": "x"}}) == (
        'ExpressionAttributeNames contains invalid key: Syntax error; key: "b"'
    )
    assert error(condition="a = :a", values={":a": {"SS": []}}).startswith(
        "ExpressionAttributeValues contains invalid value: "
    )


def test_unused_and_undefined() -> None:
    assert error(condition="a = :a", values={":a": {"S": "x"}, ":b": {"S": "y"}}) == (
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}"
    )
    assert error(condition="a = :a", names={"#a": "x"}, values={":a": {"S": "x"}}) == (
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a}"
    )
    assert error(condition="#a = :a", values={":a": {"S": "x"}}) == (
        "Invalid ConditionExpression: An expression attribute name used in the document path is "
        "not defined; attribute name: #a"
    )
    assert error(condition="a = :a") == (
        "Invalid ConditionExpression: An expression attribute value used in expression is not "
        "defined; attribute value: :a"
    )


def test_names_used_across_expressions_count() -> None:
    prepared = prepare(
        update="SET #a = :a",
        condition="attribute_exists(#a)",
        names={"#a": "x"},
        values={":a": {"S": "v"}},
    )
    assert prepared.update is not None and prepared.condition is not None


def test_maps_without_expressions() -> None:
    assert error(names={"#a": "a"}) == (
        "ExpressionAttributeNames can only be specified when using expressions"
    )
    assert error(values={":a": {"S": "x"}}, operation="UpdateItem") == (
        "ExpressionAttributeValues can only be specified when using expressions: "
        "UpdateExpression and ConditionExpression are null"
    )
    assert error(values={":a": {"S": "x"}}, operation="PutItem") == (
        "ExpressionAttributeValues can only be specified when using expressions: "
        "ConditionExpression is null"
    )


def test_between_bounds() -> None:
    assert error(
        condition="a BETWEEN :hi AND :lo", values={":hi": {"N": "5"}, ":lo": {"N": "1"}}
    ) == (
        "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater "
        "than or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper bound "
        "operand: AttributeValue: {N:1}"
    )
    assert "requires same data type" in error(
        filter="a BETWEEN :a AND :b", values={":a": {"N": "1"}, ":b": {"S": "x"}}
    )


def test_function_operand_types() -> None:
    assert error(condition="begins_with(a, :n)", values={":n": {"N": "1"}}) == (
        "Invalid ConditionExpression: Incorrect operand type for operator or function; "
        "operator or function: begins_with, operand type: N"
    )
    assert error(condition="attribute_type(a, :t)", values={":t": {"S": "X"}}) == (
        "Invalid ConditionExpression: Invalid attribute type name found; type: X, "
        "valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
    )
    assert error(condition="a = a") == (
        "Invalid ConditionExpression: The first operand must be distinct from the remaining "
        "operands for this operator or function; operator: =, first operand: [a]"
    )


def test_update_operand_types() -> None:
    assert error(update="ADD a :s", values={":s": {"S": "x"}}) == (
        "Invalid UpdateExpression: Incorrect operand type for operator or function; "
        "operator: ADD, operand type: STRING"
    )
    assert error(update="DELETE a :n", values={":n": {"N": "1"}}) == (
        "Invalid UpdateExpression: Incorrect operand type for operator or function; "
        "operator: DELETE, operand type: NUMBER"
    )
    assert error(update="SET a = b + :s", values={":s": {"S": "x"}}) == (
        "Invalid UpdateExpression: Incorrect operand type for operator or function; "
        "operator or function: +, operand type: S"
    )
    assert error(update="SET a = list_append(a, :s)", values={":s": {"S": "x"}}).endswith(
        "operator or function: list_append, operand type: S"
    )


def test_update_path_overlap_and_conflict() -> None:
    assert error(update="SET a = :v REMOVE a.b", values={":v": {"S": "x"}}) == (
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
        "rewrite one of these paths; path one: [a], path two: [a, b]"
    )
    assert error(update="SET a.b = :v REMOVE a[1]", values={":v": {"S": "x"}}) == (
        "Invalid UpdateExpression: Two document paths conflict with each other; must remove or "
        "rewrite one of these paths; path one: [a, b], path two: [a, [1]]"
    )
    # overlap is judged on resolved names
    assert "overlap" in error(
        update="SET #x = :v, x = :v", names={"#x": "x"}, values={":v": {"S": "x"}}
    )


def test_projection_overlap() -> None:
    assert error(projection="a, a.b") == (
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove "
        "or rewrite one of these paths; path one: [a], path two: [a, b]"
    )
    assert prepare(projection="a.b, a.c, #n[1]", names={"#n": "name"}).projection == (
        Path(("a", "b")),
        Path(("a", "c")),
        Path(("name", 1)),
    )


KEYS = ("pk", "sk")


def key(text: str, values: dict[str, Any], schema: tuple[str, str | None] = KEYS) -> KeyCondition:
    prepared = prepare(key_condition=text, values=values, key_schema=schema)
    assert prepared.key_condition is not None
    return prepared.key_condition


def test_key_condition_shapes() -> None:
    p, s, t = {"S": "p"}, {"N": "1"}, {"N": "9"}
    assert key("pk = :p", {":p": p}) == KeyCondition("pk", p)
    assert key(":s <= sk AND pk = :p", {":p": p, ":s": s}) == KeyCondition(
        "pk", p, SortKeyCondition("sk", "GE", (s,))
    )
    assert key("pk = :p and sk between :s and :t", {":p": p, ":s": s, ":t": t}).sort == (
        SortKeyCondition("sk", "BETWEEN", (s, t))
    )
    assert key("pk = :p AND begins_with(sk, :x)", {":p": p, ":x": {"S": "a"}}).sort == (
        SortKeyCondition("sk", "BEGINS_WITH", ({"S": "a"},))
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sk = :v", "Query condition missed key schema element: pk"),
        ("pk < :v", "Query key condition not supported"),
        (
            "pk = :v AND sk > :v AND sk < :v",
            "KeyConditionExpressions must only contain one condition per key",
        ),
        ("pk = :v OR sk = :v", "Invalid operator used in KeyConditionExpression: OR"),
        ("pk = :v AND sk <> :v", "Invalid operator used in KeyConditionExpression: <>"),
        (
            "pk = :v AND attribute_exists(sk)",
            "Invalid operator used in KeyConditionExpression: attribute_exists",
        ),
        ("pk = :v AND size(sk) = :v", "KeyConditionExpressions cannot contain nested operations"),
        ("pk.x = :v", "KeyConditionExpressions cannot have conditions on nested attributes"),
    ],
)
def test_key_condition_errors(text: str, message: str) -> None:
    assert error(key_condition=text, values={":v": {"S": "x"}}, key_schema=KEYS) == message


def test_key_condition_type_check() -> None:
    assert (
        error(
            key_condition="pk = :v",
            values={":v": {"N": "1"}},
            key_schema=("pk", None),
            key_types={"pk": "S"},
        )
        == "One or more parameter values were invalid: Condition parameter type does not match schema type"
    )
