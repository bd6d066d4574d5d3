"""AWS Signature Version 4 verification (and a small signer) for DynamoDB requests.

Theory of operation
-------------------
This module owns request authentication and nothing else. It is sans-I/O and clock-free:
the HTTP layer hands ``SigV4Verifier.verify`` the method, the raw (still percent-encoded)
path and query, the headers with lower-cased names, the body and ``now_epoch_s``; the
verifier returns an ``AuthResult`` or raises one of DynamoDB's typed errors from
``quorumdb.errors``. It never reads a clock, a file or the network, so the simulator and
the tests can drive it with any time they like. (``load_credentials`` lives in
``credentials.py`` for that reason.)

Two modes:

* **Local** (``credentials=None``, the default of ``quorumdb serve``): like DynamoDB
  Local, any access key id is accepted and the signature value is *not* checked, but the
  request must still carry a well-formed SigV4 signature (``Authorization`` header or
  presigned query parameters): a missing or malformed one gets DynamoDB's error. Clock
  skew, presigned expiry, the region and session tokens are not checked either; they only
  matter when the signature is.
* **Credentials** (``credentials=Credentials(...)``): full verification. The checks run
  in the order DynamoDB was observed to run them (dynalite recorded it against the real
  service): missing token -> malformed ``key=value`` pair -> missing parts -> date format
  -> clock skew / expiry -> ``host`` signed -> algorithm -> credential shape -> credential
  scope -> access key known -> signature -> session token.

The signature itself follows AWS's specification for non-S3 services, which botocore's
``SigV4Auth`` implements and the tests pin against:

1. Canonical request: ``METHOD``, the canonical URI (dot segments and repeated slashes
   removed, then every segment percent-encoded *again*, i.e. the raw path is encoded a
   second time, as AWS does for every service but S3), the canonical query string (each
   name and value decoded then re-encoded with only ``A-Za-z0-9-_.~`` left bare, pairs
   sorted by name then value, ``X-Amz-Signature`` left out of a presigned URL), one
   ``name:value`` line per signed header (values trimmed, inner whitespace runs collapsed
   to one space), the signed-header list, and the payload hash (``x-amz-content-sha256``
   when present, else SHA-256 of the body).
2. String to sign: ``AWS4-HMAC-SHA256``, the X-Amz-Date, the credential scope
   ``date/region/dynamodb/aws4_request`` and the hex SHA-256 of the canonical request.
3. Signing key: ``HMAC("AWS4" + secret, date)`` -> region -> service -> ``aws4_request``.
   Four HMACs per request would dominate the hot path, so the key is cached per
   ``(secret, date, region, service)`` in a bounded LRU (``SIGNING_KEY_CACHE_ENTRIES_MAX``).
4. The hex HMAC of the string to sign is compared with ``hmac.compare_digest`` on bytes.

Invariants and decisions
------------------------
* Every rejection is a ``DynamoDBError`` subclass; arbitrary input (a hypothesis test
  feeds garbage ``Authorization`` headers) never raises anything else.
* A request is valid for ``CLOCK_SKEW_S_MAX`` (15 min) either side of ``now``; exactly
  15 minutes is still accepted. A presigned URL is valid from X-Amz-Date until
  X-Amz-Date + X-Amz-Expires (at most 7 days), and at most 15 minutes in the future.
* ``x-amz-content-sha256`` is signed as sent, but it must also equal the SHA-256 of the
  body we received (``UNSIGNED-PAYLOAD`` is refused): otherwise a signed header could
  vouch for a body that was swapped in flight. DynamoDB signs JSON bodies in full, so no
  legitimate client is affected.
* In credentials mode a session token must be present and equal (constant-time) when the
  key requires one, and absent when it does not, as AWS rejects a long-term key that
  carries a token.
* The caller joins repeated header lines with ``,`` (AWS's canonical form); this module
  sees one string per header name.
* Unknown access keys are rejected before any HMAC is computed, and the service is fixed,
  so an unauthenticated client can only churn the signing-key cache through dates (at most
  two within the skew window) and regions when no region is configured; the cache is
  bounded either way.

Messages are DynamoDB's own where they could be verified (see ``MSG_*`` comments).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from urllib.parse import quote, unquote

from quorumdb.errors import (
    DynamoDBError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

__all__ = [
    "ALGORITHM",
    "CLOCK_SKEW_S_MAX",
    "PRESIGNED_EXPIRES_S_MAX",
    "SERVICE",
    "SIGNING_KEY_CACHE_ENTRIES_MAX",
    "AuthResult",
    "Credentials",
    "SigV4Verifier",
    "derive_signing_key",
    "format_amz_date",
    "sign_request",
]

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "dynamodb"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

# Bounds (to move into the `limits` module once it exists).
# AWS accepts signatures 15 minutes either side of its clock ("- 15 min." in its message).
CLOCK_SKEW_S_MAX = 15 * 60
# SigV4 presigned URLs may live at most one week, as in S3 and every AWS SDK's presigner.
PRESIGNED_EXPIRES_S_MAX = 7 * 24 * 60 * 60
# One entry per (secret, day, region): 1,024 covers 512 keys across a UTC date rollover
# at ~100 bytes an entry (~100 KiB); a miss costs only four HMACs (~5 us).
SIGNING_KEY_CACHE_ENTRIES_MAX = 1024
ACCEPTED_CACHE_ENTRIES_MAX = 1024

# Verified: DynamoDB's MissingAuthenticationTokenException (dynalite, recorded from AWS).
MSG_MISSING_TOKEN = "Request is missing Authentication Token"
# Verified: DynamoDB's InvalidSignatureException text without the canonical-string
# appendix AWS used to add in 2013.
MSG_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
# Verified for an unknown access key (UnrecognizedClientException); reused for a wrong or
# missing session token (dynalite recorded the same sentence without the final period).
MSG_INVALID_TOKEN = "The security token included in the request is invalid."
# Verified (dynalite): InvalidSignatureException.
MSG_HOST_NOT_SIGNED = "'Host' must be a 'SignedHeader' in the AWS Authorization."

_HEADER_REQUIRES = {
    "Credential": "Authorization header requires 'Credential' parameter. ",
    "Signature": "Authorization header requires 'Signature' parameter. ",
    "SignedHeaders": "Authorization header requires 'SignedHeaders' parameter. ",
}
_HEADER_REQUIRES_DATE = (
    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
)
_QUERY_REQUIRES = {
    "X-Amz-Credential": "AWS query-string parameters must include 'X-Amz-Credential'. ",
    "X-Amz-Signature": "AWS query-string parameters must include 'X-Amz-Signature'. ",
    "X-Amz-SignedHeaders": "AWS query-string parameters must include 'X-Amz-SignedHeaders'. ",
    "X-Amz-Date": "AWS query-string parameters must include 'X-Amz-Date'. ",
}
_QUERY_REEXAMINE = "Re-examine the query-string parameters."
_UNRESERVED = "-_.~"
_DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class Credentials:
    """The keys a server accepts: access key id -> secret, and the session token a key
    requires, if any. Secrets stay out of ``repr``. Loaded by ``credentials.load_credentials``."""

    keys: Mapping[str, str] = field(repr=False)
    session_tokens: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name, mapping in (("keys", self.keys), ("session_tokens", self.session_tokens)):
            for key, value in mapping.items():
                if not isinstance(key, str) or not key or not isinstance(value, str) or not value:
                    raise ValueError(f"credentials {name}: entries must be non-empty strings")
        unknown = set(self.session_tokens) - set(self.keys)
        if unknown:
            raise ValueError(f"session tokens for unknown access keys: {sorted(unknown)}")
        # Immutable copies: the caller's dicts may change, ours must not.
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))
        object.__setattr__(self, "session_tokens", MappingProxyType(dict(self.session_tokens)))

    def __repr__(self) -> str:
        return f"Credentials(access_key_ids={sorted(self.keys)!r})"


@dataclass(frozen=True)
class AuthResult:
    """Who signed: the access key id and the credential scope's region. ``signed`` is True
    when the signature was verified (credentials mode), False in local mode."""

    access_key_id: str
    region: str
    signed: bool


@dataclass(frozen=True)
class _Presented:
    """The signature a request presents, from its header or its query string."""

    algorithm: str
    credential: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    session_token: str | None
    expires_s: int | None
    presigned: bool


# --------------------------------------------------------------------------- time


@lru_cache(maxsize=256)
def _parse_amz_date(text: str) -> int:
    """ISO-8601 basic format ``YYYYMMDDTHHMMSSZ`` -> epoch seconds. Cached: every request
    of the same second carries the same text (py-spy: ~5% of a GetItem uncached)."""
    if (
        len(text) != 16
        or text[8] != "T"
        or text[15] != "Z"
        or not _DIGITS.issuperset(text[:8])
        or not _DIGITS.issuperset(text[9:15])
    ):
        raise _bad_date(text)
    try:
        moment = datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[9:11]),
            int(text[11:13]),
            int(text[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        raise _bad_date(text) from None
    return int(moment.timestamp())


def _bad_date(text: str) -> IncompleteSignatureException:
    # Verified (dynalite): IncompleteSignatureException.
    return IncompleteSignatureException(
        f"Date must be in ISO-8601 'basic format'. Got '{text}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )


def format_amz_date(epoch_s: float) -> str:
    """Epoch seconds -> ``YYYYMMDDTHHMMSSZ`` (whole seconds, UTC)."""
    return datetime.fromtimestamp(int(epoch_s), UTC).strftime("%Y%m%dT%H%M%SZ")


def _check_time(presented: _Presented, request_s: int, now_epoch_s: float) -> None:
    now_s = int(now_epoch_s)
    if request_s > now_epoch_s + CLOCK_SKEW_S_MAX:
        # Verified: InvalidSignatureException, "Signature not yet current: A is still later
        # than B (C + 15 min.)".
        raise InvalidSignatureException(
            f"Signature not yet current: {presented.amz_date} is still later than "
            f"{format_amz_date(now_s + CLOCK_SKEW_S_MAX)} ({format_amz_date(now_s)} + 15 min.)"
        )
    if presented.expires_s is not None:
        if request_s + presented.expires_s < now_epoch_s:
            # Guessed: DynamoDB's wording for an expired presigned URL is not on record;
            # this keeps the "Signature expired:" prefix SDKs look for.
            raise InvalidSignatureException(
                f"Signature expired: {presented.amz_date} is now earlier than "
                f"{format_amz_date(now_s - presented.expires_s)} "
                f"({format_amz_date(now_s)} - {presented.expires_s} sec.)"
            )
    elif request_s < now_epoch_s - CLOCK_SKEW_S_MAX:
        # Verified: InvalidSignatureException, "Signature expired: A is now earlier than
        # B (C - 15 min.)".
        raise InvalidSignatureException(
            f"Signature expired: {presented.amz_date} is now earlier than "
            f"{format_amz_date(now_s - CLOCK_SKEW_S_MAX)} ({format_amz_date(now_s)} - 15 min.)"
        )


# --------------------------------------------------------------------------- parsing


_HEX = frozenset("0123456789abcdef")


def _parse_authorization(authorization: str, headers: Mapping[str, str]) -> _Presented:
    """Parses the Authorization header. Everything before ``Signature=`` is the same on
    every request of a client for a day (algorithm, credential scope, signed headers), so
    a well-formed header is parsed once per distinct head (py-spy: ~5% of a GetItem)."""
    head, separator, signature = authorization.rpartition("Signature=")
    if separator and signature and _HEX.issuperset(signature) and (
        not head or head[-1] in ", "
    ):
        algorithm, credential, signed_headers = _parse_authorization_head(head)
        if algorithm is not None:
            amz_date = headers.get("x-amz-date") or headers.get("date") or ""
            if amz_date:
                return _Presented(
                    algorithm=algorithm, credential=credential, signed_headers=signed_headers,
                    signature=signature, amz_date=amz_date,
                    session_token=headers.get("x-amz-security-token"), expires_s=None,
                    presigned=False,
                )
    return _parse_authorization_slow(authorization, headers)


def _accepted_key(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """(Authorization head, request date) of a header-signed request with a well-formed
    signature: all that a local-mode verdict depends on."""
    authorization = headers.get("authorization")
    if authorization is None:
        return None
    head, separator, signature = authorization.rpartition("Signature=")
    if not (separator and signature and _HEX.issuperset(signature)):
        return None
    return head, headers.get("x-amz-date") or headers.get("date") or ""


@lru_cache(maxsize=256)
def _parse_authorization_head(head: str) -> tuple[str | None, str, tuple[str, ...]]:
    """(algorithm, credential, signed headers) of a well-formed head, else (None, ...):
    the slow path then produces DynamoDB's exact error."""
    try:
        presented = _parse_authorization_slow(head + "Signature=0", {"x-amz-date": "x"})
    except DynamoDBError:
        return None, "", ()
    return presented.algorithm, presented.credential, presented.signed_headers


