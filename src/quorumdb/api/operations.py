"""The operation table: DynamoDB operation name -> handler. One place lists what the
server implements; an operation not listed answers UnknownOperationException."""

from __future__ import annotations

from quorumdb.api.ops import account, batch, items, query_scan, tables, tags
from quorumdb.api.service import OperationHandler

OPERATIONS: dict[str, OperationHandler] = {
    "CreateTable": tables.create_table,
    "DescribeTable": tables.describe_table,
    "ListTables": tables.list_tables,
    "DeleteTable": tables.delete_table,
    "UpdateTable": tables.update_table,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "ListTagsOfResource": tags.list_tags_of_resource,
    "DescribeLimits": account.describe_limits,
    "DescribeEndpoints": account.describe_endpoints,
    "PutItem": items.put_item,
    "GetItem": items.get_item,
    "UpdateItem": items.update_item,
    "DeleteItem": items.delete_item,
    "Query": query_scan.query,
    "Scan": query_scan.scan,
    "BatchGetItem": batch.batch_get_item,
    "BatchWriteItem": batch.batch_write_item,
}
