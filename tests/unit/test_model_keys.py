"""Tests for quorumdb.model.keys: key validation and order-preserving key encoding."""

from __future__ import annotations

import base64
import subprocess
import sys
from decimal import Context, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorumdb.errors import ValidationException
from quorumdb.model.keys import (
    KEY_MISMATCH_MESSAGE,
    PARTITION_KEY_TOO_LONG_MESSAGE,
    SORT_KEY_TOO_LONG_MESSAGE,
    KeySchema,
    encode_sort_value,
    encode_storage_key,
    encode_value,
    extract_key,
    hash64,
    partition_prefix,
    validate_item_key,
    validate_key,
)
from quorumdb.model.numbers import normalize_number
from quorumdb.model.values import compare_values

HASH_ONLY = KeySchema("pk", "S")
COMPOSITE = KeySchema("pk", "S", "sk", "N")
BINARY_SORT = KeySchema("pk", "N", "sk", "B")


def message(call: Any, *args: Any) -> str:
    with pytest.raises(ValidationException) as info:
        call(*args)
    return info.value.message


# --- schema and validation ------------------------------------------------------------


def test_key_names() -> None:
    assert HASH_ONLY.key_names == ("pk",)
    assert COMPOSITE.key_names == ("pk", "sk")


def test_validate_key_accepts_exact_keys() -> None:
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    assert validate_key(key, COMPOSITE) == key
    assert validate_key({"pk": {"S": "a"}}, HASH_ONLY) == {"pk": {"S": "a"}}


@pytest.mark.parametrize(
    ("key", "schema"),
    [
        ({}, HASH_ONLY),
        ({"pk": {"N": "1"}}, HASH_ONLY),
        ({"other": {"S": "a"}}, HASH_ONLY),
        ({"pk": {"S": "a"}, "x": {"S": "b"}}, HASH_ONLY),
        ({"pk": {"S": "a"}}, COMPOSITE),
        ({"pk": {"S": "a"}, "sk": {"S": "1"}}, COMPOSITE),
        ({"pk": {"S": "a"}, "other": {"N": "1"}}, COMPOSITE),
    ],
)
def test_validate_key_rejects_anything_but_the_schema(
    key: dict[str, Any], schema: KeySchema
) -> None:
    assert message(validate_key, key, schema) == KEY_MISMATCH_MESSAGE


def test_empty_key_values_are_refused_naming_the_key() -> None:
    assert message(validate_key, {"pk": {"S": ""}}, HASH_ONLY) == (
        "One or more parameter values are not valid. The AttributeValue for a key attribute "
        "cannot contain an empty string value. Key: pk"
    )
    assert message(validate_key, {"pk": {"N": "1"}, "sk": {"B": ""}}, BINARY_SORT) == (
        "One or more parameter values are not valid. The AttributeValue for a key attribute "
        "cannot contain an empty binary value. Key: sk"
    )
    assert message(
        validate_item_key, {"pk": {"S": "a"}, "sk": {"N": "1"}}, KeySchema("pk", "S", "sk", "S")
    ) == (
        "One or more parameter values were invalid: Type mismatch for key sk expected: S actual: N"
    )


def test_key_size_limits_are_exact_at_the_boundary() -> None:
    validate_key({"pk": {"S": "a" * 2048}}, HASH_ONLY)
    assert (
        message(validate_key, {"pk": {"S": "a" * 2049}}, HASH_ONLY)
        == PARTITION_KEY_TOO_LONG_MESSAGE
    )
    # UTF-8 bytes count, not characters: 683 three-byte characters are 2049 bytes.
    validate_key({"pk": {"S": "\u20ac" * 682 + "ab"}}, HASH_ONLY)
    assert (
        message(validate_key, {"pk": {"S": "\u20ac" * 683}}, HASH_ONLY)
        == PARTITION_KEY_TOO_LONG_MESSAGE
    )
    sort_ok = {"pk": {"N": "1"}, "sk": {"B": base64.b64encode(b"x" * 1024).decode()}}
    validate_key(sort_ok, BINARY_SORT)
    sort_long = {"pk": {"N": "1"}, "sk": {"B": base64.b64encode(b"x" * 1025).decode()}}
    assert message(validate_key, sort_long, BINARY_SORT) == SORT_KEY_TOO_LONG_MESSAGE
    assert message(validate_item_key, sort_long, BINARY_SORT) == SORT_KEY_TOO_LONG_MESSAGE
    assert PARTITION_KEY_TOO_LONG_MESSAGE.endswith("limit of2048 bytes")  # DynamoDB's typo