def _parse_authorization_slow(authorization: str, headers: Mapping[str, str]) -> _Presented:
    """The ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``
    form. Components may be separated by commas, whitespace or both (DynamoDB accepts
    either, see scylladb issue 9568); the last value of a repeated component wins."""
    stripped = authorization.strip()
    if not stripped.startswith("AWS4-"):
        raise MissingAuthenticationTokenException(MSG_MISSING_TOKEN)
    words = stripped.split(None, 1)
    algorithm = words[0]
    components: dict[str, str] = {}
    rest = words[1] if len(words) > 1 else ""
    for part in rest.replace(",", " ").split():
        name, equals, value = part.partition("=")
        if not equals:
            # Verified (dynalite): IncompleteSignatureException.
            raise IncompleteSignatureException(
                f"'{part}' not a valid key=value pair (missing equal-sign) in "
                f"Authorization header: '{authorization}'."
            )
        components[name] = value
    amz_date = headers.get("x-amz-date") or headers.get("date") or ""
    # Verified: the sentences, their order, and the "Authorization=<header>" tail.
    # An empty SignedHeaders is allowed here; it then fails the 'Host' check.
    missing = [
        text
        for name, text in _HEADER_REQUIRES.items()
        if not components.get(name) and not (name == "SignedHeaders" and name in components)
    ]
    if not amz_date:
        missing.append(_HEADER_REQUIRES_DATE)
    if missing:
        raise IncompleteSignatureException("".join(missing) + "Authorization=" + authorization)
    return _Presented(
        algorithm=algorithm,
        credential=components["Credential"],
        signed_headers=_split_signed_headers(components["SignedHeaders"]),
        signature=components["Signature"],
        amz_date=amz_date,
        session_token=headers.get("x-amz-security-token"),
        expires_s=None,
        presigned=False,
    )


