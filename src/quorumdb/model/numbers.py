"""DynamoDB numbers: parsing, canonical text, exact arithmetic and ordering.

Theory of operation
-------------------
A DynamoDB number is a decimal with at most 38 significant digits whose magnitude is
zero or lies in 1E-130 .. 9.9999999999999999999999999999999999999E+125 (Developer
Guide, "Supported data types and naming rules", Number). On the wire it is text; this
module owns the rules that turn untrusted text into the *canonical* text every other
layer stores and compares (``docs/internals.md``: an ``N`` is always normalised once
validated).

Canonical text is what DynamoDB answers with: plain notation, no exponent, no leading
zeros, no trailing fractional zeros, no ``+`` and no negative zero ("1.0" -> "1",
"1E-5" -> "0.00001", "-0" -> "0").

Validation never builds a ``Decimal`` from untrusted text before the magnitude is
known: ``Decimal`` refuses (and ``int`` refuses, past 4,300 digits) exponents that a
client can send in a few bytes, and an unbounded exponent would let one request
allocate a number with billions of digits. We split the text with one compiled regex
and reason about digits and the decimal exponent as strings and small ints.

The checks run in the order DynamoDB reports them (overflow, underflow, then
precision), and the messages are DynamoDB's own, as found in dynalite's validator
(tested against live DynamoDB) and in captured responses quoted in public issues
(e.g. ExtendDB#94 for overflow on ``SET n = n + :v``).

Arithmetic (``add_numbers``/``subtract_numbers``) is exact: the operands are in range,
so an exact sum has at most ~300 digits and a local context of 400 digits never
rounds. A result that would need more than 38 significant digits is refused with the
precision error rather than silently rounded; see ``test_model_numbers.py``.

Pure: no I/O, no clocks, no global decimal context is touched.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal

from quorumdb.errors import ValidationException

MAX_SIGNIFICANT_DIGITS = 38
MAX_EXPONENT = 125  # largest decimal exponent of the most significant digit
MIN_EXPONENT = -130  # smallest decimal exponent of the most significant digit

NOT_A_NUMBER_MESSAGE = "The parameter cannot be converted to a numeric value"
TOO_MANY_DIGITS_MESSAGE = "Attempting to store more than 38 significant digits in a Number"
OVERFLOW_MESSAGE = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
UNDERFLOW_MESSAGE = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)

# ASCII digits only (``\d`` would accept Arabic-Indic digits, which Decimal also takes).
# Accepts what Java's BigDecimal accepts: optional sign, "5", "5.", ".5", "5.5", and
# an optional exponent. Rejects whitespace, "NaN", "Infinity", "0x10", "1_000".
_NUMBER_RE = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?", re.ASCII)

# An exponent with more digits than this is astronomically out of range whatever the
# mantissa (the mantissa itself is bounded by the request size, far below 10**9 chars).
_MAX_EXPONENT_DIGITS = 9

# Wide enough that any sum or difference of two in-range numbers is exact:
# 126 + 130 integer/fraction positions + 38 digits < 400.
_EXACT = Context(prec=400, Emax=10_000, Emin=-10_000)


def _not_a_number(text: str) -> ValidationException:
    if not text:
        return ValidationException(NOT_A_NUMBER_MESSAGE)
    return ValidationException(f"{NOT_A_NUMBER_MESSAGE}: {text}")


def _split(text: str) -> tuple[bool, str, int]:
    """Return (negative, significant digits, adjusted exponent) of a valid number.

    ``significant digits`` has no leading or trailing zeros and is "" for zero; the
    adjusted exponent is the power of ten of its first digit (0 for zero). Raises
    DynamoDB's ValidationException for syntax, range and precision.
    """
    match = _NUMBER_RE.fullmatch(text)
    if match is None:
        raise _not_a_number(text)
    sign, integer, fraction, exponent_text = match.groups()
    fraction = fraction or ""
    if not integer and not fraction:  # "", ".", "+", "e5"
        raise _not_a_number(text)
    digits = integer + fraction
    stripped = digits.lstrip("0")
    if not stripped:
        return False, "", 0
    leading_zeros = len(digits) - len(stripped)
    significant = stripped.rstrip("0")
    if exponent_text:
        unsigned = exponent_text.lstrip("+-").lstrip("0")
        if len(unsigned) > _MAX_EXPONENT_DIGITS:
            raise ValidationException(
                UNDERFLOW_MESSAGE if exponent_text[0] == "-" else OVERFLOW_MESSAGE
            )
        exponent = int(unsigned or "0")
        if exponent_text[0] == "-":
            exponent = -exponent
    else:
        exponent = 0
    adjusted = exponent + len(integer) - 1 - leading_zeros
    if adjusted > MAX_EXPONENT:
        raise ValidationException(OVERFLOW_MESSAGE)
    if adjusted < MIN_EXPONENT:
        raise ValidationException(UNDERFLOW_MESSAGE)
    if len(significant) > MAX_SIGNIFICANT_DIGITS:
        raise ValidationException(TOO_MANY_DIGITS_MESSAGE)
    return sign == "-", significant, adjusted


def split_number(text: str) -> tuple[bool, str, int]:
    """Validate ``text``; return (negative, significant digits, adjusted exponent).

    The significant digits have no leading or trailing zeros ("" for zero); the
    adjusted exponent is the power of ten of the first of them. Key encoding and item
    sizing read numbers through this instead of building a Decimal.
    """
    if is_canonical_integer(text):
        negative = text[0] == "-"
        body = text[1:] if negative else text
        if body == "0":
            return False, "", 0
        return negative, body.rstrip("0"), len(body) - 1
    return _split(text)


def _plain(negative: bool, significant: str, adjusted: int) -> str:
    """Canonical plain-notation text for the parts ``_split`` returns."""
    if not significant:
        return "0"
    count = len(significant)
    if adjusted >= count - 1:
        text = significant + "0" * (adjusted - count + 1)
    elif adjusted >= 0:
        text = f"{significant[: adjusted + 1]}.{significant[adjusted + 1 :]}"
    else:
        text = "0." + "0" * (-adjusted - 1) + significant
    return "-" + text if negative else text


def is_canonical_integer(text: str) -> bool:
    """Fast path: a plain integer of at most 38 digits without a leading zero."""
    body = text[1:] if text[:1] == "-" else text
    return (
        0 < len(body) <= MAX_SIGNIFICANT_DIGITS
        and body.isascii()
        and body.isdigit()
        and (body[0] != "0" or body == text == "0")
    )


def parse_number(text: str) -> Decimal:
    """Validate ``text`` by DynamoDB's rules and return its exact value."""
    negative, significant, adjusted = _split(text)
    if not significant:
        return Decimal(0)
    exponent = adjusted - len(significant) + 1
    return Decimal(f"{'-' if negative else ''}{significant}E{exponent}")


