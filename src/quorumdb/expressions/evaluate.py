"""Condition evaluation: resolved condition trees compiled once into closures.

``compile_condition`` turns a resolved tree into a ``Callable[[Item | None], bool]``;
a Scan filter then costs one closure call per item with no name lookups, tree walks or
``match`` dispatch on the hot path. ``None`` as the item means "no item" (a PutItem on a
new key): every path reads as absent.

Semantics (Developer Guide, "Condition and filter expressions, operators, and
functions"):

* an absent operand makes ``=``, ``<``, ``<=``, ``>``, ``>=``, BETWEEN, IN and the
  functions false; ``<>`` is true when either side is absent (absent equals nothing);
* values of different types are never equal and never ordered: the comparison is false,
  not an error; ``=``/``<>`` work on every type (maps and lists deeply, sets as sets),
  ordering only on S (code point = UTF-8 byte order), N (numeric) and B (unsigned bytes);
* ``contains``: substring for S (and B), membership for sets (member of the set's
  element type), element equality for L;
* ``begins_with``: S prefix of S, B prefix of B;
* ``size``: characters of S, bytes of B, members of sets, L and M; other types (N, BOOL,
  NULL) have no size and make the comparison false.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quorumdb.model.values import b64, compare_values, values_equal

from .ast import (
    And,
    AttributeExists,
    AttributeNotExists,
    AttributeType,
    AttributeValue,
    BeginsWith,
    Between,
    Compare,
    Condition,
    Contains,
    In,
    Item,
    Literal,
    Not,
    Operand,
    Or,
    Path,
    Size,
    ValueRef,
)
from .paths import Getter, getter

Predicate = Callable[[Item | None], bool]

_ORDER_TESTS: dict[str, Callable[[int], bool]] = {
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}


@dataclass(frozen=True, slots=True)
class PreparedCondition:
    """A resolved condition and its compiled predicate."""

    expression: Condition
    matches: Predicate


def prepare_condition(expression: Condition) -> PreparedCondition:
    return PreparedCondition(expression, compile_condition(expression))


def evaluate_condition(condition: PreparedCondition, item: Item | None) -> bool:
    """True when ``item`` (None: no item) satisfies the condition."""
    return condition.matches(item)


def size_of(value: AttributeValue) -> int | None:
    """DynamoDB's size(): None for types without a size (N, BOOL, NULL)."""
    tag, payload = next(iter(value.items()))
    if tag == "S":
        return len(payload)
    if tag == "B":
        return len(b64(payload))
    if tag in ("SS", "NS", "BS", "L", "M"):
        return len(payload)
    return None


def contains(container: AttributeValue, member: AttributeValue) -> bool:
    tag, payload = next(iter(container.items()))
    member_tag, member_payload = next(iter(member.items()))
    if tag == "S":
        return member_tag == "S" and member_payload in payload
    if tag == "B":
        return member_tag == "B" and b64(member_payload) in b64(payload)
    if tag in ("SS", "NS", "BS"):
        if member_tag != tag[0]:
            return False
        return any(values_equal({member_tag: each}, member) for each in payload)
    if tag == "L":
        return any(values_equal(each, member) for each in payload)
    return False


def begins_with(value: AttributeValue, prefix: AttributeValue) -> bool:
    tag, payload = next(iter(value.items()))
    prefix_tag, prefix_payload = next(iter(prefix.items()))
    if tag != prefix_tag:
        return False
    if tag == "S":
        return bool(payload.startswith(prefix_payload))
    if tag == "B":
        return b64(payload).startswith(b64(prefix_payload))
    return False


def compile_operand(operand: Operand) -> Getter:
    match operand:
        case Path(elements):
            return getter(elements)
        case Literal(value):
            return lambda _item: value
        case Size(inner):
            read = compile_operand(inner)

            def size(item: Item | None) -> AttributeValue | None:
                value = read(item)
                if value is None:
                    return None
                count = size_of(value)
                return None if count is None else {"N": str(count)}

            return size
        case ValueRef():
            raise AssertionError("unresolved value placeholder reached the evaluator")


def compile_condition(node: Condition) -> Predicate:
    match node:
        case And(left, right):
            first, second = compile_condition(left), compile_condition(right)
            return lambda item: first(item) and second(item)
        case Or(left, right):
            first, second = compile_condition(left), compile_condition(right)
            return lambda item: first(item) or second(item)
        case Not(inner):
            negated = compile_condition(inner)
            return lambda item: not negated(item)
        case Compare(op, left, right):
            return _compile_compare(op, compile_operand(left), compile_operand(right))
        case Between(operand, low, high):
            return _compile_between(
                compile_operand(operand), compile_operand(low), compile_operand(high)
            )
        case In(operand, options):
            return _compile_in(compile_operand(operand), [compile_operand(o) for o in options])
        case AttributeExists(path):
            read = getter(path.elements)
            return lambda item: read(item) is not None
        case AttributeNotExists(path):
            read = getter(path.elements)
            return lambda item: read(item) is None
        case AttributeType(path, type_operand):
            return _compile_binary(compile_operand(path), compile_operand(type_operand), _has_type)
        case BeginsWith(operand, prefix):
            return _compile_binary(compile_operand(operand), compile_operand(prefix), begins_with)
        case Contains(operand, member):
            return _compile_binary(compile_operand(operand), compile_operand(member), contains)
    raise AssertionError(f"unknown condition node {node!r}")


def _has_type(value: AttributeValue, type_name: AttributeValue) -> bool:
    return type_name.get("S") == next(iter(value))


def _compile_binary(
    read_left: Getter, read_right: Getter, test: Callable[[AttributeValue, AttributeValue], bool]
) -> Predicate:
    def predicate(item: Item | None) -> bool:
        left = read_left(item)
        if left is None:
            return False
        right = read_right(item)
        return right is not None and test(left, right)

    return predicate


def _compile_compare(op: str, read_left: Getter, read_right: Getter) -> Predicate:
    if op in ("=", "<>"):
        want_equal = op == "="

        def equality(item: Item | None) -> bool:
            left, right = read_left(item), read_right(item)
            if left is None or right is None:
                return not want_equal
            return values_equal(left, right) == want_equal

        return equality
    test = _ORDER_TESTS[op]

    def ordered(item: Item | None) -> bool:
        left, right = read_left(item), read_right(item)
        if left is None or right is None:
            return False
        order = compare_values(left, right)
        return order is not None and test(order)

    return ordered


def _compile_between(read: Getter, read_low: Getter, read_high: Getter) -> Predicate:
    def between(item: Item | None) -> bool:
        value, low, high = read(item), read_low(item), read_high(item)
        if value is None or low is None or high is None:
            return False
        above = compare_values(value, low)
        below = compare_values(value, high)
        return above is not None and below is not None and above >= 0 and below <= 0

    return between


def _compile_in(read: Getter, options: list[Getter]) -> Predicate:
    def member(item: Item | None) -> bool:
        value = read(item)
        if value is None:
            return False
        for option in options:
            candidate = option(item)
            if candidate is not None and values_equal(value, candidate):
                return True
        return False

    return member