def _parse_presigned(params: Mapping[str, str]) -> _Presented:
    """The presigned-URL form: ``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
    ``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature`` in the query string."""
    algorithm = params["X-Amz-Algorithm"]
    if algorithm != ALGORITHM:
        # From a reimplementation's model of AWS (scratchstack), not seen from DynamoDB.
        raise MissingAuthenticationTokenException(MSG_MISSING_TOKEN)
    missing = [text for name, text in _QUERY_REQUIRES.items() if not params.get(name)]
    if missing:
        # From a reimplementation's model of AWS (scratchstack), not seen from DynamoDB.
        raise IncompleteSignatureException("".join(missing) + _QUERY_REEXAMINE)
    expires_s: int | None = None
    expires_text = params.get("X-Amz-Expires")
    if expires_text is not None:
        # Guessed (S3's wording): DynamoDB's messages for a bad X-Amz-Expires are not on record.
        if not expires_text.isascii() or not expires_text.isdigit():
            raise IncompleteSignatureException("X-Amz-Expires should be a number")
        expires_s = int(expires_text)
        if expires_s > PRESIGNED_EXPIRES_S_MAX:
            raise IncompleteSignatureException(
                "X-Amz-Expires must be less than a week (in seconds); that is, the given "
                f"X-Amz-Expires must be less than {PRESIGNED_EXPIRES_S_MAX} seconds"
            )
    return _Presented(
        algorithm=algorithm,
        credential=params["X-Amz-Credential"],
        signed_headers=_split_signed_headers(params["X-Amz-SignedHeaders"]),
        signature=params["X-Amz-Signature"],
        amz_date=params["X-Amz-Date"],
        session_token=params.get("X-Amz-Security-Token"),
        expires_s=expires_s,
        presigned=True,
    )


