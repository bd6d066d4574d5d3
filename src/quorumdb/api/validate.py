"""Request-shape validation in DynamoDB's own two stages.

DynamoDB (its Coral framework) checks a request in two passes before any operation logic:

1. *Deserialisation*: a JSON value of the wrong type for a member fails the whole request
   with ``SerializationException`` (e.g. a number where a string belongs).
2. *Constraints*: every member's constraints (not null, length, pattern, enum, range) are
   checked and all failures are reported in one ``ValidationException``:
   ``"2 validation errors detected: Value null at 'tableName' failed to satisfy
   constraint: Member must not be null; Value ..."``.

Operation handlers declare their members with the small combinators below and then do the
operation-specific semantic checks themselves, which DynamoDB reports after these.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from quorumdb.errors import SerializationException, ValidationException

TABLE_NAME_PATTERN = "[a-zA-Z0-9_.-]+"
_TABLE_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]+\Z")
MAX_REPORTED_ERRORS = 10


@dataclass(frozen=True)
class Member:
    """One request member: its JSON name, the name DynamoDB reports (lowerCamelCase), its
    type, and its constraints."""

    name: str
    kind: str  # "string" | "integer" | "boolean" | "list" | "map" | "structure" | "any"
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: tuple[str, re.Pattern[str]] | None = None
    enum: Sequence[str] | None = None
    min_value: int | None = None
    max_value: int | None = None
    members: Sequence[Member] = field(default_factory=tuple)  # for structures
    element: Member | None = None  # for lists of structures or strings
    value: Member | None = None  # for maps whose values have a shape

    @cached_property
    def wire_name(self) -> str:
        return self.name[:1].lower() + self.name[1:]


def table_name(required: bool = True, name: str = "TableName") -> Member:
    """A table name member. Table ARNs are resolved to names before validation runs."""
    return Member(name, "string", required=required, min_length=3, max_length=255,
                  pattern=(TABLE_NAME_PATTERN, _TABLE_NAME_RE))


_KIND_OF: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "list": (list,),
    "map": (dict,),
    "structure": (dict,),
}

_SERIAL_NAME = {str: "STRING_VALUE", bool: "BOOLEAN_VALUE", list: "START_ARRAY",
                dict: "START_OBJECT", int: "NUMBER_VALUE", float: "NUMBER_VALUE"}


def _type_error(member: Member, value: Any) -> SerializationException:
    found = _SERIAL_NAME.get(type(value), "VALUE")
    if member.kind == "string":
        return SerializationException(f"{found} cannot be converted to String")
    if member.kind == "integer":
        return SerializationException(f"{found} cannot be converted to Long")
    if member.kind == "boolean":
        return SerializationException(f"{found} cannot be converted to Boolean")
    if member.kind == "list":
        return SerializationException(
            "Unexpected field type" if found != "START_OBJECT" else
            "Start of structure or map found where not expected.")
    return SerializationException("Start of list found where not expected"
                                  if found == "START_ARRAY" else "Unexpected field type")


def _check_type(member: Member, value: Any) -> None:
    if value is None or member.kind == "any":
        return
    expected = _KIND_OF[member.kind]
    if member.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(member, value)
        return
    if not isinstance(value, expected) or (member.kind != "boolean" and isinstance(value, bool)):
        raise _type_error(member, value)
    if isinstance(value, dict) and member.kind == "structure":
        for sub in member.members:
            _check_type(sub, value.get(sub.name))
    elif isinstance(value, list) and member.element is not None:
        for item in value:
            _check_type(member.element, item)
    elif isinstance(value, dict) and member.value is not None:
        for item in value.values():
            _check_type(member.value, item)


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    return f"'{value}'"


def constraint_errors(member: Member, value: Any, path: str, out: list[str]) -> None:
    if value is None:
        if member.required:
            out.append(f"Value null at '{path}' failed to satisfy constraint: "
                       "Member must not be null")
        return
    if member.kind in ("string", "list", "map"):
        length = len(value)
        if member.min_length is not None and length < member.min_length:
            out.append(f"Value {_rendered(member, value)} at '{path}' failed to satisfy "
                       "constraint: Member must have length greater than or equal to "
                       f"{member.min_length}")
        if member.max_length is not None and length > member.max_length:
            out.append(f"Value {_rendered(member, value)} at '{path}' failed to satisfy "
                       "constraint: Member must have length less than or equal to "
                       f"{member.max_length}")
    if member.kind == "string":
        if member.pattern is not None and not member.pattern[1].match(value):
            out.append(f"Value {_render(value)} at '{path}' failed to satisfy constraint: "
                       f"Member must satisfy regular expression pattern: {member.pattern[0]}")
        if member.enum is not None and value not in member.enum:
            out.append(f"Value {_render(value)} at '{path}' failed to satisfy constraint: "
                       f"Member must satisfy enum value set: [{', '.join(member.enum)}]")
    if member.kind == "integer":
        if member.min_value is not None and value < member.min_value:
            out.append(f"Value {_render(value)} at '{path}' failed to satisfy constraint: "
                       f"Member must have value greater than or equal to {member.min_value}")
        if member.max_value is not None and value > member.max_value:
            out.append(f"Value {_render(value)} at '{path}' failed to satisfy constraint: "
                       f"Member must have value less than or equal to {member.max_value}")
    if member.kind == "structure":
        for sub in member.members:
            constraint_errors(sub, value.get(sub.name), f"{path}.{sub.wire_name}", out)
    if member.kind == "list" and member.element is not None:
        for index, item in enumerate(value, start=1):
            if item is None:
                out.append(f"Value null at '{path}.{index}.member' failed to satisfy "
                           "constraint: Member must not be null")
                continue
            constraint_errors(member.element, item, f"{path}.{index}.member", out)
    if member.kind == "map" and member.value is not None:
        for key, item in value.items():
            if item is None:
                out.append(f"Value null at '{path}.{key}.member' failed to satisfy "
                           "constraint: Member must not be null")
                continue
            constraint_errors(member.value, item, f"{path}.{key}.member", out)


def _rendered(member: Member, value: Any) -> str:
    return _render(value) if member.kind == "string" else _render_collection(value)


def _render_collection(value: Any) -> str:
    if isinstance(value, dict):
        return "'{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}'"
    return "'[" + ", ".join(str(v) for v in value) + "]'"


def check(body: dict[str, Any], members: Sequence[Member],
          extra: Callable[[list[str]], None] | None = None) -> None:
    """Runs both stages over ``body``; ``extra`` may append more constraint messages
    (members whose rules depend on each other) before the ValidationException is built."""
    # Most members of a request are absent: those that are optional need no call.
    present = [(member, value) for member in members
               if (value := body.get(member.name)) is not None or member.required]
    for member, value in present:
        _check_type(member, value)
    errors: list[str] = []
    for member, value in present:
        constraint_errors(member, value, member.wire_name, errors)
    if extra is not None:
        extra(errors)
    raise_constraint_errors(errors)


def raise_constraint_errors(errors: list[str]) -> None:
    if not errors:
        return
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    shown = "; ".join(errors[:MAX_REPORTED_ERRORS])
    raise ValidationException(f"{count} validation {noun} detected: {shown}")
