"""Key choosers of the bench: zipfian skew (fixed seeds), O(1) zeta, latest, uniform."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from quorumdb.bench.distributions import (
    ZIPFIAN_CONSTANT,
    Latest,
    ScrambledZipfian,
    Uniform,
    Zipfian,
    zeta,
)

DRAWS = 200_000


def exact_zeta(n: int, theta: float = ZIPFIAN_CONSTANT) -> float:
    return sum(i ** -theta for i in range(1, n + 1))


@pytest.mark.parametrize("n", [1, 2, 10, 1024, 1025, 5000, 100_000, 1_000_000])
def test_zeta_matches_the_exact_sum(n: int) -> None:
    assert zeta(n) == pytest.approx(exact_zeta(n), rel=1e-12)


def test_zipfian_skew_follows_the_zipf_law() -> None:
    n = 10_000
    chooser = Zipfian(random.Random(1))
    counts = Counter(chooser.next(n) for _ in range(DRAWS))
    assert all(0 <= rank < n for rank in counts)
    zetan = exact_zeta(n)
    # Rank 0 and rank 1 are drawn with probability 1/zeta(n) and 2^-theta/zeta(n).
    assert counts[0] / DRAWS == pytest.approx(1 / zetan, rel=0.05)
    assert counts[1] / DRAWS == pytest.approx(2 ** -ZIPFIAN_CONSTANT / zetan, rel=0.1)
    # Head heavy: the 1% most popular ranks draw far more than 1% of the requests.
    top = sum(counts[rank] for rank in range(n // 100))
    expected_top = sum(i ** -ZIPFIAN_CONSTANT for i in range(1, n // 100 + 1)) / zetan
    assert top / DRAWS == pytest.approx(expected_top, rel=0.05)
    assert top / DRAWS > 0.4
    # Popularity decreases with rank (in aggregate over bands).
    bands = [sum(counts[r] for r in range(lo, lo + 100)) for lo in (0, 100, 1000, 9000)]
    assert bands == sorted(bands, reverse=True)


def test_zipfian_is_deterministic_for_a_seed() -> None:
    first = Zipfian(random.Random(7))
    second = Zipfian(random.Random(7))
    assert [first.next(1000) for _ in range(100)] == [second.next(1000) for _ in range(100)]


def test_zipfian_follows_a_changing_key_count() -> None:
    chooser = Zipfian(random.Random(3))
    for n in (1, 2, 3, 50, 51, 10_000, 10_001):
        assert all(0 <= chooser.next(n) < n for _ in range(1000))


def test_scrambled_zipfian_spreads_hot_keys_but_keeps_the_skew() -> None:
    n = 10_000
    chooser = ScrambledZipfian(random.Random(1))
    counts = Counter(chooser.next(n) for _ in range(DRAWS))
    assert all(0 <= key < n for key in counts)
    hottest = [key for key, _ in counts.most_common(10)]
    # The same skew as the plain generator (a bijection relabels ranks) ...
    zipfian = Zipfian(random.Random(1))
    plain = Counter(zipfian.next(n) for _ in range(DRAWS))
    assert counts.most_common(1)[0][1] == plain.most_common(1)[0][1]
    # ... but the hot keys are not neighbours at the start of the key space.
    assert max(hottest) - min(hottest) > n // 10
    assert sorted(hottest) != list(range(10))


def test_latest_prefers_the_newest_keys() -> None:
    n = 5000
    chooser = Latest(random.Random(2))
    draws = [chooser.next(n) for _ in range(50_000)]
    assert all(0 <= key < n for key in draws)
    counts = Counter(draws)
    assert counts.most_common(1)[0][0] == n - 1
    newest_tenth = sum(1 for key in draws if key >= n - n // 10)
    assert newest_tenth / len(draws) > 0.6
    # As keys are inserted, the hottest key moves to the newest one.
    assert Counter(chooser.next(n + 10) for _ in range(20_000)).most_common(1)[0][0] == n + 9


def test_uniform_is_flat() -> None:
    n = 10
    chooser = Uniform(random.Random(5))
    counts = Counter(chooser.next(n) for _ in range(100_000))
    assert set(counts) == set(range(n))
    assert all(abs(count / 100_000 - 0.1) < 0.01 for count in counts.values())