@lru_cache(maxsize=256)
def _split_signed_headers(text: str) -> tuple[str, ...]:
    return tuple(sorted({name.strip().lower() for name in text.split(";") if name.strip()}))


def _parse_credential(presented: _Presented) -> tuple[str, str, str, str, str]:
    """``AKID/YYYYMMDD/region/service/aws4_request`` -> its five parts (trailing slashes
    are ignored, as DynamoDB does)."""
    parts = presented.credential.rstrip("/").split("/")
    if len(parts) != 5:
        # Verified (dynalite): IncompleteSignatureException.
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{presented.credential}'"
        )
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _split_query(query: str) -> list[tuple[str, str]]:
    """Raw ``name=value`` pairs of a query string, still percent-encoded."""
    pairs = []
    for piece in query.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((name, value))
    return pairs


# --------------------------------------------------------------------------- canonical form


def _encode(text: str) -> str:
    return quote(text, safe=_UNRESERVED, errors="surrogatepass")


def canonical_uri(path: str) -> str:
    """The raw path with dot segments and empty segments removed (RFC 3986 5.2.4, as
    botocore's ``remove_dot_segments``), then percent-encoded a second time."""
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    normalized = ("/" if path[0] == "/" else "") + "/".join(kept)
    if path[-1] == "/" and kept:
        normalized += "/"
    return quote(normalized, safe="/~", errors="surrogatepass")


