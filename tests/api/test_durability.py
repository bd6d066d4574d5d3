"""Durability of a server with a data directory: SIGKILL loses no acknowledged write,
SIGTERM shuts down cleanly with exit code 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ServerProcess, free_port, make_client

WAIT = {"Delay": 0.05, "MaxAttempts": 200}


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess([], tmp_path / "data")
    proc.start()
    yield proc
    proc.stop()


def create(ddb: Any, name: str) -> None:
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}])
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT)


def write_items(ddb: Any, name: str, count: int) -> None:
    for i in range(count):
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"N": str(i)},
                                           "v": {"S": f"value-{i}"}})
    ddb.update_item(TableName=name, Key={"pk": {"S": "p"}, "sk": {"N": "0"}},
                    UpdateExpression="SET cnt = :c", ExpressionAttributeValues={
                        ":c": {"N": "42"}})
    ddb.delete_item(TableName=name, Key={"pk": {"S": "p"}, "sk": {"N": "1"}})
    ddb.batch_write_item(RequestItems={name: [
        {"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": str(i)}}}} for i in range(10)]})


def check_items(ddb: Any, name: str, count: int) -> None:
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    out = ddb.query(TableName=name, KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "p"}}, ConsistentRead=True)
    sks = [int(item["sk"]["N"]) for item in out["Items"]]
    assert sks == [0, *range(2, count)]
    assert out["Items"][0]["cnt"] == {"N": "42"}
    assert out["Items"][-1]["v"] == {"S": f"value-{count - 1}"}
    out = ddb.query(TableName=name, KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "b"}}, ConsistentRead=True)
    assert out["Count"] == 10


def test_sigkill_then_restart_keeps_acknowledged_writes(durable: ServerProcess) -> None:
    ddb = make_client(durable.endpoint)
    create(ddb, "durable-kill")
    write_items(ddb, "durable-kill", 30)
    durable.kill()
    assert durable.proc is not None and durable.proc.returncode == -signal.SIGKILL
    durable.start()
    ddb = make_client(durable.endpoint)
    check_items(ddb, "durable-kill", 30)
    # the restarted server keeps accepting writes, and they survive another crash
    ddb.put_item(TableName="durable-kill", Item={"pk": {"S": "p"}, "sk": {"N": "1"}})
    durable.kill()
    durable.start()
    ddb = make_client(durable.endpoint)
    got = ddb.get_item(TableName="durable-kill", Key={"pk": {"S": "p"}, "sk": {"N": "1"}},
                       ConsistentRead=True)
    assert got["Item"] == {"pk": {"S": "p"}, "sk": {"N": "1"}}


def test_sigterm_exits_zero_and_keeps_data(durable: ServerProcess) -> None:
    ddb = make_client(durable.endpoint)
    create(ddb, "durable-term")
    write_items(ddb, "durable-term", 12)
    assert durable.terminate() == 0
    durable.start()
    ddb = make_client(durable.endpoint)
    check_items(ddb, "durable-term", 12)
    assert durable.terminate() == 0


def child_pids(pid: int) -> list[int]:
    return [int(child) for child in
            Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_ctrl_c_to_the_process_group_stops_cleanly(tmp_path: Path) -> None:
    """A terminal's Ctrl-C (SIGINT to the whole process group: the server and its LMDB
    applier process) stops the server cleanly, exit code 0, with every acknowledged
    write kept and the applier gone with it; the applier outlives the signal until the
    server has applied everything (else the server logs that it failed)."""
    proc = ServerProcess([], tmp_path / "data")
    proc.new_session = True
    proc.stderr_path = tmp_path / "stderr"
    proc.start()
    try:
        assert proc.proc is not None
        children = child_pids(proc.proc.pid)
        assert children, "no applier process"
        ddb = make_client(proc.endpoint)
        create(ddb, "durable-int")
        write_items(ddb, "durable-int", 40)
        os.killpg(proc.proc.pid, signal.SIGINT)
        assert proc.proc.wait(timeout=30) == 0
        assert not any(Path(f"/proc/{child}").exists() for child in children)
        assert "fail" not in proc.stderr_path.read_text(), proc.stderr_path.read_text()
        proc.start()
        check_items(make_client(proc.endpoint), "durable-int", 40)
    finally:
        proc.stop()


def test_deleted_table_stays_deleted_after_restart(durable: ServerProcess) -> None:
    ddb = make_client(durable.endpoint)
    create(ddb, "durable-gone")
    create(ddb, "durable-kept")
    ddb.put_item(TableName="durable-kept", Item={"pk": {"S": "x"}, "sk": {"N": "1"}})
    ddb.delete_table(TableName="durable-gone")
    ddb.get_waiter("table_not_exists").wait(TableName="durable-gone", WaiterConfig=WAIT)
    durable.kill()
    durable.start()
    ddb = make_client(durable.endpoint)
    names = ddb.list_tables()["TableNames"]
    assert "durable-gone" not in names
    assert "durable-kept" in names
    assert "Item" in ddb.get_item(TableName="durable-kept",
                                  Key={"pk": {"S": "x"}, "sk": {"N": "1"}})


def test_in_memory_server_sigterm_exits_zero() -> None:
    proc = ServerProcess([], None)
    proc.start()
    try:
        make_client(proc.endpoint).list_tables()
        assert proc.terminate() == 0
    finally:
        proc.stop()


def test_a_second_server_on_the_same_data_directory_exits_with_one_line(
        durable: ServerProcess) -> None:
    """Two servers on one data directory would corrupt it; the second refuses, says why
    in one line (no traceback) and exits 1, and the first keeps serving."""
    assert durable.data_dir is not None
    done = subprocess.run(
        [sys.executable, "-m", "quorumdb", "serve", "--host", "127.0.0.1", "--port",
         str(free_port()), "--data-dir", str(durable.data_dir)],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"quorumdb: {durable.data_dir} is in use by another quorumdb process"]
    make_client(durable.endpoint).list_tables()


def serve_once(*args: str) -> subprocess.CompletedProcess[str]:
    """A server that is expected to refuse to start: its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "quorumdb", "serve", "--host", "127.0.0.1", "--port",
         str(free_port()), *args], capture_output=True, text=True, timeout=60)


