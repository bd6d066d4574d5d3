"""The cached fast path of Authorization parsing must agree with the full parser on every
header: same result, or the same error type and message."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.api.sigv4 import SigV4Verifier, _parse_authorization, _parse_authorization_slow
from quorumdb.errors import DynamoDBError

PARTS = st.sampled_from([
    "AWS4-HMAC-SHA256", "AWS4-X", "Credential=AKID/20240101/us-east-1/dynamodb/aws4_request",
    "Credential=", "SignedHeaders=host;x-amz-date", "SignedHeaders=", "Signature=abc123",
    "Signature=", "Signature=ABC", "XSignature=00", "foo", "=", ",", " ", ", ",
])


def outcome(function, header: str, headers: dict[str, str]) -> object:  # type: ignore[no-untyped-def]
    try:
        return function(header, headers)
    except DynamoDBError as error:
        return (type(error), error.message)


@settings(max_examples=400, deadline=None)
@given(st.lists(PARTS, max_size=8), st.sampled_from([{}, {"x-amz-date": "20240101T000000Z"}]),
       st.text(alphabet="0123456789abcdefABC, ", max_size=6))
def test_fast_path_agrees_with_full_parser(parts: list[str], headers: dict[str, str],
                                           tail: str) -> None:
    header = " ".join(parts) + tail
    assert outcome(_parse_authorization, header, headers) == outcome(
        _parse_authorization_slow, header, headers)


def test_typical_botocore_header_takes_the_fast_path() -> None:
    header = ("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, "
              "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "ab" * 32)
    headers = {"x-amz-date": "20240101T000000Z"}
    assert _parse_authorization(header, headers) == _parse_authorization_slow(header, headers)


def verdict(verifier: SigV4Verifier, header: str, headers: dict[str, str]) -> object:
    try:
        return verifier.verify("POST", "/", "", {**headers, "authorization": header}, b"{}",
                               1_700_000_000.0)
    except DynamoDBError as error:
        return (type(error), error.message)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(PARTS, max_size=8),
                          st.text(alphabet="0123456789abcdefABC, ", max_size=6),
                          st.sampled_from([{}, {"x-amz-date": "20240101T000000Z"},
                                           {"x-amz-date": "20240102T000000Z"}])),
                min_size=1, max_size=6))
def test_local_mode_verdict_cache_agrees_with_an_uncached_verifier(
        requests: list[tuple[list[str], str, dict[str, str]]]) -> None:
    """Local mode remembers accepted (Authorization head, date) pairs; a later request
    with the same head but another signature or date must get the verdict a verifier
    that never saw the earlier requests gives."""
    warm = SigV4Verifier(None)
    for parts, tail, headers in requests:
        header = " ".join(parts) + tail
        assert verdict(warm, header, headers) == verdict(SigV4Verifier(None), header, headers)


def test_local_mode_cache_gives_a_fresh_verdict_to_another_signature_or_date() -> None:
    head = ("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=")
    headers = {"x-amz-date": "20240101T000000Z"}
    verifier = SigV4Verifier(None)
    assert verdict(verifier, head + "ab" * 32, headers) == verdict(
        SigV4Verifier(None), head + "cd" * 32, headers)
    for header, dated in ((head + "not-hex!", headers), (head + "ab" * 32, {}),
                          (head + "ab" * 32, {"x-amz-date": "20240102T000000Z"})):
        assert verdict(verifier, header, dated) == verdict(SigV4Verifier(None), header, dated)
    # the scope's date must match the request's: the cached head does not excuse it
    assert isinstance(verdict(verifier, head + "ab" * 32, {"x-amz-date": "20240102T000000Z"}),
                      tuple)
