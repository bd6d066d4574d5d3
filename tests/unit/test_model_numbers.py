"""Tests for quorumdb.model.numbers: DynamoDB's number rules and canonical text."""

from __future__ import annotations

from decimal import Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorumdb.errors import ValidationException
from quorumdb.model.numbers import (
    NOT_A_NUMBER_MESSAGE,
    OVERFLOW_MESSAGE,
    TOO_MANY_DIGITS_MESSAGE,
    UNDERFLOW_MESSAGE,
    add_numbers,
    compare_numbers,
    format_number,
    normalize_number,
    parse_number,
    subtract_numbers,
)

MAX = "9.9999999999999999999999999999999999999E+125"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0", "0"),
        ("-0", "0"),
        ("+0", "0"),
        ("0.000", "0"),
        ("-0.0e10", "0"),
        ("00", "0"),
        ("1", "1"),
        ("-17", "-17"),
        ("01", "1"),
        ("+5", "5"),
        ("1.0", "1"),
        ("0.10", "0.1"),
        ("1e2", "100"),
        ("1E+2", "100"),
        ("1E-5", "0.00001"),
        ("-1.5e-3", "-0.0015"),
        ("5.", "5"),
        (".5", "0.5"),
        ("-.5", "-0.5"),
        ("123.456e1", "1234.56"),
        ("123.456e3", "123456"),
        ("123.456e-3", "0.123456"),
        ("1e125", "1" + "0" * 125),
        ("1E-130", "0." + "0" * 129 + "1"),
        ("1" + "0" * 100, "1" + "0" * 100),  # 101 digits, one significant
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ("1.2345678901234567890123456789012345678", "1.2345678901234567890123456789012345678"),
        ("0.000" + "9" * 38, "0.000" + "9" * 38),
        ("1e0000000000000000000000000005", "100000"),
        ("0e999999999999999999999", "0"),
    ],
)
def test_normalize_number_gives_dynamodb_canonical_text(text: str, canonical: str) -> None:
    assert normalize_number(text) == canonical
    assert parse_number(text) == Decimal(canonical)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        " 1",
        "1 ",
        "abc",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        ".",
        "+",
        "-",
        "e5",
        "1e",
        "1e+",
        "1.2.3",
        "--1",
        "+-1",
        "0x10",
        "1_000",
        "١٢",
        "1,5",
        "1e5.5",
        "٣",
    ],
)
def test_bad_syntax_is_refused_with_dynamodb_message(text: str) -> None:
    with pytest.raises(ValidationException) as info:
        parse_number(text)
    expected = NOT_A_NUMBER_MESSAGE if not text else f"{NOT_A_NUMBER_MESSAGE}: {text}"
    assert info.value.message == expected
    with pytest.raises(ValidationException):
        normalize_number(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("123456789012345678901234567890123456789", TOO_MANY_DIGITS_MESSAGE),
        ("-1.23456789012345678901234567890123456789", TOO_MANY_DIGITS_MESSAGE),
        ("1.00000000000000000000000000000000000001", TOO_MANY_DIGITS_MESSAGE),
        ("1e126", OVERFLOW_MESSAGE),
        ("-1e126", OVERFLOW_MESSAGE),
        ("10e125", OVERFLOW_MESSAGE),
        ("1e999999999999999999999999", OVERFLOW_MESSAGE),
        ("1e-131", UNDERFLOW_MESSAGE),
        ("-1e-131", UNDERFLOW_MESSAGE),
        ("0.1e-130", UNDERFLOW_MESSAGE),
        ("1e-999999999999999999999999", UNDERFLOW_MESSAGE),
        # Overflow is reported before precision, as DynamoDB does.
        ("1" * 39 + "e200", OVERFLOW_MESSAGE),
    ],
)
def test_out_of_range_and_too_precise_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValidationException) as info:
        normalize_number(text)
    assert info.value.message == message
    assert info.value.type_name == "ValidationException"


def test_range_edges_are_accepted() -> None:
    assert normalize_number(MAX) == "9" * 38 + "0" * 88
    assert normalize_number("-" + MAX) == "-" + "9" * 38 + "0" * 88
    assert normalize_number("1e-130") == "0." + "0" * 129 + "1"
    assert normalize_number("1" + "0" * 125) == "1" + "0" * 125


def test_trailing_and_leading_zeros_do_not_count_as_significant() -> None:
    assert normalize_number("000" + "1" * 38 + "000") == "1" * 38 + "000"
    assert normalize_number("0.000" + "1" * 38 + "000") == "0.000" + "1" * 38


