"""AttributeValues: validation of untrusted wire values, equality and ordering.

Theory of operation
-------------------
Values stay in DynamoDB's wire form on every layer (``docs/internals.md``). This module
is the one gate between decoded request JSON and that form: ``validate_value`` and
``validate_item`` check a value exactly as DynamoDB does and return a *canonical copy*
(numbers normalised, ``null`` members dropped), so nothing downstream re-validates or
re-normalises.

Two kinds of error, as DynamoDB splits them:

* ``SerializationException`` when a member has the wrong JSON type (a number where a
  string is expected, ...). DynamoDB's JSON layer (Coral) reports these; messages follow
  its wording ("NUMBER_VALUE can not be converted to a String", "Start of list found
  where not expected", "Expected null", ...). Like Coral, ``null`` members and unknown
  members of an AttributeValue are ignored.
* ``ValidationException`` for well-typed but invalid values, with DynamoDB's messages
  (including its grammar: "An string set  may not be empty" has two spaces).

DynamoDB reports serialisation errors for the whole request before any validation
error; we check in one pass per value, so a request with both kinds of error in
different attributes may report the validation error first. One pass keeps the hot
path (every PutItem) to one walk over the item.

Nesting: DynamoDB allows documents nested up to 32 levels. We count the M/L containers
enclosing a value (a top-level ``M`` holding a scalar is depth 1) and refuse a 33rd.

Equality and order: strings order by UTF-8 bytes, which for Python ``str`` is code
point order, so plain ``<`` on ``str`` is right (lone surrogates included, as they
also encode in code point order under ``surrogatepass``). Binary orders by unsigned
bytes; numbers numerically. Sets compare as sets.

Pure: no I/O, no clocks.
"""

from __future__ import annotations

import binascii
import re
from decimal import Decimal
from typing import Any

from quorumdb.errors import SerializationException, ValidationException
from quorumdb.model.numbers import (
    NOT_A_NUMBER_MESSAGE,
    compare_numbers,
    is_canonical_integer,
    normalize_number,
)

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

MAX_NESTING_DEPTH = 32

EMPTY_MESSAGE = (
    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
)
MULTIPLE_MESSAGE = (
    "Supplied AttributeValue has more than one datatypes set, "
    "must contain exactly one of the supported datatypes"
)
INVALID = "One or more parameter values were invalid: "
NULL_NOT_TRUE_MESSAGE = INVALID + "Null attribute value types must have the value of true"
EMPTY_SS_MESSAGE = INVALID + "An string set  may not be empty"
EMPTY_NS_MESSAGE = INVALID + "An number set  may not be empty"
EMPTY_BS_MESSAGE = INVALID + "Binary sets should not be empty"
SS_EMPTY_MEMBER_MESSAGE = INVALID + "An string set may not have a empty string as a member"
BS_EMPTY_MEMBER_MESSAGE = INVALID + "Binary sets may not contain null or empty values"
NS_DUPLICATES_MESSAGE = "Input collection contains duplicates"
NESTING_MESSAGE = (
    "Nesting Levels have exceeded supported limits: "
    "Attributes in the item have nested levels beyond supported limit"
)

SCALAR_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL"})
SET_TYPES = frozenset({"SS", "NS", "BS"})
ALL_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})

# Base64 as DynamoDB accepts it: standard alphabet, padded, length a multiple of 4.
_BASE64_BAD_CHAR = re.compile(r"[^A-Za-z0-9+/=]|=[^=]")


# --- JSON-type (serialisation) checks -------------------------------------------------


def _json_kind(value: object) -> str:
    """Coral's name for the JSON token that arrived where another was expected."""
    if value is True:
        return "TRUE_VALUE"
    if value is False:
        return "FALSE_VALUE"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    return "STRING_VALUE"


def _scalar_type_error(value: object, target: str) -> SerializationException:
    if isinstance(value, list):
        return SerializationException("Start of list found where not expected")
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected.")
    return SerializationException(f"{_json_kind(value)} can not be converted to {target}")


def _require_str(value: object, target: str = "a String") -> str:
    if isinstance(value, str):
        return value
    raise _scalar_type_error(value, target)


