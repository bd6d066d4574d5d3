"""Control-plane API: CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable,
tags, DescribeLimits, DescribeEndpoints and the boto3 waiters."""

from __future__ import annotations

import contextlib
import datetime
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ._helpers import expect_error

WAIT = {"Delay": 0.05, "MaxAttempts": 200}


# message verified: real-service answers quoted in aws-bench/aws-bench#41 and nubo-db/dynoxide#46.
# The error *type* is reported differently by secondary sources (ValidationException vs
# ResourceInUseException), so either is accepted.
PROTECTED = ("Resource cannot be deleted as it is currently protected against deletion. "
             "Disable deletion protection first.")


def expect_protected(ddb: Any, name: str) -> None:
    with pytest.raises(ClientError) as info:
        ddb.delete_table(TableName=name)
    error = info.value.response["Error"]
    assert error["Code"] in ("ValidationException", "ResourceInUseException"), error
    assert error["Message"] == PROTECTED


@pytest.fixture
def fresh_name(ddb: Any) -> Iterator[Any]:
    """Unique table names for tests that call CreateTable themselves; deletes leftovers."""
    names: list[str] = []

    def make() -> str:
        name = f"tbl-{uuid.uuid4().hex[:12]}"
        names.append(name)
        return name

    yield make
    for name in names:
        with contextlib.suppress(Exception):
            ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
        with contextlib.suppress(Exception):
            ddb.delete_table(TableName=name)


def simple_schema(name: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    }
    if "ProvisionedThroughput" not in extra and "BillingMode" not in extra:
        params["BillingMode"] = "PAY_PER_REQUEST"
    params.update(extra)
    return params


# --------------------------------------------------------------------------- CreateTable


def test_create_table_returns_description(ddb: Any, fresh_name: Any) -> None:
    name = fresh_name()
    out = ddb.create_table(**simple_schema(name))
    desc = out["TableDescription"]
    assert desc["TableName"] == name
    assert desc["TableStatus"] in ("CREATING", "ACTIVE")
    assert desc["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert desc["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"


def test_create_table_with_sort_key(ddb: Any, make_table: Any) -> None:
    name = make_table(range_key=("sk", "N"))
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                  {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"}]


def test_create_table_binary_hash_key(ddb: Any, make_table: Any) -> None:
    name = make_table(hash_key=("id", "B"))
    ddb.put_item(TableName=name, Item={"id": {"B": b"\x00\x01"}})
    got = ddb.get_item(TableName=name, Key={"id": {"B": b"\x00\x01"}})
    assert got["Item"] == {"id": {"B": b"\x00\x01"}}


def test_create_table_missing_key_schema(raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table, TableName=fresh_name(),
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                 BillingMode="PAY_PER_REQUEST")


def test_create_table_missing_attribute_definitions(raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table, TableName=fresh_name(),
                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                 BillingMode="PAY_PER_REQUEST")


def test_create_table_attribute_definitions_do_not_match_key_schema(
        raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table, **simple_schema(
        fresh_name(), AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}]))


def test_create_table_extra_attribute_definition_rejected(
        raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table, **simple_schema(
        fresh_name(), AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                            {"AttributeName": "x", "AttributeType": "S"}]))


def test_create_table_two_hash_keys_rejected(raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table, **simple_schema(
        fresh_name(),
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}]))


def test_create_table_range_key_first_rejected(raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table, **simple_schema(
        fresh_name(), KeySchema=[{"AttributeName": "pk", "KeyType": "RANGE"}]))


def test_create_table_invalid_attribute_type(raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table, **simple_schema(
        fresh_name(), AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "BOOL"}]))


@pytest.mark.parametrize("name", ["ab", "x" * 256, "bad name", "bad/name", "bäd"])
def test_create_table_invalid_name(raw_ddb: Any, name: str) -> None:
    expect_error("ValidationException", raw_ddb.create_table, **simple_schema(name))


def test_create_table_name_limits_and_characters_accepted(ddb: Any, fresh_name: Any) -> None:
    short = "a_" + uuid.uuid4().hex[:1]   # exactly 3 characters
    long = ("A.b-_" + uuid.uuid4().hex).ljust(255, "z")
    for name in (short, long):
        ddb.create_table(**simple_schema(name))
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
        assert ddb.describe_table(TableName=name)["Table"]["TableName"] == name
        ddb.delete_table(TableName=name)


