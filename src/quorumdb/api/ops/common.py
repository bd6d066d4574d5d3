"""What the data-plane operations share: table lookup, request members, capacity
reports, and the staging of writes behind group commit.

A write handler runs its read-evaluate-stage step synchronously on the event loop, so
that step is atomic with respect to every other request on the node (the leader's
serialisation point), and returns an awaitable that completes once the staged image is
durable. A failure that was decided by reading a not-yet-durable image also waits for
that image before it is answered: no answer ever depends on a write a crash could lose.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from quorumdb.api.service import Context, Deferred, Result
from quorumdb.api.validate import Member
from quorumdb.errors import DynamoDBError, ResourceNotFoundException, ValidationException
from quorumdb.metadata.catalog import Table
from quorumdb.model import capacity
from quorumdb.model.size import MAX_ITEM_SIZE_BYTES, item_size
from quorumdb.storage.engine import pack_item, unpack_json, unpack_size
from quorumdb.storage.host import PartitionLike

RETURN_CONSUMED = Member("ReturnConsumedCapacity", "string",
                         enum=("INDEXES", "TOTAL", "NONE"))
RETURN_METRICS = Member("ReturnItemCollectionMetrics", "string", enum=("SIZE", "NONE"))
CONDITIONAL_OPERATOR = Member("ConditionalOperator", "string", enum=("AND", "OR"))
RETURN_ON_FAILURE = Member("ReturnValuesOnConditionCheckFailure", "string",
                           enum=("ALL_OLD", "NONE"))
NAMES = Member("ExpressionAttributeNames", "map")
VALUES = Member("ExpressionAttributeValues", "map")
KEY = Member("Key", "map", required=True)
ATTRIBUTES_TO_GET = Member("AttributesToGet", "list", min_length=1,
                           element=Member("AttributeName", "string"))
COMPARISON_OPERATORS = ("EQ", "NE", "IN", "LE", "LT", "GE", "GT", "BETWEEN", "NOT_NULL",
                        "NULL", "CONTAINS", "NOT_CONTAINS", "BEGINS_WITH")
EXPECTED = Member("Expected", "map", value=Member("ExpectedAttributeValue", "structure", members=(
    Member("Value", "map"),
    Member("Exists", "boolean"),
    Member("ComparisonOperator", "string", enum=COMPARISON_OPERATORS),
    Member("AttributeValueList", "list", element=Member("AttributeValue", "map")),
)))
ATTRIBUTE_UPDATES = Member("AttributeUpdates", "map", value=Member(
    "AttributeValueUpdate", "structure", members=(
        Member("Value", "map"),
        Member("Action", "string", enum=("ADD", "PUT", "DELETE")),
    )))


def conditions_member(name: str) -> Member:
    """KeyConditions, QueryFilter, ScanFilter: maps of legacy Condition structures."""
    return Member(name, "map", value=Member("Condition", "structure", members=(
        Member("AttributeValueList", "list", element=Member("AttributeValue", "map")),
        Member("ComparisonOperator", "string", required=True, enum=COMPARISON_OPERATORS),
    )))

ITEM_TOO_LARGE = "Item size has exceeded the maximum allowed size"

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def data_table(ctx: Context, name: str) -> Table:
    """The table an item operation addresses; missing or not yet ACTIVE tables answer
    DynamoDB's ResourceNotFoundException."""
    table = ctx.catalog.get(name)
    if table is None or (table.record.status == "CREATING" and ctx.catalog.status(
        table.record, ctx.clock()
    ) == "CREATING"):
        raise ResourceNotFoundException("Requested resource not found")
    return table


def consumed_by_name(name: str, units: float, mode: str | None) -> dict[str, Any] | None:
    """DynamoDB's ConsumedCapacity for one table, or None when not asked for."""
    if mode is None or mode == "NONE":
        return None
    out: dict[str, Any] = {"TableName": name, "CapacityUnits": units}
    if mode == "INDEXES":
        out["Table"] = {"CapacityUnits": units}
    return out


def consumed(table: Table, units: float, mode: str | None) -> dict[str, Any] | None:
    return consumed_by_name(table.record.name, units, mode)


def add_consumed(result: dict[str, Any], table: Table, units: float, mode: str | None) -> None:
    report = consumed(table, units, mode)
    if report is not None:
        result["ConsumedCapacity"] = report


def decode_item(value: bytes) -> dict[str, Any]:
    item: dict[str, Any] = _decode(unpack_json(value))
    return item


def read_latest(partition: PartitionLike, key: bytes
                ) -> tuple[dict[str, Any] | None, int, Awaitable[None] | None]:
    """The newest image (staged or durable), its size, and what to wait for before an
    answer may depend on it."""
    raw, pending = partition.latest(key)
    if raw is None:
        return None, 0, pending
    return decode_item(raw), unpack_size(raw), pending


def checked_size(item: dict[str, Any]) -> int:
    size = item_size(item)
    if size > MAX_ITEM_SIZE_BYTES:
        raise ValidationException(ITEM_TOO_LARGE)
    return size


def stage_write(partition: PartitionLike, key: bytes, new_item: dict[str, Any] | None,
                new_size: int) -> Awaitable[None]:
    value = None if new_item is None else pack_item(_encode(new_item), new_size)
    return partition.stage(key, value)


def write_units(old_size: int, new_size: int) -> float:
    """DynamoDB charges a write by the larger of the item's old and new images."""
    return capacity.write_capacity_units(max(old_size, new_size))


def after(durable: Awaitable[None], result: Result) -> Deferred:
    return Deferred(durable, result)


def fail_after(durable: Awaitable[None], error: DynamoDBError) -> Deferred:
    return Deferred(durable, error=error)


def with_room(ctx: Context, handler: Callable[[Context, dict[str, Any]], Any],
              body: dict[str, Any]) -> Any:
    """Runs ``handler`` now when the group-commit buffer has room, else after it drains
    (back-pressure instead of an unbounded queue)."""
    engine = ctx.catalog.engine
    if engine.has_room():
        return handler(ctx, body)

    async def later() -> Result:
        await engine.wait_for_room()
        result = handler(ctx, body)
        if isinstance(result, dict):
            return result
        return await result  # type: ignore[no-any-return]

    return later()
