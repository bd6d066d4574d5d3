"""Loading the access keys that ``quorumdb serve --credentials FILE`` accepts.

Theory of operation: this is the one place that touches the credentials file; the
verifier in ``sigv4.py`` stays pure and receives the parsed ``Credentials``. A malformed
file is an operator error, reported as ``ValueError`` with the reason (never with a
secret), before the server starts accepting requests.
"""

from __future__ import annotations

import json
from typing import Any

from quorumdb.api.sigv4 import Credentials

__all__ = ["Credentials", "load_credentials", "parse_credentials"]


def load_credentials(path: str) -> Credentials:
    """Reads a JSON credentials file, in one of two shapes.

    The short form maps access key ids to secret keys::

        {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

    The long form adds the session tokens that some keys require (a request signed with
    such a key must carry the matching ``X-Amz-Security-Token``; a key without an entry
    must carry none)::

        {"keys": {"AKIDEXAMPLE": "secret", "ASIATEMP": "secret2"},
         "session_tokens": {"ASIATEMP": "token"}}

    Raises ``ValueError`` for anything else (and ``OSError`` if the file cannot be read).
    """
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from None
    try:
        return parse_credentials(document)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def parse_credentials(document: Any) -> Credentials:
    """The ``Credentials`` a decoded credentials document describes (see ``load_credentials``)."""
    if not isinstance(document, dict):
        raise ValueError("expected a JSON object")
    if "keys" in document and isinstance(document["keys"], dict):
        unknown = set(document) - {"keys", "session_tokens"}
        if unknown:
            raise ValueError(f"unknown fields: {sorted(unknown)}")
        keys = document["keys"]
        tokens = document.get("session_tokens", {})
        if not isinstance(tokens, dict):
            raise ValueError("'session_tokens' must be an object")
    else:
        keys, tokens = document, {}
    if not keys:
        raise ValueError("no access keys")
    return Credentials(keys=keys, session_tokens=tokens)