def test_create_duplicate_table(ddb: Any, make_table: Any) -> None:
    name = make_table()
    expect_error("ResourceInUseException", ddb.create_table, **simple_schema(name))


def test_create_table_provisioned_needs_throughput(raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table,
                 **simple_schema(fresh_name(), BillingMode="PROVISIONED"))


def test_create_table_default_billing_mode_needs_throughput(
        raw_ddb: Any, fresh_name: Any) -> None:
    params = simple_schema(fresh_name())
    del params["BillingMode"]
    expect_error("ValidationException", raw_ddb.create_table, **params)


def test_create_table_pay_per_request_rejects_throughput(raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table, **simple_schema(
        fresh_name(), BillingMode="PAY_PER_REQUEST",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}))


def test_create_table_zero_throughput_rejected(raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table, **simple_schema(
        fresh_name(), ProvisionedThroughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 5}))


def test_create_table_invalid_billing_mode(raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table,
                 **simple_schema(fresh_name(), BillingMode="FREE"))


def test_create_table_with_secondary_index_rejected_for_now(
        raw_ddb: Any, fresh_name: Any) -> None:
    # Indexes come in a later milestone; until then CreateTable must refuse them.
    expect_error("ValidationException", raw_ddb.create_table, **simple_schema(
        fresh_name(),
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "g-index",
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}]))


def test_create_table_provisioned_described(ddb: Any, make_table: Any) -> None:
    name = make_table(ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3})
    pt = ddb.describe_table(TableName=name)["Table"]["ProvisionedThroughput"]
    assert pt["ReadCapacityUnits"] == 7
    assert pt["WriteCapacityUnits"] == 3
    assert pt["NumberOfDecreasesToday"] == 0


def test_create_table_tags(ddb: Any, make_table: Any) -> None:
    name = make_table(Tags=[{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "db"}])
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    tags = ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [{"Key": "env", "Value": "test"},
                                                    {"Key": "team", "Value": "db"}]


def test_create_table_deletion_protection_described(ddb: Any, fresh_name: Any) -> None:
    name = fresh_name()
    ddb.create_table(**simple_schema(name, DeletionProtectionEnabled=True))
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    assert ddb.describe_table(TableName=name)["Table"]["DeletionProtectionEnabled"] is True


def test_create_table_table_class_described(ddb: Any, make_table: Any) -> None:
    name = make_table(TableClass="STANDARD_INFREQUENT_ACCESS")
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"


def test_create_table_invalid_table_class(raw_ddb: Any, fresh_name: Any) -> None:
    expect_error("ValidationException", raw_ddb.create_table,
                 **simple_schema(fresh_name(), TableClass="GLACIER"))


def test_create_table_stream_specification_described(ddb: Any, make_table: Any) -> None:
    name = make_table(StreamSpecification={"StreamEnabled": True,
                                           "StreamViewType": "NEW_AND_OLD_IMAGES"})
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True,
                                            "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["LatestStreamArn"].startswith(table["TableArn"] + "/stream/")
    assert table["LatestStreamLabel"]


# --------------------------------------------------------------------------- DescribeTable


def test_describe_table_fields(ddb: Any, make_table: Any) -> None:
    before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    name = make_table()
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableName"] == name
    assert table["TableStatus"] == "ACTIVE"
    assert isinstance(table["CreationDateTime"], datetime.datetime)
    assert table["CreationDateTime"] >= before
    assert table["CreationDateTime"] <= datetime.datetime.now(datetime.UTC) \
        + datetime.timedelta(minutes=5)
    assert table["ItemCount"] == 0
    assert table["TableSizeBytes"] == 0
    assert re.fullmatch(r"arn:aws:dynamodb:us-east-1:\d{12}:table/" + re.escape(name),
                        table["TableArn"]), table["TableArn"]
    uuid.UUID(table["TableId"])  # a UUID
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["ProvisionedThroughput"] == {"NumberOfDecreasesToday": 0,
                                              "ReadCapacityUnits": 0,
                                              "WriteCapacityUnits": 0}
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert table["DeletionProtectionEnabled"] is False


def test_describe_table_ids_differ_between_tables(ddb: Any, make_table: Any) -> None:
    a = ddb.describe_table(TableName=make_table())["Table"]
    b = ddb.describe_table(TableName=make_table())["Table"]
    assert a["TableId"] != b["TableId"]
    assert a["TableArn"] != b["TableArn"]