def _require_list(value: object) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        raise SerializationException("Start of structure or map found where not expected.")
    raise SerializationException("Expected list or null")


def _require_map(value: object) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        raise SerializationException("Start of list found where not expected")
    raise SerializationException("Expected map or null")


def _require_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        # Coral converts a few spellings, case-insensitively, and names the rest upper-cased.
        upper = value.upper()
        if upper in ("TRUE", "1", "YES"):
            return True
        if upper in ("FALSE", "0", "NO"):
            return False
        raise SerializationException(f"'{upper}' can not be converted to an Boolean")
    raise _scalar_type_error(value, "a Boolean")


def _check_base64(text: str) -> str:
    """Validate base64 text as DynamoDB does; return it unchanged."""
    if len(text) % 4:
        raise SerializationException(
            f"'{text}' can not be converted to a Blob: Base64 encoded length is expected "
            f"a multiple of 4 bytes but found: {len(text)}"
        )
    bad = _BASE64_BAD_CHAR.search(text)
    if bad is not None:
        raise SerializationException(
            f"'{text}' can not be converted to a Blob: Invalid Base64 character: '{bad.group()[0]}'"
        )
    if text and binascii.b2a_base64(binascii.a2b_base64(text), newline=False).decode() != text:
        raise SerializationException(
            f"'{text}' can not be converted to a Blob: "
            "Invalid last non-pad Base64 character dectected"
        )
    return text


# --- validation -----------------------------------------------------------------------


def _set_text(members: list[str]) -> str:
    return "[" + ", ".join(members) + "]"


def _validate_ss(raw: object) -> list[str]:
    source = _require_list(raw)
    if not source:
        raise ValidationException(EMPTY_SS_MESSAGE)
    members = [_require_str(member) for member in source if member is not None]
    if len(members) != len(source) or "" in members:
        raise ValidationException(SS_EMPTY_MEMBER_MESSAGE)
    if len(set(members)) != len(members):
        raise ValidationException(
            f"{INVALID}Input collection {_set_text(members)} contains duplicates."
        )
    return members


def _validate_ns(raw: object) -> list[str]:
    source = _require_list(raw)
    if not source:
        raise ValidationException(EMPTY_NS_MESSAGE)
    members = []
    for member in source:
        if member is None:
            raise ValidationException(NOT_A_NUMBER_MESSAGE)
        members.append(normalize_number(_require_str(member)))
    if len(set(members)) != len(members):  # canonical text: equal values, equal text
        raise ValidationException(NS_DUPLICATES_MESSAGE)
    return members


def _validate_bs(raw: object) -> list[str]:
    source = _require_list(raw)
    if not source:
        raise ValidationException(EMPTY_BS_MESSAGE)
    members = []
    for member in source:
        if member is None:
            raise ValidationException(BS_EMPTY_MEMBER_MESSAGE)
        members.append(_check_base64(_require_str(member, "a Blob")))
    if "" in members:
        raise ValidationException(BS_EMPTY_MEMBER_MESSAGE)
    # Valid base64 is canonical (the last-character check), so equal bytes, equal text.
    if len(set(members)) != len(members):
        raise ValidationException(
            f"{INVALID}Input collection {_set_text(members)}of type BS contains duplicates."
        )
    return members


def _validate_member(kind: str, raw: object, depth: int) -> AttributeValue:
    """Validate one (type, payload) pair; ``depth`` counts enclosing M/L containers."""
    if kind == "S":
        return {"S": _require_str(raw)}
    if kind == "N":
        return {"N": normalize_number(_require_str(raw))}
    if kind == "B":
        return {"B": _check_base64(_require_str(raw, "a Blob"))}
    if kind == "BOOL":
        return {"BOOL": _require_bool(raw)}
    if kind == "NULL":
        if not _require_bool(raw):
            raise ValidationException(NULL_NOT_TRUE_MESSAGE)
        return {"NULL": True}
    if kind == "M":
        if depth >= MAX_NESTING_DEPTH:
            raise ValidationException(NESTING_MESSAGE)
        return {
            "M": {
                name: _validate(child, depth + 1)
                for name, child in _require_map(raw).items()
                if child is not None
            }
        }
    if kind == "L":
        if depth >= MAX_NESTING_DEPTH:
            raise ValidationException(NESTING_MESSAGE)
        return {
            "L": [_validate(child, depth + 1) for child in _require_list(raw) if child is not None]
        }
    if kind == "SS":
        return {"SS": _validate_ss(raw)}
    if kind == "NS":
        return {"NS": _validate_ns(raw)}
    assert kind == "BS", kind
    return {"BS": _validate_bs(raw)}


