"""The report's statistics against scipy, closed forms and brute force: the
intervals, the exact tests, the probability of improvement and the decision of
a directional claim."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats

from rnnbench.report.stats import (
    LEVEL,
    MIN_SEEDS,
    Interval,
    binomial_interval,
    decide,
    difference_interval,
    mean_interval,
    over_seeds,
    probability_of_improvement,
    proportions_compared,
)

INF = math.inf


# --- Clopper-Pearson -------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 5, 10, 40])
def test_clopper_pearson_closed_forms_at_the_ends(n):
    alpha = 1 - LEVEL
    none = binomial_interval(0, n)
    assert (none.mean, none.lo) == (0.0, 0.0)
    assert none.hi == pytest.approx(1 - (alpha / 2) ** (1 / n), rel=1e-9)
    every = binomial_interval(n, n)
    assert (every.mean, every.hi) == (1.0, 1.0)
    assert every.lo == pytest.approx((alpha / 2) ** (1 / n), rel=1e-9)


def test_clopper_pearson_inner_bounds_are_beta_quantiles():
    # lo = Beta(k, n - k + 1).ppf(alpha / 2), hi = Beta(k + 1, n - k).ppf(1 - alpha / 2)
    k, n, alpha = 3, 8, 1 - LEVEL
    iv = binomial_interval(k, n)
    assert iv.mean == 3 / 8
    assert iv.lo == pytest.approx(scipy.stats.beta.ppf(alpha / 2, k, n - k + 1), rel=1e-7)
    assert iv.hi == pytest.approx(scipy.stats.beta.ppf(1 - alpha / 2, k + 1, n - k), rel=1e-7)
    # each bound leaves exactly alpha / 2 in its tail of the binomial distribution
    assert scipy.stats.binom.sf(k - 1, n, iv.lo) == pytest.approx(alpha / 2, rel=1e-6)
    assert scipy.stats.binom.cdf(k, n, iv.hi) == pytest.approx(alpha / 2, rel=1e-6)


def test_binomial_interval_without_runs_or_with_too_few():
    assert binomial_interval(0, 0) == Interval(0, None, None, None)
    assert binomial_interval(1, MIN_SEEDS - 1) == Interval(MIN_SEEDS - 1, 0.5, None, None)


# --- bootstrap intervals ---------------------------------------------------------


def test_bootstrap_interval_of_a_large_normal_sample_is_close_to_the_t_interval():
    x = np.random.default_rng(11).normal(loc=3.0, scale=2.0, size=400)
    iv = mean_interval(x)
    half = scipy.stats.t.ppf((1 + LEVEL) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    assert iv.mean == pytest.approx(x.mean())
    assert iv.lo == pytest.approx(x.mean() - half, abs=0.1 * half)
    assert iv.hi == pytest.approx(x.mean() + half, abs=0.1 * half)


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    """200 samples of 30 from an exponential distribution (mean 1): a correct 95%
    interval covers the mean in about 190 of them (binomial sd ~3). The bounds
    (about 190 -+ 3 sd) fail an interval of the wrong width: a 90% one (about
    180 hits), a 99% one (about 198), a standard error for a half-width (68%)."""
    rng = np.random.default_rng(2024)
    hits = 0
    for _ in range(200):
        iv = mean_interval(rng.exponential(1.0, size=30))
        hits += iv.lo < 1.0 < iv.hi
    assert 181 <= hits <= 197


def test_bootstrap_of_the_difference_of_two_normal_samples_is_close_to_welch():
    rng = np.random.default_rng(5)
    a, b = rng.normal(1.0, 1.0, size=300), rng.normal(0.5, 2.0, size=200)
    iv = difference_interval(a, b)
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    half = scipy.stats.norm.ppf((1 + LEVEL) / 2) * se
    assert iv.mean == pytest.approx(a.mean() - b.mean())
    assert iv.lo == pytest.approx(iv.mean - half, abs=0.1 * half)
    assert iv.hi == pytest.approx(iv.mean + half, abs=0.1 * half)


def test_intervals_need_min_seeds_and_are_exact_for_constant_samples():
    assert MIN_SEEDS == 3
    assert mean_interval([0.4, 0.4, 0.4]) == Interval(3, 0.4, 0.4, 0.4)
    assert mean_interval([0.1, 0.2]).lo is None
    assert difference_interval([1.0, 1.0, 1.0], [0.25, 0.25, 0.25]) == Interval(3, 0.75, 0.75, 0.75)
    short = difference_interval([1.0, 2.0, 3.0], [1.0, 2.0])
    assert (short.n, short.mean, short.lo, short.hi) == (2, 0.5, None, None)
    assert difference_interval([], [1.0, 2.0, 3.0]).mean is None


def test_intervals_are_deterministic():
    x = [0.31, 0.12, 0.55, 0.2, 0.41]
    y = [0.5, 0.61, 0.44, 0.7]
    assert mean_interval(x) == mean_interval(list(x))
    assert difference_interval(x, y) == difference_interval(x, y)
    assert probability_of_improvement(x, y) == probability_of_improvement(x, y)
    series = [(range(4), [v, v * 2, v * 3, v * 4]) for v in x]
    first, second = over_seeds(series), over_seeds(series)
    for a, b in zip(first, second):
        assert np.array_equal(a, b, equal_nan=True)


def test_over_seeds_is_fast_enough_for_every_logged_step():
    import time

    rng = np.random.default_rng(0)
    series = [(range(500), rng.normal(size=500)) for _ in range(5)]
    start = time.perf_counter()
    x, n, m, lo, hi = over_seeds(series)
    assert time.perf_counter() - start < 2.0
    assert len(x) == 500 and np.all(lo < m) and np.all(m < hi)


# --- Boschloo's test -------------------------------------------------------------


@pytest.mark.parametrize("k1, n1, k2, n2", [(3, 3, 0, 3), (4, 5, 1, 5), (2, 4, 2, 4), (0, 6, 5, 7)])
def test_proportions_compared_uses_boschloo_one_sided_in_each_direction(k1, n1, k2, n2):
    table = [[k1, k2], [n1 - k1, n2 - k2]]
    greater = scipy.stats.boschloo_exact(table, alternative="greater").pvalue
    less = scipy.stats.boschloo_exact(table, alternative="less").pvalue
    got = proportions_compared(k1, n1, k2, n2)
    assert got.p_greater == pytest.approx(greater) and got.p_less == pytest.approx(less)
    expected = "greater" if greater < 1 - LEVEL else "less" if less < 1 - LEVEL else "neither"
    assert got.answer == expected


def test_three_of_three_against_none_of_three_is_decided_where_fisher_is_not():
    fisher = scipy.stats.fisher_exact([[3, 0], [0, 3]], alternative="greater").pvalue
    assert fisher == pytest.approx(1 / 20)  # 1 / C(6, 3): not below 0.05
    got = proportions_compared(3, 3, 0, 3)
    # only this table is as extreme: its chance p^3 (1 - p)^3 is largest at p = 1/2
    assert got.answer == "greater" and got.p_greater == pytest.approx(1 / 64)
    assert proportions_compared(0, 3, 3, 3).answer == "less"
    assert proportions_compared(2, 2, 0, 2).answer == "too few seeds"


# --- probability of improvement --------------------------------------------------


def brute_force(a, b):
    pairs = list(itertools.product(a, b))
    return sum(1.0 if x < y else 0.5 if x == y else 0.0 for x, y in pairs) / len(pairs)


@pytest.mark.parametrize(
    "a, b",
    [
        ([0.1, 0.4, 0.2, 0.3], [0.25, 0.5, 0.15]),
        ([1.0, 2.0, 2.0, INF], [2.0, INF, 3.0, 0.5, INF]),
        ([0.3, 0.3, 0.3], [0.3, 0.1, 0.9]),
    ],
)
def test_probability_of_improvement_counts_pairs(a, b):
    iv = probability_of_improvement(a, b)
    assert iv.mean == pytest.approx(brute_force(a, b))
    assert iv.lo <= iv.mean <= iv.hi and 0.0 <= iv.lo and iv.hi <= 1.0
    # the Mann-Whitney U of b against a (pairs where b's value is larger, ties half) over n m
    finite_a = [x if math.isfinite(x) else 1e300 for x in a]
    finite_b = [y if math.isfinite(y) else 1e300 for y in b]
    u = scipy.stats.mannwhitneyu(finite_b, finite_a).statistic
    assert iv.mean == pytest.approx(u / (len(a) * len(b)))
    higher = probability_of_improvement(a, b, lower_is_better=False)
    assert higher.mean == pytest.approx(brute_force([-x for x in a], [-y for y in b]))


def test_probability_of_improvement_closed_forms():
    below = probability_of_improvement([0.1, 0.2, 0.3], [0.4, 0.5, INF])
    assert (below.mean, below.lo, below.hi) == (1.0, 1.0, 1.0)
    assert probability_of_improvement([0.4, 0.5, INF], [0.1, 0.2, 0.3]).mean == 0.0
    same = probability_of_improvement([0.1, 0.5, 0.2, 0.7], [0.1, 0.5, 0.2, 0.7])
    assert same.mean == 0.5 and same.lo < 0.5 < same.hi
    diverged = probability_of_improvement([INF, INF, INF], [INF, INF, INF])
    assert diverged.mean == 0.5  # infinities tie
    few = probability_of_improvement([0.1, 0.2], [0.3, 0.4, 0.5])
    assert (few.mean, few.lo, few.hi) == (1.0, None, None)


# --- deciding a claim ------------------------------------------------------------


@pytest.mark.parametrize(
    "lo, hi, below, above",
    [
        (0.1, 0.4, "reproduced", "contradicted"),  # wholly below 0.5
        (0.6, 0.9, "contradicted", "reproduced"),  # wholly above
        (0.3, 0.7, "not shown", "not shown"),  # straddles
        (0.2, 0.5, "not shown", "not shown"),  # touches: the inequalities are strict
        (0.5, 0.8, "not shown", "not shown"),
    ],
)
def test_decide_each_side_and_straddling(lo, hi, below, above):
    iv = Interval(5, (lo + hi) / 2, lo, hi)
    assert decide(iv, 0.5, "below") == below
    assert decide(iv, 0.5, "above") == above


def test_decide_without_an_interval():
    assert decide(Interval(2, 0.1, None, None), 0.5, "below") == "too few seeds"
    assert decide(None, 0.5, "above") == "too few seeds"
    with pytest.raises(ValueError):
        decide(Interval(5, 0.1, 0.0, 0.2), 0.5, "beside")
