"""SigV4 verification against botocore's own signer (the reference implementation).

Requests are signed by ``botocore.auth.SigV4Auth`` / ``SigV4QueryAuth`` with botocore's
real clock; the verifier is then given ``now`` derived from the signature's own
X-Amz-Date, so every test is deterministic although the signing time is not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.utils import percent_encode_sequence
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.api.credentials import load_credentials, parse_credentials
from quorumdb.api.sigv4 import (
    CLOCK_SKEW_S_MAX,
    SIGNING_KEY_CACHE_ENTRIES_MAX,
    AuthResult,
    Credentials,
    SigV4Verifier,
    canonical_query,
    canonical_uri,
    derive_signing_key,
    format_amz_date,
    sign_request,
)
from quorumdb.errors import (
    DynamoDBError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TEMP_AKID = "ASIATEMPORARY"
TEMP_SECRET = "temporary-secret"
TOKEN = "FQoGZXIvYXdzEXAMPLETOKEN//+=="
HOST = "localhost:8000"
URL = f"http://{HOST}/"
BODY = b'{"TableName": "things"}'
TARGET_HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.DescribeTable",
}
CREDENTIALS = Credentials(
    keys={AKID: SECRET, TEMP_AKID: TEMP_SECRET}, session_tokens={TEMP_AKID: TOKEN}
)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
# 2013-05-24T00:00:00Z, the date of AWS's own examples.
T0 = 1369353600.0


@dataclass
class Wire:
    """A request as the HTTP layer hands it to the verifier."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def verify(self, verifier: SigV4Verifier, now_epoch_s: float) -> AuthResult:
        return verifier.verify(
            self.method, self.path, self.query, self.headers, self.body, now_epoch_s
        )


def amz_epoch(amz_date: str) -> float:
    return datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def to_wire(request: AWSRequest) -> Wire:
    parts = urlsplit(request.url)
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers.setdefault("host", parts.netloc)  # as urllib3 would send it
    return Wire(request.method, parts.path, parts.query, headers, request.body or b"")


