"""Query and Scan: one bounded range scan of a partition per page.

A Query is one contiguous range of storage keys (``hash64(pk) ‖ pk ‖ sk`` is ordered by
sort key inside a partition key), so a key condition becomes range bounds and nothing
outside them is read or charged. A Scan walks the whole table in storage-key order,
which is hash order, so parallel-scan segment *i* of *T* is exactly the range of keys
whose 64-bit hash prefix falls in the *i*-th *T*-th of the hash space: segments are
disjoint, cover everything, and cost nothing to compute.

Pages stop at ``Limit`` items evaluated or once 1 MB of item data has been read
(DynamoDB's rule); a page that stops early carries LastEvaluatedKey, the key of the
last item evaluated. Consumed capacity is the total size read, in 4 KB units, halved for
eventually consistent reads.
"""

from __future__ import annotations

from typing import Any

import msgspec

from quorumdb import expressions as expr
from quorumdb.api.ops.common import (
    ATTRIBUTES_TO_GET,
    CONDITIONAL_OPERATOR,
    NAMES,
    RETURN_CONSUMED,
    VALUES,
    add_consumed,
    conditions_member,
    data_table,
    decode_item,
)
from quorumdb.api.ops.requests import prepare_query, prepare_scan
from quorumdb.api.service import Context, Result
from quorumdb.api.validate import Member, check, table_name
from quorumdb.errors import ValidationException
from quorumdb.expressions.ast import condition_paths
from quorumdb.metadata.catalog import Table
from quorumdb.model import capacity
from quorumdb.model.keys import (
    HASH_BYTES,
    encode_storage_key,
    encode_value,
    extract_key,
    partition_prefix,
    validate_key,
)
from quorumdb.model.values import validate_item
from quorumdb.storage.engine import unpack_json, unpack_size

PAGE_LIMIT_BYTES = 1024 * 1024
MAX_TOTAL_SEGMENTS = 1_000_000
_HASH_SPACE = 1 << (8 * HASH_BYTES)

_SELECT = Member("Select", "string", enum=("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES",
                                           "SPECIFIC_ATTRIBUTES", "COUNT"))
_COMMON = (
    table_name(), Member("IndexName", "string", min_length=3, max_length=255),
    _SELECT, ATTRIBUTES_TO_GET, Member("Limit", "integer", min_value=1),
    Member("ConsistentRead", "boolean"), CONDITIONAL_OPERATOR,
    Member("ExclusiveStartKey", "map"), RETURN_CONSUMED,
    Member("ProjectionExpression", "string"), Member("FilterExpression", "string"),
    NAMES, VALUES,
)
QUERY = (*_COMMON, conditions_member("KeyConditions"), conditions_member("QueryFilter"),
         Member("ScanIndexForward", "boolean"), Member("KeyConditionExpression", "string"))
SCAN = (*_COMMON, conditions_member("ScanFilter"),
        Member("TotalSegments", "integer", min_value=1, max_value=MAX_TOTAL_SEGMENTS),
        Member("Segment", "integer", min_value=0, max_value=MAX_TOTAL_SEGMENTS - 1))


def successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``
    (None: no such string, the range is open-ended)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))


