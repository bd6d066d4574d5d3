"""The expression trees: frozen dataclasses shared by parser, evaluator and legacy layer.

One set of node types serves two phases:

* *raw* trees come out of the parser and are cached by expression text: paths may hold
  ``#name`` placeholders (a path element starting with ``#`` is a placeholder in this
  phase only) and values are ``ValueRef(":v")``;
* *resolved* trees come out of ``prepare`` (or ``legacy``): every path element is the
  real attribute name or a list index, and every value is a ``Literal`` holding a
  validated wire-form AttributeValue.

Evaluators only ever see resolved trees, so they never look names up per item. The
legacy parameters (Expected, ScanFilter, AttributeUpdates, ...) are converted straight
into resolved trees, which is why one evaluator serves both APIs.

Shapes (resolved):

* condition: ``Compare(op, left, right)`` with op in ``= <> < <= > >=``,
  ``Between(operand, low, high)``, ``In(operand, options)``, ``And``, ``Or``, ``Not``,
  ``AttributeExists(path)``, ``AttributeNotExists(path)``, ``AttributeType(path, type)``,
  ``BeginsWith(operand, prefix)``, ``Contains(operand, member)``;
* operand: ``Path``, ``Literal``, ``Size(operand)``;
* update: ``UpdateExpression(set, remove, add, delete)`` of ``SetAction(path, value)``,
  ``Path``, ``AddAction(path, value)``, ``DeleteAction(path, value)``; a SET value is an
  update operand or ``Arithmetic(op, left, right)``; an update operand is ``Path``,
  ``Literal``, ``IfNotExists(path, default)`` or ``ListAppend(first, second)``;
* projection: ``tuple[Path, ...]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]
PathElement = str | int


@dataclass(frozen=True, slots=True)
class Path:
    """A document path: attribute names (str) and list indexes (int), outermost first."""

    elements: tuple[PathElement, ...]

    def __str__(self) -> str:
        # DynamoDB's rendering in error messages: [a, b, [3]]
        parts = [
            f"[{element}]" if isinstance(element, int) else element for element in self.elements
        ]
        return "[" + ", ".join(parts) + "]"


@dataclass(frozen=True, slots=True)
class ValueRef:
    """A ``:name`` placeholder (raw trees only)."""

    name: str


@dataclass(frozen=True, slots=True)
class Literal:
    """A validated AttributeValue (resolved trees only)."""

    value: AttributeValue


@dataclass(frozen=True, slots=True)
class Size:
    operand: Operand


Operand = Path | ValueRef | Literal | Size


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    operand: Operand
    options: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class And:
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Or:
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


@dataclass(frozen=True, slots=True)
class AttributeExists:
    path: Path


@dataclass(frozen=True, slots=True)
class AttributeNotExists:
    path: Path


@dataclass(frozen=True, slots=True)
class AttributeType:
    path: Operand
    type: Operand


@dataclass(frozen=True, slots=True)
class BeginsWith:
    operand: Operand
    prefix: Operand


@dataclass(frozen=True, slots=True)
class Contains:
    operand: Operand
    member: Operand


Condition = (
    Compare
    | Between
    | In
    | And
    | Or
    | Not
    | AttributeExists
    | AttributeNotExists
    | AttributeType
    | BeginsWith
    | Contains
)


@dataclass(frozen=True, slots=True)
class IfNotExists:
    path: Path
    default: UpdateOperand


@dataclass(frozen=True, slots=True)
class ListAppend:
    first: UpdateOperand
    second: UpdateOperand


UpdateOperand = Path | ValueRef | Literal | IfNotExists | ListAppend


@dataclass(frozen=True, slots=True)
class Arithmetic:
    op: str  # "+" or "-"
    left: UpdateOperand
    right: UpdateOperand


SetValue = UpdateOperand | Arithmetic


@dataclass(frozen=True, slots=True)
class SetAction:
    path: Path
    value: SetValue


@dataclass(frozen=True, slots=True)
class AddAction:
    path: Path
    value: UpdateOperand


@dataclass(frozen=True, slots=True)
class DeleteAction:
    path: Path
    value: UpdateOperand


@dataclass(frozen=True, slots=True)
class UpdateExpression:
    set: tuple[SetAction, ...] = ()
    remove: tuple[Path, ...] = ()
    add: tuple[AddAction, ...] = ()
    delete: tuple[DeleteAction, ...] = ()
    # Every action path in the order written; DynamoDB reports overlaps in that order.
    written: tuple[Path, ...] = ()

    def paths(self) -> tuple[Path, ...]:
        """Every path the update writes, in SET, REMOVE, ADD, DELETE order."""
        return (
            tuple(action.path for action in self.set)
            + self.remove
            + tuple(action.path for action in self.add)
            + tuple(action.path for action in self.delete)
        )


@dataclass(frozen=True, slots=True)
class SortKeyCondition:
    """The sort-key half of a key condition: op in EQ LT LE GT GE BETWEEN BEGINS_WITH."""

    name: str
    op: str
    values: tuple[AttributeValue, ...]


@dataclass(frozen=True, slots=True)
class KeyCondition:
    """A validated Query key condition: the partition value and an optional sort condition."""

    hash_name: str
    hash_value: AttributeValue
    sort: SortKeyCondition | None = None


def condition_paths(node: object) -> list[Path]:
    """Every document path a (resolved) condition tree reads, in tree order; used for
    checks such as "a Query filter may not name a key attribute"."""
    found: list[Path] = []
    stack: list[object] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Path):
            found.append(current)
        elif isinstance(current, tuple):
            stack.extend(reversed(current))
        elif hasattr(current, "__dataclass_fields__") and not isinstance(current, Literal):
            stack.extend(reversed([getattr(current, name)
                                   for name in current.__dataclass_fields__]))
    return found