def test_describe_missing_table(ddb: Any) -> None:
    resp = expect_error("ResourceNotFoundException", ddb.describe_table,
                        TableName="no-such-table-xyz")
    # message verified: Developer Guide "Error handling with DynamoDB" (Programming.Errors)
    assert resp["Error"]["Message"].startswith("Requested resource not found")


# --------------------------------------------------------------------------- ListTables


def test_list_tables_contains_created_sorted(ddb: Any, make_table: Any) -> None:
    names = [make_table() for _ in range(3)]
    seen: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        out = ddb.list_tables(**kwargs)
        seen += out["TableNames"]
        if "LastEvaluatedTableName" not in out:
            break
        kwargs = {"ExclusiveStartTableName": out["LastEvaluatedTableName"]}
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    for name in names:
        assert name in seen


def test_list_tables_pagination_with_limit(ddb: Any, make_table: Any) -> None:
    names = sorted(make_table() for _ in range(5))
    seen: list[str] = []
    kwargs: dict[str, Any] = {"Limit": 2}
    pages = 0
    while True:
        out = ddb.list_tables(**kwargs)
        pages += 1
        assert len(out["TableNames"]) <= 2
        seen += out["TableNames"]
        if "LastEvaluatedTableName" not in out:
            break
        assert out["LastEvaluatedTableName"] == out["TableNames"][-1]
        kwargs = {"Limit": 2, "ExclusiveStartTableName": out["LastEvaluatedTableName"]}
    assert pages >= 3
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    assert set(names) <= set(seen)


def test_list_tables_exclusive_start(ddb: Any, make_table: Any) -> None:
    names = sorted(make_table() for _ in range(3))
    out = ddb.list_tables(ExclusiveStartTableName=names[0], Limit=100)
    assert names[0] not in out["TableNames"]
    assert all(t > names[0] for t in out["TableNames"])
    assert names[1] in out["TableNames"] or "LastEvaluatedTableName" in out


def test_list_tables_limit_one(ddb: Any, make_table: Any) -> None:
    make_table()
    make_table()
    out = ddb.list_tables(Limit=1)
    assert len(out["TableNames"]) == 1
    assert out["LastEvaluatedTableName"] == out["TableNames"][0]


@pytest.mark.parametrize("limit", [0, 101])
def test_list_tables_limit_out_of_range(raw_ddb: Any, limit: int) -> None:
    expect_error("ValidationException", raw_ddb.list_tables, Limit=limit)


# --------------------------------------------------------------------------- DeleteTable


def test_delete_table(ddb: Any, fresh_name: Any) -> None:
    name = fresh_name()
    ddb.create_table(**simple_schema(name))
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    out = ddb.delete_table(TableName=name)
    assert out["TableDescription"]["TableName"] == name
    assert out["TableDescription"]["TableStatus"] in ("DELETING", "ACTIVE")
    ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=WAIT)
    expect_error("ResourceNotFoundException", ddb.describe_table, TableName=name)
    assert name not in ddb.list_tables(ExclusiveStartTableName=name[:-1])["TableNames"]


def test_delete_missing_table(ddb: Any) -> None:
    expect_error("ResourceNotFoundException", ddb.delete_table, TableName="no-such-table-abc")


def test_deleted_table_data_gone_on_recreate(ddb: Any, fresh_name: Any) -> None:
    name = fresh_name()
    ddb.create_table(**simple_schema(name))
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}})
    ddb.delete_table(TableName=name)
    ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=WAIT)
    ddb.create_table(**simple_schema(name))
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "a"}})


def test_deletion_protection_blocks_delete(ddb: Any, fresh_name: Any) -> None:
    name = fresh_name()
    ddb.create_table(**simple_schema(name, DeletionProtectionEnabled=True))
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    expect_protected(ddb, name)
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    ddb.delete_table(TableName=name)
    ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=WAIT)


# --------------------------------------------------------------------------- UpdateTable


def test_update_table_switch_to_provisioned(ddb: Any, make_table: Any) -> None:
    name = make_table()
    out = ddb.update_table(TableName=name, BillingMode="PROVISIONED",
                           ProvisionedThroughput={"ReadCapacityUnits": 4,
                                                  "WriteCapacityUnits": 2})
    assert out["TableDescription"]["TableName"] == name
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 4
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 2


