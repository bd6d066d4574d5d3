"""Bad input never hurts the server.

Random and malformed requests (bad JSON, wrong types, huge values, invalid UTF-8, broken
signatures, odd headers, pathological HTTP) go to a dedicated ``quorumdb serve
--in-memory`` process over raw HTTP. For every answer: the status is 200 or a 4xx
(400/404/413), never a 5xx; a non-200 body is DynamoDB's error JSON whose ``__type``
contains ``#``; ``x-amzn-RequestId`` is present; a cheap ``DescribeLimits`` still answers
200 afterwards; and the server's log gained no ``Traceback``. The log is checked after
every example, so hypothesis shrinks a traceback (not only a 500) to a minimal request.

Requests are signed with our own ``sign_request`` so that the signature layer passes and
the fuzz reaches the operation handlers; ``test_broken_signatures`` breaks signatures on
purpose, against the local-mode server and against one that verifies credentials.

Knob: ``QUORUMDB_FUZZ_EXAMPLES`` sets the example count of the main structured test (the
other hypothesis tests get a share of it); the default keeps the whole module well under a
minute on two cores.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import gzip
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from quorumdb.api.sigv4 import sign_request

JSON_10 = "application/x-amz-json-1.0"
TARGET = "DynamoDB_20120810."
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "fuzz-secret"
REGION = "us-east-1"
ALLOWED_STATUSES = frozenset({200, 400, 404, 413})
SYNTHESIZED = "x-test-synthesized"  # an answer the client inferred, not one it read
MAX_BODY_BYTES = 16 * 1024 * 1024 + 64 * 1024  # quorumdb.api.http.MAX_BODY_BYTES
MAX_HEADER_BYTES = 64 * 1024  # quorumdb.api.http.MAX_HEADER_BYTES
ANSWER_TIMEOUT_S = 30.0

EXAMPLES = int(os.environ.get("QUORUMDB_FUZZ_EXAMPLES", "1000"))


def _examples(share: float) -> int:
    return max(10, int(EXAMPLES * share))


FUZZ_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.large_base_example,
                              HealthCheck.function_scoped_fixture],
}

OPERATIONS = ("CreateTable", "DescribeTable", "ListTables", "DeleteTable", "UpdateTable",
              "PutItem", "GetItem", "UpdateItem", "DeleteItem", "Query", "Scan",
              "BatchGetItem", "BatchWriteItem", "TagResource", "UntagResource",
              "ListTagsOfResource", "DescribeLimits", "DescribeEndpoints")


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoggedServer:
    """A `quorumdb serve --in-memory` child (the same command as tests/conftest.py's
    ServerProcess) whose stdout and stderr go to a log file the tests inspect."""

    def __init__(self, log_path: Path, args: list[str]) -> None:
        self.log_path = log_path
        self.args = args
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_offset = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "quorumdb", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--in-memory", *self.args]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        end = time.monotonic() + 30.0
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n"
                                   f"{self.log_path.read_text(errors='replace')[-4000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"server on port {self.port} did not start")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def new_log(self) -> str:
        """The log written since the previous call."""
        with open(self.log_path, "rb") as log:
            log.seek(self.log_offset)
            data = log.read()
        self.log_offset += len(data)
        return data.decode(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


# --------------------------------------------------------------------------- raw HTTP


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Wire:
    """One keep-alive connection to a server that reconnects when the server closed it."""

    server: LoggedServer
    conn: http.client.HTTPConnection | None = None
    sent_on_conn: int = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port,
                                                   timeout=ANSWER_TIMEOUT_S)
            self.sent_on_conn = 0
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, method: str, url: str, headers: list[tuple[str, str | bytes]],
             body: bytes) -> Answer:
        for attempt in range(2):
            conn = self._connection()
            reused = self.sent_on_conn > 0
            try:
                conn.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
                names = {name.lower() for name, _ in headers}
                for name, value in headers:
                    conn.putheader(name, value)
                if "content-length" not in names and "transfer-encoding" not in names:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                self.sent_on_conn += 1
                response = conn.getresponse()
                data = response.read()
                answer = Answer(response.status,
                                {k.lower(): v for k, v in response.getheaders()}, data)
                if response.will_close:
                    self.close()
                return answer
            except TimeoutError as exc:
                self.close()
                raise AssertionError(
                    f"no answer within {ANSWER_TIMEOUT_S}s: the server hung") from exc
            except (ConnectionError, http.client.RemoteDisconnected,
                    http.client.CannotSendRequest, http.client.BadStatusLine) as exc:
                self.close()
                if attempt == 0 and reused:
                    continue  # the server closed an idle keep-alive connection
                if isinstance(exc, BrokenPipeError | ConnectionResetError) and len(body) > 1 << 20:
                    # The server may answer 413 and close while a huge body is in flight;
                    # the client then never reads that answer (marked, not checked).
                    return Answer(413, {SYNTHESIZED: "1"}, b"")
                raise AssertionError(f"connection dropped without an answer: {exc!r}") from exc
        raise AssertionError("unreachable")


def signed_headers(server: LoggedServer, operation: str, body: bytes,
                   content_type: str = JSON_10, secret: str = SECRET_KEY,
                   extra: dict[str, str] | None = None) -> list[tuple[str, str | bytes]]:
    headers = {"content-type": content_type, "x-amz-target": TARGET + operation,
               **(extra or {})}
    added = sign_request("POST", server.host, "/", body, ACCESS_KEY, secret, REGION,
                         time.time(), headers=headers)
    return [("Host", server.host), *headers.items(), *added.items()]


@dataclass
class Fuzz:
    server: LoggedServer
    wire: Wire
    table: str
    arn: str
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def call(self, operation: str, request: Any) -> Answer:
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        return self.wire.send("POST", "/", signed_headers(self.server, operation, body), body)

    def exchange(self, method: str, url: str, headers: list[tuple[str, str | bytes]],
                 body: bytes, *, what: str = "") -> Answer:
        """Sends one fuzzed request and checks the answer, the log and liveness."""
        shown = body[:600] + (b"..." if len(body) > 600 else b"")
        with contextlib.suppress(InvalidArgument):  # outside a hypothesis test
            note(f"request: {method} {url} {what} headers={headers!r} "
                 f"body({len(body)})={shown!r}")
        # Forget log lines of an earlier failed example (already reported by its test).
        self.server.new_log()
        answer = self.wire.send(method, url, headers, body)
        self.requests += 1
        self.statuses[answer.status] = self.statuses.get(answer.status, 0) + 1
        check_answer(answer)
        self.check_serving()
        return answer

    def check_serving(self) -> None:
        limits = self.call("DescribeLimits", {})
        assert limits.status == 200, f"DescribeLimits after the request: {limits}"
        log = self.server.new_log()
        assert "Traceback" not in log, f"the server logged a traceback:\n{log[-6000:]}"
        assert self.server.alive(), "the server process died"


def check_answer(answer: Answer) -> None:
    if SYNTHESIZED in answer.headers:
        return
    assert answer.status in ALLOWED_STATUSES, (
        f"status {answer.status} (body {answer.body[:2000]!r})")
    assert "x-amzn-requestid" in answer.headers, f"no x-amzn-RequestId: {answer}"
    if answer.status != 200:
        try:
            error = json.loads(answer.body)
        except ValueError:
            raise AssertionError(f"error body is not JSON: {answer}") from None
        assert isinstance(error, dict), answer
        assert isinstance(error.get("__type"), str) and "#" in error["__type"], answer


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedServer]:
    server = LoggedServer(tmp_path_factory.mktemp("fuzz") / "server.log", [])
    server.start()
    try:
        yield server
    finally:
        alive = server.alive()
        log = server.log()
        server.stop()
    # The log itself is checked per example and by test_server_still_healthy_at_the_end.
    assert alive, f"the server died during the fuzz tests:\n{log[-6000:]}"


@pytest.fixture(scope="module")
def fuzz(fuzz_server: LoggedServer) -> Iterator[Fuzz]:
    """The server, a keep-alive connection and a hash+range table with a few items."""
    wire = Wire(fuzz_server)
    table = f"fuzz-{uuid.uuid4().hex[:8]}"
    fz = Fuzz(fuzz_server, wire, table,
              f"arn:aws:dynamodb:{REGION}:000000000000:table/{table}")
    try:
        created = fz.call("CreateTable", {
            "TableName": table,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "N"}],
            "BillingMode": "PAY_PER_REQUEST",
        })
        assert created.status == 200, created
        end = time.monotonic() + 30
        while time.monotonic() < end:
            described = json.loads(fz.call("DescribeTable", {"TableName": table}).body)
            if described.get("Table", {}).get("TableStatus") == "ACTIVE":
                break
            time.sleep(0.05)
        for i in range(6):
            fz.call("PutItem", {"TableName": table, "Item": {
                "pk": {"S": f"k{i % 2}"}, "sk": {"N": str(i)}, "g": {"S": "g"},
                "a": {"S": "x" * i}, "n": {"N": str(i * 7)},
                "l": {"L": [{"N": "1"}, {"S": "s"}]}, "m": {"M": {"b": {"SS": ["p", "q"]}}}}})
        fz.server.new_log()
        yield fz
    finally:
        wire.close()


# --------------------------------------------------------------------------- strategies

ODD_STRINGS = ("", " ", "\x00", "\u00e9", "\u2603", "\U0001f600", "\ufffd", "a" * 256,
               "a" * 1025, "#", ":", "$", "%ZZ", "..", "/", "\\", "'", '"', "null", "NaN",
               "arn:aws:dynamodb:us-east-1:000000000000:table/", "\r\n", "\t")
ODD_NUMBER_TEXTS = ("1e999999999", "-1e999999999", "1e-999999999", "-0", "0", "NaN",
                    "Infinity", "-Infinity", "1" * 50, "9" * 38, "9" * 39, "0." + "0" * 200 + "1",
                    "1e126", "1e125", "9.9999999999999999999999999999999999999E+125",
                    "1E-130", "1e-131", "0x10", "1_000", " 1", "1 ", "+1", "--1", ".",
                    "1.", ".1", "", "e5", "1e", "\u0661", "0" * 1000 + "1", "1" + "0" * 1000)
ODD_AVS: tuple[Any, ...] = ({}, {"S": 1}, {"S": None}, {"SS": []}, {"NS": []}, {"BS": []},
                            {"B": "!!"}, {"B": 5}, {"Q": "x"}, {"S": "a", "N": "1"},
                            {"N": 1}, {"N": "x"}, {"BOOL": "true"}, {"NULL": False},
                            {"NULL": "x"}, {"L": {}}, {"M": []}, {"M": {"": {"S": "x"}}},
                            {"SS": ["a", "a"]}, {"NS": ["1", "1.0"]}, {"BS": ["AA==", "AA=="]},
                            {"S": ""}, {"B": ""}, {"SS": [""]}, {"L": [None]}, {"M": {"a": 1}},
                            [], "x", 1, None, True)


def deep(depth: int, kind: str) -> Any:
    value: Any = {"S": "leaf"}
    for _ in range(depth):
        value = {"M": {"a": value}} if kind == "M" else {"L": [value]}
    return value


def huge_string(max_size: int = 500_000) -> st.SearchStrategy[str]:
    return st.builds(lambda n, c: c * n, st.integers(0, max_size),
                     st.sampled_from(["x", "\u00e9", "\u2603", "\U0001f600", "\x00"]))


odd_number = st.sampled_from(ODD_NUMBER_TEXTS) | st.integers().map(str) | st.floats().map(str) \
    | st.decimals(allow_nan=True).map(str)
odd_scalar = (st.none() | st.booleans() | st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64,
                                                            -(2**63) - 1, 10**400, 1.5, -0.0,
                                                            1e308])
              | st.sampled_from(ODD_STRINGS) | st.text(max_size=20))
b64 = st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())

attribute_value: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.builds(lambda s: {"S": s}, st.text(max_size=30) | st.sampled_from(ODD_STRINGS)),
        st.builds(lambda n: {"N": n}, odd_number),
        st.builds(lambda b: {"B": b}, b64 | st.sampled_from(["!!", "A", "AA=", "====", "\u00e9"])),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda xs: {"SS": xs}, st.lists(st.text(max_size=10), max_size=5)),
        st.builds(lambda xs: {"NS": xs}, st.lists(odd_number, max_size=5)),
        st.builds(lambda xs: {"BS": xs}, st.lists(b64, max_size=5)),
        st.sampled_from(ODD_AVS),
    ),
    lambda children: st.one_of(
        st.builds(lambda xs: {"L": xs}, st.lists(children, max_size=4)),
        st.builds(lambda m: {"M": m}, st.dictionaries(st.text(max_size=8), children,
                                                      max_size=4)),
    ),
    max_leaves=12,
) | st.builds(deep, st.integers(1, 120), st.sampled_from(["M", "L"])) \
  | st.builds(lambda s: {"S": s}, huge_string()) \
  | st.builds(lambda n: {"SS": [str(i) for i in range(n)]}, st.integers(0, 5000))

NAME_KEYS = ("#n", "#a", "#pk", "#sk", "#", "##", "#\u00e9", "n", "#n.x", "#0")
VALUE_KEYS = (":v", ":w", ":x", ":", "v", ":\u00e9", "::v", ":v.x")
ATTRIBUTE_NAMES = ("pk", "sk", "a", "n", "l", "m", "g", "", "a.b", "\u00e9", "a" * 300)

expression_attribute_names = st.dictionaries(
    st.sampled_from(NAME_KEYS) | st.text(max_size=6),
    st.sampled_from(ATTRIBUTE_NAMES) | odd_scalar, max_size=4) | odd_scalar
expression_attribute_values = st.dictionaries(
    st.sampled_from(VALUE_KEYS) | st.text(max_size=6), attribute_value, max_size=4) | odd_scalar

VALID_EXPRESSIONS = (
    # conditions and filters
    "attribute_exists(pk)", "attribute_not_exists(#n)", "a = :v", "#n < :v AND n <> :w",
    "n BETWEEN :v AND :w", "a IN (:v, :w)", "begins_with(a, :v)", "contains(#n, :v)",
    "size(a) > :v", "attribute_type(a, :v)", "NOT (a = :v) OR n = :w", "m.b[1].c = :v",
    "l[0] = :v", "size(l) = size(m)", "(a = :v)", "a = a", ":v = :v",
    # updates
    "SET a = :v", "SET #n = :v, n = n + :w", "SET l = list_append(l, :v)",
    "SET a = if_not_exists(a, :v)", "REMOVE a, l[0]", "ADD n :v", "DELETE m.b :v",
    "SET a = :v REMOVE n", "SET n = n - :v ADD x :w", "SET l[5] = :v", "SET m.b = :v",
    "REMOVE pk", "SET sk = :v",
    # key conditions
    "pk = :v", "pk = :v AND sk > :w", "pk = :v AND begins_with(sk, :w)",
    "pk = :v AND sk BETWEEN :v AND :w", "#n = :v", "sk = :v AND pk = :w", "g = :v",
    # projections
    "a, m.b, #n, l[0]", "pk", "a, a", "l[0], l", "m.b.c.d.e",
)
TOKENS = ("#n", "#a", ":v", ":w", "a", "pk", "sk", "a.b", "a[0]", "a[99999999999]", "a[-1]",
          "=", "<>", "<", "<=", ">", ">=", "AND", "OR", "NOT", "BETWEEN", "IN", "(", ")", ",",
          "attribute_exists(", "attribute_not_exists(", "attribute_type(", "begins_with(",
          "contains(", "size(", "SET", "REMOVE", "ADD", "DELETE", "if_not_exists(",
          "list_append(", "+", "-", "[", "]", ".", "#", ":", "\x00", "\u00e9", "\U0001f600",
          "''", '"', "1", "0", "TRUE", "null", "SELECT", "*", ";", "--", "{", "}", "\t", "\n")
PATHOLOGICAL_EXPRESSIONS = (
    "(" * 5000 + "a = :v" + ")" * 5000, "(" * 200 + "a = :v" + ")" * 200,
    "NOT " * 5000 + "a = :v", "a" + ".b" * 5000 + " = :v", "a" + "[0]" * 5000 + " = :v",
    "a = :v" + " AND a = :v" * 3000, "a IN (" + ", ".join([":v"] * 5000) + ")",
    "SET " + ", ".join(f"a{i} = :v" for i in range(3000)),
    "SET a = " + "size(" * 2000 + "b" + ")" * 2000,
    "SET a = :v" + " + :v" * 5000, "SET a = " + "list_append(" * 500 + "a" + ", :v)" * 500,
    "a[" + "9" * 100 + "] = :v", "SET a[" + "9" * 100 + "] = :v", "SET a[4294967296] = :v",
    "REMOVE a[-1]", "#" * 10000, ":" * 10000, "a" * 70000, " " * 10000,
)

expression = st.one_of(
    st.sampled_from(VALID_EXPRESSIONS),
    st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=14).map(" ".join),
    st.lists(st.sampled_from(TOKENS), max_size=14).map("".join),
    st.sampled_from(PATHOLOGICAL_EXPRESSIONS),
    st.text(max_size=40),
    odd_scalar,
)

COMPARISON_OPERATORS = ("EQ", "NE", "LE", "LT", "GE", "GT", "NOT_NULL", "NULL", "CONTAINS",
                        "NOT_CONTAINS", "BEGINS_WITH", "IN", "BETWEEN", "XX", "eq", "")
legacy_condition = st.fixed_dictionaries({}, optional={
    "ComparisonOperator": st.sampled_from(COMPARISON_OPERATORS) | odd_scalar,
    "AttributeValueList": st.lists(attribute_value, max_size=3) | odd_scalar,
    "Value": attribute_value,
    "Exists": st.booleans() | odd_scalar,
}) | odd_scalar
legacy_conditions = st.dictionaries(st.sampled_from(ATTRIBUTE_NAMES) | st.text(max_size=5),
                                    legacy_condition, max_size=3) | odd_scalar
attribute_updates = st.dictionaries(
    st.sampled_from(ATTRIBUTE_NAMES) | st.text(max_size=5),
    st.fixed_dictionaries({}, optional={
        "Action": st.sampled_from(["PUT", "ADD", "DELETE", "XX", ""]) | odd_scalar,
        "Value": attribute_value}) | odd_scalar, max_size=3) | odd_scalar
name_list = st.lists(st.sampled_from(ATTRIBUTE_NAMES) | st.text(max_size=5), max_size=4) \
    | odd_scalar
limit = st.sampled_from([0, -1, 1, 2, 100, 2**31, 2**63, 2**64, "1", 1.5, None, True, [],
                         -(2**63)]) | st.integers()
segment = st.sampled_from([0, 1, -1, 2, 3, 999999, 1000000, 1000001, 2**63, "0", None, 0.5])


@st.composite
def item_key(draw: st.DrawFn) -> Any:
    key = {"pk": draw(st.builds(lambda s: {"S": s}, st.sampled_from(["k0", "k1", "k9", ""]))
                      | attribute_value),
           "sk": draw(st.builds(lambda n: {"N": n}, st.sampled_from(["0", "1", "5"]))
                      | attribute_value)}
    extra = draw(st.dictionaries(st.sampled_from(ATTRIBUTE_NAMES), attribute_value,
                                 max_size=2))
    drop = draw(st.sampled_from([None, None, None, "pk", "sk"]))
    key.update(extra)
    if drop is not None:
        key.pop(drop, None)
    return key


@st.composite
def item(draw: st.DrawFn) -> Any:
    out = draw(item_key())
    out.update(draw(st.dictionaries(st.sampled_from(ATTRIBUTE_NAMES) | st.text(max_size=6),
                                    attribute_value, max_size=4)))
    return out


def key_schema(names: tuple[str, ...] = ("pk", "sk")) -> Any:
    return [{"AttributeName": n, "KeyType": t} for n, t in zip(names, ("HASH", "RANGE"))]


TABLE_SKELETON: dict[str, Any] = {
    "KeySchema": key_schema(),
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                             {"AttributeName": "sk", "AttributeType": "N"},
                             {"AttributeName": "g", "AttributeType": "B"}],
}
INDEX_SKELETON: dict[str, Any] = {"IndexName": "idx", "KeySchema": key_schema(("g", "sk")),
                                  "Projection": {"ProjectionType": "INCLUDE",
                                                 "NonKeyAttributes": ["a"]},
                                  "ProvisionedThroughput": {"ReadCapacityUnits": 1,
                                                            "WriteCapacityUnits": 1}}


def operation_request(op: str, table: st.SearchStrategy[str],
                      arn: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid-looking request for ``op`` with random optional members."""
    rv = st.sampled_from(["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW", "X"])
    rcc = st.sampled_from(["INDEXES", "TOTAL", "NONE", "X"])
    common_write = {"ReturnConsumedCapacity": rcc,
                    "ReturnItemCollectionMetrics": st.sampled_from(["SIZE", "NONE", "X"]),
                    "ReturnValuesOnConditionCheckFailure": st.sampled_from(["ALL_OLD", "NONE"]),
                    "ConditionExpression": expression,
                    "ExpressionAttributeNames": expression_attribute_names,
                    "ExpressionAttributeValues": expression_attribute_values,
                    "Expected": legacy_conditions,
                    "ConditionalOperator": st.sampled_from(["AND", "OR", "XOR"])}
    read = {"ProjectionExpression": expression, "ConsistentRead": st.booleans() | odd_scalar,
            "ExpressionAttributeNames": expression_attribute_names,
            "ReturnConsumedCapacity": rcc, "AttributesToGet": name_list}
    scan_like = {**read, "FilterExpression": expression, "Limit": limit,
                 "ExclusiveStartKey": item_key() | odd_scalar,
                 "ExpressionAttributeValues": expression_attribute_values,
                 "Select": st.sampled_from(["ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES",
                                            "SPECIFIC_ATTRIBUTES", "COUNT", "X"]),
                 "IndexName": st.sampled_from(["gsi", "idx", "nope", ""]),
                 "ConditionalOperator": st.sampled_from(["AND", "OR"])}
    create_optional = {
        "BillingMode": st.sampled_from(["PAY_PER_REQUEST", "PROVISIONED", "X"]),
        "ProvisionedThroughput": st.fixed_dictionaries(
            {"ReadCapacityUnits": limit, "WriteCapacityUnits": limit}),
        "GlobalSecondaryIndexes": st.lists(st.just(INDEX_SKELETON), max_size=3),
        "LocalSecondaryIndexes": st.lists(st.just({**INDEX_SKELETON,
                                                   "KeySchema": key_schema(("pk", "g"))}),
                                          max_size=2),
        "Tags": st.lists(st.fixed_dictionaries({"Key": st.text(max_size=5),
                                                "Value": st.text(max_size=5)}), max_size=3),
        "StreamSpecification": st.just({"StreamEnabled": True,
                                        "StreamViewType": "NEW_IMAGE"}),
        "SSESpecification": st.just({"Enabled": True}),
        "TableClass": st.sampled_from(["STANDARD", "X"]),
        "DeletionProtectionEnabled": st.booleans(),
    }
    fresh_name = st.builds(lambda: f"fz-{uuid.uuid4().hex[:10]}")
    required: dict[str, Any]
    optional: dict[str, Any]
    if op == "CreateTable":
        required = {"TableName": fresh_name | table, **{k: st.just(v) for k, v in
                                                        TABLE_SKELETON.items()}}
        optional = create_optional
    elif op == "DescribeTable":
        required, optional = {"TableName": table}, {}
    elif op == "ListTables":
        required, optional = {}, {"ExclusiveStartTableName": table, "Limit": limit}
    elif op == "DeleteTable":
        required, optional = {"TableName": fresh_name}, {}
    elif op == "UpdateTable":
        required = {"TableName": table}
        optional = {**create_optional,
                    "AttributeDefinitions": st.just(TABLE_SKELETON["AttributeDefinitions"]),
                    "GlobalSecondaryIndexUpdates": st.lists(st.one_of(
                        st.just({"Create": {**INDEX_SKELETON, "IndexName": "gsi2"}}),
                        st.just({"Update": {"IndexName": "gsi", "ProvisionedThroughput": {
                            "ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}}),
                        st.just({"Delete": {"IndexName": "nope"}})), max_size=2)}
    elif op == "PutItem":
        required = {"TableName": table, "Item": item()}
        optional = {**common_write, "ReturnValues": rv}
    elif op == "GetItem":
        required, optional = {"TableName": table, "Key": item_key()}, read
    elif op == "UpdateItem":
        required = {"TableName": table, "Key": item_key()}
        optional = {**common_write, "ReturnValues": rv, "UpdateExpression": expression,
                    "AttributeUpdates": attribute_updates}
    elif op == "DeleteItem":
        required = {"TableName": table, "Key": item_key()}
        optional = {**common_write, "ReturnValues": rv}
    elif op == "Query":
        required = {"TableName": table, "KeyConditionExpression": expression}
        optional = {**scan_like, "ScanIndexForward": st.booleans() | odd_scalar,
                    "KeyConditions": legacy_conditions, "QueryFilter": legacy_conditions}
    elif op == "Scan":
        required = {"TableName": table}
        optional = {**scan_like, "Segment": segment, "TotalSegments": segment,
                    "ScanFilter": legacy_conditions}
    elif op == "BatchGetItem":
        keys = st.lists(item_key(), max_size=4) | st.integers(0, 120).map(
            lambda n: [{"pk": {"S": f"k{i}"}, "sk": {"N": "1"}} for i in range(n)]) \
            | st.just([{"pk": {"S": "k0"}, "sk": {"N": "1"}}] * 2)
        required = {"RequestItems": st.dictionaries(
            table, st.fixed_dictionaries({"Keys": keys}, optional={
                "ProjectionExpression": expression, "ConsistentRead": st.booleans(),
                "ExpressionAttributeNames": expression_attribute_names,
                "AttributesToGet": name_list}) | odd_scalar, max_size=3) | odd_scalar}
        optional = {"ReturnConsumedCapacity": rcc}
    elif op == "BatchWriteItem":
        write = st.one_of(st.builds(lambda i: {"PutRequest": {"Item": i}}, item()),
                          st.builds(lambda k: {"DeleteRequest": {"Key": k}}, item_key()),
                          st.just({"PutRequest": {}, "DeleteRequest": {}}), st.just({}),
                          odd_scalar)
        writes = st.lists(write, max_size=5) | st.integers(0, 30).map(
            lambda n: [{"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": str(i % 7)}}}}
                       for i in range(n)])
        required = {"RequestItems": st.dictionaries(table, writes, max_size=3) | odd_scalar}
        optional = {"ReturnConsumedCapacity": rcc,
                    "ReturnItemCollectionMetrics": st.sampled_from(["SIZE", "NONE"])}
    elif op == "TagResource":
        tags = st.lists(st.fixed_dictionaries(
            {"Key": st.text(max_size=130) | odd_scalar, "Value": st.text(max_size=5) | odd_scalar}),
            max_size=4) | st.integers(0, 60).map(
            lambda n: [{"Key": f"k{i}", "Value": "v"} for i in range(n)])
        required, optional = {"ResourceArn": arn, "Tags": tags}, {}
    elif op == "UntagResource":
        required = {"ResourceArn": arn, "TagKeys": name_list}
        optional = {}
    elif op == "ListTagsOfResource":
        required, optional = {"ResourceArn": arn}, {"NextToken": st.text(max_size=20)
                                                    | odd_scalar}
    else:  # DescribeLimits, DescribeEndpoints
        required, optional = {}, {}
    optional = {**optional, "UnknownMember": odd_scalar}
    return st.fixed_dictionaries(required, optional=optional)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:20]):
            yield from _paths(child, (*prefix, index))