def boto_signed(
    body: bytes = BODY,
    *,
    url: str = URL,
    access_key: str = AKID,
    secret: str = SECRET,
    token: str | None = None,
    region: str = "us-east-1",
    service: str = "dynamodb",
    headers: dict[str, str] | None = None,
) -> tuple[Wire, float]:
    """A request signed by botocore, and the epoch second it was signed at."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers=dict(TARGET_HEADERS if headers is None else headers),
    )
    SigV4Auth(BotoCredentials(access_key, secret, token), service, region).add_auth(request)
    wire = to_wire(request)
    return wire, amz_epoch(wire.headers["x-amz-date"])


def boto_presigned(
    *,
    expires_s: int = 300,
    token: str | None = None,
    access_key: str = AKID,
    secret: str = SECRET,
) -> tuple[Wire, float]:
    request = AWSRequest(method="POST", url=URL, data=BODY)
    SigV4QueryAuth(
        BotoCredentials(access_key, secret, token), "dynamodb", "us-east-1", expires=expires_s
    ).add_auth(request)
    wire = to_wire(request)
    date = dict(pair.split("=", 1) for pair in wire.query.split("&"))["X-Amz-Date"]
    return wire, amz_epoch(date)


def ours_signed(now_epoch_s: float = T0, **overrides: Any) -> Wire:
    """A request signed by our own ``sign_request``."""
    arguments: dict[str, Any] = {
        "method": "POST",
        "host": HOST,
        "path": "/",
        "body": BODY,
        "access_key": AKID,
        "secret_key": SECRET,
        "region": "us-east-1",
        "now_epoch_s": now_epoch_s,
        "headers": TARGET_HEADERS,
    }
    arguments.update(overrides)
    added = sign_request(**arguments)
    headers = {name.lower(): value for name, value in arguments["headers"].items()}
    headers["host"] = arguments["host"]
    headers.update(added)
    return Wire(arguments["method"], arguments["path"], "", headers, arguments["body"])


strict = SigV4Verifier(CREDENTIALS, region="us-east-1")
local = SigV4Verifier(None)


# --------------------------------------------------------------------------- happy paths


def test_botocore_signed_request_verifies() -> None:
    wire, now = boto_signed()
    assert wire.verify(strict, now) == AuthResult(AKID, "us-east-1", signed=True)
    assert wire.verify(local, now) == AuthResult(AKID, "us-east-1", signed=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/",
        "https://dynamodb.eu-west-1.amazonaws.com/",
        "http://127.0.0.1:8000/some/./odd/../path//with%20space/",
        "http://localhost:8000/?b=2&a=1&a=0&empty=&sp=x%20y&tilde=~",
    ],
)
def test_botocore_paths_and_queries_verify(url: str) -> None:
    wire, now = boto_signed(url=url, region="eu-west-1")
    assert wire.verify(SigV4Verifier(CREDENTIALS, region="eu-west-1"), now).signed


def test_any_region_is_accepted_when_none_is_configured() -> None:
    wire, now = boto_signed(region="ap-southeast-2")
    assert wire.verify(SigV4Verifier(CREDENTIALS), now).region == "ap-southeast-2"


def test_empty_body_verifies() -> None:
    wire, now = boto_signed(body=b"")
    assert wire.verify(strict, now).signed


def test_space_separated_components_are_accepted() -> None:
    # Alternator's test_authorization_no_whitespace / scylladb#9568: DynamoDB accepts
    # components separated by whitespace only, or by commas only.
    wire = ours_signed()
    algorithm, rest = wire.headers["authorization"].split(" ", 1)
    for separator in (" ", ","):
        wire.headers["authorization"] = algorithm + " " + rest.replace(", ", separator)
        assert wire.verify(strict, T0).signed


# --------------------------------------------------------------------------- tampering


def test_tampered_body_is_rejected() -> None:
    wire, now = boto_signed()
    wire.body = BODY.replace(b"things", b"thingz")
    with pytest.raises(InvalidSignatureException, match=r"^The request signature we calculated"):
        wire.verify(strict, now)
    assert wire.verify(local, now).signed is False  # local mode does not check the value


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-amz-target", "DynamoDB_20120810.DeleteTable"),
        ("content-type", "application/json"),
        ("host", "localhost:8001"),
        ("x-amz-date", None),  # one second later
    ],
)
def test_tampered_signed_header_is_rejected(header: str, value: str | None) -> None:
    wire, now = boto_signed()
    wire.headers[header] = value or format_amz_date(now + 1)
    with pytest.raises(InvalidSignatureException, match=r"^The request signature"):
        wire.verify(strict, now)


def test_header_whitespace_is_canonicalised() -> None:
    wire, now = boto_signed()
    wire.headers["x-amz-target"] = "  " + wire.headers["x-amz-target"] + "   "
    assert wire.verify(strict, now).signed


def test_unsigned_header_may_change() -> None:
    wire, now = boto_signed()
    wire.headers["user-agent"] = "something else"
    assert wire.verify(strict, now).signed


def test_tampered_signature_is_rejected() -> None:
    wire, now = boto_signed()
    authorization = wire.headers["authorization"]
    last = authorization[-1]
    wire.headers["authorization"] = authorization[:-1] + ("0" if last != "0" else "1")
    with pytest.raises(InvalidSignatureException):
        wire.verify(strict, now)


def test_tampered_query_is_rejected() -> None:
    wire, now = boto_signed(url=URL + "?a=1")
    wire.query = "a=2"
    with pytest.raises(InvalidSignatureException):
        wire.verify(strict, now)


def test_wrong_secret_is_rejected() -> None:
    wire, now = boto_signed(secret="not-the-secret")
    with pytest.raises(InvalidSignatureException) as caught:
        wire.verify(strict, now)
    assert caught.value.message == MISMATCH
    assert caught.value.wire_type == "com.amazon.coral.service#InvalidSignatureException"


def test_unknown_key_rejected_with_credentials_accepted_locally() -> None:
    wire, now = boto_signed(access_key="AKIDNOBODY", secret="whatever")
    with pytest.raises(UnrecognizedClientException) as caught:
        wire.verify(strict, now)
    assert caught.value.message == "The security token included in the request is invalid."
    assert wire.verify(local, now) == AuthResult("AKIDNOBODY", "us-east-1", signed=False)


# --------------------------------------------------------------------------- clock skew


def test_skew_boundaries() -> None:
    wire = ours_signed(T0)
    assert wire.verify(strict, T0 + CLOCK_SKEW_S_MAX).signed  # exactly 15 min old: ok
    assert wire.verify(strict, T0 - CLOCK_SKEW_S_MAX).signed  # exactly 15 min ahead: ok
    with pytest.raises(InvalidSignatureException, match=r"^Signature expired: "):
        wire.verify(strict, T0 + CLOCK_SKEW_S_MAX + 0.001)
    with pytest.raises(InvalidSignatureException, match=r"^Signature not yet current: "):
        wire.verify(strict, T0 - CLOCK_SKEW_S_MAX - 1)


def test_skew_messages_match_dynamodb() -> None:
    wire = ours_signed(T0)
    with pytest.raises(InvalidSignatureException) as caught:
        wire.verify(strict, T0 + 30 * 60)
    assert caught.value.message == (
        "Signature expired: 20130524T000000Z is now earlier than 20130524T001500Z "
        "(20130524T003000Z - 15 min.)"
    )
    with pytest.raises(InvalidSignatureException) as caught:
        wire.verify(strict, T0 - 30 * 60)
    assert caught.value.message == (
        "Signature not yet current: 20130524T000000Z is still later than 20130523T234500Z "
        "(20130523T233000Z + 15 min.)"
    )


def test_local_mode_ignores_skew() -> None:
    wire = ours_signed(T0)
    assert wire.verify(local, T0 + 10 * 365 * 86400).access_key_id == AKID


def test_skew_is_checked_before_the_key() -> None:
    wire = ours_signed(T0, access_key="AKIDNOBODY")
    with pytest.raises(InvalidSignatureException, match=r"^Signature expired"):
        wire.verify(strict, T0 + 3600)


# --------------------------------------------------------------------------- session tokens


def test_session_token_accepted() -> None:
    wire, now = boto_signed(access_key=TEMP_AKID, secret=TEMP_SECRET, token=TOKEN)
    assert wire.verify(strict, now).access_key_id == TEMP_AKID


@pytest.mark.parametrize("token", [None, TOKEN + "x"])
def test_missing_or_wrong_session_token_rejected(token: str | None) -> None:
    wire, now = boto_signed(access_key=TEMP_AKID, secret=TEMP_SECRET, token=token)
    with pytest.raises(
        UnrecognizedClientException, match=r"^The security token included in the request is invalid"
    ):
        wire.verify(strict, now)


def test_token_on_a_long_term_key_rejected() -> None:
    wire, now = boto_signed(token="unexpected")
    with pytest.raises(UnrecognizedClientException):
        wire.verify(strict, now)
    assert wire.verify(local, now).signed is False


def test_sign_request_with_session_token() -> None:
    wire = ours_signed(access_key=TEMP_AKID, secret_key=TEMP_SECRET, session_token=TOKEN)
    assert wire.headers["x-amz-security-token"] == TOKEN
    assert wire.verify(strict, T0).access_key_id == TEMP_AKID


# --------------------------------------------------------------------------- presigned URLs


def test_presigned_url_verifies_until_it_expires() -> None:
    wire, signed_at = boto_presigned(expires_s=300)
    assert "authorization" not in wire.headers
    assert "TableName=things" in wire.query  # botocore moved the body into the query
    assert wire.verify(strict, signed_at).signed
    assert wire.verify(strict, signed_at + 300).signed
    with pytest.raises(InvalidSignatureException, match=r"^Signature expired: "):
        wire.verify(strict, signed_at + 301)
    with pytest.raises(InvalidSignatureException, match=r"^Signature not yet current: "):
        wire.verify(strict, signed_at - CLOCK_SKEW_S_MAX - 1)
    assert wire.verify(local, signed_at + 10_000).signed is False


def test_presigned_url_lifetime_may_exceed_fifteen_minutes() -> None:
    wire, signed_at = boto_presigned(expires_s=3600)
    assert wire.verify(strict, signed_at + 3000).signed


def test_presigned_url_tampering_rejected() -> None:
    wire, signed_at = boto_presigned()
    wire.query = wire.query.replace("TableName=things", "TableName=other")
    with pytest.raises(InvalidSignatureException, match=r"^The request signature"):
        wire.verify(strict, signed_at)
    wire, signed_at = boto_presigned(expires_s=300)
    wire.query = wire.query.replace("X-Amz-Expires=300", "X-Amz-Expires=900")
    with pytest.raises(InvalidSignatureException):
        wire.verify(strict, signed_at + 600)


def test_presigned_url_with_session_token() -> None:
    wire, signed_at = boto_presigned(access_key=TEMP_AKID, secret=TEMP_SECRET, token=TOKEN)
    assert wire.verify(strict, signed_at).access_key_id == TEMP_AKID
    wire, signed_at = boto_presigned(access_key=TEMP_AKID, secret=TEMP_SECRET)
    with pytest.raises(UnrecognizedClientException):
        wire.verify(strict, signed_at)


def test_presigned_url_missing_parameters() -> None:
    query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20130524T000000Z"
    with pytest.raises(IncompleteSignatureException) as caught:
        strict.verify("GET", "/", query, {"host": HOST}, b"", T0)
    assert caught.value.message == (
        "AWS query-string parameters must include 'X-Amz-Credential'. "
        "AWS query-string parameters must include 'X-Amz-Signature'. "
        "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
        "Re-examine the query-string parameters."
    )
    with pytest.raises(MissingAuthenticationTokenException):
        local.verify("GET", "/", "X-Amz-Algorithm=HMAC-MD5", {"host": HOST}, b"", T0)


@pytest.mark.parametrize("expires", ["abc", "-5", "604801", "1e3"])
def test_presigned_url_bad_expires(expires: str) -> None:
    wire, signed_at = boto_presigned()
    wire.query = wire.query.replace("X-Amz-Expires=300", f"X-Amz-Expires={expires}")
    with pytest.raises(IncompleteSignatureException, match="X-Amz-Expires"):
        wire.verify(local, signed_at)


# --------------------------------------------------------------------------- malformed


def malformed(authorization: str | None, amz_date: str | None = "20130524T000000Z") -> Wire:
    headers = {"host": HOST, "content-type": "application/x-amz-json-1.0"}
    if authorization is not None:
        headers["authorization"] = authorization
    if amz_date is not None:
        headers["x-amz-date"] = amz_date
    return Wire("POST", "/", "", headers, BODY)


GOOD_CREDENTIAL = "Credential=AKIDEXAMPLE/20130524/us-east-1/dynamodb/aws4_request"
GOOD_TAIL = "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64


@pytest.mark.parametrize(
    ("authorization", "amz_date", "error", "message"),
    [
        (
            None,
            "20130524T000000Z",
            MissingAuthenticationTokenException,
            "Request is missing Authentication Token",
        ),
        (
            "Basic dXNlcjpwYXNz",
            "20130524T000000Z",
            MissingAuthenticationTokenException,
            "Request is missing Authentication Token",
        ),
        (
            "",
            "20130524T000000Z",
            MissingAuthenticationTokenException,
            "Request is missing Authentication Token",
        ),
        (
            "AWS4-HMAC-SHA256",
            "20130524T000000Z",
            IncompleteSignatureException,
            "Authorization header requires 'Credential' parameter. "
            "Authorization header requires 'Signature' parameter. "
            "Authorization header requires 'SignedHeaders' parameter. "
            "Authorization=AWS4-HMAC-SHA256",
        ),
        (
            f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, {GOOD_TAIL}",
            None,
            IncompleteSignatureException,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization=AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, {GOOD_TAIL}",
        ),
        (
            "AWS4-HMAC-SHA256 Signature=b,    Credential,    SignedHeaders",
            "20130524T000000Z",
            IncompleteSignatureException,
            "'Credential' not a valid key=value pair (missing equal-sign) in Authorization header: "
            "'AWS4-HMAC-SHA256 Signature=b,    Credential,    SignedHeaders'.",
        ),
        (
            f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, {GOOD_TAIL}",
            "201",
            IncompleteSignatureException,
            "Date must be in ISO-8601 'basic format'. Got '201'. See http://en.wikipedia.org/wiki/ISO_8601",
        ),
        (
            f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, {GOOD_TAIL}",
            "20130231T000000Z",
            IncompleteSignatureException,
            "Date must be in ISO-8601 'basic format'. Got '20130231T000000Z'. "
            "See http://en.wikipedia.org/wiki/ISO_8601",
        ),
        (
            f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, SignedHeaders=x-amz-date, Signature=ab",
            "20130524T000000Z",
            InvalidSignatureException,
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ),
        (
            f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, SignedHeaders=, Signature=ab",
            "20130524T000000Z",
            InvalidSignatureException,
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ),
        (
            f"AWS4-HMAC-SHA25 {GOOD_CREDENTIAL}, {GOOD_TAIL}",
            "20130524T000000Z",
            IncompleteSignatureException,
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only AWS4-HMAC-SHA256 for now). ",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=a/b/c/d, {GOOD_TAIL}",
            "20130524T000000Z",
            IncompleteSignatureException,
            "Credential must have exactly 5 slash-delimited elements, "
            "e.g. keyid/date/region/service/term, got 'a/b/c/d'",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20130524/us-east-1/dynamodb/aws4_request//, "
            f"{GOOD_TAIL}",
            "20130524T000000Z",
            InvalidSignatureException,
            MISMATCH,
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20130525/eu-west-1/s3/aws4_req, {GOOD_TAIL}",
            "20130524T000000Z",
            InvalidSignatureException,
            "Credential should be scoped to a valid region. "
            "Credential should be scoped to correct service: 'dynamodb'. "
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_req'. "
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            "HTTP: '20130525' != '20130524', from '20130524T000000Z'. ",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=AKIDNOBODY/20130524/us-east-1/dynamodb/aws4_request, "
            f"{GOOD_TAIL}",
            "20130524T000000Z",
            UnrecognizedClientException,
            "The security token included in the request is invalid.",
        ),
    ],
)
def test_malformed_requests_get_dynamodb_errors(
    authorization: str | None,
    amz_date: str | None,
    error: type[DynamoDBError],
    message: str,
) -> None:
    with pytest.raises(error) as caught:
        malformed(authorization, amz_date).verify(strict, T0)
    assert type(caught.value) is error
    assert caught.value.message == message


def test_local_mode_still_requires_a_well_formed_signature() -> None:
    for authorization in (None, "Basic abc", "AWS4-HMAC-SHA256 Credential=x"):
        with pytest.raises(DynamoDBError):
            malformed(authorization).verify(local, T0)
    bad_service = f"AWS4-HMAC-SHA256 Credential=AKID/20130524/r/sts/aws4_request, {GOOD_TAIL}"
    with pytest.raises(
        InvalidSignatureException,
        match=r"^Credential should be scoped to correct service: 'dynamodb'. $",
    ):
        malformed(bad_service).verify(local, T0)
    any_region = (
        f"AWS4-HMAC-SHA256 Credential=AKID/20130524/moon-1/dynamodb/aws4_request, {GOOD_TAIL}"
    )
    assert malformed(any_region).verify(local, T0) == AuthResult("AKID", "moon-1", signed=False)
    assert malformed(any_region).verify(SigV4Verifier(None, region="us-east-1"), T0).signed is False


def test_date_header_is_a_fallback_for_x_amz_date() -> None:
    wire = malformed(f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, {GOOD_TAIL}", None)
    wire.headers["date"] = "20130524T000000Z"
    assert wire.verify(local, T0).access_key_id == AKID


# --------------------------------------------------------------------------- payload hash


def test_content_sha256_header_is_signed_and_checked() -> None:
    wire = ours_signed(include_content_sha256=True)
    assert wire.verify(strict, T0).signed
    wire.body = b"{}"
    with pytest.raises(InvalidSignatureException):
        wire.verify(strict, T0)
    unsigned = ours_signed()
    unsigned.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    with pytest.raises(InvalidSignatureException):
        unsigned.verify(strict, T0)


def test_botocore_content_sha256_header_verifies() -> None:
    headers = {**TARGET_HEADERS, "X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()}
    wire, now = boto_signed(headers=headers)
    assert wire.verify(strict, now).signed


# --------------------------------------------------------------------------- our signer


def test_sign_request_agrees_with_botocore() -> None:
    request = AWSRequest(method="POST", url=URL, data=BODY, headers=dict(TARGET_HEADERS))
    SigV4Auth(BotoCredentials(AKID, SECRET), "dynamodb", "us-east-1").add_auth(request)
    amz_date = request.headers["X-Amz-Date"]
    ours = sign_request(
        "POST",
        HOST,
        "/",
        BODY,
        AKID,
        SECRET,
        "us-east-1",
        amz_epoch(amz_date),
        headers=TARGET_HEADERS,
    )
    assert ours["x-amz-date"] == amz_date
    assert ours["authorization"] == request.headers["Authorization"]


def test_sign_request_with_token_agrees_with_botocore() -> None:
    request = AWSRequest(method="POST", url=URL, data=BODY, headers=dict(TARGET_HEADERS))
    SigV4Auth(BotoCredentials(TEMP_AKID, TEMP_SECRET, TOKEN), "dynamodb", "eu-west-1").add_auth(
        request
    )
    ours = sign_request(
        "POST",
        HOST,
        "/",
        BODY,
        TEMP_AKID,
        TEMP_SECRET,
        "eu-west-1",
        amz_epoch(request.headers["X-Amz-Date"]),
        TOKEN,
        headers=TARGET_HEADERS,
    )
    assert ours["authorization"] == request.headers["Authorization"]


def test_sign_request_minimal_headers_verify() -> None:
    added = sign_request("POST", HOST, "/", BODY, AKID, SECRET, "us-east-1", T0)
    assert set(added) == {"x-amz-date", "authorization"}
    assert "SignedHeaders=host;x-amz-date," in added["authorization"]
    wire = Wire("POST", "/", "", {"host": HOST, **added}, BODY)
    assert wire.verify(strict, T0).signed


# --------------------------------------------------------------------------- building blocks


def test_signing_key_matches_aws_documented_example() -> None:
    # AWS General Reference, "Examples of how to derive a signing key for Signature Version 4".
    key = derive_signing_key(SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_signing_key_is_cached_and_bounded() -> None:
    assert derive_signing_key.cache_parameters()["maxsize"] == SIGNING_KEY_CACHE_ENTRIES_MAX
    wire = ours_signed(T0 + 86400 * 400)  # a date no other test uses
    before = derive_signing_key.cache_info()
    wire.verify(strict, T0 + 86400 * 400)
    wire.verify(strict, T0 + 86400 * 400)
    after = derive_signing_key.cache_info()
    assert after.hits - before.hits >= 1
    assert after.currsize <= SIGNING_KEY_CACHE_ENTRIES_MAX


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="/.a%2F0 é~-_+", max_size=30))
def test_canonical_uri_matches_botocore(path: str) -> None:
    signer = SigV4Auth(BotoCredentials(AKID, SECRET), "dynamodb", "us-east-1")
    assert canonical_uri(path) == signer._normalize_url_path(path)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=5))
def test_canonical_query_matches_botocore(params: dict[str, str]) -> None:
    query = percent_encode_sequence(params)
    signer = SigV4Auth(BotoCredentials(AKID, SECRET), "dynamodb", "us-east-1")
    pairs = [tuple(pair.partition("=")[::2]) for pair in query.split("&") if pair]
    expected = signer._canonical_query_string_url(urlsplit("http://h/?" + query))
    assert canonical_query(pairs, drop_signature=False) == expected


# --------------------------------------------------------------------------- fuzzing

FRAGMENTS = st.sampled_from(
    [
        "AWS4-HMAC-SHA256",
        "AWS4-",
        "AWS4-HMAC-SHA256 ",
        "Credential=",
        "SignedHeaders=",
        "Signature=",
        "X-Amz-",
        "host",
        ";",
        "x-amz-date",
        "/",
        "//",
        "20130524",
        "us-east-1",
        "dynamodb",
        "aws4_request",
        ",",
        " ",
        "  ",
        "=",
        "==",
        "\t",
        "%",
        "%2F",
        "\x00",
        "\udcff",
        "é",
        "0" * 64,
        "AKIDEXAMPLE",
        "ASIATEMPORARY",
    ]
)
GARBAGE = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=5)), max_size=25).map("".join),
)
DATES = st.one_of(
    st.none(),
    st.just("20130524T000000Z"),
    st.text(max_size=20),
    st.text(alphabet="0123456789TZ", min_size=16, max_size=16),
)


@settings(max_examples=500, deadline=None)
@given(
    authorization=GARBAGE,
    amz_date=DATES,
    token=st.one_of(st.none(), st.text(max_size=8)),
    now=st.floats(min_value=0, max_value=4e9),
)
def test_garbage_authorization_raises_only_dynamodb_errors(
    authorization: str,
    amz_date: str | None,
    token: str | None,
    now: float,
) -> None:
    wire = malformed(authorization, amz_date)
    if token is not None:
        wire.headers["x-amz-security-token"] = token
    for verifier in (strict, local, SigV4Verifier(CREDENTIALS)):
        with contextlib.suppress(DynamoDBError):
            wire.verify(verifier, now)


@settings(max_examples=300, deadline=None)
@given(
    query=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "X-Amz-Algorithm",
                    "X-Amz-Credential",
                    "X-Amz-Date",
                    "X-Amz-Expires",
                    "X-Amz-SignedHeaders",
                    "X-Amz-Signature",
                    "X-Amz-Security-Token",
                    "a",
                ]
            ),
            st.one_of(GARBAGE, st.sampled_from(["AWS4-HMAC-SHA256", "20130524T000000Z", "host"])),
        ),
        max_size=8,
    ),
    path=st.text(max_size=10),
    raw=st.text(max_size=20),
)
def test_garbage_query_raises_only_dynamodb_errors(
    query: list[tuple[str, str]],
    path: str,
    raw: str,
) -> None:
    encoded = "&".join(f"{name}={value}" for name, value in query)
    for text in (encoded, raw, encoded + "&" + raw):
        for verifier in (strict, local):
            with contextlib.suppress(DynamoDBError):
                verifier.verify("POST", path, text, {"host": HOST}, BODY, T0)


def test_valid_request_survives_the_fuzz_harness_shape() -> None:
    # The harness above must be able to reach success too, or it only tests rejections.
    wire = ours_signed()
    assert wire.verify(strict, T0).signed


# --------------------------------------------------------------------------- credentials


def test_credentials_hide_secrets_and_are_immutable() -> None:
    keys = {AKID: SECRET}
    credentials = Credentials(keys=keys)
    keys["other"] = "changed"
    assert SECRET not in repr(credentials)
    assert "other" not in credentials.keys
    with pytest.raises(TypeError):
        credentials.keys["x"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(
    "document",
    [
        [],
        {},
        {"keys": {}},
        {AKID: ""},
        {AKID: 5},
        {"keys": {AKID: SECRET}, "session_tokens": []},
        {"keys": {AKID: SECRET}, "session_tokens": {"nobody": "t"}},
        {"keys": {AKID: SECRET}, "extra": 1},
    ],
)
def test_bad_credential_documents_rejected(document: Any) -> None:
    with pytest.raises(ValueError):
        parse_credentials(document)


def test_load_credentials_both_forms(tmp_path: Path) -> None:
    short = tmp_path / "short.json"
    short.write_text(json.dumps({AKID: SECRET}))
    assert dict(load_credentials(str(short)).keys) == {AKID: SECRET}
    long = tmp_path / "long.json"
    long.write_text(
        json.dumps(
            {"keys": {AKID: SECRET, TEMP_AKID: TEMP_SECRET}, "session_tokens": {TEMP_AKID: TOKEN}}
        )
    )
    loaded = load_credentials(str(long))
    assert dict(loaded.session_tokens) == {TEMP_AKID: TOKEN}
    wire, now = boto_signed(access_key=TEMP_AKID, secret=TEMP_SECRET, token=TOKEN)
    assert wire.verify(SigV4Verifier(loaded), now).signed
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_credentials(str(broken))
