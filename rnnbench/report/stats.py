"""Statistics over seeds: Student-t confidence intervals of a mean.

The report treats the seeds of one (variant, sequence length) as independent
samples and gives the mean with a two-sided 95% t-interval,
``mean +- t(0.975, n - 1) * s / sqrt(n)`` where ``s`` is the sample standard
deviation (ddof = 1) of the ``n`` values. The t quantile is computed here, from
the closed form of Student's distribution for an integer number of degrees of
freedom, so the report needs no statistics package.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95


def t_central_probability(t: float, df: int) -> float:
    """P(|T| <= t) for Student's T with ``df`` (a positive integer) degrees of
    freedom, from the finite sums in powers of cos(theta), theta = atan(t / sqrt(df))
    (Abramowitz & Stegun 26.7.3 and 26.7.4)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, not {df}")
    theta = math.atan(abs(t) / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2 == 0:
        term = total = 1.0
        for k in range(1, (df - 2) // 2 + 1):
            term *= (2 * k - 1) / (2 * k) * c2
            total += term
        return math.sin(theta) * total
    if df == 1:
        return 2 * theta / math.pi
    term = total = math.cos(theta)
    for k in range(1, (df - 3) // 2 + 1):
        term *= (2 * k) / (2 * k + 1) * c2
        total += term
    return 2 / math.pi * (theta + math.sin(theta) * total)


def t_quantile(level: float, df: int) -> float:
    """The half-width factor t with P(|T| <= t) = ``level`` for ``df`` degrees
    of freedom, i.e. the (1 + level) / 2 quantile; found by bisection on theta."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), not {level}")
    lo, hi = 0.0, math.pi / 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_central_probability(math.sqrt(df) * math.tan(mid), df) < level:
            lo = mid
        else:
            hi = mid
    return math.sqrt(df) * math.tan((lo + hi) / 2)


@dataclass(frozen=True)
class Interval:
    """The mean of ``n`` values with its t-interval [lo, hi]; lo and hi are
    None when n < 2 (no spread to estimate), mean is None when n = 0."""

    n: int
    mean: float | None
    lo: float | None
    hi: float | None

    @property
    def half_width(self) -> float | None:
        return None if self.lo is None or self.mean is None else self.mean - self.lo


def finite(values: Iterable[float | None]) -> list[float]:
    """The values that are neither None nor NaN nor infinite."""
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def mean_interval(values: Iterable[float | None], level: float = LEVEL) -> Interval:
    """Mean and two-sided t-interval of the finite values."""
    x = np.array(finite(values), dtype=float)
    n = len(x)
    if n == 0:
        return Interval(0, None, None, None)
    mean = float(x.mean())
    if n == 1:
        return Interval(1, mean, None, None)
    half = t_quantile(level, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return Interval(n, mean, mean - half, mean + half)


def over_seeds(
    series: Sequence[tuple[Sequence[float], Sequence[float | None]]], level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Combine (x, y) series from several seeds: at every x where at least one
    series has a finite value, the mean and t-interval of the values there.

    Returns arrays (x, n, mean, lo, hi) sorted by x; lo and hi are NaN where only
    one value is present. Series may differ in length (a diverged run stops early).
    """
    by_x: dict[float, list[float]] = {}
    for xs, ys in series:
        for x, y in zip(xs, ys):
            if y is not None and math.isfinite(y):
                by_x.setdefault(float(x), []).append(float(y))
    xs = sorted(by_x)
    intervals = [mean_interval(by_x[x], level) for x in xs]
    nan = float("nan")
    return (
        np.array(xs, dtype=float),
        np.array([i.n for i in intervals], dtype=int),
        np.array([i.mean for i in intervals], dtype=float),
        np.array([nan if i.lo is None else i.lo for i in intervals], dtype=float),
        np.array([nan if i.hi is None else i.hi for i in intervals], dtype=float),
    )


def geometric_over_seeds(
    series: Sequence[tuple[Sequence[float], Sequence[float | None]]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Combine positive (x, y) series from several seeds: at every x where at
    least one series has a finite positive value, the geometric mean, min and
    max of those values. Returns (x, gmean, lo, hi) sorted by x."""
    by_x: dict[float, list[float]] = {}
    for xs, ys in series:
        for x, y in zip(xs, ys):
            if y is not None and math.isfinite(y) and y > 0:
                by_x.setdefault(float(x), []).append(float(y))
    xs = sorted(by_x)
    groups = [np.array(by_x[x]) for x in xs]
    return (
        np.array(xs, dtype=float),
        np.array([math.exp(np.log(g).mean()) for g in groups], dtype=float),
        np.array([g.min() for g in groups], dtype=float),
        np.array([g.max() for g in groups], dtype=float),
    )


def median(values: Iterable[float | None]) -> float | None:
    """The median of the finite values; None if there are none."""
    x = finite(values)
    return float(np.median(x)) if x else None


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the finite values; None if there are none."""
    x = finite(values)
    return float(np.mean(x)) if x else None
