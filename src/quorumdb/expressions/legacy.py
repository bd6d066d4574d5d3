"""The legacy (pre-expression) parameters, converted into the same resolved trees.

Expected + ConditionalOperator, QueryFilter/ScanFilter + ConditionalOperator,
KeyConditions, AttributeUpdates and AttributesToGet are translated into the resolved
condition/update/projection trees that ``prepare`` produces for expressions, so a single
evaluator serves both APIs. Attribute names in these parameters are literal top-level
names (no placeholders, no document paths).

Validation messages follow DynamoDB (as reproduced by dynalite and DynamoDB Local):
"One or more parameter values were invalid: ..." for malformed conditions, and
``check_parameter_mix`` for requests that mix the two styles.
"""

from __future__ import annotations

from typing import Any, Final

from quorumdb.errors import ValidationException
from quorumdb.model.values import compare_values, validate_value

from . import messages as msg
from .ast import (
    AddAction,
    And,
    AttributeExists,
    AttributeNotExists,
    AttributeValue,
    BeginsWith,
    Between,
    Compare,
    Condition,
    Contains,
    DeleteAction,
    IfNotExists,
    In,
    KeyCondition,
    ListAppend,
    Literal,
    Not,
    Or,
    Path,
    SetAction,
    UpdateExpression,
)
from .evaluate import PreparedCondition, prepare_condition
from .keycondition import KeySchema, build_key_condition
from .prepare import Prepared

_SCALARS: Final = ("S", "N", "B")
_ALL: Final = ("S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL", "L", "M")
# ComparisonOperator -> (argument count (None: one or more), value types allowed)
OPERATORS: Final[dict[str, tuple[int | None, tuple[str, ...]]]] = {
    "EQ": (1, _ALL),
    "NE": (1, _ALL),
    "LE": (1, _SCALARS),
    "LT": (1, _SCALARS),
    "GE": (1, _SCALARS),
    "GT": (1, _SCALARS),
    "NOT_NULL": (0, ()),
    "NULL": (0, ()),
    "CONTAINS": (1, _SCALARS),
    "NOT_CONTAINS": (1, _SCALARS),
    "BEGINS_WITH": (1, ("S", "B")),
    "IN": (None, _SCALARS),
    "BETWEEN": (2, _SCALARS),
}
KEY_OPERATORS: Final = frozenset({"EQ", "LE", "LT", "GE", "GT", "BEGINS_WITH", "BETWEEN"})

# Operation -> (expression parameters, non-expression parameters), as DynamoDB lists them.
PARAMETERS: Final = {
    "PutItem": (("ConditionExpression",), ("Expected",)),
    "DeleteItem": (("ConditionExpression",), ("Expected",)),
    "UpdateItem": (("UpdateExpression", "ConditionExpression"), ("AttributeUpdates", "Expected")),
    "GetItem": (("ProjectionExpression",), ("AttributesToGet",)),
    "BatchGetItem": (("ProjectionExpression",), ("AttributesToGet",)),
    "Query": (
        ("KeyConditionExpression", "FilterExpression", "ProjectionExpression"),
        ("KeyConditions", "QueryFilter", "AttributesToGet"),
    ),
    "Scan": (("FilterExpression", "ProjectionExpression"), ("ScanFilter", "AttributesToGet")),
}


def _invalid(detail: str) -> ValidationException:
    return ValidationException(msg.INVALID_PARAMETER + detail)


def check_parameter_mix(operation: str, request: dict[str, Any]) -> None:
    """DynamoDB's checks on mixing expression and non-expression parameters."""
    expressions, legacy = PARAMETERS[operation]
    used = [name for name in expressions if request.get(name) is not None]
    if used:
        candidates = list(legacy)
        if (
            request.get("KeyConditions") is not None
            and request.get("KeyConditionExpression") is None
        ):
            candidates.remove("KeyConditions")  # KeyConditions may accompany a filter expression
        mixed = [name for name in candidates if request.get(name) is not None]
        if mixed:
            raise ValidationException(
                "Can not use both expression and non-expression parameters in the same request: "
                f"Non-expression parameters: {{{', '.join(mixed)}}} "
                f"Expression parameters: {{{', '.join(used)}}}"
            )
    if request.get("ExpressionAttributeNames") is not None and not used:
        raise ValidationException(
            "ExpressionAttributeNames can only be specified when using expressions"
        )
    value_expressions = [name for name in expressions if name != "ProjectionExpression"]
    if (
        value_expressions
        and request.get("ExpressionAttributeValues") is not None
        and all(request.get(name) is None for name in value_expressions)
    ):
        verb = "are" if len(value_expressions) > 1 else "is"
        raise ValidationException(
            "ExpressionAttributeValues can only be specified when using expressions: "
            f"{' and '.join(value_expressions)} {verb} null"
        )


