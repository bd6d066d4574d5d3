"""BatchGetItem and BatchWriteItem.

Both validate the whole request before touching data (DynamoDB rejects a batch with one
bad member as a whole), then act item by item: a batch is not a transaction. Writes are
staged together and acknowledged by one group commit. Nothing is left unprocessed on one
node except what the 16 MB response bound forces out of a BatchGetItem.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import msgspec

from quorumdb import expressions as expr
from quorumdb.api.ops.common import (
    RETURN_CONSUMED,
    RETURN_METRICS,
    after,
    checked_size,
    consumed_by_name,
    data_table,
    decode_item,
    stage_write,
    with_room,
    write_units,
)
from quorumdb.api.ops.requests import prepare_batch_projection
from quorumdb.api.service import Context, Result
from quorumdb.api.validate import (
    Member,
    check,
    constraint_errors,
    raise_constraint_errors,
    table_name,
)
from quorumdb.errors import ValidationException
from quorumdb.metadata.catalog import Table
from quorumdb.model import capacity
from quorumdb.model.keys import encode_storage_key, validate_item_key, validate_key
from quorumdb.model.values import validate_item
from quorumdb.storage.engine import unpack_json, unpack_size

MAX_BATCH_GET_KEYS = 100
MAX_BATCH_WRITE_REQUESTS = 25
MAX_BATCH_GET_RESPONSE_BYTES = 16 * 1024 * 1024
DUPLICATES = "Provided list of item keys contains duplicates"

BATCH_GET = (Member("RequestItems", "map", required=True, min_length=1, max_length=100),
             RETURN_CONSUMED)
BATCH_WRITE = (Member("RequestItems", "map", required=True, min_length=1, max_length=25),
               RETURN_CONSUMED, RETURN_METRICS)


def _table_name_errors(tables: dict[str, Any], errors: list[str]) -> None:
    for name in tables:
        constraint_errors(table_name(), name, "requestItems.key", errors)


def _consumed_list(units: dict[str, float], mode: str | None) -> list[dict[str, Any]] | None:
    if mode is None or mode == "NONE":
        return None
    return [report for name, value in units.items()
            if (report := consumed_by_name(name, value, mode)) is not None]


# -- BatchGetItem --------------------------------------------------------------------------
def batch_get_item(ctx: Context, body: dict[str, Any]) -> Result:
    check(body, BATCH_GET, lambda errors: _table_name_errors(body["RequestItems"], errors)
          if isinstance(body.get("RequestItems"), dict) else None)
    requests = body["RequestItems"]
    plans: list[tuple[Table, str, list[bytes], Any, bool]] = []
    total = 0
    for name, request in requests.items():
        if not isinstance(request, dict) or not isinstance(request.get("Keys"), list):
            raise ValidationException(
                "1 validation error detected: Value null at 'requestItems." + name +
                ".member.keys' failed to satisfy constraint: Member must not be null")
        keys = request["Keys"]
        if not keys:
            raise_constraint_errors([
                f"Value '[]' at 'requestItems.{name}.member.keys' failed to satisfy "
                "constraint: Member must have length greater than or equal to 1"])
        total += len(keys)
        if total > MAX_BATCH_GET_KEYS:
            raise ValidationException("Too many items requested for the BatchGetItem call")
        projection = prepare_batch_projection(request)
        table = data_table(ctx, name)
        encoded: list[bytes] = []
        for raw in keys:
            key = validate_key(validate_item(raw), table.schema)
            encoded.append(encode_storage_key(table.schema, key))
        if len(set(encoded)) != len(encoded):
            raise ValidationException(DUPLICATES)
        plans.append((table, name, encoded, projection, bool(request.get("ConsistentRead"))))
    responses: dict[str, list[Any]] = {}
    unprocessed: dict[str, Any] = {}
    units: dict[str, float] = defaultdict(float)
    response_bytes = 0
    for table, name, encoded, projection, consistent in plans:
        found = responses.setdefault(name, [])
        for index, storage_key in enumerate(encoded):
            if response_bytes >= MAX_BATCH_GET_RESPONSE_BYTES:
                rest = dict(requests[name])
                rest["Keys"] = requests[name]["Keys"][index:]
                unprocessed[name] = rest
                break
            raw = table.partition.get(storage_key, consistent)
            size = unpack_size(raw) if raw is not None else 0
            units[name] += capacity.read_capacity_units(size, consistent)
            if raw is None:
                continue
            response_bytes += size
            if projection is None:
                found.append(msgspec.Raw(unpack_json(raw)))
            else:
                found.append(expr.project(decode_item(raw), projection))
    result: dict[str, Any] = {"Responses": responses, "UnprocessedKeys": unprocessed}
    consumed = _consumed_list(units, body.get("ReturnConsumedCapacity"))
    if consumed is not None:
        result["ConsumedCapacity"] = consumed
    return result


# -- BatchWriteItem ------------------------------------------------------------------------
def _plan_writes(ctx: Context, body: dict[str, Any]
                 ) -> list[tuple[Table, bytes, dict[str, Any] | None, int]]:
    plans: list[tuple[Table, bytes, dict[str, Any] | None, int]] = []
    total = 0
    for name, requests in body["RequestItems"].items():
        if not isinstance(requests, list) or not requests:
            raise_constraint_errors([
                f"Value '{requests}' at 'requestItems.{name}.member' failed to satisfy "
                "constraint: Member must have length greater than or equal to 1"])
        total += len(requests)
        if total > MAX_BATCH_WRITE_REQUESTS:
            raise ValidationException("Too many items requested for the BatchWriteItem call")
        table = data_table(ctx, name)
        seen: set[bytes] = set()
        for request in requests:
            if not isinstance(request, dict):
                raise ValidationException("Invalid WriteRequest")
            put = request.get("PutRequest")
            delete = request.get("DeleteRequest")
            if (put is None) == (delete is None):
                raise ValidationException(
                    "Supplied AttributeValue has more than one datatypes set, must contain "
                    "exactly one of the supported datatypes" if put is not None else
                    "1 validation error detected: Value null at 'requestItems." + name +
                    ".member.1.member' failed to satisfy constraint: Member must not be null")
            if put is not None:
                if not isinstance(put, dict) or not isinstance(put.get("Item"), dict):
                    raise ValidationException(
                        "1 validation error detected: Value null at 'requestItems." + name +
                        ".member.1.member.putRequest.item' failed to satisfy constraint: "
                        "Member must not be null")
                item = validate_item(put["Item"])
                validate_item_key(item, table.schema)
                size = checked_size(item)
                key = encode_storage_key(table.schema,
                                         {k: item[k] for k in table.schema.key_names})
                plans.append((table, key, item, size))
            else:
                if not isinstance(delete, dict) or not isinstance(delete.get("Key"), dict):
                    raise ValidationException(
                        "1 validation error detected: Value null at 'requestItems." + name +
                        ".member.1.member.deleteRequest.key' failed to satisfy constraint: "
                        "Member must not be null")
                key_value = validate_key(validate_item(delete["Key"]), table.schema)
                key = encode_storage_key(table.schema, key_value)
                plans.append((table, key, None, 0))
            if key in seen:
                raise ValidationException(DUPLICATES)
            seen.add(key)
    return plans


def batch_write_item(ctx: Context, body: dict[str, Any]) -> Any:
    check(body, BATCH_WRITE, lambda errors: _table_name_errors(body["RequestItems"], errors)
          if isinstance(body.get("RequestItems"), dict) else None)
    plans = _plan_writes(ctx, body)
    return with_room(ctx, lambda c, b: _write(b, plans), body)


def _write(body: dict[str, Any], plans: list[tuple[Table, bytes, dict[str, Any] | None, int]]
           ) -> Any:
    units: dict[str, float] = defaultdict(float)
    waits: list[Any] = []
    mode = body.get("ReturnConsumedCapacity")
    report = mode not in (None, "NONE")
    for table, key, item, size in plans:
        if item is not None and not report:  # the answer needs no old image: read none
            waits.append(stage_write(table.partition, key, item, size))
            continue
        old, pending = table.partition.latest(key)  # its size and presence: no decoding
        units[table.record.name] += write_units(unpack_size(old) if old else 0, size)
        if item is None and old is None:
            if pending is not None:
                waits.append(pending)
            continue
        waits.append(stage_write(table.partition, key, item, size))
    result: dict[str, Any] = {"UnprocessedItems": {}}
    consumed = _consumed_list(units, mode)
    if consumed is not None:
        result["ConsumedCapacity"] = consumed

    if not waits:
        return result
    distinct = list({id(wait): wait for wait in waits}.values())
    if len(distinct) == 1:  # one group commit holds every write (one node)
        return after(distinct[0], result)

    async def finish() -> Result:
        await asyncio.gather(*distinct)
        return result

    return finish()