def test_fast_path_returns_the_same_object_for_canonical_integers() -> None:
    text = "123456789"
    assert normalize_number(text) is text


# Finite decimals inside DynamoDB's range.
in_range_decimals = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(int(c) for c in digits), exponent)),
    st.integers(0, 1),
    st.text("0123456789", min_size=1, max_size=38).filter(lambda s: s.strip("0") != ""),
    st.integers(-130, 88),
).filter(lambda d: -130 <= d.adjusted() <= 125)


@given(in_range_decimals)
def test_canonical_text_round_trips_and_is_stable(value: Decimal) -> None:
    for text in (str(value), format(value, "f"), format(value, "e")):
        canonical = normalize_number(text)
        assert Decimal(canonical) == value
        assert normalize_number(canonical) == canonical
        assert "e" not in canonical and "E" not in canonical
        assert canonical == format_number(value)
        if "." in canonical:
            assert not canonical.endswith("0")


@given(in_range_decimals, in_range_decimals)
def test_compare_numbers_matches_decimal_order(a: Decimal, b: Decimal) -> None:
    expected = (a > b) - (a < b)
    assert compare_numbers(normalize_number(str(a)), normalize_number(str(b))) == expected
    assert compare_numbers(str(a), format(b, "f")) == expected


def test_compare_numbers_examples() -> None:
    assert compare_numbers("1", "1.0") == 0
    assert compare_numbers("-1", "0") == -1
    assert compare_numbers("10", "9") == 1
    assert compare_numbers("0.001", "0.01") == -1


def test_format_number() -> None:
    assert format_number(Decimal("-0")) == "0"
    assert format_number(Decimal("1.500")) == "1.5"
    assert format_number(Decimal("1E+5")) == "100000"
    assert format_number(Decimal("-1E-3")) == "-0.001"
    assert format_number(Decimal("100")) == "100"


def test_add_and_subtract_are_exact() -> None:
    assert add_numbers("0.1", "0.2") == "0.3"
    assert subtract_numbers("0.3", "0.1") == "0.2"
    assert (
        subtract_numbers("100000000000000000000.00000001", "1") == "99999999999999999999.00000001"
    )
    assert add_numbers("1", "-1") == "0"
    assert add_numbers("1e125", "-1e125") == "0"
    big = "9" * 38
    assert add_numbers(big, "1") == "1" + "0" * 38
    # 28-digit default contexts would round this; we must not.
    assert add_numbers("1234567890123456789012345678901234567", "1") == (
        "1234567890123456789012345678901234568"
    )


def test_add_overflowing_the_range_raises_overflow() -> None:
    # Captured from DynamoDB in ExtendDB#94: SET n = n + :v past the maximum.
    with pytest.raises(ValidationException) as info:
        add_numbers(MAX, "1E+125")
    assert info.value.message == OVERFLOW_MESSAGE
    with pytest.raises(ValidationException) as info:
        subtract_numbers("-" + MAX, "1E+125")
    assert info.value.message == OVERFLOW_MESSAGE


def test_subtract_underflowing_the_range_raises_underflow() -> None:
    with pytest.raises(ValidationException) as info:
        subtract_numbers("1.1e-130", "1e-130")
    assert info.value.message == UNDERFLOW_MESSAGE


def test_add_needing_more_than_38_digits_raises_precision_error_not_rounding() -> None:
    # Guessed, not verified against DynamoDB: we refuse rather than round silently,
    # with the message DynamoDB gives for storing such a number directly.
    with pytest.raises(ValidationException) as info:
        add_numbers("1e100", "1")
    assert info.value.message == TOO_MANY_DIGITS_MESSAGE


def test_arithmetic_validates_operands() -> None:
    with pytest.raises(ValidationException):
        add_numbers("abc", "1")
    with pytest.raises(ValidationException):
        subtract_numbers("1", "1e200")


@given(in_range_decimals, in_range_decimals)
def test_add_matches_exact_decimal_arithmetic(a: Decimal, b: Decimal) -> None:
    exact = Context(prec=1000).add(a, b)
    try:
        result = add_numbers(str(a), str(b))
    except ValidationException:
        digits = exact.normalize(Context(prec=1000)).as_tuple().digits
        assert exact and (len(digits) > 38 or not -130 <= exact.adjusted() <= 125)
    else:
        assert Decimal(result) == exact
