"""SigV4 end to end: a server started with --credentials verifies every signature, and
the local default rejects only missing or malformed signatures (it cannot know secrets)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ServerProcess, make_client

KEY_ID = "AKIDQUORUMTEST"
SECRET = "quorum-secret"


@pytest.fixture(scope="module")
def secure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path: Path = tmp_path_factory.mktemp("auth") / "credentials.json"
    path.write_text(json.dumps({KEY_ID: SECRET}))
    proc = ServerProcess(["--credentials", str(path)], None)
    proc.start()
    yield proc
    proc.stop()


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_known_key_and_secret_are_accepted(secure_server: ServerProcess) -> None:
    client = make_client(secure_server.endpoint, aws_access_key_id=KEY_ID,
                         aws_secret_access_key=SECRET)
    assert "TableNames" in client.list_tables()


def test_wrong_secret_is_an_invalid_signature(secure_server: ServerProcess) -> None:
    client = make_client(secure_server.endpoint, aws_access_key_id=KEY_ID,
                         aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError) as err:
        client.list_tables()
    assert _code(err) == "InvalidSignatureException"
    assert err.value.response["Error"]["Message"].startswith(
        "The request signature we calculated does not match the signature you provided.")


def test_unknown_key_is_unrecognized(secure_server: ServerProcess) -> None:
    client = make_client(secure_server.endpoint, aws_access_key_id="AKIDUNKNOWN",
                         aws_secret_access_key=SECRET)
    with pytest.raises(ClientError) as err:
        client.list_tables()
    assert _code(err) == "UnrecognizedClientException"
    assert err.value.response["Error"]["Message"] == (
        "The security token included in the request is invalid.")


def test_local_mode_accepts_any_key_and_secret(ddb: Any, server: ServerProcess) -> None:
    client = make_client(server.endpoint, aws_access_key_id="anything",
                         aws_secret_access_key="whatever")
    assert "TableNames" in client.list_tables()
