"""``prepare``: one request's expressions parsed, resolved and validated together.

DynamoDB validates the expression parameters of a request as a unit: the
ExpressionAttributeNames/Values maps are checked first, then each expression is parsed
and resolved (UpdateExpression, ConditionExpression, KeyConditionExpression,
FilterExpression, ProjectionExpression, in that order), and finally placeholders that no
expression used are reported (names before values). ``prepare`` follows that order so
the first error a request hits is the one DynamoDB reports.

The result, ``Prepared``, holds only resolved trees and compiled predicates; nothing
downstream looks at the placeholder maps again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from quorumdb.errors import ValidationException
from quorumdb.model.values import validate_value

from . import messages as msg
from .ast import AttributeValue, Condition, KeyCondition, Path, UpdateExpression
from .evaluate import PreparedCondition, prepare_condition
from .keycondition import KeySchema, key_condition_from_expression
from .parser import parse
from .resolve import Resolver, check_condition, check_paths, check_update

_NAME_KEY = re.compile(r"#[0-9A-Za-z_]+")
_VALUE_KEY = re.compile(r":[0-9A-Za-z_]+")

# Expression parameters of each operation that may use ExpressionAttributeValues, in the
# order DynamoDB lists them in "ExpressionAttributeValues can only be specified when
# using expressions: ... is null".
VALUE_EXPRESSIONS: Final = {
    "PutItem": ("ConditionExpression",),
    "DeleteItem": ("ConditionExpression",),
    "UpdateItem": ("UpdateExpression", "ConditionExpression"),
    "Query": ("KeyConditionExpression", "FilterExpression"),
    "Scan": ("FilterExpression",),
    "ConditionCheck": ("ConditionExpression",),
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything the item and query handlers need from a request's expressions."""

    condition: PreparedCondition | None = None
    filter: PreparedCondition | None = None
    key_condition: KeyCondition | None = None
    update: UpdateExpression | None = None
    projection: tuple[Path, ...] | None = None


def _check_maps(
    names: dict[str, str] | None, values: dict[str, Any] | None
) -> dict[str, AttributeValue] | None:
    if names is not None:
        if not names:
            raise ValidationException("ExpressionAttributeNames must not be empty")
        for key in names:
            if not _NAME_KEY.fullmatch(key):
                raise ValidationException(
                    f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{key}"'
                )
    if values is None:
        return None
    if not values:
        raise ValidationException("ExpressionAttributeValues must not be empty")
    for key in values:
        if not _VALUE_KEY.fullmatch(key):
            raise ValidationException(
                f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{key}"'
            )
    checked: dict[str, AttributeValue] = {}
    for key, value in values.items():
        try:
            checked[key] = validate_value(value)
        except ValidationException as error:
            raise ValidationException(
                f"ExpressionAttributeValues contains invalid value: {error.message} for key {key}"
            ) from None
    return checked


def _condition(resolver: Resolver, kind: str, text: str) -> Condition:
    raw = parse(kind, text)
    assert not isinstance(raw, (UpdateExpression, tuple))
    resolver.begin(kind)
    resolved = resolver.condition(raw)
    resolver.finish()
    check_condition(kind, resolved)
    return resolved


def prepare(
    *,
    condition: str | None = None,
    filter: str | None = None,
    key_condition: str | None = None,
    update: str | None = None,
    projection: str | None = None,
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    key_schema: KeySchema | None = None,
    key_types: dict[str, str] | None = None,
    operation: str | None = None,
) -> Prepared:
    """Parse, resolve and validate a request's expressions.

    ``values`` are untrusted wire values (validated here via
    ``model.values.validate_value``). ``key_schema`` is ``(hash_name, range_name|None)``
    of the table or index queried, required with ``key_condition``; ``key_types`` maps
    key names to their scalar type for the "does not match schema type" check.
    ``operation`` (e.g. "UpdateItem") selects the wording of the
    "ExpressionAttributeValues can only be specified" error.
    """
    texts = (update, condition, key_condition, filter, projection)
    if names is not None and all(text is None for text in texts):
        raise ValidationException(
            "ExpressionAttributeNames can only be specified when using expressions"
        )
    if values is not None and all(text is None for text in texts[:4]):
        kinds = VALUE_EXPRESSIONS.get(operation or "", ())
        if kinds:
            verb = "are" if len(kinds) > 1 else "is"
            raise ValidationException(
                "ExpressionAttributeValues can only be specified when using expressions: "
                f"{' and '.join(kinds)} {verb} null"
            )
    checked_values = _check_maps(names, values)
    resolver = Resolver(names, checked_values)
    result = _prepare_all(resolver, texts, key_schema, key_types)
    unused_names = [key for key in (names or {}) if key not in resolver.used_names]
    if unused_names:
        raise ValidationException(
            "Value provided in ExpressionAttributeNames unused in expressions: "
            f"keys: {{{', '.join(unused_names)}}}"
        )
    unused_values = [key for key in (checked_values or {}) if key not in resolver.used_values]
    if unused_values:
        raise ValidationException(
            "Value provided in ExpressionAttributeValues unused in expressions: "
            f"keys: {{{', '.join(unused_values)}}}"
        )
    return result


def _prepare_all(
    resolver: Resolver,
    texts: tuple[str | None, ...],
    key_schema: KeySchema | None,
    key_types: dict[str, str] | None,
) -> Prepared:
    update_text, condition_text, key_text, filter_text, projection_text = texts
    update = None
    if update_text is not None:
        raw_update = parse(msg.UPDATE, update_text)
        assert isinstance(raw_update, UpdateExpression)
        resolver.begin(msg.UPDATE)
        update = resolver.update(raw_update)
        resolver.finish()
        check_update(update)
    condition = None
    if condition_text is not None:
        condition = prepare_condition(_condition(resolver, msg.CONDITION, condition_text))
    key_condition = None
    if key_text is not None:
        assert key_schema is not None, "key_condition needs the key schema"
        resolved_key = _condition(resolver, msg.KEY_CONDITION, key_text)
        key_condition = key_condition_from_expression(resolved_key, key_schema, key_types)
    filter_condition = None
    if filter_text is not None:
        filter_condition = prepare_condition(_condition(resolver, msg.FILTER, filter_text))
    projection = None
    if projection_text is not None:
        raw_projection = parse(msg.PROJECTION, projection_text)
        assert isinstance(raw_projection, tuple)
        resolver.begin(msg.PROJECTION)
        projection = tuple(resolver.path(path) for path in raw_projection)
        resolver.finish()
        check_paths(msg.PROJECTION, projection)
    return Prepared(condition, filter_condition, key_condition, update, projection)
