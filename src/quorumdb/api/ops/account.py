"""DescribeLimits and DescribeEndpoints: account-level facts of this deployment."""

from __future__ import annotations

from typing import Any

from quorumdb.api.service import Context

ACCOUNT_MAX_CAPACITY_UNITS = 80_000
TABLE_MAX_CAPACITY_UNITS = 40_000
ENDPOINT_CACHE_MINUTES = 1440


def describe_limits(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "AccountMaxReadCapacityUnits": ACCOUNT_MAX_CAPACITY_UNITS,
        "AccountMaxWriteCapacityUnits": ACCOUNT_MAX_CAPACITY_UNITS,
        "TableMaxReadCapacityUnits": TABLE_MAX_CAPACITY_UNITS,
        "TableMaxWriteCapacityUnits": TABLE_MAX_CAPACITY_UNITS,
    }


def describe_endpoints(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Answers this server's own address, so SDKs with endpoint discovery stay here
    instead of following the answer to AWS."""
    address = ctx.options.get("endpoint_address", f"dynamodb.{ctx.region}.amazonaws.com")
    return {"Endpoints": [{"Address": address, "CachePeriodInMinutes": ENDPOINT_CACHE_MINUTES}]}