def _check_arguments(operator: str, values: list[AttributeValue]) -> None:
    if operator not in OPERATORS:
        raise ValidationException(
            f"1 validation error detected: Value '{operator}' at 'comparisonOperator' failed to "
            "satisfy constraint: Member must satisfy enum value set: "
            "[IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
        )
    count, types = OPERATORS[operator]
    if (count is None and not values) or (count is not None and len(values) != count):
        raise _invalid(f"Invalid number of argument(s) for the {operator} ComparisonOperator")
    if values:
        first = msg.type_of(values[0])
        if any(msg.type_of(v) != first for v in values):
            raise _invalid("AttributeValues inside AttributeValueList must be of same type")
    for value in values:
        if msg.type_of(value) not in types:
            raise _invalid(
                f"ComparisonOperator {operator} is not valid for {msg.type_of(value)} "
                "AttributeValue type"
            )
    if operator == "BETWEEN":
        order = compare_values(values[0], values[1])
        if order is not None and order > 0:
            raise ValidationException(
                "The BETWEEN condition was provided a range where the lower bound is greater "
                "than the upper bound"
            )


def _comparison(name: str, operator: str, values: list[AttributeValue]) -> Condition:
    path = Path((name,))
    literals = [Literal(v) for v in values]
    simple = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
    if operator in simple:
        return Compare(simple[operator], path, literals[0])
    if operator == "NOT_NULL":
        return AttributeExists(path)
    if operator == "NULL":
        return AttributeNotExists(path)
    if operator == "CONTAINS":
        return Contains(path, literals[0])
    if operator == "NOT_CONTAINS":
        return Not(Contains(path, literals[0]))
    if operator == "BEGINS_WITH":
        return BeginsWith(path, literals[0])
    if operator == "IN":
        return In(path, tuple(literals))
    return Between(path, literals[0], literals[1])


def _combine(conditions: list[Condition], conditional_operator: str | None) -> Condition | None:
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = (
            Or(combined, condition) if conditional_operator == "OR" else And(combined, condition)
        )
    return combined


def _values(raw: list[Any] | None) -> list[AttributeValue]:
    return [validate_value(v) for v in raw or []]


def conditions_to_condition(
    conditions: dict[str, Any], conditional_operator: str | None = None
) -> Condition | None:
    """QueryFilter / ScanFilter: {name: {ComparisonOperator, AttributeValueList}}."""
    out: list[Condition] = []
    for name, condition in conditions.items():
        operator = condition.get("ComparisonOperator")
        values = _values(condition.get("AttributeValueList"))
        _check_arguments(str(operator), values)
        out.append(_comparison(name, str(operator), values))
    return _combine(out, conditional_operator)


def expected_to_condition(
    expected: dict[str, Any], conditional_operator: str | None = None
) -> Condition | None:
    """Expected: {name: {Value, Exists} | {ComparisonOperator, AttributeValueList|Value}}."""
    out: list[Condition] = []
    for name, condition in expected.items():
        has_list = condition.get("AttributeValueList") is not None
        has_value = condition.get("Value") is not None
        operator = condition.get("ComparisonOperator")
        exists = condition.get("Exists")
        if has_list and has_value:
            raise _invalid(
                f"Value and AttributeValueList cannot be used together for Attribute: {name}"
            )
        if operator is not None:
            if exists is not None:
                raise _invalid(
                    f"Exists and ComparisonOperator cannot be used together for Attribute: {name}"
                )
            if operator not in ("NULL", "NOT_NULL") and not has_list and not has_value:
                raise _invalid(
                    "Value or AttributeValueList must be used with ComparisonOperator: "
                    f"{operator} for Attribute: {name}"
                )
            raw = (
                condition["AttributeValueList"]
                if has_list
                else ([condition["Value"]] if has_value else [])
            )
            values = _values(raw)
            _check_arguments(str(operator), values)
            out.append(_comparison(name, str(operator), values))
            continue
        if has_list:
            raise _invalid(
                f"AttributeValueList can only be used with a ComparisonOperator for Attribute: {name}"
            )
        if exists is None or exists:
            if not has_value:
                shown = "null" if exists is None else "true"
                raise _invalid(
                    f"Value must be provided when Exists is {shown} for Attribute: {name}"
                )
            out.append(Compare("=", Path((name,)), Literal(validate_value(condition["Value"]))))
        else:
            if has_value:
                raise _invalid(f"Value cannot be used when Exists is false for Attribute: {name}")
            out.append(AttributeNotExists(Path((name,))))
    return _combine(out, conditional_operator)


def key_conditions_to_key_condition(
    key_conditions: dict[str, Any], key_schema: KeySchema, key_types: dict[str, str] | None = None
) -> KeyCondition:
    conditions: dict[str, tuple[str, tuple[AttributeValue, ...]]] = {}
    for name, condition in key_conditions.items():
        operator = str(condition.get("ComparisonOperator"))
        values = _values(condition.get("AttributeValueList"))
        _check_arguments(operator, values)
        if operator not in KEY_OPERATORS:
            raise ValidationException(
                "Attempted conditional constraint is not an indexable operation"
            )
        conditions[name] = (operator, tuple(values))
    return build_key_condition(conditions, key_schema, key_types)


