"""Tests for quorumdb.model.capacity: the Developer Guide's capacity-unit rules."""

from __future__ import annotations

import pytest

from quorumdb.model.capacity import (
    query_read_units,
    read_capacity_units,
    transactional_read_capacity_units,
    transactional_write_capacity_units,
    write_capacity_units,
)


@pytest.mark.parametrize(
    ("size_bytes", "strong", "eventual"),
    [
        (0, 1.0, 0.5),  # a missing item still costs the minimum read
        (1, 1.0, 0.5),
        (3500, 1.0, 0.5),  # the guide's example: 3,500 bytes reads like 4 KB
        (4096, 1.0, 0.5),
        (4097, 2.0, 1.0),
        (8 * 1024, 2.0, 1.0),  # the guide: 8 KB needs 2 strong or 1 eventual
        (10 * 1024, 3.0, 1.5),  # 10 KB rounds up to 12 KB
        (400 * 1024, 100.0, 50.0),
    ],
)
def test_read_units_round_up_to_4kb(size_bytes: int, strong: float, eventual: float) -> None:
    assert read_capacity_units(size_bytes, consistent=True) == strong
    assert read_capacity_units(size_bytes, consistent=False) == eventual
    assert transactional_read_capacity_units(size_bytes) == 2 * strong


@pytest.mark.parametrize(
    ("size_bytes", "units"),
    [(0, 1.0), (1, 1.0), (1024, 1.0), (1025, 2.0), (1500, 2.0), (400 * 1024, 400.0)],
)
def test_write_units_round_up_to_1kb_with_minimum_one(size_bytes: int, units: float) -> None:
    assert write_capacity_units(size_bytes) == units
    assert transactional_write_capacity_units(size_bytes) == 2 * units


def test_query_sums_sizes_before_rounding() -> None:
    # Ten 100-byte items: 1,000 bytes rounds to one 4 KB unit, not ten.
    assert query_read_units(10 * 100, consistent=True) == 1.0
    assert query_read_units(10 * 100, consistent=False) == 0.5
    assert query_read_units(0, consistent=False) == 0.5
    assert query_read_units(3 * 4096 + 1, consistent=True) == 4.0
