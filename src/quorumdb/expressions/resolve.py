"""Substituting ExpressionAttributeNames/Values into raw trees, and the checks that need them.

A raw tree (cached by text) becomes a resolved tree for one request. The resolver
records which placeholders were used so ``prepare`` can report unused ones, and raises
DynamoDB's "not defined" errors. After resolution the kind-specific checks that depend on
real names and values run: distinct operands, operand types of functions and update
operators, BETWEEN bounds, overlapping or conflicting document paths.
"""

from __future__ import annotations

from typing import Any

from quorumdb.errors import ValidationException
from quorumdb.model.values import compare_values

from . import messages as msg
from .ast import (
    AddAction,
    And,
    Arithmetic,
    AttributeExists,
    AttributeNotExists,
    AttributeType,
    AttributeValue,
    BeginsWith,
    Between,
    Compare,
    Condition,
    Contains,
    DeleteAction,
    IfNotExists,
    In,
    ListAppend,
    Literal,
    Not,
    Operand,
    Or,
    Path,
    SetAction,
    SetValue,
    Size,
    UpdateExpression,
    UpdateOperand,
    ValueRef,
)

ATTRIBUTE_TYPE_NAMES = frozenset({"S", "N", "B", "NULL", "SS", "BOOL", "L", "BS", "NS", "M"})


class Resolver:
    """Resolves placeholders for one request; remembers which were used."""

    def __init__(self, names: dict[str, str] | None, values: dict[str, AttributeValue] | None):
        self.names = names or {}
        self.values = values or {}
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()
        self.kind = ""
        self.missing_name: str | None = None
        self.missing_value: str | None = None

    def begin(self, kind: str) -> None:
        self.kind = kind
        self.missing_name = None
        self.missing_value = None

    def finish(self) -> None:
        """Raise the first undefined name, else the first undefined value."""
        if self.missing_name is not None:
            raise msg.invalid(self.kind, msg.undefined_name(self.missing_name))
        if self.missing_value is not None:
            raise msg.invalid(self.kind, msg.undefined_value(self.missing_value))

    def path(self, path: Path) -> Path:
        if not any(isinstance(e, str) and e.startswith("#") for e in path.elements):
            return path
        elements: list[str | int] = []
        for element in path.elements:
            if isinstance(element, str) and element.startswith("#"):
                real = self.names.get(element)
                if real is None:
                    if self.missing_name is None:
                        self.missing_name = element
                    real = element
                else:
                    self.used_names.add(element)
                elements.append(real)
            else:
                elements.append(element)
        return Path(tuple(elements))

    def value(self, ref: ValueRef) -> Literal:
        found = self.values.get(ref.name)
        if found is None:
            if self.missing_value is None:
                self.missing_value = ref.name
            return Literal({"NULL": True})
        self.used_values.add(ref.name)
        return Literal(found)

    def operand(self, operand: Operand) -> Operand:
        match operand:
            case Path():
                return self.path(operand)
            case ValueRef():
                return self.value(operand)
            case Size(inner):
                return Size(self.operand(inner))
        return operand

    def condition(self, node: Condition) -> Condition:
        match node:
            case And(left, right):
                return And(self.condition(left), self.condition(right))
            case Or(left, right):
                return Or(self.condition(left), self.condition(right))
            case Not(inner):
                return Not(self.condition(inner))
            case Compare(op, left, right):
                return Compare(op, self.operand(left), self.operand(right))
            case Between(operand, low, high):
                return Between(self.operand(operand), self.operand(low), self.operand(high))
            case In(operand, options):
                return In(self.operand(operand), tuple(self.operand(o) for o in options))
            case AttributeExists(path):
                return AttributeExists(self.path(path))
            case AttributeNotExists(path):
                return AttributeNotExists(self.path(path))
            case AttributeType(path, type_operand):
                return AttributeType(self.operand(path), self.operand(type_operand))
            case BeginsWith(operand, prefix):
                return BeginsWith(self.operand(operand), self.operand(prefix))
            case Contains(operand, member):
                return Contains(self.operand(operand), self.operand(member))
        raise AssertionError(node)

    def update_operand(self, operand: UpdateOperand) -> UpdateOperand:
        match operand:
            case Path():
                return self.path(operand)
            case ValueRef():
                return self.value(operand)
            case IfNotExists(path, default):
                return IfNotExists(self.path(path), self.update_operand(default))
            case ListAppend(first, second):
                return ListAppend(self.update_operand(first), self.update_operand(second))
        return operand

    def set_value(self, value: SetValue) -> SetValue:
        if isinstance(value, Arithmetic):
            return Arithmetic(
                value.op, self.update_operand(value.left), self.update_operand(value.right)
            )
        return self.update_operand(value)

    def update(self, node: UpdateExpression) -> UpdateExpression:
        return UpdateExpression(
            set=tuple(SetAction(self.path(a.path), self.set_value(a.value)) for a in node.set),
            remove=tuple(self.path(p) for p in node.remove),
            add=tuple(AddAction(self.path(a.path), self.update_operand(a.value)) for a in node.add),
            delete=tuple(
                DeleteAction(self.path(a.path), self.update_operand(a.value)) for a in node.delete
            ),
            written=tuple(self.path(p) for p in node.written),
        )


# -- checks on resolved trees ------------------------------------------------------------


def check_paths(kind: str, paths: tuple[Path, ...]) -> None:
    """DynamoDB rejects two paths where one contains the other, or that disagree on
    whether an element is a map key or a list index."""
    seen: list[Path] = []
    for path in paths:
        for earlier in seen:
            _check_pair(kind, earlier, path)
        seen.append(path)


