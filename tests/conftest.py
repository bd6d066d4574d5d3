"""Shared fixtures: a real quorumdb server process on a free loopback port, and boto3
clients pointed at it. Nothing here is mocked: tests talk HTTP to the real server."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], deadline_s: float = 30.0) -> None:
    """Waits until the server accepts connections (a condition with a deadline)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"server on port {port} did not start")


class ServerProcess:
    """A `quorumdb serve` child process; restartable for durability tests."""

    def __init__(self, args: list[str], data_dir: Path | None) -> None:
        self.args = args
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.new_session = False  # a process group of its own (signals to the group)
        self.stderr_path: Path | None = None  # its stderr appended there, not inherited

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "quorumdb", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), *self.args]
        if self.data_dir is not None:
            cmd += ["--data-dir", str(self.data_dir)]
        else:
            cmd += ["--in-memory"]
        stderr = None if self.stderr_path is None else self.stderr_path.open("ab")
        try:
            self.proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                         start_new_session=self.new_session, stderr=stderr)
        finally:
            if stderr is not None:
                stderr.close()
        wait_for_port(self.port, self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def make_client(endpoint: str, service: str = "dynamodb", **kwargs: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=kwargs.pop("region_name", "us-east-1"),
        aws_access_key_id=kwargs.pop("aws_access_key_id", "AKIDEXAMPLE"),
        aws_secret_access_key=kwargs.pop("aws_secret_access_key", "secret"),
        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                      connect_timeout=5, read_timeout=60),
        **kwargs,
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One in-memory server for the whole API suite; tests use unique table names.
    ``QUORUMDB_SERVE_ARGS`` adds options (e.g. ``--replicas 3`` runs the same suite
    against replication groups); ``QUORUMDB_SERVE_DURABLE=1`` gives it a data directory
    (the WAL, checkpoints and fsyncs on every write) instead of memory."""
    data_dir = (tmp_path_factory.mktemp("server") / "data"
                if os.environ.get("QUORUMDB_SERVE_DURABLE") == "1" else None)
    proc = ServerProcess(os.environ.get("QUORUMDB_SERVE_ARGS", "").split(), data_dir)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def ddb(server: ServerProcess) -> Any:
    return make_client(server.endpoint)


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{os.getpid()}-{next(_counter)}"


@pytest.fixture
def make_table(ddb: Any) -> Iterator[Callable[..., str]]:
    """Creates tables with unique names and deletes them afterwards.

    `make_table()` is a table with hash key `pk` (S); `make_table(range_key=("sk", "N"))`
    adds a sort key; `hash_key=("id", "N")` changes the hash key."""
    created: list[str] = []

    def create(hash_key: tuple[str, str] = ("pk", "S"),
               range_key: tuple[str, str] | None = None, **extra: Any) -> str:
        name = unique_name()
        schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
        attrs = [{"AttributeName": hash_key[0], "AttributeType": hash_key[1]}]
        if range_key is not None:
            schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
            attrs.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
        params: dict[str, Any] = {"TableName": name, "KeySchema": schema,
                                  "AttributeDefinitions": attrs}
        if "BillingMode" not in extra and "ProvisionedThroughput" not in extra:
            params["BillingMode"] = "PAY_PER_REQUEST"
        params.update(extra)
        ddb.create_table(**params)
        ddb.get_waiter("table_exists").wait(TableName=name,
                                            WaiterConfig={"Delay": 0.05, "MaxAttempts": 200})
        created.append(name)
        return name

    yield create
    for name in created:
        with contextlib.suppress(ddb.exceptions.ResourceNotFoundException):
            ddb.delete_table(TableName=name)
