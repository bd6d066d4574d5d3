"""Fixtures for the API suite on top of tests/conftest.py (server, ddb, make_table)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config


@pytest.fixture(scope="session")
def raw_ddb(server: Any) -> Any:
    """A boto3 client with client-side parameter validation switched off, so that invalid
    requests reach the server and the *server's* validation is what the test observes."""
    return boto3.client(
        "dynamodb",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                      connect_timeout=5, read_timeout=60, parameter_validation=False),
    )
