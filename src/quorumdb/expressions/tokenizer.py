"""Tokenizer shared by the five expression grammars.

DynamoDB's expression languages share one lexical layer: bare names
(``[A-Za-z_][A-Za-z0-9_]*``), ``#name`` and ``:value`` placeholders, list indexes, and a
handful of punctuation marks. Keywords (AND, SET, ...) are not recognised here because
which words are keywords depends on the grammar (``SET`` is a keyword in an
UpdateExpression and a mere reserved name in a ConditionExpression); the parser decides.

A character that starts no token becomes an ``error`` token instead of raising, so the
parser reports it with DynamoDB's ``Syntax error; token: "<tok>", near: "<context>"``
shape at the position where the grammar first fails to accept it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NAME: Final = "name"
NAME_PLACEHOLDER: Final = "#name"
VALUE_PLACEHOLDER: Final = ":value"
INDEX: Final = "index"
PUNCT: Final = "punct"
ERROR: Final = "error"
EOF: Final = "eof"

_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_PART = _NAME_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_WHITESPACE = frozenset(" \t\r\n")
_TWO_CHAR = frozenset({"<>", "<=", ">="})
_ONE_CHAR = frozenset("()[],.=<>+-")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    start: int
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, always ending with one ``eof`` token."""
    tokens: list[Token] = []
    position = 0
    length = len(text)
    while position < length:
        char = text[position]
        if char in _WHITESPACE:
            position += 1
            continue
        start = position
        if char in _NAME_START:
            position += 1
            while position < length and text[position] in _NAME_PART:
                position += 1
            tokens.append(Token(NAME, text[start:position], start, position))
        elif char in "#:":
            position += 1
            while position < length and text[position] in _NAME_PART:
                position += 1
            kind = NAME_PLACEHOLDER if char == "#" else VALUE_PLACEHOLDER
            if position == start + 1:
                kind = ERROR
            tokens.append(Token(kind, text[start:position], start, position))
        elif char in _DIGITS:
            position += 1
            while position < length and text[position] in _DIGITS:
                position += 1
            tokens.append(Token(INDEX, text[start:position], start, position))
        elif text[start : start + 2] in _TWO_CHAR:
            position += 2
            tokens.append(Token(PUNCT, text[start:position], start, position))
        elif char in _ONE_CHAR:
            position += 1
            tokens.append(Token(PUNCT, char, start, position))
        else:
            position += 1
            tokens.append(Token(ERROR, char, start, position))
    tokens.append(Token(EOF, "<EOF>", length, length))
    return tokens