def canonical_query(pairs: Iterable[tuple[str, str]], *, drop_signature: bool) -> str:
    encoded = sorted(
        (_encode(unquote(name)), _encode(unquote(value)))
        for name, value in pairs
        if not (drop_signature and unquote(name) == "X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def _trim(value: str) -> str:
    return " ".join(value.split())


def _string_to_sign(
    method: str,
    uri: str,
    query: str,
    header_lines: Iterable[str],
    signed_headers: str,
    payload_hash: str,
    amz_date: str,
    scope: str,
) -> bytes:
    canonical = "\n".join((method, uri, query, *header_lines, "", signed_headers, payload_hash))
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}".encode("utf-8", "surrogatepass")


@lru_cache(maxsize=SIGNING_KEY_CACHE_ENTRIES_MAX)
def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """``kSigning`` for one (secret, date, region, service); cached, bounded."""
    key = hmac.digest(
        ("AWS4" + secret).encode("utf-8", "surrogatepass"),
        date.encode("utf-8", "surrogatepass"),
        "sha256",
    )
    for part in (region, service, TERMINATOR):
        key = hmac.digest(key, part.encode("utf-8", "surrogatepass"), "sha256")
    return key


def _signature(signing_key: bytes, string_to_sign: bytes) -> str:
    return hmac.new(signing_key, string_to_sign, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- verifier


class SigV4Verifier:
    """Verifies one request at a time; holds no per-request state (safe to share)."""

    def __init__(self, credentials: Credentials | None, region: str | None = None) -> None:
        self._credentials = credentials
        # The region is enforced only when signatures are (local mode accepts any).
        self._region = region if credentials is not None else None
        # Local mode: the verdict on a header-signed request depends on the Authorization
        # head (everything before the signature) and the request date only, and is the
        # same for every request a client sends within that second.
        self._accepted: dict[tuple[str, str], AuthResult] = {}

    def verify(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        now_epoch_s: float,
    ) -> AuthResult:
        """Raises a ``DynamoDBError`` subclass unless the request is properly signed.

        ``path`` and ``query`` are raw (as on the request line); ``headers`` has
        lower-cased names, repeated headers joined with ``,``."""
        accepted_key = None
        if self._credentials is None and not query:
            accepted_key = _accepted_key(headers)
            accepted = self._accepted.get(accepted_key) if accepted_key else None
            if accepted is not None:
                return accepted
        pairs = _split_query(query) if query else []
        params: dict[str, str] = {}
        for name, value in pairs:
            params.setdefault(unquote(name), unquote(value))  # the first value wins
        authorization = headers.get("authorization")
        if authorization is not None:
            presented = _parse_authorization(authorization, headers)
        elif "X-Amz-Algorithm" in params:
            presented = _parse_presigned(params)
        else:
            raise MissingAuthenticationTokenException(MSG_MISSING_TOKEN)

        request_s = _parse_amz_date(presented.amz_date)
        if self._credentials is not None:
            _check_time(presented, request_s, now_epoch_s)
        if "host" not in presented.signed_headers:
            raise InvalidSignatureException(MSG_HOST_NOT_SIGNED)
        if presented.algorithm != ALGORITHM:
            # Verified (dynalite), trailing space included.
            raise IncompleteSignatureException(
                f"Unsupported AWS 'algorithm': '{presented.algorithm}' (only {ALGORITHM} for now). "
            )
        access_key_id, date, region, service, terminator = _parse_credential(presented)
        self._check_scope(presented.amz_date, date, region, service, terminator)
        if self._credentials is None:
            result = AuthResult(access_key_id, region, signed=False)
            if accepted_key is not None:
                if len(self._accepted) >= ACCEPTED_CACHE_ENTRIES_MAX:
                    self._accepted.clear()
                self._accepted[accepted_key] = result
            return result

        secret = self._credentials.keys.get(access_key_id)
        if secret is None:
            raise UnrecognizedClientException(MSG_INVALID_TOKEN)
        payload_hash = _payload_hash(headers, body)
        string_to_sign = _string_to_sign(
            method,
            canonical_uri(path),
            canonical_query(pairs, drop_signature=presented.presigned),
            (f"{name}:{_trim(headers.get(name, ''))}" for name in presented.signed_headers),
            ";".join(presented.signed_headers),
            payload_hash,
            presented.amz_date,
            f"{date}/{region}/{service}/{terminator}",
        )
        expected = _signature(derive_signing_key(secret, date, region, service), string_to_sign)
        if not hmac.compare_digest(
            expected.encode("ascii"), presented.signature.encode("utf-8", "surrogatepass")
        ):
            raise InvalidSignatureException(MSG_SIGNATURE_MISMATCH)
        self._check_session_token(access_key_id, presented.session_token)
        return AuthResult(access_key_id, region, signed=True)

    def _check_scope(
        self, amz_date: str, date: str, region: str, service: str, terminator: str
    ) -> None:
        # All failing sentences at once, each ending ". ", as AWS does. Verified: the
        # service and region sentences (region in its current wording, DynamoDB said
        # "..., not 'x'. " in 2013); terminator and date sentences from dynalite's 2013
        # record of DynamoDB.
        problems = []
        if self._region is not None and region != self._region:
            problems.append("Credential should be scoped to a valid region. ")
        if service != SERVICE:
            problems.append(f"Credential should be scoped to correct service: '{SERVICE}'. ")
        if terminator != TERMINATOR:
            problems.append(
                "Credential should be scoped with a valid terminator: "
                f"'{TERMINATOR}', not '{terminator}'. "
            )
        if date != amz_date[:8]:
            problems.append(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{date}' != '{amz_date[:8]}', from '{amz_date}'. "
            )
        if problems:
            raise InvalidSignatureException("".join(problems))

    def _check_session_token(self, access_key_id: str, token: str | None) -> None:
        assert self._credentials is not None
        required = self._credentials.session_tokens.get(access_key_id)
        if required is None:
            if token:
                raise UnrecognizedClientException(MSG_INVALID_TOKEN)
            return
        if token is None or not hmac.compare_digest(
            required.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass")
        ):
            raise UnrecognizedClientException(MSG_INVALID_TOKEN)


def _payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    """The payload hash to sign: the declared ``x-amz-content-sha256`` if any (which must
    then match the body), else the body's SHA-256."""
    actual = hashlib.sha256(body).hexdigest()
    declared = headers.get("x-amz-content-sha256")
    if declared is None:
        return actual
    if declared.lower() != actual:
        raise InvalidSignatureException(MSG_SIGNATURE_MISMATCH)
    return declared


# --------------------------------------------------------------------------- signer


def sign_request(
    method: str,
    host: str,
    path: str,
    body: bytes,
    access_key: str,
    secret_key: str,
    region: str,
    now_epoch_s: float,
    session_token: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    include_content_sha256: bool = False,
) -> dict[str, str]:
    """Signs a query-less DynamoDB request the way botocore does, for our benchmark client.

    Returns the headers to add (lower-cased): ``x-amz-date``, ``authorization`` and, when
    asked for or given, ``x-amz-content-sha256`` and ``x-amz-security-token``. ``host``
    and any extra ``headers`` (e.g. ``x-amz-target``, ``content-type``) are signed too and
    must be sent unchanged. Uses the same cached signing key as the verifier."""
    amz_date = format_amz_date(now_epoch_s)
    payload_hash = hashlib.sha256(body).hexdigest()
    added = {"x-amz-date": amz_date}
    if include_content_sha256:
        added["x-amz-content-sha256"] = payload_hash
    if session_token is not None:
        added["x-amz-security-token"] = session_token
    to_sign = {name.lower(): value for name, value in (headers or {}).items()}
    to_sign["host"] = host
    to_sign.update(added)
    names = sorted(to_sign)
    date = amz_date[:8]
    scope = f"{date}/{region}/{SERVICE}/{TERMINATOR}"
    string_to_sign = _string_to_sign(
        method.upper(),
        canonical_uri(path),
        "",
        (f"{name}:{_trim(to_sign[name])}" for name in names),
        ";".join(names),
        payload_hash,
        amz_date,
        scope,
    )
    signature = _signature(derive_signing_key(secret_key, date, region, SERVICE), string_to_sign)
    added["authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return added
