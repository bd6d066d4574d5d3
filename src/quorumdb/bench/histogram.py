"""A small log-linear latency histogram with HDR-like precision, mergeable across processes.

Values are integer microseconds from 0 to ``HIGHEST_US`` (60 s); larger values are
clamped into the top bucket (the exact maximum is kept separately). Layout, as in
HdrHistogram with 2 significant digits: values below ``2 * SUB_BUCKETS`` (256) have a
bucket each; above that, every power-of-two range ``[2^k, 2^(k+1))`` is cut into
``SUB_BUCKETS`` (128) equal buckets, so a bucket is never wider than 1/128 (0.78%) of the
values it holds. 2,560 counters cover 1 us .. 60 s.

A percentile is reported as the highest value equivalent to its bucket (HdrHistogram's
convention), clamped to the recorded maximum, so it is never below the true percentile
and at most 0.78% (or 1 us) above it. ``to_dict``/``from_dict`` give a compact sparse
form that pickles and JSON-encodes cheaply for merging across client processes.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["HIGHEST_US", "SUB_BUCKETS", "Histogram"]

SUB_BUCKETS = 128
_LINEAR = 2 * SUB_BUCKETS  # values below this are exact
_SUB_BITS = 7  # log2(SUB_BUCKETS)
HIGHEST_US = 60_000_000


def _index(value: int) -> int:
    if value < _LINEAR:
        return value
    shift = value.bit_length() - _SUB_BITS - 1
    return _LINEAR + (shift - 1) * SUB_BUCKETS + (value >> shift) - SUB_BUCKETS


def _highest_equivalent(index: int) -> int:
    if index < _LINEAR:
        return index
    shift = (index - _LINEAR) // SUB_BUCKETS + 1
    sub = (index - _LINEAR) % SUB_BUCKETS + SUB_BUCKETS
    return ((sub + 1) << shift) - 1


_SIZE = _index(HIGHEST_US) + 1


class Histogram:
    """Counts of latencies in microseconds; ``record`` costs one ``bit_length`` and an add."""

    __slots__ = ("counts", "max_us", "min_us", "sum_us", "total")

    def __init__(self) -> None:
        self.counts = [0] * _SIZE
        self.total = 0
        self.sum_us = 0
        self.max_us = 0
        self.min_us = -1

    def record(self, value_us: int) -> None:
        if value_us < 0:
            value_us = 0
        self.counts[_index(value_us if value_us < HIGHEST_US else HIGHEST_US)] += 1
        self.total += 1
        self.sum_us += value_us
        if value_us > self.max_us:
            self.max_us = value_us
        if self.min_us < 0 or value_us < self.min_us:
            self.min_us = value_us

    def merge(self, other: Histogram) -> None:
        counts = self.counts
        for index, count in enumerate(other.counts):
            if count:
                counts[index] += count
        self.total += other.total
        self.sum_us += other.sum_us
        self.max_us = max(self.max_us, other.max_us)
        if other.min_us >= 0 and (self.min_us < 0 or other.min_us < self.min_us):
            self.min_us = other.min_us

    def percentile_us(self, fraction: float) -> int:
        """The value at or below which ``fraction`` (0..1) of the recordings fall."""
        if self.total == 0:
            return 0
        rank = max(1, math.ceil(fraction * self.total))
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return min(_highest_equivalent(index), self.max_us)
        return self.max_us

    def mean_us(self) -> float:
        return self.sum_us / self.total if self.total else 0.0

    def copy(self) -> Histogram:
        clone = Histogram()
        clone.counts = list(self.counts)
        clone.total, clone.sum_us = self.total, self.sum_us
        clone.max_us, clone.min_us = self.max_us, self.min_us
        return clone

    def minus(self, earlier: Histogram) -> Histogram:
        """The recordings made since ``earlier`` (a ``copy`` of this histogram); the
        maximum and minimum are those of the whole histogram."""
        delta = Histogram()
        delta.counts = [now - then for now, then in zip(self.counts, earlier.counts)]
        delta.total = self.total - earlier.total
        delta.sum_us = self.sum_us - earlier.sum_us
        delta.max_us, delta.min_us = self.max_us, self.min_us
        return delta

    def to_dict(self) -> dict[str, Any]:
        return {"counts": {str(i): c for i, c in enumerate(self.counts) if c},
                "total": self.total, "sum_us": self.sum_us,
                "max_us": self.max_us, "min_us": self.min_us}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        histogram = cls()
        for index, count in data["counts"].items():
            histogram.counts[int(index)] = int(count)
        histogram.total = int(data["total"])
        histogram.sum_us = int(data["sum_us"])
        histogram.max_us = int(data["max_us"])
        histogram.min_us = int(data["min_us"])
        return histogram

    def summary_ms(self) -> dict[str, float]:
        """p50/p90/p99/p99.9/max/mean in milliseconds (3 decimals: microseconds)."""
        return {
            "p50_ms": self.percentile_us(0.50) / 1000.0,
            "p90_ms": self.percentile_us(0.90) / 1000.0,
            "p99_ms": self.percentile_us(0.99) / 1000.0,
            "p999_ms": self.percentile_us(0.999) / 1000.0,
            "max_ms": self.max_us / 1000.0,
            "mean_ms": round(self.mean_us() / 1000.0, 3),
            "min_ms": max(0, self.min_us) / 1000.0,
        }
