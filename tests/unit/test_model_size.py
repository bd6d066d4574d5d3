"""Tests for quorumdb.model.size: the Developer Guide's item-size arithmetic."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorumdb.model.size import MAX_ITEM_SIZE_BYTES, item_size, value_size


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": ""}, 0),
        ({"S": "abc"}, 3),
        ({"S": "\u00e9"}, 2),  # UTF-8 bytes, not characters
        ({"S": "\u20ac"}, 3),
        ({"S": "\U0001f600"}, 4),
        ({"B": ""}, 0),
        ({"B": "YWJj"}, 3),  # raw bytes, not base64 length
        ({"B": "YQ=="}, 1),
        ({"B": "YWI="}, 2),
        ({"N": "0"}, 1),
        ({"N": "1"}, 2),  # ceil(1 / 2) + 1
        ({"N": "12"}, 2),
        ({"N": "123"}, 3),
        ({"N": "1000000"}, 2),  # trailing zeros are trimmed
        ({"N": "0.001"}, 2),  # leading zeros are trimmed
        ({"N": "-12.34"}, 3),
        ({"N": "9" * 38}, 20),
        ({"N": "1.5E+3"}, 2),  # non-canonical text sizes like its canonical form
        ({"N": "-0"}, 1),
        ({"N": "0.000"}, 1),
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"L": []}, 3),
        ({"M": {}}, 3),
        ({"L": [{"S": "ab"}, {"N": "1"}]}, 3 + (1 + 2) + (1 + 2)),
        ({"M": {"ab": {"S": "xyz"}}}, 3 + 1 + 2 + 3),
        ({"M": {"a": {"L": [{"NULL": True}]}}}, 3 + 1 + 1 + (3 + 1 + 1)),
        ({"SS": ["a", "bc"]}, 3),
        ({"NS": ["1", "123"]}, 2 + 3),
        ({"BS": ["YQ==", "YWJj"]}, 4),
    ],
)
def test_value_size_follows_the_developer_guide(value: dict[str, Any], size: int) -> None:
    assert value_size(value) == size


def test_item_size_counts_attribute_names_in_utf8() -> None:
    assert item_size({}) == 0
    assert item_size({"pk": {"S": "abc"}, "n": {"N": "12"}}) == (2 + 3) + (1 + 2)
    assert item_size({"\u00e9": {"BOOL": False}}) == 2 + 1


def test_max_item_size_is_400_kib() -> None:
    assert MAX_ITEM_SIZE_BYTES == 409_600


@given(st.binary(max_size=200))
def test_binary_size_is_the_decoded_length(data: bytes) -> None:
    assert value_size({"B": base64.b64encode(data).decode()}) == len(data)


@given(st.text(max_size=50))
def test_string_size_is_utf8_length(text: str) -> None:
    assert value_size({"S": text}) == len(text.encode("utf-8"))