def _replace(value: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return value


mutation_value = st.one_of(st.none(), odd_scalar, attribute_value, expression, huge_string(),
                           st.sampled_from([[], {}, [None], {"": None}]),
                           st.builds(deep, st.integers(1, 120), st.sampled_from(["M", "L"])))


@st.composite
def structured_request(draw: st.DrawFn, table: str, arn: str) -> tuple[str, Any]:
    op = draw(st.sampled_from(OPERATIONS))
    real = draw(st.booleans())  # half against the real table, so the deep paths run
    names = st.just(table) if real else st.sampled_from(
        ["missing-table", "", "a", "x" * 300, "bad name!", "\u00e9", table.upper()])
    arns = st.just(arn) if real else st.sampled_from(
        ["", "arn", arn + "x", arn + "/index/gsi", "arn:aws:dynamodb:::table/",
         "arn:aws:s3:::bucket", "arn:aws:dynamodb:us-east-1:000000000000:table/missing",
         "arn:aws:dynamodb:eu-west-1:000000000000:table/" + table, ":" * 10])
    # A copy: strategies such as st.just and st.sampled_from hand out shared objects.
    request = copy.deepcopy(draw(operation_request(op, names, arns)))
    for _ in range(draw(st.integers(0, 3))):
        paths = list(_paths(request))
        path = draw(st.sampled_from(paths))
        new = copy.deepcopy(draw(mutation_value))
        request = _replace(request, path, new, draw(st.booleans()))
    return op, request


# --------------------------------------------------------------------------- the tests


@settings(max_examples=EXAMPLES, **FUZZ_SETTINGS)
@given(data=st.data())
def test_structured_requests(fuzz: Fuzz, data: st.DataObject) -> None:
    """Every operation, from valid-looking skeletons with members mutated."""
    op, body = data.draw(structured_request(fuzz.table, fuzz.arn), label="request")
    text = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
    fuzz.exchange("POST", "/", signed_headers(fuzz.server, op, text), text, what=op)


def _invalid_utf8(prefix: bytes, bad: bytes, suffix: bytes) -> bytes:
    return prefix + bad + suffix


BAD_UTF8 = (b"\xff", b"\xfe", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xe2\x82\x28",
            b"\xf0\x28\x8c\xbc", b"\xf8\xa1\xa1\xa1\xa1", b"\xc0\xaf", b"\xe0\x80\xaf",
            b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\x80", b"\xc3")
UTF8_SLOTS = (
    (b'{"TableName": "', b'"}'),
    (b'{"TableName": "t", "Item": {"pk": {"S": "', b'"}}}'),
    (b'{"', b'": 1}'),
    (b'{"TableName": "t", "Key": {"pk": {"S": "a"}}, "ConditionExpression": "a = ', b'"}'),
    (b"", b""),
    (b'{"TableName": "t"', b"}"),
)


@st.composite
def raw_body(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "utf8", "nesting", "truncated", "numbers"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    if kind == "utf8":
        prefix, suffix = draw(st.sampled_from(UTF8_SLOTS))
        return _invalid_utf8(prefix, draw(st.sampled_from(BAD_UTF8) | st.binary(max_size=8)),
                             suffix)
    if kind == "nesting":
        depth = draw(st.integers(1, 200_000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        inner = b"1" if opener == b"[" else b'{"S":"x"}'
        body = opener * depth + inner + closer * depth
        return b'{"TableName":"t","Item":{"pk":' + body + b"}}" \
            if draw(st.booleans()) else body
    if kind == "truncated":
        full = b'{"TableName": "t", "Item": {"pk": {"S": "x"}, "n": {"N": "1"}}}'
        return full[:draw(st.integers(0, len(full) - 1))]
    number = draw(st.sampled_from([b"1e999999999", b"-0", b"NaN", b"1" * 50, b"1" * 5000,
                                   b"-" + b"9" * 400, b"1e-400", b"Infinity", b"0x1f",
                                   b"01", b"1.", b".1", b"1e", b"--1"]))
    return b'{"TableName": "t", "Limit": ' + number + b"}"


@settings(max_examples=_examples(0.4), **FUZZ_SETTINGS)
@given(op=st.sampled_from(OPERATIONS), body=raw_body())
def test_random_bytes_and_invalid_utf8(fuzz: Fuzz, op: str, body: bytes) -> None:
    fuzz.exchange("POST", "/", signed_headers(fuzz.server, op, body), body, what=op)


json_value: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.sampled_from([2**64, -(2**63) - 1, 10**400, "\ud800", "a\udfff", 1e308]),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10) | st.sampled_from(["TableName", "Item", "Key"]),
                      children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=_examples(0.4), **FUZZ_SETTINGS)
@given(op=st.sampled_from(OPERATIONS), value=json_value, ascii_only=st.booleans())
def test_random_json_values(fuzz: Fuzz, op: str, value: Any, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    fuzz.exchange("POST", "/", signed_headers(fuzz.server, op, body), body, what=op)


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                    exclude_characters="\x7f"), max_size=80)


@st.composite
def broken_signature(draw: st.DrawFn, server: LoggedServer, body: bytes,
                     secret: str) -> list[tuple[str, str | bytes]]:
    headers = dict(signed_headers(server, "DescribeTable", body, secret=secret))
    authorization = headers["authorization"]
    assert isinstance(authorization, str)
    credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    kind = draw(st.sampled_from(["missing", "garbage", "date", "scope", "parts", "signature",
                                 "no-host", "algorithm", "token", "sha256", "date-header"]))
    if kind == "missing":
        del headers["authorization"]
    elif kind == "garbage":
        headers["authorization"] = draw(header_text | st.sampled_from([
            "AWS4-", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256 Credential",
            "AWS4-HMAC-SHA256 ===,,,", "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, "
            "Signature=", "Bearer x", "AWS AKID:sig"]))
    elif kind == "date":
        headers["x-amz-date"] = draw(header_text | st.sampled_from([
            "", "20241399T999999Z", "00000000T000000Z", "99991231T235959Z", "20240230T000000Z",
            "2024-01-01T00:00:00Z", "20240101T000000", "1", "\u00e9" * 16]))
    elif kind == "date-header":
        del headers["x-amz-date"]
        headers["date"] = draw(header_text | st.just("Mon, 01 Jan 2024 00:00:00 GMT"))
    elif kind == "scope":
        parts = credential.split("/")
        index = draw(st.integers(0, len(parts) - 1))
        parts[index] = draw(header_text.filter(lambda s: "," not in s and " " not in s))
        headers["authorization"] = authorization.replace(credential, "/".join(parts))
    elif kind == "parts":
        headers["authorization"] = authorization.replace(
            credential, "/".join(draw(st.lists(st.sampled_from(
                [ACCESS_KEY, "20240101", REGION, "dynamodb", "aws4_request", "", "x"]),
                max_size=8))))
    elif kind == "signature":
        headers["authorization"] = authorization.rsplit("Signature=", 1)[0] + "Signature=" \
            + draw(header_text.filter(lambda s: "," not in s and " " not in s))
    elif kind == "no-host":
        headers["authorization"] = authorization.replace("host;", "")
    elif kind == "algorithm":
        headers["authorization"] = draw(st.sampled_from(["AWS4-HMAC-SHA512", "AWS4-X", "AWS4-"])) \
            + authorization[len("AWS4-HMAC-SHA256"):]
    elif kind == "token":
        headers["x-amz-security-token"] = draw(header_text)
    else:
        headers["x-amz-content-sha256"] = draw(header_text | st.just("UNSIGNED-PAYLOAD"))
    return list(headers.items())


PRESIGNED_QUERIES = st.one_of(
    st.just("?X-Amz-Algorithm=AWS4-HMAC-SHA256"),
    st.just("?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Date=x"
            "&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-Expires=abc"),
    st.just("?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1"
            "%2Fdynamodb%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=00&X-Amz-Expires=99999999999999999999999"),
    st.just("?X-Amz-Algorithm=%ZZ%ff%00&X-Amz-Credential=%"),
    st.just("?X-Amz-Algorithm=x&&&==&X-Amz-Algorithm=AWS4-HMAC-SHA256"),
    st.lists(st.tuples(st.sampled_from(["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
                                        "X-Amz-SignedHeaders", "X-Amz-Signature",
                                        "X-Amz-Expires", "X-Amz-Security-Token", "x", ""]),
                       st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                             exclude_characters="#"), max_size=30)),
             max_size=7).map(lambda pairs: "?" + "&".join(f"{k}={v}" for k, v in pairs)),
)


