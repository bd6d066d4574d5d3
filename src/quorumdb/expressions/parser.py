"""Recursive-descent parsers for the three expression grammars, cached by text.

``parse(kind, text)`` returns a *raw* tree (see ``ast``): placeholders are not resolved,
so the result depends on the text alone and is cached in a bounded LRU keyed by
``(kind, text)``. ConditionExpression, FilterExpression and KeyConditionExpression share
the condition grammar; UpdateExpression and ProjectionExpression have their own.

Precedence in conditions, tightest first, as the Developer Guide lists it:
comparators, IN, BETWEEN, functions, NOT, AND, OR; parentheses override.

Errors follow DynamoDB's two-stage reporting: a syntax error stops at the furthest token
the grammar could not accept (``Syntax error; token: "<tok>", near: "<context>"``);
otherwise semantic problems found while parsing are collected per category and the
highest-priority one is raised, in the order DynamoDB (as reproduced by dynalite) uses:
redundant parentheses, unknown function, misused function, reserved word, then operand
checks. Checks that need ExpressionAttributeNames/Values (undefined placeholders, types
of values, overlapping paths) happen later, in ``prepare``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from . import messages as msg
from .ast import (
    AddAction,
    And,
    Arithmetic,
    AttributeExists,
    AttributeNotExists,
    AttributeType,
    BeginsWith,
    Between,
    Compare,
    Condition,
    Contains,
    DeleteAction,
    IfNotExists,
    In,
    ListAppend,
    Not,
    Operand,
    Or,
    Path,
    PathElement,
    SetAction,
    SetValue,
    Size,
    UpdateExpression,
    UpdateOperand,
    ValueRef,
)
from .reserved import is_reserved
from .tokenizer import (
    EOF,
    INDEX,
    NAME,
    NAME_PLACEHOLDER,
    PUNCT,
    VALUE_PLACEHOLDER,
    Token,
    tokenize,
)

ParseResult = Condition | UpdateExpression | tuple[Path, ...]

CONDITION_KEYWORDS: Final = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})
UPDATE_KEYWORDS: Final = frozenset({"SET", "REMOVE", "ADD", "DELETE"})
COMPARATORS: Final = frozenset({"=", "<>", "<", "<=", ">", ">="})
CONDITION_FUNCTIONS: Final = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
    "size": 1,
}
UPDATE_FUNCTIONS: Final = {"if_not_exists": 2, "list_append": 2}

# Category order in which collected semantic errors are reported.
_CONDITION_ORDER: Final = ("parens", "function", "misused", "reserved", "operand")
_UPDATE_ORDER: Final = ("reserved", "function", "section", "operand")


class _Fail(Exception):
    """Internal: the grammar could not accept the token at ``index``."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


@dataclass(frozen=True, slots=True)
class _Call:
    """A function call before it is known where it stands (parse-time only)."""

    name: str
    args: tuple[Operand | _Call, ...]


def parse(kind: str, text: str) -> ParseResult:
    """Parse ``text`` as the expression parameter ``kind``; raises ValidationException."""
    return _parse_cached(kind, text)


@lru_cache(maxsize=4096)
def _parse_cached(kind: str, text: str) -> ParseResult:
    if text == "":
        raise msg.invalid(kind, "The expression can not be empty;")
    size_bytes = len(text.encode("utf-8"))
    if size_bytes > msg.MAX_EXPRESSION_BYTES:
        raise msg.invalid(
            kind,
            f"Expression size has exceeded the maximum allowed size; expression size: {size_bytes}",
        )
    return _Parser(kind, text).run()