def attribute_updates_to_update(attribute_updates: dict[str, Any]) -> UpdateExpression:
    """AttributeUpdates: {name: {Action: PUT|ADD|DELETE, Value}}; ADD on a list appends."""
    sets: list[SetAction] = []
    removes: list[Path] = []
    adds: list[AddAction] = []
    deletes: list[DeleteAction] = []
    for name, update in attribute_updates.items():
        action = update.get("Action") or "PUT"
        raw = update.get("Value")
        path = Path((name,))
        if raw is None:
            if action != "DELETE":
                raise _invalid("Only DELETE action is allowed when no attribute value is specified")
            removes.append(path)
            continue
        value = validate_value(raw)
        tag = msg.type_of(value)
        if action == "PUT":
            sets.append(SetAction(path, Literal(value)))
        elif action == "DELETE":
            if tag not in ("SS", "NS", "BS"):
                raise _invalid(f"DELETE action with value is not supported for the type {tag}")
            deletes.append(DeleteAction(path, Literal(value)))
        elif action == "ADD":
            if tag == "L":
                existing = IfNotExists(path, Literal({"L": []}))
                sets.append(SetAction(path, ListAppend(existing, Literal(value))))
            elif tag in ("N", "SS", "NS", "BS"):
                adds.append(AddAction(path, Literal(value)))
            else:
                raise _invalid(f"ADD action is not supported for the type {tag}")
        else:
            raise ValidationException(
                f"1 validation error detected: Value '{action}' at 'attributeUpdates.{name}.member.action' "
                "failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
            )
    written = (
        *(s.path for s in sets),
        *removes,
        *(a.path for a in adds),
        *(d.path for d in deletes),
    )
    return UpdateExpression(tuple(sets), tuple(removes), tuple(adds), tuple(deletes), written)


def attributes_to_get_to_projection(names: list[str]) -> tuple[Path, ...]:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _invalid(f"Duplicate value in attribute name: {name}")
        seen.add(name)
    return tuple(Path((name,)) for name in names)


def _prepared(condition: Condition | None) -> PreparedCondition | None:
    return None if condition is None else prepare_condition(condition)


def prepare_legacy(
    *,
    expected: dict[str, Any] | None = None,
    query_filter: dict[str, Any] | None = None,
    scan_filter: dict[str, Any] | None = None,
    conditional_operator: str | None = None,
    key_conditions: dict[str, Any] | None = None,
    attribute_updates: dict[str, Any] | None = None,
    attributes_to_get: list[str] | None = None,
    key_schema: KeySchema | None = None,
    key_types: dict[str, str] | None = None,
) -> Prepared:
    """The legacy parameters as a ``Prepared``, interchangeable with ``prepare``'s."""
    condition = None
    if expected is not None:
        condition = expected_to_condition(expected, conditional_operator)
    filters = query_filter if query_filter is not None else scan_filter
    filter_condition = None
    if filters is not None:
        filter_condition = conditions_to_condition(filters, conditional_operator)
    key_condition = None
    if key_conditions is not None:
        assert key_schema is not None, "key_conditions needs the key schema"
        key_condition = key_conditions_to_key_condition(key_conditions, key_schema, key_types)
    update = None
    if attribute_updates is not None:
        update = attribute_updates_to_update(attribute_updates)
    projection = None
    if attributes_to_get is not None:
        projection = attributes_to_get_to_projection(attributes_to_get)
    return Prepared(
        _prepared(condition), _prepared(filter_condition), key_condition, update, projection
    )


# -- handler-facing shorthands: each returns what the matching ``Prepared`` field holds --


def expected_condition(
    expected: dict[str, Any] | None, conditional_operator: str | None = None
) -> PreparedCondition | None:
    return _prepared(expected_to_condition(expected or {}, conditional_operator))


def filter_condition(
    conditions: dict[str, Any] | None,
    conditional_operator: str | None = None,
    parameter: str = "ScanFilter",
) -> PreparedCondition | None:
    """QueryFilter/ScanFilter; ``parameter`` names the source (messages are the same)."""
    del parameter
    return _prepared(conditions_to_condition(conditions or {}, conditional_operator))


def key_conditions(
    conditions: dict[str, Any], key_schema: KeySchema, key_types: dict[str, str] | None = None
) -> KeyCondition:
    return key_conditions_to_key_condition(conditions, key_schema, key_types)


def attribute_updates(updates: dict[str, Any]) -> UpdateExpression:
    return attribute_updates_to_update(updates)


def attributes_to_get(names: list[str]) -> tuple[Path, ...]:
    return attributes_to_get_to_projection(names)
