"""Statistics over seeds: bootstrap and exact intervals, and the decision of a claim.

The report treats the seeds of one (variant, sequence length) as independent
samples. With fewer than ``MIN_SEEDS`` values no interval is given: a bootstrap
of two values has three possible means and says nothing about the spread, so
the report then shows the values themselves and a finding is "too few seeds".
Otherwise:

- a mean gets a two-sided ``LEVEL`` bootstrap confidence interval
  (``scipy.stats.bootstrap``, bias-corrected and accelerated);
- a difference of two means gets the same, resampling each sample on its own;
- a success rate gets the exact Clopper-Pearson interval, and two rates are
  compared with Boschloo's exact test;
- the probability that one variant's run beats another's (Agarwal et al. 2021)
  gets a bootstrap interval too.

Every bootstrap draws from a generator with a fixed seed (``SEED``), so the same
values always give the same interval and the report is reproducible.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.stats

LEVEL = 0.95
MIN_SEEDS = 3
SEED = 20240101  # of every bootstrap's generator
RESAMPLES = 9999  # bootstrap resamples of a single interval
CURVE_RESAMPLES = 2000  # per logged step of a curve (``over_seeds``): thousands of intervals per figure

OUTCOMES = ("reproduced", "not shown", "contradicted", "too few seeds")

# scipy 1.15 renamed bootstrap's ``random_state`` to ``rng``; older versions know only the former.
_RNG_KEYWORD = "rng" if "rng" in inspect.signature(scipy.stats.bootstrap).parameters else "random_state"


@dataclass(frozen=True)
class Interval:
    """An estimate from ``n`` values with its confidence interval [lo, hi].

    ``mean`` is None when n = 0; lo and hi are None when there are fewer than
    MIN_SEEDS values (``values`` then holds them, for showing instead of an
    interval). ``method`` names how the interval was computed.
    """

    n: int
    mean: float | None
    lo: float | None
    hi: float | None
    method: str = field(default="", compare=False)
    values: tuple[float, ...] = field(default=(), compare=False)

    @property
    def half_width(self) -> float | None:
        """Half the width of the interval (it need not be symmetric about the mean)."""
        return None if self.lo is None or self.hi is None else (self.hi - self.lo) / 2


def finite(values: Iterable[float | None]) -> list[float]:
    """The values that are neither None nor NaN nor infinite."""
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _generator() -> np.random.Generator:
    return np.random.default_rng(SEED)


def _bootstrap(data: tuple[np.ndarray, ...], statistic, level: float, n_resamples: int,
               axis: int = -1) -> tuple[np.ndarray, np.ndarray, str]:
    """(lo, hi, method) of a two-sided bootstrap interval of ``statistic`` of
    ``data`` (independent samples along ``axis``; a 2-D sample is a batch of
    rows, each with its own interval). BCa first; where BCa gives no finite
    bound (a degenerate bootstrap distribution, e.g. a statistic that takes
    one value in nearly every resample) the percentile interval of the same
    resamples is used instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BCa's degenerate-distribution and 0/0 warnings: handled below
        bca = scipy.stats.bootstrap(
            data, statistic, n_resamples=n_resamples, axis=axis, vectorized=True,
            confidence_level=level, method="BCa", **{_RNG_KEYWORD: _generator()},
        )
        lo = np.asarray(bca.confidence_interval.low, dtype=float)
        hi = np.asarray(bca.confidence_interval.high, dtype=float)
        bad = ~(np.isfinite(lo) & np.isfinite(hi))
        if not bad.any():
            return lo, hi, "BCa bootstrap"
        pct = scipy.stats.bootstrap(
            data, statistic, n_resamples=0, axis=axis, vectorized=True, confidence_level=level,
            method="percentile", bootstrap_result=bca, **{_RNG_KEYWORD: _generator()},
        )
    lo = np.where(bad, pct.confidence_interval.low, lo)
    hi = np.where(bad, pct.confidence_interval.high, hi)
    method = "percentile bootstrap (BCa failed)" if bad.all() else "BCa bootstrap, percentile where BCa failed"
    return lo, hi, method


