"""Key choosers: uniform, zipfian (YCSB's, constant 0.99) and latest.

``Zipfian`` is YCSB's ``ZipfianGenerator`` (Gray et al., "Quickly generating
billion-record synthetic databases", SIGMOD 1994): rank 0 is the most popular, and a draw
costs one ``random()`` and one ``pow``. Its only O(n) ingredient, zeta(n, theta), is
computed in O(1) here: the first ``_ZETA_EXACT`` terms are summed exactly and the tail by
Euler-Maclaurin (error far below 1e-12), so a generator over 1 M or 1 G keys is built
instantly and ``latest`` can follow a growing key count at no cost.

``ScrambledZipfian`` spreads the popular ranks over the key space, as YCSB does so that
hot keys are not neighbours. YCSB hashes the rank (FNV) modulo n, which merges some keys
and leaves others unreachable; here an affine bijection ``(a * rank + b) mod n`` with
``gcd(a, n) = 1`` is used instead, so the popularity profile is exactly zipfian.

``Latest`` is YCSB's ``SkewedLatestGenerator``: key ``basis - 1 - zipfian(basis)``, where
``basis`` is the number of keys known to exist (it grows as the workload inserts).
"""

from __future__ import annotations

import math
import random
from functools import lru_cache

__all__ = ["ZIPFIAN_CONSTANT", "KeyChooser", "Latest", "ScrambledZipfian", "Uniform",
           "Zipfian", "zeta"]

ZIPFIAN_CONSTANT = 0.99
_ZETA_EXACT = 1024


@lru_cache(maxsize=8)
def _prefix_sums(theta: float) -> tuple[float, ...]:
    sums = [0.0]
    total = 0.0
    for i in range(1, _ZETA_EXACT + 1):
        total += i ** -theta
        sums.append(total)
    return tuple(sums)


def zeta(n: int, theta: float = ZIPFIAN_CONSTANT) -> float:
    """sum_{i=1..n} i^-theta, in O(1) (theta in (0, 1))."""
    sums = _prefix_sums(theta)
    if n <= _ZETA_EXACT:
        return sums[max(0, n)]
    m = _ZETA_EXACT
    # Euler-Maclaurin for sum_{i=m..n} f(i), f(x) = x^-theta.
    integral = (n ** (1 - theta) - m ** (1 - theta)) / (1 - theta)
    ends = (m ** -theta + n ** -theta) / 2
    d1 = (-theta * n ** (-theta - 1) + theta * m ** (-theta - 1)) / 12
    c3 = -theta * (theta + 1) * (theta + 2)
    d3 = (c3 * n ** (-theta - 3) - c3 * m ** (-theta - 3)) / 720
    return float(sums[m - 1] + integral + ends + d1 - d3)


class KeyChooser:
    """Draws a key number in ``[0, n)``."""

    def next(self, n: int) -> int:
        raise NotImplementedError


class Uniform(KeyChooser):
    def __init__(self, rng: random.Random) -> None:
        self.random = rng.random

    def next(self, n: int) -> int:
        return int(self.random() * n)


class Zipfian(KeyChooser):
    """Rank in ``[0, n)``, rank 0 the most popular; ``n`` may change between draws."""

    def __init__(self, rng: random.Random, theta: float = ZIPFIAN_CONSTANT) -> None:
        self.random = rng.random
        self.theta = theta
        self.alpha = 1.0 / (1.0 - theta)
        self.zeta2 = zeta(2, theta)
        self.half_pow_theta = 1.0 + 0.5 ** theta
        self.n = 0
        self.zetan = 0.0
        self.eta = 0.0

    def _resize(self, n: int) -> None:
        self.n = n
        self.zetan = zeta(n, self.theta)
        self.eta = (1 - (2.0 / n) ** (1 - self.theta)) / (1 - self.zeta2 / self.zetan)

    def next(self, n: int) -> int:
        if n != self.n:
            if n <= 2:
                return int(self.random() * n) if n > 0 else 0
            self._resize(n)
        u = self.random()
        uz = u * self.zetan
        if uz < 1.0:
            return 0
        if uz < self.half_pow_theta:
            return 1
        rank = int(n * (self.eta * u - self.eta + 1) ** self.alpha)
        return rank if rank < n else n - 1


class ScrambledZipfian(KeyChooser):
    """Zipfian popularity, hot keys spread over ``[0, n)`` by a fixed bijection."""

    _MULTIPLIER = 2_654_435_761  # Knuth's multiplicative-hash constant (prime)

    def __init__(self, rng: random.Random, theta: float = ZIPFIAN_CONSTANT) -> None:
        self.zipfian = Zipfian(rng, theta)
        self.n = 0
        self.multiplier = 1
        self.offset = 0

    def next(self, n: int) -> int:
        if n != self.n:
            self.n = n
            a = self._MULTIPLIER % n if n > 1 else 1
            while math.gcd(a, n) != 1 or a == 0:
                a += 1
            self.multiplier = a
            self.offset = (n * 7) // 13
        return (self.multiplier * self.zipfian.next(n) + self.offset) % n


class Latest(KeyChooser):
    """The most recently inserted keys are the most popular (key ``n - 1`` first)."""

    def __init__(self, rng: random.Random, theta: float = ZIPFIAN_CONSTANT) -> None:
        self.zipfian = Zipfian(rng, theta)

    def next(self, n: int) -> int:
        return n - 1 - self.zipfian.next(n)


def make_chooser(name: str, rng: random.Random) -> KeyChooser:
    if name == "uniform":
        return Uniform(rng)
    if name == "zipfian":
        return ScrambledZipfian(rng)
    if name == "latest":
        return Latest(rng)
    raise ValueError(f"unknown distribution {name!r}")
