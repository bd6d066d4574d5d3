"""From a request body to prepared expressions, whichever API style the request uses.

DynamoDB accepts two styles: expressions (ConditionExpression, UpdateExpression, ...)
and the legacy parameters (Expected, AttributeUpdates, AttributesToGet, KeyConditions,
QueryFilter, ScanFilter). A request may use one style only. Both end as the same
resolved trees, so one evaluator serves both (``quorumdb.expressions``).
"""

from __future__ import annotations

from typing import Any

from quorumdb import expressions as expr
from quorumdb.errors import ValidationException
from quorumdb.expressions import legacy
from quorumdb.model.keys import KeySchema

# Members that make a request need expression work at all; most requests on the hot path
# (plain PutItem, GetItem) carry none of them and skip it.
_EXPRESSION_MEMBERS = frozenset({
    "ConditionExpression", "UpdateExpression", "ProjectionExpression", "FilterExpression",
    "KeyConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues",
    "Expected", "AttributeUpdates", "AttributesToGet", "ConditionalOperator",
    "KeyConditions", "QueryFilter", "ScanFilter"})
_NOTHING = expr.Prepared()


def _plain(body: dict[str, Any]) -> bool:
    return _EXPRESSION_MEMBERS.isdisjoint(body)


def _prepare(body: dict[str, Any], operation: str, **texts: Any) -> expr.Prepared:
    return expr.prepare(names=body.get("ExpressionAttributeNames"),
                        values=body.get("ExpressionAttributeValues"),
                        operation=operation, **texts)


def prepare_write(body: dict[str, Any], operation: str) -> expr.Prepared:
    """Condition (and, for UpdateItem, update) of a PutItem/DeleteItem/UpdateItem."""
    if _plain(body):
        return _NOTHING
    expr.check_parameter_mix(operation, body)
    prepared = _prepare(body, operation, condition=body.get("ConditionExpression"),
                        update=body.get("UpdateExpression"))
    if body.get("Expected") is not None or body.get("ConditionalOperator") is not None:
        condition = legacy.expected_condition(body.get("Expected"),
                                              body.get("ConditionalOperator"))
        prepared = expr.Prepared(condition=condition, update=prepared.update)
    if body.get("AttributeUpdates") is not None:
        prepared = expr.Prepared(condition=prepared.condition,
                                 update=legacy.attribute_updates(body["AttributeUpdates"]))
    return prepared


def _legacy_projection(body: dict[str, Any]) -> tuple[Any, ...] | None:
    names = body.get("AttributesToGet")
    if names is None:
        return None
    return legacy.attributes_to_get(names)


def prepare_read(body: dict[str, Any]) -> tuple[Any, ...] | None:
    """The projection of a GetItem (or one table of a BatchGetItem)."""
    if _plain(body):
        return None
    expr.check_parameter_mix("GetItem", body)
    if body.get("AttributesToGet") is not None:
        return _legacy_projection(body)
    return _prepare(body, "GetItem", projection=body.get("ProjectionExpression")).projection


prepare_batch_projection = prepare_read


def prepare_query(body: dict[str, Any], schema: KeySchema
                  ) -> tuple[expr.KeyCondition, Any, tuple[Any, ...] | None]:
    expr.check_parameter_mix("Query", body)
    key_types = {schema.hash_name: schema.hash_type}
    if schema.range_name is not None and schema.range_type is not None:
        key_types[schema.range_name] = schema.range_type
    key_schema = (schema.hash_name, schema.range_name)
    if body.get("KeyConditionExpression") is None and body.get("KeyConditions") is None:
        raise ValidationException(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified "
            "in the request.")
    prepared = _prepare(body, "Query", key_condition=body.get("KeyConditionExpression"),
                        filter=body.get("FilterExpression"),
                        projection=body.get("ProjectionExpression"),
                        key_schema=key_schema,
                        key_types=key_types)
    key_condition = prepared.key_condition
    if key_condition is None:
        key_condition = legacy.key_conditions(body["KeyConditions"], key_schema, key_types)
    return (key_condition, *_filter_and_projection(body, prepared, "QueryFilter"))


def _filter_and_projection(body: dict[str, Any], prepared: expr.Prepared, parameter: str
                           ) -> tuple[Any, tuple[Any, ...] | None]:
    """The filter and projection of a Query or Scan, from expressions or legacy members."""
    filter_cond = prepared.filter
    if body.get(parameter) is not None:
        filter_cond = legacy.filter_condition(body[parameter],
                                              body.get("ConditionalOperator"), parameter)
    projection = prepared.projection
    if body.get("AttributesToGet") is not None:
        projection = _legacy_projection(body)
    return filter_cond, projection


def prepare_scan(body: dict[str, Any]) -> tuple[Any, tuple[Any, ...] | None]:
    expr.check_parameter_mix("Scan", body)
    prepared = _prepare(body, "Scan", filter=body.get("FilterExpression"),
                        projection=body.get("ProjectionExpression"))
    return _filter_and_projection(body, prepared, "ScanFilter")
