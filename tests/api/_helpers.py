"""Small helpers shared by the API tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def expect_error(code: str, fn: Callable[..., Any], /, message: str | None = None,
                 **kwargs: Any) -> dict[str, Any]:
    """Calls fn(**kwargs), asserts it fails with error `code` (and `message` if given),
    and returns the parsed error response."""
    with pytest.raises(ClientError) as info:
        fn(**kwargs)
    response: dict[str, Any] = info.value.response
    assert response["Error"]["Code"] == code, response
    if message is not None:
        assert response["Error"]["Message"] == message, response
    return response


def batch_put(ddb: Any, table: str, items: Iterable[dict[str, Any]]) -> None:
    """Writes items with BatchWriteItem, 25 at a time, retrying unprocessed items."""
    pending = [{"PutRequest": {"Item": item}} for item in items]
    while pending:
        chunk, pending = pending[:25], pending[25:]
        request: dict[str, Any] = {table: chunk}
        for _ in range(50):
            out = ddb.batch_write_item(RequestItems=request)
            request = out.get("UnprocessedItems") or {}
            if not request:
                break
        assert not request, "items stayed unprocessed"


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int | str) -> dict[str, str]:
    return {"N": str(value)}
