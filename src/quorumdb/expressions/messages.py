"""DynamoDB's validation messages for expressions, built in one place.

Every expression error DynamoDB reports is a ``ValidationException`` whose message is
``Invalid <Kind>: <detail>`` where Kind is the request parameter (``ConditionExpression``,
``UpdateExpression``, ...). Keeping the builders here keeps the wording consistent and
lets tests pin it. Which messages were checked against public sources and which are
best guesses is recorded in the package docstring.
"""

from __future__ import annotations

from typing import Final

from quorumdb.errors import ValidationException

from .ast import AttributeValue

CONDITION: Final = "ConditionExpression"
FILTER: Final = "FilterExpression"
KEY_CONDITION: Final = "KeyConditionExpression"
UPDATE: Final = "UpdateExpression"
PROJECTION: Final = "ProjectionExpression"

MAX_EXPRESSION_BYTES: Final = 4096  # DynamoDB: expression strings up to 4 KB
MAX_PATH_DEPTH: Final = 32  # DynamoDB: document paths nest at most 32 levels
MAX_IN_OPERANDS: Final = 100  # DynamoDB: IN takes at most 100 values

INVALID_PARAMETER: Final = "One or more parameter values were invalid: "

# Long names DynamoDB uses for value types in update-operator errors.
TYPE_WORDS: Final = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "NULL": "NULL",
    "BOOL": "BOOLEAN",
    "L": "LIST",
    "M": "MAP",
    "SS": "STRING SET",
    "NS": "NUMBER SET",
    "BS": "BINARY SET",
}


def invalid(kind: str, detail: str) -> ValidationException:
    return ValidationException(f"Invalid {kind}: {detail}")


def type_of(value: AttributeValue) -> str:
    """The wire type tag of a validated AttributeValue (exactly one key)."""
    return next(iter(value))


def value_text(value: AttributeValue) -> str:
    """DynamoDB's ``AttributeValue: {N:5}`` rendering used in BETWEEN errors."""
    tag = type_of(value)
    return f"AttributeValue: {{{tag}:{value[tag]}}}"


def operand_type(function: str, tag: str) -> str:
    return (
        "Incorrect operand type for operator or function; "
        f"operator or function: {function}, operand type: {tag}"
    )


def operand_count(function: str, count: int) -> str:
    return (
        "Incorrect number of operands for operator or function; "
        f"operator or function: {function}, number of operands: {count}"
    )


def requires_path(function: str) -> str:
    return f"Operator or function requires a document path; operator or function: {function}"


def misused_function(function: str) -> str:
    return f"The function is not allowed to be used this way in an expression; function: {function}"


def unknown_function(function: str) -> str:
    return f"Invalid function name; function: {function}"


def reserved(word: str) -> str:
    return f"Attribute name is a reserved keyword; reserved keyword: {word}"


def undefined_name(name: str) -> str:
    return f"An expression attribute name used in the document path is not defined; attribute name: {name}"


def undefined_value(name: str) -> str:
    return (
        f"An expression attribute value used in expression is not defined; attribute value: {name}"
    )