def _mean_along(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def mean_interval(values: Iterable[float | None], level: float = LEVEL) -> Interval:
    """The mean of the finite values (None, NaN and infinities are left out)
    with a two-sided ``level`` bootstrap confidence interval of that mean.

    The interval is the bias-corrected and accelerated (BCa) bootstrap of
    ``scipy.stats.bootstrap`` over RESAMPLES resamples, drawn from a generator
    seeded with SEED, so the same values always give the same interval. Where
    BCa cannot be computed (a bound is NaN, e.g. when nearly every resample has
    the same mean), the percentile interval of the same resamples is given
    instead. All-equal values give lo = hi = mean. lo and hi are None with
    fewer than MIN_SEEDS values, mean is None with none.
    """
    kept = finite(values)
    x = np.array(kept, dtype=float)
    n = len(x)
    if n == 0:
        return Interval(0, None, None, None)
    mean_ = float(x.mean())
    if n < MIN_SEEDS:
        return Interval(n, mean_, None, None, values=tuple(kept))
    if np.ptp(x) == 0:  # the value itself, without the rounding of a sum
        return Interval(n, kept[0], kept[0], kept[0], "all values equal")
    lo, hi, method = _bootstrap((x,), _mean_along, level, RESAMPLES)
    return Interval(n, mean_, float(lo), float(hi), method)


def _difference_of_means(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def difference_interval(a: Iterable[float | None], b: Iterable[float | None],
                        level: float = LEVEL) -> Interval:
    """mean(a) - mean(b) over the finite values of two independent samples,
    with a two-sided ``level`` bootstrap interval that resamples each sample on
    its own (unpaired; BCa, percentile where BCa fails, as in ``mean_interval``).

    ``n`` is the smaller sample's size. lo and hi are None when either sample
    has fewer than MIN_SEEDS values; mean is None when either has none. When
    both samples are constant the difference is exact: lo = hi = mean.
    """
    x = np.array(finite(a), dtype=float)
    y = np.array(finite(b), dtype=float)
    n = min(len(x), len(y))
    if n == 0:
        return Interval(0, None, None, None)
    diff = float(x.mean() - y.mean())
    if n < MIN_SEEDS:
        return Interval(n, diff, None, None)
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        diff = float(x[0] - y[0])
        return Interval(n, diff, diff, diff, "all values equal")
    lo, hi, method = _bootstrap((x, y), _difference_of_means, level, RESAMPLES)
    return Interval(n, diff, float(lo), float(hi), method)


def binomial_interval(k: int, n: int, level: float = LEVEL) -> Interval:
    """The success rate k / n with its exact two-sided ``level`` Clopper-Pearson
    interval (``scipy.stats.binomtest(k, n).proportion_ci(method="exact")``):
    the rates p for which k is not in either ``(1 - level) / 2`` tail of the
    Binomial(n, p) distribution. Its coverage is at least ``level`` for every p.

    mean is None when n = 0; lo and hi are None when n < MIN_SEEDS, as for the
    other intervals here.
    """
    if n == 0:
        return Interval(0, None, None, None)
    rate = k / n
    if n < MIN_SEEDS:
        return Interval(n, rate, None, None)
    ci = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return Interval(n, rate, float(ci.low), float(ci.high), "Clopper-Pearson")


@dataclass(frozen=True)
class RateComparison:
    """Whether success rate 1 (k1 of n1) is greater or less than rate 2 (k2 of
    n2): ``answer`` is "greater", "less", "neither" (no direction at the level)
    or "too few seeds"; ``p_greater`` and ``p_less`` are the one-sided p-values
    of Boschloo's test against equal rates (None with too few seeds)."""

    answer: str
    p_greater: float | None
    p_less: float | None

    @property
    def p(self) -> float | None:
        """The p-value behind the answer: of the direction found, or the
        smaller of the two when neither is."""
        if self.p_greater is None or self.p_less is None:
            return None
        return self.p_less if self.answer == "less" else (
            self.p_greater if self.answer == "greater" else min(self.p_greater, self.p_less))


def proportions_compared(k1: int, n1: int, k2: int, n2: int, level: float = LEVEL) -> RateComparison:
    """Compare two success rates, k1 of n1 against k2 of n2, with Boschloo's
    exact test (``scipy.stats.boschloo_exact``) one-sided in each direction:
    "greater" when the test of rate 1 > rate 2 has p < 1 - level, "less" when
    that of rate 1 < rate 2 has, "neither" otherwise.

    Boschloo's test (Fisher's p-value used as the statistic, maximised over
    the common rate under the null) is uniformly more powerful than Fisher's
    exact test on 2x2 tables. With the few seeds of a benchmark that matters:
    3 of 3 against 0 of 3 has Fisher's one-sided p = 1/20 = 0.05, not below
    0.05, so Fisher's test decides nothing, while Boschloo's p = 1/64.

    "too few seeds" when n1 or n2 is below MIN_SEEDS. Both directions cannot
    be found at once for level >= 0.5.
    """
    if min(n1, n2) < MIN_SEEDS:
        return RateComparison("too few seeds", None, None)
    table = [[k1, k2], [n1 - k1, n2 - k2]]  # a column per sample: successes, failures
    greater = float(scipy.stats.boschloo_exact(table, alternative="greater").pvalue)
    less = float(scipy.stats.boschloo_exact(table, alternative="less").pvalue)
    alpha = 1 - level
    answer = "greater" if greater < alpha else "less" if less < alpha else "neither"
    return RateComparison(answer, greater, less)


def _improvement(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(X < Y) + P(X = Y) / 2 over all pairs, for samples along the last axis
    (batched over leading axes)."""
    x = np.moveaxis(x, axis, -1)[..., :, None]
    y = np.moveaxis(y, axis, -1)[..., None, :]
    return np.mean((x < y) + 0.5 * (x == y), axis=(-2, -1))


def probability_of_improvement(a: Iterable[float | None], b: Iterable[float | None],
                               lower_is_better: bool = True, level: float = LEVEL) -> Interval:
    """The probability of improvement of a over b: P(X < Y) + P(X = Y) / 2 for
    X drawn from a and Y from b (with ``lower_is_better``; P(X > Y) + P(X = Y) / 2
    otherwise), i.e. the Mann-Whitney U statistic divided by n m (Agarwal et al.
    2021, "Deep reinforcement learning at the edge of the statistical precipice").
    0.5 means neither tends to be better; 1 that every value of a beats every
    value of b.

    Infinite values are allowed (a run that diverged counts as a loss of +inf;
    two infinities tie): the statistic depends only on the order of the values,
    so the bootstrap runs on their ranks in the pooled sample. None and NaN are
    left out. The interval is a two-sided ``level`` bootstrap that resamples a
    and b independently (BCa, percentile where BCa fails, as in
    ``mean_interval``); lo and hi are None when either sample has fewer than
    MIN_SEEDS values, and ``n`` is the smaller sample's size.
    """
    x = np.array([v for v in a if v is not None and not math.isnan(v)], dtype=float)
    y = np.array([v for v in b if v is not None and not math.isnan(v)], dtype=float)
    if not lower_is_better:
        x, y = -x, -y
    n = min(len(x), len(y))
    if n == 0:
        return Interval(0, None, None, None)
    ranks = scipy.stats.rankdata(np.concatenate([x, y]))  # ties share a rank; inf is the largest
    rx, ry = ranks[: len(x)], ranks[len(x):]
    point = float(_improvement(rx, ry))
    if n < MIN_SEEDS:
        return Interval(n, point, None, None)
    if rx.max() < ry.min() or rx.min() > ry.max():  # every resample gives the same value
        return Interval(n, point, point, point, "complete separation")
    lo, hi, method = _bootstrap((rx, ry), _improvement, level, RESAMPLES)
    return Interval(n, point, float(lo), float(hi), method)


def decide(interval: Interval | None, threshold: float, direction: str) -> str:
    """The outcome of the claim "the estimate lies ``direction`` ("below" or
    "above") ``threshold``" given its confidence interval:

    - "reproduced": the whole interval is strictly on the claimed side
      (hi < threshold for below, lo > threshold for above);
    - "contradicted": the whole interval is strictly on the other side
      (lo > threshold for below, hi < threshold for above);
    - "not shown": the interval contains the threshold (an end equal to it
      counts as containing it);
    - "too few seeds": there is no interval (lo or hi is None).
    """
    if direction not in ("below", "above"):
        raise ValueError(f"direction must be 'below' or 'above', not {direction!r}")
    if interval is None or interval.lo is None or interval.hi is None:
        return "too few seeds"
    if interval.hi < threshold:
        return "reproduced" if direction == "below" else "contradicted"
    if interval.lo > threshold:
        return "reproduced" if direction == "above" else "contradicted"
    return "not shown"


def over_seeds(
    series: Sequence[tuple[Sequence[float], Sequence[float | None]]], level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Combine (x, y) series from several seeds: at every x where at least one
    series has a finite value, the mean of the values there and a two-sided
    ``level`` bootstrap interval of that mean.

    Returns arrays (x, n, mean, lo, hi) sorted by x; lo and hi are NaN where
    fewer than MIN_SEEDS values are present. Series may differ in length (a
    diverged run stops early). For speed -- a figure asks for an interval at
    every logged step of every variant and length -- the steps with the same
    number of values are bootstrapped together as one batch, with
    CURVE_RESAMPLES resamples instead of RESAMPLES (BCa, percentile where BCa
    fails; all-equal values give lo = hi = mean; generator seeded with SEED).
    """
    by_x: dict[float, list[float]] = {}
    for xs, ys in series:
        for x, y in zip(xs, ys):
            if y is not None and math.isfinite(y):
                by_x.setdefault(float(x), []).append(float(y))
    xs = sorted(by_x)
    n = np.array([len(by_x[x]) for x in xs], dtype=int)
    means = np.array([np.mean(by_x[x]) for x in xs], dtype=float)
    lo = np.full(len(xs), np.nan)
    hi = np.full(len(xs), np.nan)
    for size in sorted(set(n.tolist())):
        if size < MIN_SEEDS:
            continue
        where = np.flatnonzero(n == size)
        block = np.array([by_x[xs[i]] for i in where], dtype=float)  # one row per x
        constant = np.ptp(block, axis=1) == 0
        lo[where[constant]] = hi[where[constant]] = means[where[constant]]
        varied = where[~constant]
        if len(varied):
            low, high, _ = _bootstrap((block[~constant],), _mean_along, level, CURVE_RESAMPLES)
            lo[varied], hi[varied] = low, high
    return np.array(xs, dtype=float), n, means, lo, hi


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
