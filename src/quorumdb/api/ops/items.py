"""Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem.

Each write follows DESIGN.md's leader path on one node: validate, read the latest image
of the key (including staged writes), evaluate the condition, compute the full new
image, stage it, and answer once it is durable (see ``common``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from quorumdb import expressions as expr
from quorumdb.api.ops.common import (
    ATTRIBUTE_UPDATES,
    ATTRIBUTES_TO_GET,
    CONDITIONAL_OPERATOR,
    EXPECTED,
    KEY,
    NAMES,
    RETURN_CONSUMED,
    RETURN_METRICS,
    RETURN_ON_FAILURE,
    VALUES,
    add_consumed,
    after,
    checked_size,
    data_table,
    decode_item,
    fail_after,
    read_latest,
    stage_write,
    with_room,
    write_units,
)
from quorumdb.api.ops.requests import prepare_read, prepare_write
from quorumdb.api.service import Context, Result
from quorumdb.api.validate import Member, check, table_name
from quorumdb.errors import ConditionalCheckFailedException, ValidationException
from quorumdb.metadata.catalog import Table
from quorumdb.model import capacity
from quorumdb.model.keys import encode_storage_key, validate_item_key, validate_key
from quorumdb.model.values import validate_item
from quorumdb.storage.engine import unpack_json, unpack_size

_RETURN_VALUES = Member("ReturnValues", "string",
                        enum=("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"))
_EXPECTED = EXPECTED
_CONDITION = Member("ConditionExpression", "string")

PUT_ITEM = (table_name(), Member("Item", "map", required=True), _EXPECTED, _RETURN_VALUES,
            RETURN_CONSUMED, RETURN_METRICS, CONDITIONAL_OPERATOR, _CONDITION, NAMES, VALUES,
            RETURN_ON_FAILURE)
DELETE_ITEM = (table_name(), KEY, _EXPECTED, CONDITIONAL_OPERATOR, _RETURN_VALUES,
               RETURN_CONSUMED, RETURN_METRICS, _CONDITION, NAMES, VALUES, RETURN_ON_FAILURE)
UPDATE_ITEM = (table_name(), KEY, ATTRIBUTE_UPDATES, _EXPECTED,
               CONDITIONAL_OPERATOR, _RETURN_VALUES, RETURN_CONSUMED, RETURN_METRICS,
               Member("UpdateExpression", "string"), _CONDITION, NAMES, VALUES,
               RETURN_ON_FAILURE)
GET_ITEM = (table_name(), KEY, ATTRIBUTES_TO_GET, Member("ConsistentRead", "boolean"),
            RETURN_CONSUMED, Member("ProjectionExpression", "string"), NAMES)


def _only_old_or_none(body: dict[str, Any]) -> None:
    if body.get("ReturnValues") not in (None, "NONE", "ALL_OLD"):
        raise ValidationException("ReturnValues can only be ALL_OLD or NONE")


def _condition_failed(body: dict[str, Any], old: dict[str, Any] | None,
                      pending: Any) -> Any:
    item = old if body.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
    error = ConditionalCheckFailedException(item=item)
    if pending is not None:
        return fail_after(pending, error)
    raise error


def _key_of(table: Table, raw_key: Any) -> tuple[dict[str, Any], bytes]:
    key = validate_key(validate_item(raw_key), table.schema)
    return key, encode_storage_key(table.schema, key)


# -- PutItem -------------------------------------------------------------------------------
def put_item(ctx: Context, body: dict[str, Any]) -> Any:
    check(body, PUT_ITEM)
    _only_old_or_none(body)
    prepared = prepare_write(body, "PutItem")
    item = validate_item(body["Item"])
    table = data_table(ctx, body["TableName"])
    validate_item_key(item, table.schema)
    new_size = checked_size(item)
    return with_room(ctx, lambda c, b: _put(c, b, table, item, new_size, prepared), body)


def _put(ctx: Context, body: dict[str, Any], table: Table, item: dict[str, Any],
         new_size: int, prepared: Any) -> Any:
    key = encode_storage_key(table.schema, {k: item[k] for k in table.schema.key_names})
    result: dict[str, Any] = {}
    consumed_mode = body.get("ReturnConsumedCapacity")
    if (prepared.condition is None and body.get("ReturnValues") in (None, "NONE")
            and consumed_mode in (None, "NONE")):
        # nothing in the answer depends on the old image: do not read it
        return after(stage_write(table.partition, key, item, new_size), result)
    old, old_size, pending = read_latest(table.partition, key)
    if prepared.condition is not None and not expr.evaluate_condition(prepared.condition, old):
        return _condition_failed(body, old, pending)
    durable = stage_write(table.partition, key, item, new_size)
    if body.get("ReturnValues") == "ALL_OLD" and old is not None:
        result["Attributes"] = old
    add_consumed(result, table, write_units(old_size, new_size), consumed_mode)
    return after(durable, result)


# -- DeleteItem ----------------------------------------------------------------------------
def delete_item(ctx: Context, body: dict[str, Any]) -> Any:
    check(body, DELETE_ITEM)
    _only_old_or_none(body)
    prepared = prepare_write(body, "DeleteItem")
    table = data_table(ctx, body["TableName"])
    _, key = _key_of(table, body["Key"])
    return with_room(ctx, lambda c, b: _delete(c, b, table, key, prepared), body)


def _delete(ctx: Context, body: dict[str, Any], table: Table, key: bytes,
            prepared: Any) -> Any:
    old, old_size, pending = read_latest(table.partition, key)
    if prepared.condition is not None and not expr.evaluate_condition(prepared.condition, old):
        return _condition_failed(body, old, pending)
    result: dict[str, Any] = {}
    if body.get("ReturnValues") == "ALL_OLD" and old is not None:
        result["Attributes"] = old
    add_consumed(result, table, write_units(old_size, 0), body.get("ReturnConsumedCapacity"))
    if old is None:
        return result if pending is None else after(pending, result)
    durable = stage_write(table.partition, key, None, 0)
    return after(durable, result)


# -- UpdateItem ----------------------------------------------------------------------------
def update_item(ctx: Context, body: dict[str, Any]) -> Any:
    check(body, UPDATE_ITEM)
    prepared = prepare_write(body, "UpdateItem")
    table = data_table(ctx, body["TableName"])
    key_value, key = _key_of(table, body["Key"])
    return with_room(ctx, lambda c, b: _update(c, b, table, key_value, key, prepared), body)


def _update(ctx: Context, body: dict[str, Any], table: Table, key_value: dict[str, Any],
            key: bytes, prepared: Any) -> Any:
    old, old_size, pending = read_latest(table.partition, key)
    if prepared.condition is not None and not expr.evaluate_condition(prepared.condition, old):
        return _condition_failed(body, old, pending)
    if prepared.update is not None:
        new, updated_paths = expr.apply_update(prepared.update, old, key_value)
    else:
        new, updated_paths = (dict(old) if old is not None else dict(key_value)), ()
    new_size = checked_size(new)
    durable = stage_write(table.partition, key, new, new_size)
    result: dict[str, Any] = {}
    attributes = _update_return_values(body.get("ReturnValues"), old, new, updated_paths)
    if attributes:
        result["Attributes"] = attributes
    add_consumed(result, table, write_units(old_size, new_size),
                 body.get("ReturnConsumedCapacity"))
    return after(durable, result)


def _update_return_values(mode: str | None, old: dict[str, Any] | None, new: dict[str, Any],
                          updated_paths: Any) -> dict[str, Any] | None:
    if mode is None or mode == "NONE":
        return None
    if mode == "ALL_OLD":
        return old
    if mode == "ALL_NEW":
        return new
    source = old if mode == "UPDATED_OLD" else new
    if source is None:
        return None
    return expr.project(source, updated_paths) or None


# -- GetItem -------------------------------------------------------------------------------
def get_item(ctx: Context, body: dict[str, Any]) -> Result:
    check(body, GET_ITEM)
    projection = prepare_read(body)
    table = data_table(ctx, body["TableName"])
    _, key = _key_of(table, body["Key"])
    consistent = bool(body.get("ConsistentRead"))
    raw = table.partition.get(key, consistent)
    result: dict[str, Any] = {}
    size = 0
    if raw is not None:
        size = unpack_size(raw)
        if projection is None:
            result["Item"] = msgspec.Raw(unpack_json(raw))
        else:
            result["Item"] = expr.project(decode_item(raw), projection)
    add_consumed(result, table, capacity.read_capacity_units(size, consistent),
                 body.get("ReturnConsumedCapacity"))
    return result