def normalize_number(text: str) -> str:
    """Validate ``text`` and return the canonical text DynamoDB would answer with."""
    if is_canonical_integer(text):
        return text
    return _plain(*_split(text))


def format_number(value: Decimal) -> str:
    """Canonical text of a finite Decimal (no range check; see ``check_range``)."""
    assert value.is_finite(), value
    if not value:
        return "0"
    text = format(value, "f")  # exact plain notation, independent of any context
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def check_range(value: Decimal) -> Decimal:
    """Raise DynamoDB's error if ``value`` cannot be stored as a Number; return it."""
    if not value:
        return value
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int), value
    adjusted = exponent + len(digits) - 1
    if adjusted > MAX_EXPONENT:
        raise ValidationException(OVERFLOW_MESSAGE)
    if adjusted < MIN_EXPONENT:
        raise ValidationException(UNDERFLOW_MESSAGE)
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if len(digits) - trailing > MAX_SIGNIFICANT_DIGITS:
        raise ValidationException(TOO_MANY_DIGITS_MESSAGE)
    return value


def add_numbers(a: str, b: str) -> str:
    """Exact ``a + b`` as canonical text; out-of-range or >38-digit results raise."""
    return format_number(check_range(_EXACT.add(parse_number(a), parse_number(b))))


def subtract_numbers(a: str, b: str) -> str:
    """Exact ``a - b`` as canonical text; out-of-range or >38-digit results raise."""
    return format_number(check_range(_EXACT.subtract(parse_number(a), parse_number(b))))


def compare_numbers(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is less than, equal to or greater than ``b`` numerically."""
    if a == b:
        return 0
    left, right = parse_number(a), parse_number(b)
    return (left > right) - (left < right)