@pytest.fixture(scope="module")
def checked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    """A second server that verifies signatures against a credentials file."""
    directory = tmp_path_factory.mktemp("fuzz-credentials")
    credentials = directory / "credentials.json"
    credentials.write_text(json.dumps({"keys": {ACCESS_KEY: SECRET_KEY, "ASIATEMP": "s2"},
                                       "session_tokens": {"ASIATEMP": "token"}}))
    server = LoggedServer(directory / "server.log", ["--credentials", str(credentials)])
    server.start()
    wire = Wire(server)
    try:
        yield Fuzz(server, wire, "none", "none")
    finally:
        wire.close()
    alive, log = server.alive(), server.log()
    server.stop()
    assert alive, f"the credentials server died:\n{log[-6000:]}"
    assert "Traceback" not in log, f"the credentials server logged a traceback:\n{log[-6000:]}"


@settings(max_examples=_examples(0.3), **FUZZ_SETTINGS)
@given(data=st.data(), checked=st.booleans())
def test_broken_signatures(fuzz: Fuzz, checked_server: Fuzz, data: st.DataObject,
                           checked: bool) -> None:
    target = checked_server if checked else fuzz
    body = json.dumps({"TableName": fuzz.table}).encode()
    headers = data.draw(broken_signature(target.server, body, SECRET_KEY), label="headers")
    url = "/" + data.draw(st.just("") | PRESIGNED_QUERIES, label="query")
    if url != "/" and data.draw(st.booleans(), label="drop authorization"):
        headers = [(k, v) for k, v in headers if k != "authorization"]
    answer = target.exchange("POST", url, headers, body, what=f"checked={checked}")
    if checked:
        assert answer.status != 200 or url != "/", "a broken signature was accepted"