def test_validate_item_key_messages() -> None:
    assert message(validate_item_key, {"sk": {"N": "1"}}, COMPOSITE) == (
        "One or more parameter values were invalid: Missing the key pk in the item"
    )
    assert message(validate_item_key, {"pk": {"N": "1"}}, HASH_ONLY) == (
        "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"
    )
    assert message(validate_item_key, {"pk": {"S": ""}, "x": {"S": ""}}, HASH_ONLY).endswith(
        "Key: pk"
    )
    validate_item_key({"pk": {"S": "a"}, "sk": {"N": "2"}, "other": {"S": ""}}, COMPOSITE)


def test_extract_key() -> None:
    item = {"pk": {"S": "a"}, "sk": {"N": "2"}, "other": {"S": "x"}}
    assert extract_key(item, COMPOSITE) == {"pk": {"S": "a"}, "sk": {"N": "2"}}
    assert extract_key(item, HASH_ONLY) == {"pk": {"S": "a"}}


# --- encoding -------------------------------------------------------------------------


def test_hash64_is_stable_across_processes() -> None:
    # Python's hash() of str is salted per process; hash64 must not be.
    code = "from quorumdb.model.keys import hash64; print(hash64(b'abc').hex())"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == hash64(b"abc").hex()
    assert len(hash64(b"")) == 8


_WIDE = Context(prec=400)


def _storable(value: Decimal) -> bool:
    if value.is_zero():
        return True
    digits = value.normalize(_WIDE).as_tuple().digits
    return -130 <= value.adjusted() <= 125 and len(digits) <= 38


number_values = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False).filter(_storable),
    st.builds(
        lambda sign, digits, exponent: Decimal((sign, tuple(int(c) for c in digits), exponent)),
        st.integers(0, 1),
        st.text("0123456789", min_size=1, max_size=38),
        st.integers(-167, 88),
    ).filter(lambda d: d.is_zero() or -130 <= d.adjusted() <= 125),
).map(lambda d: {"N": normalize_number(format(d, "f"))})

# Few digits and exponents, so prefixes, equal values and sign flips are frequent.
dense_number_values = st.builds(
    lambda sign, digits, exponent: {
        "N": normalize_number(f"{'-' if sign else ''}{digits}e{exponent}")
    },
    st.booleans(),
    st.text("0159", min_size=1, max_size=6),
    st.integers(-3, 3),
)
number_values = st.one_of(number_values, dense_number_values)

string_values = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=("Cs",)),
    max_size=12,
).map(lambda s: {"S": s})
binary_values = st.binary(max_size=12).map(lambda b: {"B": base64.b64encode(b).decode()})
key_values = st.one_of(string_values, number_values, binary_values)


def same_type_pairs(
    strategy: st.SearchStrategy[dict[str, Any]],
) -> st.SearchStrategy[tuple[dict[str, Any], dict[str, Any]]]:
    return st.tuples(strategy, strategy)


@pytest.mark.parametrize(
    "strategy", [string_values, number_values, binary_values], ids=["S", "N", "B"]
)
def test_encoding_order_is_dynamodb_order(strategy: st.SearchStrategy[dict[str, Any]]) -> None:
    @given(strategy, strategy, st.binary(max_size=4), st.binary(max_size=4))
    def check(a: dict[str, Any], b: dict[str, Any], tail_a: bytes, tail_b: bytes) -> None:
        order = compare_values(a, b)
        encoded_a, encoded_b = encode_value(a), encode_value(b)
        assert ((encoded_a > encoded_b) - (encoded_a < encoded_b)) == order
        if order != 0:
            # Self-delimiting: appended bytes never change the order of distinct values.
            extended_a, extended_b = encoded_a + tail_a, encoded_b + tail_b
            assert ((extended_a > extended_b) - (extended_a < extended_b)) == order
            assert not encoded_b.startswith(encoded_a) and not encoded_a.startswith(encoded_b)

    check()


