"""Item sizes by DynamoDB's documented arithmetic.

Theory of operation
-------------------
Item size drives three things a client can observe: the 400 KB item limit
(``MAX_ITEM_SIZE_BYTES``), consumed capacity (``model.capacity``) and, later, table
statistics. We follow the Amazon DynamoDB Developer Guide, "DynamoDB item sizes and
formats"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):

* String: UTF-8 bytes. Binary: raw bytes (not base64 text).
* Number: "approximately (1 byte per two significant digits) + (1 byte)", leading and
  trailing zeros trimmed; we use ceil(significant digits / 2) + 1, zero being 1 byte.
  (Measurements published by others suggest DynamoDB rounds integer and fraction
  digits separately and adds a byte for negatives; we keep the documented rule until
  we measure it ourselves.)
* Null and Boolean: 1 byte.
* List and Map: 3 bytes of overhead plus, per element, 1 byte plus the element's size;
  a map element also counts its name's UTF-8 bytes, as attribute names do.
* Sets: the sum of their members' sizes (the guide gives no set overhead).
* An item: the sum over attributes of (UTF-8 bytes of the name) + (value size).

Values are validated wire form, so B payloads are valid base64 and N payloads valid
numbers; binary length is computed from the base64 text without decoding.

Pure: no I/O, no clocks.
"""

from __future__ import annotations

from typing import Any

from quorumdb.model.numbers import split_number

MAX_ITEM_SIZE_BYTES = 400 * 1024
CONTAINER_OVERHEAD_BYTES = 3
ELEMENT_OVERHEAD_BYTES = 1


def _utf8_length(text: str) -> int:
    # ASCII is the common case and needs no encoding pass.
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _binary_length(text: str) -> int:
    if not text:
        return 0
    return len(text) // 4 * 3 - text[-2:].count("=")


def _number_size(text: str) -> int:
    if "e" in text or "E" in text:  # not canonical text: take the slow, validating path
        significant = split_number(text)[1]
    else:  # canonical (or plain) text: the digits without sign, point and outer zeros
        significant = text.lstrip("+-").replace(".", "").strip("0")
    return (len(significant) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    """Size in bytes of one AttributeValue, without any attribute name."""
    for kind, payload in value.items():
        if kind == "S":
            return _utf8_length(payload)
        if kind == "N":
            return _number_size(payload)
        if kind == "B":
            return _binary_length(payload)
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "M":
            return CONTAINER_OVERHEAD_BYTES + sum(
                ELEMENT_OVERHEAD_BYTES + _utf8_length(name) + value_size(child)
                for name, child in payload.items()
            )
        if kind == "L":
            return CONTAINER_OVERHEAD_BYTES + sum(
                ELEMENT_OVERHEAD_BYTES + value_size(child) for child in payload
            )
        if kind == "SS":
            return sum(map(_utf8_length, payload))
        if kind == "NS":
            return sum(map(_number_size, payload))
        if kind == "BS":
            return sum(map(_binary_length, payload))
        break
    raise AssertionError(f"not an AttributeValue: {value!r}")


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """Size in bytes of an item: attribute names plus values."""
    total = 0
    for name, value in item.items():
        text = value.get("S")  # the common case, without a call per attribute
        if type(text) is str and text.isascii() and name.isascii():
            total += len(name) + len(text)
        else:
            total += _utf8_length(name) + value_size(value)
    return total