def _check_pair(kind: str, one: Path, two: Path) -> None:
    for left, right in zip(one.elements, two.elements):
        if isinstance(left, int) != isinstance(right, int):
            raise msg.invalid(
                kind,
                "Two document paths conflict with each other; must remove or rewrite one of "
                f"these paths; path one: {one}, path two: {two}",
            )
        if left != right:
            return
    raise msg.invalid(
        kind,
        "Two document paths overlap with each other; must remove or rewrite one of these "
        f"paths; path one: {one}, path two: {two}",
    )


def _literal_type(operand: Any) -> str | None:
    return msg.type_of(operand.value) if isinstance(operand, Literal) else None


def check_condition(kind: str, node: Condition) -> None:
    """Distinct-operand checks first, then operand types, as DynamoDB orders them."""
    distinct = _first_distinct_error(node)
    if distinct is not None:
        raise msg.invalid(kind, distinct)
    _check_types(kind, node)


def _first_distinct_error(node: Condition) -> str | None:
    pairs: list[tuple[str, Any, Any]] = []
    match node:
        case And(left, right) | Or(left, right):
            return _first_distinct_error(left) or _first_distinct_error(right)
        case Not(inner):
            return _first_distinct_error(inner)
        case Compare(op, left, right):
            pairs.append((op, left, right))
        case BeginsWith(operand, prefix):
            pairs.append(("begins_with", operand, prefix))
        case Contains(operand, member):
            pairs.append(("contains", operand, member))
        case AttributeType(path, type_operand):
            pairs.append(("attribute_type", path, type_operand))
    for name, left, right in pairs:
        if isinstance(left, Path) and left == right:
            return (
                "The first operand must be distinct from the remaining operands for this "
                f"operator or function; operator: {name}, first operand: {left}"
            )
    return None


def _check_types(kind: str, node: Condition) -> None:
    match node:
        case And(left, right) | Or(left, right):
            _check_types(kind, left)
            _check_types(kind, right)
        case Not(inner):
            _check_types(kind, inner)
        case Compare(_, left, right):
            _check_operand(kind, left)
            _check_operand(kind, right)
        case In(operand, options):
            for each in (operand, *options):
                _check_operand(kind, each)
        case Between(operand, low, high):
            for each in (operand, low, high):
                _check_operand(kind, each)
            _check_between(kind, low, high)
        case BeginsWith(operand, prefix):
            for each in (operand, prefix):
                tag = _literal_type(each)
                if tag is not None and tag not in ("S", "B"):
                    raise msg.invalid(kind, msg.operand_type("begins_with", tag))
                _check_operand(kind, each)
        case Contains(operand, member):
            _check_operand(kind, operand)
            _check_operand(kind, member)
        case AttributeType(_, type_operand):
            tag = _literal_type(type_operand)
            if tag != "S":
                shown = tag if tag is not None else "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"
                raise msg.invalid(kind, msg.operand_type("attribute_type", shown))
            assert isinstance(type_operand, Literal)
            type_name = type_operand.value["S"]
            if type_name not in ATTRIBUTE_TYPE_NAMES:
                raise msg.invalid(
                    kind,
                    f"Invalid attribute type name found; type: {type_name}, "
                    "valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}",
                )


def _check_operand(kind: str, operand: Operand) -> None:
    if isinstance(operand, Size):
        tag = _literal_type(operand.operand)
        if tag in ("N", "BOOL", "NULL"):
            raise msg.invalid(kind, msg.operand_type("size", str(tag)))


def _check_between(kind: str, low: Operand, high: Operand) -> None:
    if not (isinstance(low, Literal) and isinstance(high, Literal)):
        return
    low_tag, high_tag = msg.type_of(low.value), msg.type_of(high.value)
    bounds = (
        f"lower bound operand: {msg.value_text(low.value)}, "
        f"upper bound operand: {msg.value_text(high.value)}"
    )
    if low_tag != high_tag:
        raise msg.invalid(
            kind,
            "The BETWEEN operator requires same data type for lower and upper bounds; " + bounds,
        )
    order = compare_values(low.value, high.value)
    if order is not None and order > 0:
        raise msg.invalid(
            kind,
            "The BETWEEN operator requires upper bound to be greater than or equal to lower "
            "bound; " + bounds,
        )


def check_update(node: UpdateExpression) -> None:
    """Overlap/conflict of paths, then ADD/DELETE operand types, then function operands."""
    kind = msg.UPDATE
    check_paths(kind, node.written)
    actions: list[AddAction | DeleteAction] = [*node.add, *node.delete]
    for action in actions:
        operator = "ADD" if isinstance(action, AddAction) else "DELETE"
        tag = _literal_type(action.value)
        scalar = tag in ("S", "N", "B", "NULL", "BOOL", "L", "M")
        if scalar and not (operator == "ADD" and tag == "N"):
            assert tag is not None
            raise msg.invalid(
                kind,
                "Incorrect operand type for operator or function; "
                f"operator: {operator}, operand type: {msg.TYPE_WORDS[tag]}",
            )
    for set_action in node.set:
        _check_set_value(set_action.value)


def _check_set_value(value: SetValue | UpdateOperand) -> None:
    match value:
        case Arithmetic(op, left, right):
            for each in (left, right):
                tag = _literal_type(each)
                if tag is not None and tag != "N":
                    raise msg.invalid(msg.UPDATE, msg.operand_type(op, tag))
                _check_set_value(each)
        case ListAppend(first, second):
            for each in (first, second):
                tag = _literal_type(each)
                if tag is not None and tag != "L":
                    raise msg.invalid(msg.UPDATE, msg.operand_type("list_append", tag))
                _check_set_value(each)
        case IfNotExists(_, default):
            _check_set_value(default)


def error_with_prefix(prefix: str, error: ValidationException) -> ValidationException:
    return ValidationException(prefix + error.message)
