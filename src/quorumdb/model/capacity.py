"""Consumed capacity units, as DynamoDB computes them from item sizes.

Theory of operation
-------------------
Amazon DynamoDB Developer Guide, "DynamoDB read and write operations" (capacity unit
consumption,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):

* Reads: item size rounded up to the next 4 KB; one unit per 4 KB when strongly
  consistent, half that when eventually consistent, twice that when transactional.
  A read of a missing item still costs the minimum (0.5 eventually consistent,
  1 strongly consistent): DynamoDB charges the read it performed.
* Writes: item size rounded up to the next 1 KB, at least one unit; twice that when
  transactional.
* Query and Scan: the sizes of all items read are summed first and the sum is rounded
  up to 4 KB once (``query_read_units``), unlike BatchGetItem which rounds each item.

Sizes come from ``model.size``. Results are floats because DynamoDB reports 0.5.

Pure: no I/O, no clocks.
"""

from __future__ import annotations

READ_UNIT_BYTES = 4 * 1024
WRITE_UNIT_BYTES = 1024


def _units(size_bytes: int, unit_bytes: int) -> int:
    assert size_bytes >= 0, size_bytes
    return max(1, -(-size_bytes // unit_bytes))


def read_capacity_units(size_bytes: int, consistent: bool) -> float:
    """Units for reading one item of ``size_bytes`` (0 for a missing item)."""
    units = float(_units(size_bytes, READ_UNIT_BYTES))
    return units if consistent else units / 2


def write_capacity_units(size_bytes: int) -> float:
    """Units for writing one item of ``size_bytes`` (the larger of old and new)."""
    return float(_units(size_bytes, WRITE_UNIT_BYTES))


def transactional_read_capacity_units(size_bytes: int) -> float:
    """Units for one item read inside TransactGetItems: twice a strong read."""
    return 2 * read_capacity_units(size_bytes, consistent=True)


def transactional_write_capacity_units(size_bytes: int) -> float:
    """Units for one item written inside TransactWriteItems: twice a write."""
    return 2 * write_capacity_units(size_bytes)


def query_read_units(total_size_bytes: int, consistent: bool) -> float:
    """Units for a Query or Scan page: the summed size of items read, rounded once."""
    return read_capacity_units(total_size_bytes, consistent)