def _validate(value: object, depth: int) -> AttributeValue:
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise SerializationException("Start of list found where not expected")
        raise SerializationException("Expected null")
    if len(value) == 1:  # fast path: the only shape a valid value has
        ((kind, raw),) = value.items()
        if kind in ALL_TYPES and raw is not None:
            return _validate_member(kind, raw, depth)
    present = [(kind, raw) for kind, raw in value.items() if kind in ALL_TYPES and raw is not None]
    if not present:
        raise ValidationException(EMPTY_MESSAGE)
    out: AttributeValue = {}
    for kind, raw in present:  # DynamoDB reports a bad member before the count
        out = _validate_member(kind, raw, depth)
    if len(present) > 1:
        raise ValidationException(MULTIPLE_MESSAGE)
    return out


def validate_value(value: object) -> AttributeValue:
    """Validate one untrusted AttributeValue and return its canonical copy."""
    return _validate(value, 0)


def validate_item(item: object) -> Item:
    """Validate an untrusted item (attribute name -> AttributeValue); canonical copy.

    Attributes whose value is JSON ``null`` are dropped, as DynamoDB's JSON layer does.
    String values and plain integers are canonical as they arrive and are kept, not
    copied (the common case; the cost of a PutItem is mostly per attribute).
    """
    out: Item = {}
    for name, value in _require_map(item).items():
        if type(value) is dict and len(value) == 1 and (
            type(value.get("S")) is str
            or (type(number := value.get("N")) is str and is_canonical_integer(number))
        ):
            out[name] = value
        elif value is not None:
            out[name] = _validate(value, 0)
    return out


# --- helpers over validated values ----------------------------------------------------


def value_type(value: AttributeValue) -> str:
    """The type tag ("S", "N", ...) of a validated value."""
    for kind in value:
        return kind
    raise AssertionError("empty AttributeValue")


def b64(value: AttributeValue | str) -> bytes:
    """Raw bytes of a B value (or of base64 text)."""
    text = value if isinstance(value, str) else value["B"]
    return binascii.a2b_base64(text)


def values_equal(a: AttributeValue, b: AttributeValue) -> bool:
    """DynamoDB equality: same type and same value (sets as sets, numbers by value)."""
    kind = value_type(a)
    if kind != value_type(b):
        return False
    left, right = a[kind], b[kind]
    if left == right:
        return True
    if kind == "N":
        return compare_numbers(left, right) == 0
    if kind == "B":
        return b64(left) == b64(right)
    if kind == "SS":
        return set(left) == set(right)
    if kind == "NS":
        return {Decimal(member) for member in left} == {Decimal(member) for member in right}
    if kind == "BS":
        return {b64(member) for member in left} == {b64(member) for member in right}
    if kind == "M":
        return left.keys() == right.keys() and all(values_equal(left[k], right[k]) for k in left)
    if kind == "L":
        return len(left) == len(right) and all(map(values_equal, left, right))
    return False  # S, BOOL, NULL: equal payloads were caught above


def compare_values(a: AttributeValue, b: AttributeValue) -> int | None:
    """-1/0/1 ordering for two S, N or B values of one type; None if not comparable."""
    kind = value_type(a)
    if kind != value_type(b):
        return None
    left, right = a[kind], b[kind]
    if kind == "S":
        return int(left > right) - int(left < right)
    if kind == "N":
        return compare_numbers(left, right)
    if kind == "B":
        left_bytes, right_bytes = b64(left), b64(right)
        return (left_bytes > right_bytes) - (left_bytes < right_bytes)
    return None