def test_update_table_switch_to_pay_per_request(ddb: Any, make_table: Any) -> None:
    name = make_table(ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 0


def test_update_table_throughput(ddb: Any, make_table: Any) -> None:
    name = make_table(ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    ddb.update_table(TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 10,
                                                            "WriteCapacityUnits": 6})
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    pt = ddb.describe_table(TableName=name)["Table"]["ProvisionedThroughput"]
    assert (pt["ReadCapacityUnits"], pt["WriteCapacityUnits"]) == (10, 6)


def test_update_table_throughput_on_pay_per_request_rejected(
        ddb: Any, make_table: Any) -> None:
    name = make_table()
    expect_error("ValidationException", ddb.update_table, TableName=name,
                 ProvisionedThroughput={"ReadCapacityUnits": 10, "WriteCapacityUnits": 6})


def test_update_table_deletion_protection(ddb: Any, make_table: Any) -> None:
    name = make_table()
    ddb.update_table(TableName=name, DeletionProtectionEnabled=True)
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    assert ddb.describe_table(TableName=name)["Table"]["DeletionProtectionEnabled"] is True
    expect_protected(ddb, name)
    ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    assert ddb.describe_table(TableName=name)["Table"]["DeletionProtectionEnabled"] is False


def test_update_missing_table(ddb: Any) -> None:
    expect_error("ResourceNotFoundException", ddb.update_table, TableName="no-such-table-upd",
                 BillingMode="PAY_PER_REQUEST")


def test_update_table_keeps_items(ddb: Any, make_table: Any) -> None:
    name = make_table()
    ddb.put_item(TableName=name, Item={"pk": {"S": "k"}, "v": {"N": "1"}})
    ddb.update_table(TableName=name, BillingMode="PROVISIONED",
                     ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    got = ddb.get_item(TableName=name, Key={"pk": {"S": "k"}}, ConsistentRead=True)
    assert got["Item"] == {"pk": {"S": "k"}, "v": {"N": "1"}}


# --------------------------------------------------------------------------- Tags


def test_tag_untag_list(ddb: Any, make_table: Any) -> None:
    name = make_table()
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    assert ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", []) == []
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"},
                                            {"Key": "b", "Value": "2"}])
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "3"}])  # overwrite
    tags = ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [{"Key": "a", "Value": "3"},
                                                    {"Key": "b", "Value": "2"}]
    ddb.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]


def test_tag_missing_table(ddb: Any, make_table: Any) -> None:
    name = make_table()
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    missing = arn.rsplit("/", 1)[0] + "/no-such-table-tags"
    expect_error("ResourceNotFoundException", ddb.tag_resource, ResourceArn=missing,
                 Tags=[{"Key": "a", "Value": "1"}])
    expect_error("ResourceNotFoundException", ddb.list_tags_of_resource, ResourceArn=missing)


def test_tag_invalid_arn(raw_ddb: Any) -> None:
    expect_error("ValidationException", raw_ddb.tag_resource, ResourceArn="not-an-arn",
                 Tags=[{"Key": "a", "Value": "1"}])


# --------------------------------------------------------------------------- misc


def test_describe_limits(ddb: Any) -> None:
    out = ddb.describe_limits()
    for key in ("AccountMaxReadCapacityUnits", "AccountMaxWriteCapacityUnits",
                "TableMaxReadCapacityUnits", "TableMaxWriteCapacityUnits"):
        assert isinstance(out[key], int)
        assert out[key] > 0
    assert out["TableMaxReadCapacityUnits"] <= out["AccountMaxReadCapacityUnits"]
    assert out["TableMaxWriteCapacityUnits"] <= out["AccountMaxWriteCapacityUnits"]


def test_describe_endpoints(ddb: Any) -> None:
    out = ddb.describe_endpoints()
    assert out["Endpoints"]
    for endpoint in out["Endpoints"]:
        assert isinstance(endpoint["Address"], str) and endpoint["Address"]
        assert isinstance(endpoint["CachePeriodInMinutes"], int)


def test_waiters(ddb: Any, fresh_name: Any) -> None:
    name = fresh_name()
    ddb.create_table(**simple_schema(name))
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    ddb.delete_table(TableName=name)
    ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=WAIT)
    expect_error("ResourceNotFoundException", ddb.describe_table, TableName=name)
