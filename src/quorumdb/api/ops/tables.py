"""Table operations: CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable.

Each handler validates in DynamoDB's order (shape, then constraints, then semantics),
then changes the catalog. Descriptions are built from the catalog record plus the live
partition statistics, so ItemCount and TableSizeBytes are exact (DynamoDB refreshes them
about every six hours; exact values are what local users expect and never wrong).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import msgspec

from quorumdb.api.service import Context
from quorumdb.api.validate import Member, check, table_name
from quorumdb.errors import (
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
    ValidationException,
)
from quorumdb.metadata.catalog import MAX_TABLES, Table, TableRecord, Throughput

MAX_CAPACITY_UNITS = 40_000  # DescribeLimits' per-table maximum
MAX_LIST_TABLES = 100

_KEY_ELEMENT = Member("KeySchemaElement", "structure", members=(
    Member("AttributeName", "string", required=True, min_length=1, max_length=255),
    Member("KeyType", "string", required=True, enum=("HASH", "RANGE")),
))
_ATTRIBUTE_DEFINITION = Member("AttributeDefinition", "structure", members=(
    Member("AttributeName", "string", required=True, min_length=1, max_length=255),
    Member("AttributeType", "string", required=True, enum=("B", "N", "S")),
))
_THROUGHPUT = Member("ProvisionedThroughput", "structure", members=(
    Member("ReadCapacityUnits", "integer", required=True, min_value=1),
    Member("WriteCapacityUnits", "integer", required=True, min_value=1),
))
_STREAM_SPEC = Member("StreamSpecification", "structure", members=(
    Member("StreamEnabled", "boolean", required=True),
    Member("StreamViewType", "string",
           enum=("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")),
))
_TAG = Member("Tag", "structure", members=(
    Member("Key", "string", required=True, min_length=1, max_length=128),
    Member("Value", "string", required=True, min_length=0, max_length=256),
))
TAGS = Member("Tags", "list", element=_TAG)
_BILLING = Member("BillingMode", "string", enum=("PROVISIONED", "PAY_PER_REQUEST"))
_TABLE_CLASS = Member("TableClass", "string",
                      enum=("STANDARD", "STANDARD_INFREQUENT_ACCESS"))

CREATE_TABLE = (
    Member("AttributeDefinitions", "list", required=True, element=_ATTRIBUTE_DEFINITION),
    table_name(),
    Member("KeySchema", "list", required=True, min_length=1, max_length=2,
           element=_KEY_ELEMENT),
    Member("LocalSecondaryIndexes", "list"),
    Member("GlobalSecondaryIndexes", "list"),
    _BILLING,
    _THROUGHPUT,
    _STREAM_SPEC,
    Member("SSESpecification", "structure"),
    TAGS,
    _TABLE_CLASS,
    Member("DeletionProtectionEnabled", "boolean"),
    Member("OnDemandThroughput", "structure"),
    Member("WarmThroughput", "structure"),
    Member("ResourcePolicy", "string"),
)


def require_table(ctx: Context, name: str) -> Table:
    table = ctx.catalog.get(name)
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    return table


def _check_key_schema(body: dict[str, Any]) -> None:
    schema = body["KeySchema"]
    definitions = body["AttributeDefinitions"]
    names = [d["AttributeName"] for d in definitions]
    if len(set(names)) != len(names):
        raise ValidationException("Cannot have two attributes with the same name")
    if schema[0]["KeyType"] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a "
                                  "HASH key type")
    if len(schema) == 2:
        if schema[1]["KeyType"] != "RANGE":
            raise ValidationException("Invalid KeySchema: The second KeySchemaElement is not "
                                      "a RANGE key type")
        if schema[0]["AttributeName"] == schema[1]["AttributeName"]:
            raise ValidationException("Both the Hash Key and the Range Key element in the "
                                      "KeySchema have the same name")
    key_names = [k["AttributeName"] for k in schema]
    missing = [k for k in key_names if k not in names]
    if missing:
        raise ValidationException(
            "One or more parameter values were invalid: Some index key attributes are not "
            f"defined in AttributeDefinitions. Keys: [{', '.join(key_names)}], "
            f"AttributeDefinitions: [{', '.join(names)}]")
    if len(names) != len(key_names):
        raise ValidationException(
            "One or more parameter values were invalid: Number of attributes in KeySchema "
            "does not exactly match number of attributes defined in AttributeDefinitions")


def check_billing(billing: str, throughput: dict[str, Any] | None) -> Throughput:
    if billing == "PAY_PER_REQUEST":
        if throughput is not None:
            raise ValidationException(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
        return Throughput()
    if throughput is None:
        raise ValidationException(
            "One or more parameter values were invalid: ReadCapacityUnits and "
            "WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
    for field_name in ("ReadCapacityUnits", "WriteCapacityUnits"):
        if throughput[field_name] > MAX_CAPACITY_UNITS:
            raise LimitExceededException(
                f"Subscriber limit exceeded: Provisioned throughput for {field_name[:-13]} "
                f"capacity units cannot exceed {MAX_CAPACITY_UNITS} for a table")
    return Throughput(read=int(throughput["ReadCapacityUnits"]),
                      write=int(throughput["WriteCapacityUnits"]))


def _check_stream_spec(spec: dict[str, Any] | None) -> None:
    if spec is None:
        return
    if spec["StreamEnabled"] and "StreamViewType" not in spec:
        raise ValidationException("StreamSpecification: StreamViewType is required when "
                                  "StreamEnabled is true")
    if not spec["StreamEnabled"] and "StreamViewType" in spec:
        raise ValidationException("StreamSpecification: StreamViewType can only be "
                                  "specified when StreamEnabled is true")


def create_table(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    check(body, CREATE_TABLE)
    _check_key_schema(body)
    if body.get("LocalSecondaryIndexes") is not None or body.get(
        "GlobalSecondaryIndexes"
    ) is not None:
        raise ValidationException(
            "Secondary indexes are not supported by this version of quorumdb yet: remove "
            "LocalSecondaryIndexes and GlobalSecondaryIndexes from the request")
    billing = body.get("BillingMode") or "PROVISIONED"
    throughput = check_billing(billing, body.get("ProvisionedThroughput"))
    _check_stream_spec(body.get("StreamSpecification"))
    name = body["TableName"]
    if ctx.catalog.get(name) is not None:
        raise ResourceInUseException(f"Table already exists: {name}")
    if len(ctx.catalog.tables) >= MAX_TABLES:
        raise LimitExceededException(
            f"Subscriber limit exceeded: You have exceeded the maximum number of tables "
            f"({MAX_TABLES}) allowed per account")
    now = ctx.clock()
    table_id = str(uuid.uuid4())
    stream = body.get("StreamSpecification")
    stream_enabled = bool(stream and stream["StreamEnabled"])
    record = TableRecord(
        name=name, table_id=table_id,
        key_schema=[{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
                    for k in body["KeySchema"]],
        attribute_definitions=[{"AttributeName": d["AttributeName"],
                                "AttributeType": d["AttributeType"]}
                               for d in body["AttributeDefinitions"]],
        billing_mode=billing, throughput=throughput, created_at=now,
        partition=f"t/{table_id}", status="CREATING", status_since=now,
        billing_mode_updated_at=now if "BillingMode" in body else None,
        tags=list(body.get("Tags") or []),
        deletion_protection=bool(body.get("DeletionProtectionEnabled", False)),
        table_class=body.get("TableClass") or "STANDARD",
        stream_spec=stream if stream_enabled else None,
        stream_label=_stream_label(now) if stream_enabled else None,
        on_demand_throughput=body.get("OnDemandThroughput"),
        warm_throughput=body.get("WarmThroughput"),
    )
    table = ctx.catalog.put(record)
    return {"TableDescription": describe(ctx, table, status="CREATING")}


def _stream_label(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[
        :-3
    ]


def describe(ctx: Context, table: Table, status: str | None = None) -> dict[str, Any]:
    record = table.record
    stats = table.partition.stats
    throughput: dict[str, Any] = {"NumberOfDecreasesToday": record.throughput.decreases_today,
                                  "ReadCapacityUnits": record.throughput.read,
                                  "WriteCapacityUnits": record.throughput.write}
    if record.throughput.last_increase is not None:
        throughput["LastIncreaseDateTime"] = record.throughput.last_increase
    if record.throughput.last_decrease is not None:
        throughput["LastDecreaseDateTime"] = record.throughput.last_decrease
    arn = ctx.table_arn(record.name)
    out: dict[str, Any] = {
        "AttributeDefinitions": record.attribute_definitions,
        "TableName": record.name,
        "KeySchema": record.key_schema,
        "TableStatus": status or ctx.catalog.status(record, ctx.clock()),
        "CreationDateTime": record.created_at,
        "ProvisionedThroughput": throughput,
        "TableSizeBytes": stats.size_bytes,
        "ItemCount": stats.item_count,
        "TableArn": arn,
        "TableId": record.table_id,
        "DeletionProtectionEnabled": record.deletion_protection,
    }
    if record.billing_mode == "PAY_PER_REQUEST" or record.billing_mode_updated_at is not None:
        summary: dict[str, Any] = {"BillingMode": record.billing_mode}
        if record.billing_mode == "PAY_PER_REQUEST":
            summary["LastUpdateToPayPerRequestDateTime"] = (
                record.billing_mode_updated_at or record.created_at)
        out["BillingModeSummary"] = summary
    if record.table_class != "STANDARD":
        out["TableClassSummary"] = {"TableClass": record.table_class}
    if record.stream_spec is not None and record.stream_label is not None:
        out["StreamSpecification"] = record.stream_spec
        out["LatestStreamLabel"] = record.stream_label
        out["LatestStreamArn"] = f"{arn}/stream/{record.stream_label}"
    if record.on_demand_throughput is not None:
        out["OnDemandThroughput"] = record.on_demand_throughput
    return out


def describe_table(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    check(body, (table_name(),))
    return {"Table": describe(ctx, require_table(ctx, body["TableName"]))}


def list_tables(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    check(body, (
        table_name(required=False, name="ExclusiveStartTableName"),
        Member("Limit", "integer", min_value=1, max_value=MAX_LIST_TABLES),
    ))
    limit = int(body.get("Limit") or MAX_LIST_TABLES)
    start = body.get("ExclusiveStartTableName")
    names = sorted(ctx.catalog.tables)
    if start is not None:
        names = [n for n in names if n > start]
    out: dict[str, Any] = {"TableNames": names[:limit]}
    if len(names) > limit:
        out["LastEvaluatedTableName"] = names[limit - 1]
    return out


def delete_table(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    check(body, (table_name(),))
    table = require_table(ctx, body["TableName"])
    if table.record.deletion_protection:
        raise ValidationException(
            "Resource cannot be deleted as it is currently protected against deletion. "
            "Disable deletion protection first.")
    description = describe(ctx, table, status="DELETING")
    ctx.catalog.delete(table.record.name)
    return {"TableDescription": description}


UPDATE_TABLE = (
    Member("AttributeDefinitions", "list", element=_ATTRIBUTE_DEFINITION),
    table_name(),
    _BILLING,
    _THROUGHPUT,
    Member("GlobalSecondaryIndexUpdates", "list"),
    _STREAM_SPEC,
    Member("SSESpecification", "structure"),
    Member("ReplicaUpdates", "list"),
    _TABLE_CLASS,
    Member("DeletionProtectionEnabled", "boolean"),
    Member("OnDemandThroughput", "structure"),
    Member("WarmThroughput", "structure"),
)


def update_table(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    check(body, UPDATE_TABLE)
    if body.get("GlobalSecondaryIndexUpdates"):
        raise ValidationException(
            "Secondary indexes are not supported by this version of quorumdb yet: remove "
            "GlobalSecondaryIndexUpdates from the request")
    changes = ("ProvisionedThroughput", "BillingMode", "StreamSpecification",
               "SSESpecification", "ReplicaUpdates", "TableClass",
               "DeletionProtectionEnabled", "OnDemandThroughput", "WarmThroughput")
    if not any(body.get(k) is not None for k in changes):
        raise ValidationException(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
            "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
    table = require_table(ctx, body["TableName"])
    record = table.record
    now = ctx.clock()
    if ctx.catalog.status(record, now) != "ACTIVE":
        raise ResourceInUseException(
            f"Attempt to change a resource which is still in use: Table is being updated: "
            f"{record.name}")
    updates: dict[str, Any] = {}
    billing = body.get("BillingMode") or record.billing_mode
    throughput_request = body.get("ProvisionedThroughput")
    if billing != record.billing_mode or throughput_request is not None:
        new_throughput = check_billing(billing, throughput_request)
        updates.update(_throughput_changes(record, billing, new_throughput, now))
    if body.get("DeletionProtectionEnabled") is not None:
        updates["deletion_protection"] = bool(body["DeletionProtectionEnabled"])
    if body.get("TableClass") is not None:
        updates["table_class"] = body["TableClass"]
    if body.get("OnDemandThroughput") is not None:
        updates["on_demand_throughput"] = body["OnDemandThroughput"]
    stream = body.get("StreamSpecification")
    if stream is not None:
        _check_stream_spec(stream)
        updates.update(_stream_changes(record, stream, now))
    status = "UPDATING" if set(updates) - {"deletion_protection"} else record.status
    new_record = msgspec.structs.replace(record, status=status, status_since=now, **updates)
    table = ctx.catalog.put(new_record)
    return {"TableDescription": describe(ctx, table, status=status if status == "UPDATING"
                                         else None)}


def _throughput_changes(record: TableRecord, billing: str, requested: Throughput,
                        now: float) -> dict[str, Any]:
    current = record.throughput
    if billing == "PROVISIONED" and record.billing_mode == "PROVISIONED" and (
        requested.read == current.read and requested.write == current.write
    ):
        raise ValidationException(
            "The provisioned throughput for the table will not change. The requested value "
            "equals the current value. Current ReadCapacityUnits provisioned for the table: "
            f"{current.read}. Requested ReadCapacityUnits: {requested.read}. Current "
            f"WriteCapacityUnits provisioned for the table: {current.write}. Requested "
            f"WriteCapacityUnits: {requested.write}. Refer to the Amazon DynamoDB Developer "
            "Guide for current limits and how to request higher limits.")
    increase = requested.read > current.read or requested.write > current.write
    decrease = requested.read < current.read or requested.write < current.write
    throughput = Throughput(
        read=requested.read, write=requested.write,
        last_increase=now if increase and billing == "PROVISIONED" else current.last_increase,
        last_decrease=now if decrease and billing == "PROVISIONED" else current.last_decrease,
        decreases_today=current.decreases_today + (1 if decrease and billing == "PROVISIONED"
                                                   else 0),
    )
    out: dict[str, Any] = {"throughput": throughput}
    if billing != record.billing_mode:
        out["billing_mode"] = billing
        out["billing_mode_updated_at"] = now
    return out


def _stream_changes(record: TableRecord, stream: dict[str, Any],
                    now: float) -> dict[str, Any]:
    enabled = bool(stream["StreamEnabled"])
    if enabled and record.stream_spec is not None:
        raise ValidationException(
            f"Table already has an enabled stream: {record.name}")
    if not enabled and record.stream_spec is None:
        raise ValidationException(
            f"Table already has a disabled stream: {record.name}")
    if enabled:
        return {"stream_spec": stream, "stream_label": _stream_label(now)}
    return {"stream_spec": None}
