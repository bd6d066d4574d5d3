"""The bench's log-linear histogram: percentiles within its precision bound, merging."""

from __future__ import annotations

import math
import random

import pytest

from quorumdb.bench.histogram import HIGHEST_US, SUB_BUCKETS, Histogram

FRACTIONS = (0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0)


def exact(sorted_values: list[int], fraction: float) -> int:
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def check_within_precision(histogram: Histogram, values: list[int]) -> None:
    values = sorted(values)
    for fraction in FRACTIONS:
        truth = exact(values, fraction)
        got = histogram.percentile_us(fraction)
        # Never below the true value, at most one bucket width (< 1/128) above it.
        assert truth <= got <= truth + max(1, truth // SUB_BUCKETS), (fraction, truth, got)


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_match_sorted_list_within_precision(seed: int) -> None:
    rng = random.Random(seed)
    # Log-uniform from 1 us to 10 s: every bucket size is exercised.
    values = [int(math.exp(rng.uniform(0, math.log(10_000_000)))) for _ in range(20_000)]
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    assert histogram.total == len(values)
    assert histogram.max_us == max(values) and histogram.min_us == min(values)
    assert histogram.mean_us() == pytest.approx(sum(values) / len(values))
    check_within_precision(histogram, values)


def test_small_values_are_exact() -> None:
    histogram = Histogram()
    for value in range(256):
        histogram.record(value)
    assert histogram.percentile_us(0.5) == 127
    assert histogram.percentile_us(1.0) == 255


def test_every_value_lands_in_a_bucket_that_holds_it() -> None:
    from quorumdb.bench.histogram import _highest_equivalent, _index

    previous_index = -1
    for value in [*range(0, 5000), *range(5000, HIGHEST_US, 9973), HIGHEST_US]:
        index = _index(value)
        assert index >= previous_index  # monotonic
        previous_index = index
        upper = _highest_equivalent(index)
        assert value <= upper <= value + max(1, value // SUB_BUCKETS)
        if index > 0:
            assert _highest_equivalent(index - 1) < value


def test_values_beyond_the_range_are_clamped_but_max_is_exact() -> None:
    histogram = Histogram()
    histogram.record(HIGHEST_US * 3)
    histogram.record(-5)
    assert histogram.max_us == HIGHEST_US * 3
    assert histogram.min_us == 0
    assert histogram.percentile_us(1.0) <= HIGHEST_US * 3


def test_merge_equals_recording_everything_in_one() -> None:
    rng = random.Random(42)
    parts = [[rng.randrange(1, 2_000_000) for _ in range(3000)] for _ in range(4)]
    merged = Histogram()
    for part in parts:
        histogram = Histogram()
        for value in part:
            histogram.record(value)
        # Through the sparse form, as worker processes send it.
        merged.merge(Histogram.from_dict(histogram.to_dict()))
    whole = Histogram()
    for part in parts:
        for value in part:
            whole.record(value)
    assert merged.counts == whole.counts
    assert (merged.total, merged.sum_us, merged.max_us, merged.min_us) == \
        (whole.total, whole.sum_us, whole.max_us, whole.min_us)
    check_within_precision(merged, [v for part in parts for v in part])


def test_merge_into_empty_and_of_empty() -> None:
    empty = Histogram()
    assert empty.percentile_us(0.99) == 0
    one = Histogram()
    one.record(1234)
    empty.merge(one)
    empty.merge(Histogram())
    assert empty.total == 1 and empty.min_us == 1234 and empty.max_us == 1234


def test_minus_gives_the_recordings_since_a_copy() -> None:
    histogram = Histogram()
    histogram.record(10)
    before = histogram.copy()
    histogram.record(20_000)
    histogram.record(30_000)
    delta = histogram.minus(before)
    assert delta.total == 2
    assert delta.percentile_us(0.0) >= 20_000


def test_summary_is_in_milliseconds() -> None:
    histogram = Histogram()
    for value in (100, 200, 300, 400, 1_000):
        histogram.record(value)
    summary = histogram.summary_ms()
    assert summary["p50_ms"] == pytest.approx(0.3, rel=1 / SUB_BUCKETS)
    assert summary["max_ms"] == 1.0
    assert set(summary) >= {"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"}
