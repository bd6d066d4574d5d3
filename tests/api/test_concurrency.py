"""Atomic read-modify-write under concurrency: every acknowledged update counts.

DynamoDB applies each UpdateItem and each conditional write atomically to the item's
latest state. Group commit keeps writes in flight for a while (staged, then being synced);
a write that arrives meanwhile must see them, or acknowledged updates are lost. These
tests drive one hot item from many connections at once (threads, one client each)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from conftest import make_client

THREADS = 12
UPDATES_PER_THREAD = 60


def run_threads(work: Callable[[Any], int], endpoint: str) -> int:
    """Runs ``work(client)`` on THREADS threads at once; the sum of their results."""
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def run() -> None:
        client = make_client(endpoint)
        try:
            start.wait(timeout=30)
            done = work(client)
            with lock:
                results.append(done)
        except BaseException as error:  # reported by the main thread
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    assert not errors, errors[0]
    return sum(results)


def test_concurrent_add_updates_are_never_lost(server: Any, ddb: Any,
                                                make_table: Callable[..., str]) -> None:
    table = make_table()

    def increment(client: Any) -> int:
        for _ in range(UPDATES_PER_THREAD):
            client.update_item(TableName=table, Key={"pk": {"S": "counter"}},
                               UpdateExpression="ADD n :one",
                               ExpressionAttributeValues={":one": {"N": "1"}})
        return UPDATES_PER_THREAD

    acknowledged = run_threads(increment, server.endpoint)
    item = ddb.get_item(TableName=table, Key={"pk": {"S": "counter"}},
                        ConsistentRead=True)["Item"]
    assert item["n"] == {"N": str(acknowledged)}


def test_conditional_version_bumps_succeed_exactly_once_per_version(
        server: Any, ddb: Any, make_table: Callable[..., str]) -> None:
    """Optimistic locking: read the version, write version + 1 on condition that it is
    unchanged. Each version can be claimed by one writer only, so the final version
    equals the number of successful conditional writes."""
    table = make_table()
    ddb.put_item(TableName=table, Item={"pk": {"S": "doc"}, "version": {"N": "0"}})

    def bump(client: Any) -> int:
        won = 0
        for _ in range(UPDATES_PER_THREAD // 2):
            current = client.get_item(TableName=table, Key={"pk": {"S": "doc"}},
                                      ConsistentRead=True)["Item"]["version"]["N"]
            try:
                client.put_item(TableName=table,
                                Item={"pk": {"S": "doc"}, "version": {"N": str(int(current) + 1)}},
                                ConditionExpression="version = :seen",
                                ExpressionAttributeValues={":seen": {"N": current}})
                won += 1
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        return won

    successes = run_threads(bump, server.endpoint)
    item = ddb.get_item(TableName=table, Key={"pk": {"S": "doc"}}, ConsistentRead=True)["Item"]
    assert successes > 0
    assert item["version"] == {"N": str(successes)}