CONTENT_TYPES = ("", "application/json", "application/x-amz-json-1.1", "text/plain",
                 "application/x-amz-json-1.0; charset=utf-8", "APPLICATION/X-AMZ-JSON-1.0",
                 "application/x-amz-json-1.0;;;", "multipart/form-data; boundary=x",
                 "application/x-www-form-urlencoded", "\u00e9")
TARGETS = ("", "DynamoDB_20120810", "DynamoDB_20120810.", "DynamoDB_20120810.Nope",
           "DynamoDB_20120810.putitem", "DynamoDB_20111205.PutItem", "DynamoDBStreams_20120810"
           ".ListStreams", "DynamoDB_20120810.__init__", "DynamoDB_20120810.PutItem ",
           "DynamoDB_20120810.ExecuteStatement", "DynamoDB_20120810.TransactWriteItems")
ENCODINGS = ("gzip", "GZIP", "deflate", "br", "identity", "amz-1.0", "gzip, identity", "x")


@st.composite
def odd_http(draw: st.DrawFn, fuzz: Fuzz) -> tuple[str, str, list[tuple[str, str | bytes]],
                                                    bytes]:
    kind = draw(st.sampled_from(["content-type", "target", "encoding", "method"]))
    body = json.dumps({"TableName": fuzz.table, "Limit": 1}).encode()
    # Operations that must not change the shared table if the odd request is accepted.
    op = draw(st.sampled_from(["DescribeTable", "Scan", "Query", "GetItem", "ListTables",
                               "ListTagsOfResource", "DescribeLimits", "DescribeEndpoints"]))
    content_type, extra = JSON_10, {}
    method, url = "POST", "/"
    if kind == "content-type":
        content_type = draw(st.sampled_from(CONTENT_TYPES) | header_text)
    elif kind == "target":
        op = ""
        extra = {"x-amz-target": draw(st.sampled_from(TARGETS) | header_text.map(
            lambda s: "DynamoDB_20120810." + s))}
    elif kind == "encoding":
        encoding = draw(st.sampled_from(ENCODINGS))
        extra = {"content-encoding": encoding}
        shape = draw(st.sampled_from(["plain", "gzip", "truncated", "trailing", "empty",
                                      "bomb", "garbage"]))
        if shape == "gzip":
            body = gzip.compress(body)
        elif shape == "truncated":
            body = gzip.compress(body)[: draw(st.integers(0, 20))]
        elif shape == "trailing":
            body = gzip.compress(body) + draw(st.binary(min_size=1, max_size=20))
        elif shape == "empty":
            body = gzip.compress(b"")
        elif shape == "bomb":
            body = gzip_bomb()
        elif shape == "garbage":
            body = draw(st.binary(max_size=200))
    else:
        method = draw(st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]))
        url = draw(st.sampled_from(["/", "/x", "/?a=b", "//", "/%ff", "/..", "*"]))
    headers = signed_headers(fuzz.server, op, body, content_type=content_type, extra=extra)
    if kind == "target":
        headers = [(k, v) for k, v in headers if k != "x-amz-target"] \
            + [("x-amz-target", extra["x-amz-target"])]
    return method, url, headers, body