class _Parser:
    def __init__(self, kind: str, text: str) -> None:
        self.kind = kind
        self.text = text
        self.tokens = tokenize(text)
        self.position = 0
        self.furthest = 0
        self.errors: dict[str, str] = {}
        self.groups: dict[int, int] = {}  # index of "(" -> index of its ")"
        if kind == msg.UPDATE:
            self.keywords = UPDATE_KEYWORDS
        elif kind == msg.PROJECTION:
            self.keywords = frozenset()
        else:
            self.keywords = CONDITION_KEYWORDS

    # -- driver ---------------------------------------------------------------------

    def run(self) -> ParseResult:
        result: ParseResult
        try:
            if self.kind == msg.UPDATE:
                result = self.update()
            elif self.kind == msg.PROJECTION:
                result = self.projection()
            else:
                result = self.or_condition()
            if self.peek().kind != EOF:
                raise self.fail()
        except _Fail:
            raise self.syntax_error() from None
        order = _UPDATE_ORDER if self.kind == msg.UPDATE else _CONDITION_ORDER
        for category in order:
            if category in self.errors:
                raise msg.invalid(self.kind, self.errors[category])
        return result

    def syntax_error(self) -> Exception:
        index = min(self.furthest, len(self.tokens) - 1)
        token = self.tokens[index]
        previous = self.tokens[index - 1] if index > 0 else token
        following = token if token.kind == EOF else self.tokens[index + 1]
        near = self.text[previous.start : following.end]
        return msg.invalid(self.kind, f'Syntax error; token: "{token.text}", near: "{near}"')

    # -- token helpers --------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.position + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        if token.kind != EOF:
            self.position += 1
        return token

    def fail(self) -> _Fail:
        self.furthest = max(self.furthest, self.position)
        return _Fail(self.position)

    def at_punct(self, text: str) -> bool:
        token = self.peek()
        return token.kind == PUNCT and token.text == text

    def expect_punct(self, text: str) -> None:
        if not self.at_punct(text):
            raise self.fail()
        self.advance()

    def at_keyword(self, word: str) -> bool:
        token = self.peek()
        return token.kind == NAME and token.upper == word

    def expect_keyword(self, word: str) -> None:
        if not self.at_keyword(word):
            raise self.fail()
        self.advance()

    def note(self, category: str, text: str) -> None:
        self.errors.setdefault(category, text)

    # -- paths and operands ---------------------------------------------------------

    def path_name(self) -> str:
        token = self.peek()
        if token.kind == NAME_PLACEHOLDER:
            self.advance()
            return token.text
        if token.kind == NAME and token.upper not in self.keywords:
            self.advance()
            if is_reserved(token.text):
                self.note("reserved", msg.reserved(token.text))
            return token.text
        raise self.fail()

    def path(self) -> Path:
        elements: list[PathElement] = [self.path_name()]
        while True:
            if self.at_punct("."):
                self.advance()
                elements.append(self.path_name())
            elif self.at_punct("["):
                self.advance()
                token = self.peek()
                if token.kind != INDEX:
                    raise self.fail()
                self.advance()
                elements.append(int(token.text))
                self.expect_punct("]")
            else:
                break
        if len(elements) > msg.MAX_PATH_DEPTH:
            self.note(
                "operand",
                f"The document path has too many nesting levels; nesting levels: {len(elements)}",
            )
        return Path(tuple(elements))

    def operand(self) -> Operand | _Call:
        token = self.peek()
        if token.kind == VALUE_PLACEHOLDER:
            self.advance()
            return ValueRef(token.text)
        if token.kind == NAME and self.peek(1).kind == PUNCT and self.peek(1).text == "(":
            if token.upper in self.keywords:
                raise self.fail()
            self.advance()
            self.advance()
            args = [self.operand_parens()]
            while self.at_punct(","):
                self.advance()
                args.append(self.operand_parens())
            self.expect_punct(")")
            return _Call(token.text, tuple(args))
        return self.path()

    def operand_parens(self) -> Operand | _Call:
        if not self.at_punct("("):
            return self.operand()
        start = self.position
        self.advance()
        inner = self.operand_parens()
        self.expect_punct(")")
        self.groups[start] = self.position - 1
        if self.groups.get(start + 1) == self.position - 2:
            self.note("parens", "The expression has redundant parentheses;")
        return inner

    # -- conditions -----------------------------------------------------------------

    def or_condition(self) -> Condition:
        left = self.and_condition()
        while self.at_keyword("OR"):
            self.advance()
            left = Or(left, self.and_condition())
        return left

    def and_condition(self) -> Condition:
        left = self.not_condition()
        while self.at_keyword("AND"):
            self.advance()
            left = And(left, self.not_condition())
        return left

    def not_condition(self) -> Condition:
        if self.at_keyword("NOT"):
            self.advance()
            return Not(self.not_condition())
        return self.primary_condition()

    def primary_condition(self) -> Condition:
        if not self.at_punct("("):
            return self.comparison()
        start = self.position
        try:
            self.advance()
            inner = self.or_condition()
            self.expect_punct(")")
            if self.at_comparison():
                raise self.fail()
        except _Fail:
            saved_furthest = self.furthest
            self.position = start
            try:
                return self.comparison()
            except _Fail:
                self.furthest = max(self.furthest, saved_furthest)
                raise
        self.groups[start] = self.position - 1
        if self.groups.get(start + 1) == self.position - 2:
            self.note("parens", "The expression has redundant parentheses;")
        return inner

    def at_comparison(self) -> bool:
        token = self.peek()
        if token.kind == PUNCT:
            return token.text in COMPARATORS
        return token.kind == NAME and token.upper in ("BETWEEN", "IN")

    def comparison(self) -> Condition:
        left = self.operand_parens()
        token = self.peek()
        if token.kind == PUNCT and token.text in COMPARATORS:
            self.advance()
            right = self.operand_parens()
            return Compare(token.text, self.value_operand(left), self.value_operand(right))
        if self.at_keyword("BETWEEN"):
            self.advance()
            low = self.operand_parens()
            self.expect_keyword("AND")
            high = self.operand_parens()
            return Between(
                self.value_operand(left), self.value_operand(low), self.value_operand(high)
            )
        if self.at_keyword("IN"):
            self.advance()
            self.expect_punct("(")
            options = [self.operand_parens()]
            while self.at_punct(","):
                self.advance()
                options.append(self.operand_parens())
            self.expect_punct(")")
            if len(options) > msg.MAX_IN_OPERANDS:
                self.note(
                    "operand",
                    "The IN operator is provided with too many operands; "
                    f"number of operands: {len(options)}",
                )
            return In(self.value_operand(left), tuple(self.value_operand(o) for o in options))
        if isinstance(left, _Call):
            return self.boolean_function(left)
        raise self.fail()

    def value_operand(self, operand: Operand | _Call) -> Operand:
        """An operand in value position: only size() may appear there as a function."""
        if not isinstance(operand, _Call):
            return operand
        if operand.name == "size":
            self.check_function(operand)
            return Size(self.value_operand(operand.args[0]))
        if self.check_function(operand):
            self.note("misused", msg.misused_function(operand.name))
        return ValueRef(":")  # placeholder; an error has been recorded

    def check_function(self, call: _Call) -> bool:
        """Record name and arity errors; True when the name is a condition function."""
        if call.name in UPDATE_FUNCTIONS:
            self.note(
                "function",
                f"The function is not allowed in a condition expression; function: {call.name}",
            )
            return False
        arity = CONDITION_FUNCTIONS.get(call.name)
        if arity is None:
            self.note("function", msg.unknown_function(call.name))
            return False
        if len(call.args) != arity:
            self.note("operand", msg.operand_count(call.name, len(call.args)))
        return True

    def boolean_function(self, call: _Call) -> Condition:
        known = self.check_function(call)
        if known and call.name == "size":
            self.note("misused", msg.misused_function("size"))
        args = [self.value_operand(arg) for arg in call.args]
        while len(args) < 2:
            args.append(ValueRef(":"))
        first, second = args[0], args[1]
        if call.name in ("attribute_exists", "attribute_not_exists"):
            if not isinstance(first, Path):
                self.note("operand", msg.requires_path(call.name))
                first = Path(("",))
            if call.name == "attribute_exists":
                return AttributeExists(first)
            return AttributeNotExists(first)
        if call.name == "attribute_type":
            return AttributeType(first, second)
        if call.name == "begins_with":
            return BeginsWith(first, second)
        return Contains(first, second)

    # -- update ---------------------------------------------------------------------

    def update(self) -> UpdateExpression:
        sections: dict[str, list[object]] = {}
        written: list[Path] = []
        if self.peek().kind == EOF:
            raise self.fail()
        while self.peek().kind != EOF:
            token = self.peek()
            word = token.upper if token.kind == NAME else ""
            if word not in UPDATE_KEYWORDS:
                raise self.fail()
            self.advance()
            if word in sections:
                self.note(
                    "section",
                    f'The "{word}" section can only be used once in an update expression;',
                )
            actions = sections.setdefault(word, [])
            actions.append(self.update_action(word, written))
            while self.at_punct(","):
                self.advance()
                actions.append(self.update_action(word, written))
        return UpdateExpression(
            set=tuple(a for a in sections.get("SET", ()) if isinstance(a, SetAction)),
            remove=tuple(a for a in sections.get("REMOVE", ()) if isinstance(a, Path)),
            add=tuple(a for a in sections.get("ADD", ()) if isinstance(a, AddAction)),
            delete=tuple(a for a in sections.get("DELETE", ()) if isinstance(a, DeleteAction)),
            written=tuple(written),
        )

    def update_action(
        self, word: str, written: list[Path]
    ) -> SetAction | Path | AddAction | DeleteAction:
        path = self.path()
        written.append(path)
        if word == "SET":
            self.expect_punct("=")
            return SetAction(path, self.set_value_parens())
        if word == "REMOVE":
            return path
        token = self.peek()
        if token.kind != VALUE_PLACEHOLDER:
            raise self.fail()
        self.advance()
        if word == "ADD":
            return AddAction(path, ValueRef(token.text))
        return DeleteAction(path, ValueRef(token.text))

    def set_value_parens(self) -> SetValue:
        if self.at_punct("("):
            start = self.position
            try:
                self.advance()
                value = self.set_value()
                self.expect_punct(")")
                if not (self.at_punct("+") or self.at_punct("-")):
                    return value
            except _Fail:
                pass
            self.position = start
        return self.set_value()

    def set_value(self) -> SetValue:
        left = self.update_operand(self.operand_parens())
        if self.at_punct("+") or self.at_punct("-"):
            op = self.advance().text
            right = self.update_operand(self.operand_parens())
            return Arithmetic(op, left, right)
        return left

    def update_operand(self, operand: Operand | _Call) -> UpdateOperand:
        if isinstance(operand, Size):  # cannot happen: size() only appears as a _Call here
            raise AssertionError("size outside a condition")
        if not isinstance(operand, _Call):
            return operand
        name = operand.name
        if name in CONDITION_FUNCTIONS:
            self.note(
                "function", f"The function is not allowed in an update expression; function: {name}"
            )
            return ValueRef(":")
        arity = UPDATE_FUNCTIONS.get(name)
        if arity is None:
            self.note("function", msg.unknown_function(name))
            return ValueRef(":")
        if len(operand.args) != arity:
            self.note("operand", msg.operand_count(name, len(operand.args)))
            return ValueRef(":")
        first = self.update_operand(operand.args[0])
        second = self.update_operand(operand.args[1])
        if name == "if_not_exists":
            if not isinstance(first, Path):
                self.note("operand", msg.requires_path(name))
                return ValueRef(":")
            return IfNotExists(first, second)
        return ListAppend(first, second)

    # -- projection -----------------------------------------------------------------

    def projection(self) -> tuple[Path, ...]:
        paths = [self.path()]
        while self.at_punct(","):
            self.advance()
            paths.append(self.path())
        return tuple(paths)