def _check_select(body: dict[str, Any], has_projection: bool) -> str:
    select = body.get("Select")
    if select is None:
        return "SPECIFIC_ATTRIBUTES" if has_projection else "ALL_ATTRIBUTES"
    if select == "ALL_PROJECTED_ATTRIBUTES":
        raise ValidationException(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
    if select == "SPECIFIC_ATTRIBUTES" and not has_projection:
        raise ValidationException(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
            "SPECIFIC_ATTRIBUTES")
    if select in ("ALL_ATTRIBUTES", "COUNT") and has_projection:
        attrs = "AttributesToGet" if body.get("AttributesToGet") else "ProjectionExpression"
        raise ValidationException(
            f"Cannot specify the {attrs} when choosing to get {select}")
    return str(select)


def _check_index(body: dict[str, Any]) -> None:
    if body.get("IndexName") is not None:
        raise ValidationException(
            f"The table does not have the specified index: {body['IndexName']}")


def _start_key(table: Table, body: dict[str, Any]) -> bytes | None:
    raw = body.get("ExclusiveStartKey")
    if raw is None:
        return None
    try:
        key = validate_key(validate_item(raw), table.schema)
    except ValidationException as exc:
        raise ValidationException(
            "The provided starting key is invalid: " + exc.message) from exc
    return encode_storage_key(table.schema, key)


def _sort_bounds(prefix: bytes, cond: Any) -> tuple[bytes, bytes | None]:
    """Storage-key bounds [start, end) for a sort-key condition inside one partition."""
    end_of_partition = successor(prefix)
    if cond is None:
        return prefix, end_of_partition
    values = [prefix + encode_value(v) for v in cond.values]
    op = cond.op
    if op == "EQ":
        return values[0], values[0] + b"\x00"
    if op == "LT":
        return prefix, values[0]
    if op == "LE":
        return prefix, values[0] + b"\x00"
    if op == "GT":
        return values[0] + b"\x00", end_of_partition
    if op == "GE":
        return values[0], end_of_partition
    if op == "BETWEEN":
        return values[0], values[1] + b"\x00"
    assert op == "BEGINS_WITH", op
    start = values[0][:-2]  # the escaped bytes without their terminator
    return start, successor(start)


class _Page:
    """Accumulates one page: items kept, counts, bytes read, the last key evaluated."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.items: list[Any] = []
        self.count = 0
        self.scanned = 0
        self.size = 0
        self.last_value: bytes | None = None
        self.stopped = False


def _read_page(table: Table, start: bytes, end: bytes | None, reverse: bool,
               limit: int | None, filter_cond: Any, projection: Any,
               count_only: bool, consistent: bool) -> _Page:
    page = _Page(limit)
    raw_ok = filter_cond is None and projection is None
    for _, value in table.partition.scan(start, end, reverse, consistent):
        page.scanned += 1
        page.size += unpack_size(value)
        page.last_value = value
        if raw_ok:
            page.count += 1
            if not count_only:
                page.items.append(msgspec.Raw(unpack_json(value)))
        else:
            item = decode_item(value)
            if filter_cond is None or expr.evaluate_condition(filter_cond, item):
                page.count += 1
                if not count_only:
                    page.items.append(item if projection is None
                                      else expr.project(item, projection))
        if (limit is not None and page.scanned >= limit) or page.size >= PAGE_LIMIT_BYTES:
            page.stopped = True
            break
    return page


def _result(table: Table, body: dict[str, Any], page: _Page, select: str) -> Result:
    result: dict[str, Any] = {}
    if select != "COUNT":
        result["Items"] = page.items
    result["Count"] = page.count
    result["ScannedCount"] = page.scanned
    if page.stopped and page.last_value is not None:
        result["LastEvaluatedKey"] = extract_key(decode_item(page.last_value), table.schema)
    units = capacity.query_read_units(page.size, bool(body.get("ConsistentRead")))
    add_consumed(result, table, units, body.get("ReturnConsumedCapacity"))
    return result


def _check_filter_keys(body: dict[str, Any], table: Table, filter_cond: Any) -> None:
    """A Query filter may not name a key attribute (the key condition is the place)."""
    if filter_cond is None:
        return
    keys = table.schema.key_names
    for path in condition_paths(filter_cond.expression):
        if path.elements and path.elements[0] in keys:
            if body.get("QueryFilter") is not None:
                raise ValidationException("QueryFilter can only contain non-primary key "
                                          f"attributes: Primary key attribute: {path.elements[0]}")
            raise ValidationException("Filter Expression can only contain non-primary key "
                                      f"attributes: Primary key attribute: {path.elements[0]}")


def query(ctx: Context, body: dict[str, Any]) -> Result:
    check(body, QUERY)
    table = data_table(ctx, body["TableName"])
    _check_index(body)
    key_condition, filter_cond, projection = prepare_query(body, table.schema)
    _check_filter_keys(body, table, filter_cond)
    select = _check_select(body, projection is not None)
    prefix = partition_prefix(table.schema, key_condition.hash_value)
    start, end = _sort_bounds(prefix, key_condition.sort)
    reverse = body.get("ScanIndexForward") is False
    exclusive = _start_key(table, body)
    if exclusive is not None:
        if not exclusive.startswith(prefix):
            raise ValidationException("The provided starting key does not match the range "
                                      "key predicate")
        if reverse:
            end = exclusive if end is None else min(end, exclusive)
        else:
            start = max(start, exclusive + b"\x00")
    if end is not None and start >= end:
        page = _Page(None)
    else:
        page = _read_page(table, start, end, reverse, body.get("Limit"), filter_cond,
                          projection, select == "COUNT", bool(body.get("ConsistentRead")))
    return _result(table, body, page, select)


def _segment_bounds(body: dict[str, Any]) -> tuple[bytes, bytes | None]:
    segment = body.get("Segment")
    total = body.get("TotalSegments")
    if segment is None and total is None:
        return b"", None
    if total is None:
        raise ValidationException("The TotalSegments parameter is required but was not "
                                  "present in the request when Segment parameter is present")
    if segment is None:
        raise ValidationException("The Segment parameter is required but was not present "
                                  "in the request when parameter TotalSegments is present")
    if segment >= total:
        raise ValidationException(
            f"The Segment parameter is zero-based and must be less than parameter "
            f"TotalSegments: Segment: {segment} is not less than TotalSegments: {total}")
    low = -(-segment * _HASH_SPACE // total)
    high = -(-(segment + 1) * _HASH_SPACE // total)
    start = low.to_bytes(HASH_BYTES, "big")
    end = None if high >= _HASH_SPACE else high.to_bytes(HASH_BYTES, "big")
    return start, end


def scan(ctx: Context, body: dict[str, Any]) -> Result:
    check(body, SCAN)
    start, end = _segment_bounds(body)
    table = data_table(ctx, body["TableName"])
    _check_index(body)
    filter_cond, projection = prepare_scan(body)
    select = _check_select(body, projection is not None)
    exclusive = _start_key(table, body)
    if exclusive is not None:
        if exclusive < start or (end is not None and exclusive >= end):
            raise ValidationException(
                "The provided Exclusive start key does not map to the provided segment")
        start = exclusive + b"\x00"
    page = _read_page(table, start, end, False, body.get("Limit"), filter_cond, projection,
                      select == "COUNT", bool(body.get("ConsistentRead")))
    return _result(table, body, page, select)
