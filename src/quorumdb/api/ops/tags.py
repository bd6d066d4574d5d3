"""TagResource, UntagResource, ListTagsOfResource: tags are part of the table record."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from quorumdb.api.ops.tables import TAGS
from quorumdb.api.service import Context
from quorumdb.api.validate import Member, check
from quorumdb.errors import LimitExceededException, ResourceNotFoundException, ValidationException
from quorumdb.metadata.catalog import Table

MAX_TAGS_PER_RESOURCE = 50
_ARN = re.compile(r"arn:aws[a-z-]*:dynamodb:([a-z0-9-]+):(\d{12}):table/([a-zA-Z0-9_.-]{3,255})\Z")
_RESOURCE_ARN = Member("ResourceArn", "string", required=True, min_length=1, max_length=1283)


def _table_for_arn(ctx: Context, arn: str) -> Table:
    match = _ARN.match(arn)
    if match is None:
        raise ValidationException(f"Invalid TableArn: Invalid ResourceArn provided as input {arn}")
    table = ctx.catalog.get(match.group(3))
    if table is None or match.group(1) != ctx.region or match.group(2) != ctx.account_id:
        raise ResourceNotFoundException(f"Requested resource not found: ResourcArn: {arn} not found")
    return table


def tag_resource(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    check(body, (_RESOURCE_ARN, Member("Tags", "list", required=True,
                                       element=TAGS.element)))
    table = _table_for_arn(ctx, body["ResourceArn"])
    tags = {t["Key"]: t["Value"] for t in table.record.tags}
    for tag in body["Tags"]:
        tags[tag["Key"]] = tag["Value"]
    if len(tags) > MAX_TAGS_PER_RESOURCE:
        raise LimitExceededException(
            f"The number of tags on the resource exceeds the limit of {MAX_TAGS_PER_RESOURCE}")
    new_tags = [{"Key": k, "Value": v} for k, v in tags.items()]
    ctx.catalog.put(msgspec.structs.replace(table.record, tags=new_tags))
    return {}


def untag_resource(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    check(body, (_RESOURCE_ARN, Member("TagKeys", "list", required=True,
                                       element=Member("TagKey", "string", min_length=1,
                                                      max_length=128))))
    table = _table_for_arn(ctx, body["ResourceArn"])
    drop = set(body["TagKeys"])
    new_tags = [t for t in table.record.tags if t["Key"] not in drop]
    ctx.catalog.put(msgspec.structs.replace(table.record, tags=new_tags))
    return {}


def list_tags_of_resource(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    check(body, (_RESOURCE_ARN, Member("NextToken", "string")))
    table = _table_for_arn(ctx, body["ResourceArn"])
    return {"Tags": list(table.record.tags)}