@functools.cache
def gzip_bomb() -> bytes:
    """64 MB of JSON whitespace in ~64 KB of gzip."""
    return gzip.compress(b"{" + b" " * (64 * 1024 * 1024) + b"}", compresslevel=9)


@settings(max_examples=_examples(0.3), **FUZZ_SETTINGS)
@given(data=st.data())
def test_odd_http(fuzz: Fuzz, data: st.DataObject) -> None:
    """Wrong Content-Type, unknown X-Amz-Target, gzip Content-Encoding with non-gzip
    bodies, other methods and paths."""
    method, url, headers, body = data.draw(odd_http(fuzz), label="request")
    answer = fuzz.exchange(method, url, headers, body)
    if method == "GET" and url in ("/", "/?a=b"):
        assert answer.status == 200


def _json_of_size(size: int) -> bytes:
    head = b'{"TableName": "%s", "Item": {"pk": {"S": "k"}, "sk": {"N": "1"}, "a": {"S": "' \
        % b"t"
    tail = b'"}}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize(("size", "encoding"), [
    (MAX_BODY_BYTES, None), (MAX_BODY_BYTES + 1, None), (MAX_BODY_BYTES - 1, None),
    (MAX_BODY_BYTES, "gzip"), (MAX_BODY_BYTES + 1, "gzip"),
])
def test_bodies_at_the_size_limit(fuzz: Fuzz, size: int, encoding: str | None) -> None:
    body = _json_of_size(size)
    extra = {}
    if encoding == "gzip":
        body = gzip.compress(body)  # decompressed size at (or just over) the limit
        extra = {"content-encoding": "gzip"}
    headers = signed_headers(fuzz.server, "PutItem", body, extra=extra)
    answer = fuzz.exchange("POST", "/", headers, body, what=f"size={size} {encoding}")
    assert answer.status != 200