def test_wal_dir_keeps_the_log_apart_and_a_crash_loses_nothing(tmp_path: Path) -> None:
    """``--wal-dir``: the log in a directory of its own (a disk of its own in
    production); SIGKILL loses no acknowledged write, and the data directory remembers
    where its log is, so that a start without it (or with another) refuses instead of
    starting from an empty log."""
    data, wal = tmp_path / "data", tmp_path / "wal-disk" / "log"
    server = ServerProcess(["--wal-dir", str(wal)], data)
    server.start()
    try:
        ddb = make_client(server.endpoint)
        create(ddb, "apart")
        write_items(ddb, "apart", 30)
        server.kill()
        assert any(path.name.startswith("wal-") for path in wal.iterdir())
        assert not (data / "wal").exists()
        server.start()
        check_items(make_client(server.endpoint), "apart", 30)
        server.kill()
    finally:
        server.stop()
    inside = serve_once("--data-dir", str(data))
    assert inside.returncode == 1
    assert inside.stderr.strip().splitlines() == [
        f"quorumdb: {data} keeps its WAL in {wal.resolve()}: start it with --wal-dir "
        f"{wal.resolve()}"]
    elsewhere = serve_once("--data-dir", str(data), "--wal-dir", str(tmp_path / "other"))
    assert elsewhere.returncode == 1
    assert "keeps its WAL in" in elsewhere.stderr
    assert not (tmp_path / "other").exists() or not list((tmp_path / "other").iterdir())


def test_wal_dir_is_refused_for_a_data_directory_that_keeps_its_log_inside(
        durable: ServerProcess, tmp_path: Path) -> None:
    ddb = make_client(durable.endpoint)
    create(ddb, "inside")
    durable.kill()
    assert durable.data_dir is not None
    moved = serve_once("--data-dir", str(durable.data_dir), "--wal-dir",
                       str(tmp_path / "elsewhere"))
    assert moved.returncode == 1
    assert moved.stderr.strip().splitlines() == [
        f"quorumdb: {durable.data_dir} keeps its WAL in "
        f"{(durable.data_dir / 'wal').resolve()}: start it without --wal-dir"]


def test_wal_dir_refuses_a_directory_holding_another_log(tmp_path: Path) -> None:
    first = ServerProcess([], tmp_path / "first")
    first.start()
    try:
        create(make_client(first.endpoint), "first")
    finally:
        first.stop()
    taken = serve_once("--data-dir", str(tmp_path / "second"), "--wal-dir",
                       str(tmp_path / "first" / "wal"))
    assert taken.returncode == 1
    assert "already holds a WAL" in taken.stderr


@pytest.mark.parametrize("args", [["--in-memory"], ["--replicas", "3"]])
def test_wal_dir_needs_a_data_directory_and_one_replica(args: list[str],
                                                         tmp_path: Path) -> None:
    done = serve_once("--data-dir", str(tmp_path / "d"), "--wal-dir", str(tmp_path / "w"),
                      *args)
    assert done.returncode == 2
    assert "--wal-dir needs a data directory and --replicas 1" in done.stderr


def test_sigkill_under_concurrent_writes_keeps_every_acknowledged_one(tmp_path: Path) -> None:
    """Writers on eight connections while the server is killed with SIGKILL, so that
    writes are caught in every state: staged, in the syncer's sync, acknowledged and in
    the read overlay, in the applier's transaction. After each restart (recovery with
    the previous run's helpers possibly still exiting) every write that was ever
    acknowledged is there: three rounds, killing after 150, 300 and 450
    acknowledgements of the round."""
    import threading

    proc = ServerProcess([], tmp_path / "data")
    proc.start()
    try:
        create(make_client(proc.endpoint), "soak")
        acknowledged: dict[str, str] = {}
        for round_, kill_after in enumerate((150, 300, 450)):
            done_in_round = threading.Semaphore(0)
            stop = threading.Event()

            def writer(worker: int, endpoint: str = proc.endpoint,
                       round_: int = round_, done: threading.Semaphore = done_in_round,
                       stop: threading.Event = stop) -> None:
                ddb = make_client(endpoint)
                n = 0
                while not stop.is_set():
                    key, val = f"r{round_}-w{worker}-{n}", f"v{n}"
                    try:
                        ddb.put_item(TableName="soak", Item={
                            "pk": {"S": key}, "sk": {"N": "0"}, "v": {"S": val}})
                    except Exception:
                        return  # the server is gone: this write was not acknowledged
                    acknowledged[key] = val
                    done.release()
                    n += 1

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
            for thread in threads:
                thread.start()
            for _ in range(kill_after):
                assert done_in_round.acquire(timeout=60), "writes stopped"
            proc.kill()
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            proc.start()
        ddb = make_client(proc.endpoint)
        for key, val in acknowledged.items():
            got = ddb.get_item(TableName="soak", Key={"pk": {"S": key}, "sk": {"N": "0"}},
                               ConsistentRead=True)
            assert got.get("Item", {}).get("v") == {"S": val}, key
    finally:
        proc.stop()