@pytest.mark.parametrize(
    "texts",
    [
        [
            "-1e125",
            "-10",
            "-9.99",
            "-1",
            "-0.5",
            "-1e-130",
            "0",
            "1e-130",
            "0.5",
            "1",
            "1.2",
            "1.23",
            "1.3",
            "9.99",
            "10",
            "12",
            "100",
            "1e125",
        ],
        [
            "-" + "9" * 38,
            "-1" + "0" * 37,
            "-1.01",
            "-1.001",
            "-1",
            "1",
            "1.001",
            "1.01",
            "1" + "0" * 37,
            "9" * 38,
        ],
    ],
)
def test_number_encoding_sorts_examples(texts: list[str]) -> None:
    encoded = [encode_value({"N": normalize_number(text)}) for text in texts]
    assert encoded == sorted(encoded)
    assert len(set(encoded)) == len(encoded)


def test_equal_numbers_encode_identically() -> None:
    assert encode_value({"N": "1.0"}) == encode_value({"N": "1"}) == encode_value({"N": "1e0"})
    assert encode_value({"N": "-0"}) == encode_value({"N": "0"})


def test_string_and_binary_escape_zero_bytes() -> None:
    assert encode_value({"S": "a"}) == b"a\x00\x00"
    assert encode_value({"S": "a\x00b"}) == b"a\x00\xffb\x00\x00"
    assert encode_value({"S": "a"}) < encode_value({"S": "a\x00"}) < encode_value({"S": "a\x01"})
    assert encode_value({"B": "AA=="}) == b"\x00\xff\x00\x00"


@given(string_values, string_values, number_values, number_values)
def test_storage_keys_of_one_partition_sort_by_sort_key(
    pk: dict[str, Any], other_pk: dict[str, Any], sk_a: dict[str, Any], sk_b: dict[str, Any]
) -> None:
    key_a = encode_storage_key(COMPOSITE, {"pk": pk, "sk": sk_a})
    key_b = encode_storage_key(COMPOSITE, {"pk": pk, "sk": sk_b})
    order = compare_values(sk_a, sk_b)
    assert ((key_a > key_b) - (key_a < key_b)) == order
    prefix = partition_prefix(COMPOSITE, pk)
    assert key_a.startswith(prefix) and key_b.startswith(prefix)
    assert key_a == prefix + encode_sort_value(sk_a)
    if compare_values(pk, other_pk) != 0:
        # Another partition's keys never fall under this partition's prefix.
        assert not encode_storage_key(COMPOSITE, {"pk": other_pk, "sk": sk_a}).startswith(prefix)


def test_hash_only_storage_key_is_the_partition_prefix() -> None:
    pk = {"S": "abc"}
    assert encode_storage_key(HASH_ONLY, {"pk": pk}) == partition_prefix(HASH_ONLY, pk)
    assert partition_prefix(HASH_ONLY, pk) == hash64(b"abc\x00\x00") + b"abc\x00\x00"


@given(st.lists(dense_number_values, min_size=2, max_size=30))
def test_sorting_by_encoding_sorts_numbers_by_value(values: list[dict[str, Any]]) -> None:
    by_encoding = sorted(values, key=encode_value)
    by_value = sorted(values, key=lambda value: Decimal(value["N"]))
    assert [Decimal(v["N"]) for v in by_encoding] == [Decimal(v["N"]) for v in by_value]


@given(
    st.lists(st.text(alphabet="\x00\x01ab\u00e9\U0001f600", max_size=5), min_size=2, max_size=30)
)
def test_sorting_by_encoding_sorts_strings_by_utf8(texts: list[str]) -> None:
    by_encoding = sorted(texts, key=lambda text: encode_value({"S": text}))
    assert by_encoding == sorted(texts, key=lambda text: text.encode("utf-8"))


@given(
    st.booleans(),
    st.text("0123456789", min_size=1, max_size=18).map(lambda d: "1" + d),
    st.text("0123456789", max_size=18).map(lambda d: d + "7"),
    st.integers(-100, 100),
)
def test_a_number_sorts_against_its_digit_extensions(
    negative: bool, head: str, tail: str, exponent: int
) -> None:
    # Same leading digits and magnitude, one strictly longer: the terminator decides.
    sign = "-" if negative else ""
    short = {"N": normalize_number(f"{sign}{head}e{exponent}")}
    long = {"N": normalize_number(f"{sign}{head}{tail}e{exponent - len(tail)}")}
    expected = compare_values(short, long)
    assert expected == (1 if negative else -1)
    left, right = encode_value(short), encode_value(long)
    assert ((left > right) - (left < right)) == expected