def _raw_exchange(port: int, data: bytes, sock: socket.socket | None = None
                  ) -> tuple[bytes, socket.socket | None]:
    """Sends ``data`` and reads one answer (or until the server closes). Returns the
    answer's bytes and the socket if the server kept it open."""
    if sock is None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT_S)
    # The server may answer early and close; then read what it said.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)
    received = b""
    closed = False
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        received += chunk
        head, sep, rest = received.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(rest) >= length:
                break
    if closed:
        sock.close()
        return received, None
    return received, sock


def test_pathological_http_on_one_connection(fuzz: Fuzz) -> None:
    """Pathological requests in a row on one keep-alive connection (reconnecting only
    when the server closed it); afterwards a new connection still gets normal answers."""
    port = fuzz.server.port
    host = fuzz.server.host.encode()
    describe = json.dumps({"TableName": fuzz.table}).encode()
    signed = b"".join(f"{k}: {v}\r\n".encode() for k, v in
                      signed_headers(fuzz.server, "DescribeTable", describe))
    normal = b"POST / HTTP/1.1\r\n" + signed + b"Content-Length: %d\r\n\r\n" % len(describe) \
        + describe
    huge = b"x" * (17 * 1024 * 1024)
    requests = [
        # a signed request whose body is 17 MB, over the limit
        b"POST / HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: " + JSON_10.encode()
        + b"\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\nContent-Length: %d\r\n\r\n"
        % len(huge) + huge,
        # a header block over 64 KB
        b"POST / HTTP/1.1\r\nHost: " + host + b"\r\n"
        + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"y" * 1000) for i in range(80))
        + b"Content-Length: 2\r\n\r\n{}",
        # a request line of garbage
        b"\x00\xff GARBAGE \x01 / HTTP/9.9\r\n\r\n",
        # a URL over 64 KB
        b"GET /" + b"a" * (70 * 1024) + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n",
        # a negative Content-Length and a chunked body that lies about its size
        b"POST / HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: " + host + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"ffffffffffffffffff\r\nab\r\n0\r\n\r\n",
        # conflicting Content-Length and Transfer-Encoding (request smuggling shape)
        b"POST / HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        # the normal request on what is left of the connection
        normal,
    ]
    sock: socket.socket | None = None
    for data in requests:
        answer, sock = _raw_exchange(port, data, sock)
        status_line = answer.split(b"\r\n", 1)[0]
        assert not status_line.startswith(b"HTTP/1.1 5"), (data[:200], answer[:500])
    if sock is not None:
        sock.close()
    # A half-sent request, then the client vanishes.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as half:
        half.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    # New connection: normal requests still work.
    answer, sock = _raw_exchange(port, normal)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:500]
    if sock is not None:
        sock.close()
    fuzz.check_serving()


