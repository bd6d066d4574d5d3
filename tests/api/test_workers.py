"""``quorumdb serve --workers N``: front-end processes on the same port that answer reads
from the shared LMDB and pass everything else to the primary.

Which process answered is visible in the answer itself: every process draws its own random
prefix for ``x-amzn-RequestId``. Each check opens a new connection per request, so the
kernel spreads them over the processes (SO_REUSEPORT)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ServerProcess

WORKERS = 2
PROCESSES = WORKERS + 1
ATTEMPTS = 400  # connections tried until every process has answered (each ~1/3 likely)


def call(port: int, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    """One signed request on a new connection: (status, JSON answer, answering process)."""
    payload = json.dumps(body).encode()
    request = AWSRequest("POST", f"http://127.0.0.1:{port}/", data=payload, headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{operation}"})
    SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "dynamodb", "us-east-1").add_auth(request)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/", body=payload, headers=dict(request.headers))
        answer = connection.getresponse()
        data = answer.read()
        process = (answer.getheader("x-amzn-RequestId") or "")[:32]
        return answer.status, json.loads(data) if data else {}, process
    finally:
        connection.close()


def create_table(port: int, name: str, hash_type: str = "S") -> None:
    status, answer, _ = call(port, "CreateTable", {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": hash_type}]})
    assert status == 200, answer


def listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` (one per process with SO_REUSEPORT)."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "0A")


def worker_pids(primary_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(primary_pid)], capture_output=True, text=True,
                         check=False)
    return [int(pid) for pid in out.stdout.split()]


def wait_until(condition: Any, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.02)
    raise TimeoutError("condition not reached")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(["--workers", str(WORKERS)], tmp_path / "data")
    server.start()
    assert server.proc is not None
    # the port answers as soon as the primary listens; the workers join a moment later
    wait_until(lambda: listening_sockets(server.port) == PROCESSES)
    assert len(worker_pids(server.proc.pid)) == WORKERS
    yield server
    server.stop()


def test_every_process_answers_reads_and_sees_every_acknowledged_write(
        served: ServerProcess) -> None:
    port = served.port
    create_table(port, "shared")
    answered_reads: set[str] = set()
    for attempt in range(ATTEMPTS):
        status, _, _ = call(port, "PutItem", {"TableName": "shared", "Item": {
            "pk": {"S": f"k{attempt % 7}"}, "v": {"N": str(attempt)}}})
        assert status == 200
        status, answer, process = call(port, "GetItem", {
            "TableName": "shared", "Key": {"pk": {"S": f"k{attempt % 7}"}},
            "ConsistentRead": True})
        assert status == 200 and answer["Item"]["v"] == {"N": str(attempt)}, answer
        answered_reads.add(process)
        if len(answered_reads) == PROCESSES and attempt >= 20:
            break
    assert len(answered_reads) == PROCESSES, answered_reads
    status, answer, _ = call(port, "Scan", {"TableName": "shared"})
    assert status == 200 and answer["Count"] == 7


def test_workers_follow_table_deletion_and_recreation(served: ServerProcess) -> None:
    port = served.port
    create_table(port, "cycled")
    assert call(port, "PutItem", {"TableName": "cycled",
                                  "Item": {"pk": {"S": "a"}}})[0] == 200
    assert call(port, "DeleteTable", {"TableName": "cycled"})[0] == 200
    seen: set[str] = set()
    for _ in range(ATTEMPTS):
        status, answer, process = call(port, "GetItem", {"TableName": "cycled",
                                                         "Key": {"pk": {"S": "a"}}})
        assert status == 400 and answer["__type"].endswith("ResourceNotFoundException")
        seen.add(process)
        if len(seen) == PROCESSES:
            break
    assert len(seen) == PROCESSES
    create_table(port, "cycled", hash_type="N")  # same name, another key type
    assert call(port, "PutItem", {"TableName": "cycled",
                                  "Item": {"pk": {"N": "1"}}})[0] == 200
    seen.clear()
    for _ in range(ATTEMPTS):
        status, answer, process = call(port, "GetItem", {"TableName": "cycled",
                                                         "Key": {"pk": {"N": "1"}}})
        assert status == 200 and answer["Item"] == {"pk": {"N": "1"}}, answer
        status, answer, _ = call(port, "GetItem", {"TableName": "cycled",
                                                   "Key": {"pk": {"S": "a"}}})
        assert status == 400 and answer["__type"].endswith("ValidationException"), answer
        seen.add(process)
        if len(seen) == PROCESSES:
            break
    assert len(seen) == PROCESSES


def test_sigterm_stops_every_process_and_keeps_the_data(served: ServerProcess) -> None:
    port = served.port
    create_table(port, "kept")
    for i in range(20):
        assert call(port, "PutItem", {"TableName": "kept",
                                      "Item": {"pk": {"S": f"k{i}"}}})[0] == 200
    assert served.proc is not None
    workers = worker_pids(served.proc.pid)
    assert served.terminate() == 0
    wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in workers))
    served.start()
    status, answer, _ = call(served.port, "Scan", {"TableName": "kept"})
    assert status == 200 and answer["Count"] == 20


def test_workers_exit_when_the_primary_is_killed(served: ServerProcess) -> None:
    assert served.proc is not None
    workers = worker_pids(served.proc.pid)
    served.kill()
    wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") and
                               "zombie" not in _state(pid) for pid in workers))


def test_a_killed_worker_leaves_the_others_serving(served: ServerProcess) -> None:
    port = served.port
    create_table(port, "survives")
    assert served.proc is not None
    victim = worker_pids(served.proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    # its listening socket leaves the port's group when the process is gone
    wait_until(lambda: listening_sockets(port) == PROCESSES - 1)
    for i in range(30):  # new connections go to the processes still listening
        assert call(port, "PutItem", {"TableName": "survives",
                                      "Item": {"pk": {"S": f"k{i}"}}})[0] == 200
        assert call(port, "GetItem", {"TableName": "survives",
                                      "Key": {"pk": {"S": f"k{i}"}}})[1]["Item"]


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((line for line in status if line.startswith("State:")), "").lower()
    except OSError:
        return "gone"


def test_get_and_head_through_every_process_answer_as_the_primary_does(
        served: ServerProcess) -> None:
    """GET and HEAD / on new connections (most land on workers, which pass them on): the
    same status everywhere, and no body for HEAD (whose answer the worker must not wait
    a body for)."""
    for _ in range(30):
        for method in ("HEAD", "GET"):
            connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
            try:
                connection.request(method, "/")
                answer = connection.getresponse()
                body = answer.read()
            finally:
                connection.close()
            assert answer.status == (200 if method == "GET" else 400), method
            assert (body == b"") == (method == "HEAD"), (method, body)
