"""Query key conditions: from a resolved condition tree to ``KeyCondition``.

A KeyConditionExpression uses the condition grammar but only a narrow subset: an
equality on the partition key, optionally AND one of ``= < <= > >= BETWEEN begins_with``
on the sort key. The query code needs a structure, not a predicate: the partition value
picks the partition and the sort condition bounds the range scan. ``key_condition_matches``
is the predicate form, for checking candidate items (tests, index maintenance).

Messages follow DynamoDB as reproduced by dynalite's KeyConditionExpression converter:
they are reported without the ``Invalid KeyConditionExpression:`` prefix.
"""

from __future__ import annotations

from quorumdb.errors import ValidationException
from quorumdb.model.values import compare_values, values_equal

from . import messages as msg
from .ast import (
    And,
    AttributeExists,
    AttributeNotExists,
    AttributeType,
    AttributeValue,
    BeginsWith,
    Between,
    Compare,
    Condition,
    Contains,
    In,
    Item,
    KeyCondition,
    Literal,
    Not,
    Operand,
    Or,
    Path,
    Size,
    SortKeyCondition,
)
from .evaluate import begins_with

KeySchema = tuple[str, str | None]

_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_OPERATORS = {"=": "EQ", "<": "LT", "<=": "LE", ">": "GT", ">=": "GE"}


def _leaves(node: Condition, out: list[Condition]) -> None:
    if isinstance(node, And):
        _leaves(node.left, out)
        _leaves(node.right, out)
    else:
        out.append(node)


def _fail(text: str) -> ValidationException:
    return ValidationException(text)


def _leaf_condition(node: Condition) -> tuple[str, str, tuple[AttributeValue, ...]]:
    """One leaf as (attribute name, legacy operator, values)."""
    match node:
        case Or():
            raise _fail("Invalid operator used in KeyConditionExpression: OR")
        case Not():
            raise _fail("Invalid operator used in KeyConditionExpression: NOT")
        case In():
            raise _fail("Invalid operator used in KeyConditionExpression: IN")
        case Compare("<>", _, _):
            raise _fail("Invalid operator used in KeyConditionExpression: <>")
        case AttributeExists() | AttributeNotExists() | AttributeType() | Contains():
            name = {
                AttributeExists: "attribute_exists",
                AttributeNotExists: "attribute_not_exists",
                AttributeType: "attribute_type",
                Contains: "contains",
            }[type(node)]
            raise _fail(f"Invalid operator used in KeyConditionExpression: {name}")
        case Between(operand, low, high):
            if not isinstance(operand, Path):
                _no_size(operand)
                raise _fail(
                    "Invalid condition in KeyConditionExpression: BETWEEN operator must have "
                    "the key attribute as its first operand"
                )
            return _single(operand, [low, high], "BETWEEN")
        case BeginsWith(operand, prefix):
            if not isinstance(operand, Path):
                _no_size(operand)
                raise _fail(
                    "Invalid condition in KeyConditionExpression: begins_with operator must "
                    "have the key attribute as its first operand"
                )
            return _single(operand, [prefix], "BEGINS_WITH")
        case Compare(op, left, right):
            if isinstance(right, Path) and not isinstance(left, Path):
                left, right, op = right, left, _FLIPPED[op]
            _no_size(left)
            if not isinstance(left, Path):
                _no_size(right)
                raise _fail(
                    "Invalid condition in KeyConditionExpression: No key attribute specified"
                )
            return _single(left, [right], _OPERATORS[op])
    raise AssertionError(node)


def _no_size(operand: Operand) -> None:
    if isinstance(operand, Size):
        raise _fail("KeyConditionExpressions cannot contain nested operations")


def _single(
    path: Path, others: list[Operand], op: str
) -> tuple[str, str, tuple[AttributeValue, ...]]:
    values: list[AttributeValue] = []
    for other in others:
        _no_size(other)
        if isinstance(other, Path):
            raise _fail(
                "Invalid condition in KeyConditionExpression: Multiple attribute names used in "
                "one condition"
            )
        assert isinstance(other, Literal)
        values.append(other.value)
    if len(path.elements) > 1:
        raise _fail("KeyConditionExpressions cannot have conditions on nested attributes")
    name = path.elements[0]
    assert isinstance(name, str)
    return name, op, tuple(values)


def key_condition_from_expression(
    node: Condition, key_schema: KeySchema, key_types: dict[str, str] | None = None
) -> KeyCondition:
    leaves: list[Condition] = []
    _leaves(node, leaves)
    conditions: dict[str, tuple[str, tuple[AttributeValue, ...]]] = {}
    for leaf in leaves:
        name, op, values = _leaf_condition(leaf)
        if name in conditions:
            raise _fail("KeyConditionExpressions must only contain one condition per key")
        conditions[name] = (op, values)
    return build_key_condition(conditions, key_schema, key_types)


def build_key_condition(
    conditions: dict[str, tuple[str, tuple[AttributeValue, ...]]],
    key_schema: KeySchema,
    key_types: dict[str, str] | None = None,
) -> KeyCondition:
    """Check conditions (name -> (legacy op, values)) against the key schema."""
    hash_name, range_name = key_schema
    if hash_name not in conditions:
        raise _fail(f"Query condition missed key schema element: {hash_name}")
    for name in conditions:
        if name not in (hash_name, range_name):
            if range_name is not None and range_name not in conditions:
                raise _fail(f"Query condition missed key schema element: {range_name}")
            raise _fail("Query key condition not supported")
    hash_op, hash_values = conditions[hash_name]
    if hash_op != "EQ":
        raise _fail("Query key condition not supported")
    if key_types:
        for name, (_op, values) in conditions.items():
            expected = key_types.get(name)
            if expected is not None and any(msg.type_of(v) != expected for v in values):
                raise _fail(
                    msg.INVALID_PARAMETER + "Condition parameter type does not match schema type"
                )
    sort = None
    if range_name is not None and range_name in conditions:
        op, values = conditions[range_name]
        sort = SortKeyCondition(range_name, op, values)
    return KeyCondition(hash_name, hash_values[0], sort)


def sort_key_matches(sort: SortKeyCondition, value: AttributeValue | None) -> bool:
    if value is None:
        return False
    if sort.op == "EQ":
        return values_equal(value, sort.values[0])
    if sort.op == "BEGINS_WITH":
        return begins_with(value, sort.values[0])
    order = compare_values(value, sort.values[0])
    if order is None:
        return False
    if sort.op == "BETWEEN":
        upper = compare_values(value, sort.values[1])
        return order >= 0 and upper is not None and upper <= 0
    return {"LT": order < 0, "LE": order <= 0, "GT": order > 0, "GE": order >= 0}[sort.op]


def key_condition_matches(condition: KeyCondition, item: Item) -> bool:
    """True when ``item``'s key attributes satisfy the key condition."""
    hash_value = item.get(condition.hash_name)
    if hash_value is None or not values_equal(hash_value, condition.hash_value):
        return False
    if condition.sort is None:
        return True
    return sort_key_matches(condition.sort, item.get(condition.sort.name))