@pytest.mark.parametrize("url", ["/", "/x"])
def test_head_answers_keep_the_connection_framed(fuzz: Fuzz, url: str) -> None:
    """A HEAD answer carries no body (RFC 9110 9.3.2): else the client reads the body as
    the start of the next answer on the keep-alive connection."""
    with socket.create_connection(("127.0.0.1", fuzz.server.port),
                                  timeout=ANSWER_TIMEOUT_S) as sock:
        sock.sendall(f"HEAD {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                     + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 ") and not head.startswith(b"HTTP/1.1 5"), received
    assert rest.startswith(b"HTTP/1.1 200 "), f"bytes after the HEAD answer: {rest[:300]!r}"
    fuzz.check_serving()


def test_pipelined_writes_are_all_answered(fuzz: Fuzz) -> None:
    """More pipelined writes than the server's pipelining bound, in one send: every one
    is answered, in order, and the connection keeps working."""
    requests = []
    for i in range(40):
        body = json.dumps({"TableName": fuzz.table, "Item": {
            "pk": {"S": "pipe"}, "sk": {"N": str(i)}}}).encode()
        head = b"".join(f"{k}: {v}\r\n".encode()
                        for k, v in signed_headers(fuzz.server, "PutItem", body))
        requests.append(b"POST / HTTP/1.1\r\n" + head + b"Content-Length: %d\r\n\r\n"
                        % len(body) + body)
    with socket.create_connection(("127.0.0.1", fuzz.server.port),
                                  timeout=ANSWER_TIMEOUT_S) as sock:
        sock.sendall(b"".join(requests))
        received = b""
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while received.count(b"HTTP/1.1 ") < len(requests):
            assert time.monotonic() < deadline, "pipelined writes were not all answered"
            chunk = sock.recv(65536)
            assert chunk, f"closed after {received.count(b'HTTP/1.1 ')} answers"
            received += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", received)
    assert statuses == [b"200"] * len(requests), statuses
    fuzz.check_serving()


def test_server_still_healthy_at_the_end(fuzz: Fuzz) -> None:
    """Runs last in this module: the process is alive and its whole log is clean."""
    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", fuzz.server.port,
                                                       timeout=10)) as conn:
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
    assert fuzz.server.alive()
    log = fuzz.server.log()
    assert "Traceback" not in log, log[-6000:]
    print(f"\nfuzz: {fuzz.requests} requests, statuses {dict(sorted(fuzz.statuses.items()))}")
