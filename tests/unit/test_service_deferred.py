"""A write's answer waits on its commit through ``Deferred``: the answer decided at staging
time is sent once the commit succeeds; a failed or cancelled commit becomes DynamoDB's
InternalServerError; a decided error (a failed condition) waits for the commit it was
decided on, then is sent as that error."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from quorumdb.api.service import Context, Deferred, Service
from quorumdb.bench.client import Endpoint, Signer
from quorumdb.errors import ConditionalCheckFailedException
from quorumdb.metadata.catalog import Catalog
from quorumdb.storage.engine import Engine

BODY = b'{"TableName":"tab"}'


def answer_to(make: Any) -> tuple[asyncio.Future[None], Any]:
    """(the commit future, the pending response) for a PutItem whose handler returns
    ``make(commit)``."""
    engine = Engine(None)
    service = Service(Context(Catalog(engine)), {"PutItem": lambda _ctx, _body: make(commit)})
    signed = Signer(Endpoint("http://127.0.0.1:8000"), "AKID", "secret",
                    "us-east-1").headers("PutItem", BODY, time.time())
    headers = {"host": "127.0.0.1:8000", "content-type": "application/x-amz-json-1.0",
               "x-amz-target": "DynamoDB_20120810.PutItem", **signed}
    commit: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    pending = service.handle("POST", "/", headers, BODY)
    engine.close()
    return commit, pending


def settle(pending: Any) -> tuple[int, dict[str, Any]]:
    assert pending.done()
    status, _, body = pending.result()
    return status, json.loads(body)


def test_answers_after_the_commit_and_maps_its_failures() -> None:
    async def scenario() -> None:
        commit, pending = answer_to(lambda c: Deferred(c, {"ok": 1}))
        assert not pending.done(), "no answer before the commit"
        seen: list[Any] = []
        pending.add_done_callback(seen.append)
        commit.set_result(None)
        await asyncio.sleep(0)
        assert seen == [pending] and settle(pending) == (200, {"ok": 1})

        commit, pending = answer_to(lambda c: Deferred(c, error=ConditionalCheckFailedException()))
        commit.set_result(None)
        status, body = settle(pending)
        assert status == 400 and body["__type"].endswith("ConditionalCheckFailedException")

        for fail in (lambda f: f.set_exception(OSError("disk")), lambda f: f.cancel()):
            commit, pending = answer_to(lambda c: Deferred(c, {"ok": 1}))
            fail(commit)
            status, body = settle(pending)
            assert status == 500 and body["__type"].endswith("InternalServerError"), body

    asyncio.run(scenario())
