"""The report's statistics against closed forms, scipy and brute force.

Each test computes what a function should return some other way -- a
binomial sum written out, an enumeration of every split of two samples, a
hand-worked Kaplan-Meier estimate -- and compares: the intervals
(Clopper-Pearson, order statistics, the band over seeds), the exact one-sided
tests (sign, binomial, Boschloo, permutation of mid-ranks) in both directions
with their ``p_opposite`` and ``p_min``, Holm's adjustment, and the
``detectable_*`` effects, whose power, computed independently, must reach 80%
at the returned effect and fall short of it just before. Whether the tests
keep their level on realistic data is ``test_calibration.py``'s question.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats

from rnnbench.report.stats import (
    ALPHA,
    LEVEL,
    MIN_SEEDS,
    POWER,
    RESAMPLES,
    Interval,
    _mann_whitney_null,
    binomial_interval,
    censored_median,
    detectable_improvement,
    detectable_rate,
    detectable_rate_difference,
    detectable_side_probability,
    holm,
    improvement,
    median_band,
    median_interval,
    median_test,
    order_statistic_rank,
    over_seeds,
    rank_test,
    rate_test,
    rates_compared,
)

INF = math.inf
DIRECTIONS = ("below", "above")


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= k), summed term by term."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(max(k, 0), n + 1))


# --- Clopper-Pearson -------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 5, 10, 40])
def test_clopper_pearson_closed_forms_at_the_ends(n):
    none = binomial_interval(0, n)
    assert (none.estimate, none.lo) == (0.0, 0.0)
    assert none.hi == pytest.approx(1 - (ALPHA / 2) ** (1 / n), rel=1e-9)
    every = binomial_interval(n, n)
    assert (every.estimate, every.hi) == (1.0, 1.0)
    assert every.lo == pytest.approx((ALPHA / 2) ** (1 / n), rel=1e-9)


def test_clopper_pearson_inner_bounds_are_beta_quantiles():
    # lo = Beta(k, n - k + 1).ppf(alpha / 2), hi = Beta(k + 1, n - k).ppf(1 - alpha / 2)
    k, n = 3, 8
    iv = binomial_interval(k, n)
    assert iv.estimate == 3 / 8
    assert iv.lo == pytest.approx(scipy.stats.beta.ppf(ALPHA / 2, k, n - k + 1), rel=1e-7)
    assert iv.hi == pytest.approx(scipy.stats.beta.ppf(1 - ALPHA / 2, k + 1, n - k), rel=1e-7)
    # each bound leaves exactly alpha / 2 in its tail of the binomial distribution
    assert scipy.stats.binom.sf(k - 1, n, iv.lo) == pytest.approx(ALPHA / 2, rel=1e-6)
    assert scipy.stats.binom.cdf(k, n, iv.hi) == pytest.approx(ALPHA / 2, rel=1e-6)


def test_clopper_pearson_covers_every_true_rate_at_least_at_the_level():
    n = 10
    intervals = [binomial_interval(k, n) for k in range(n + 1)]
    for p in np.linspace(0.0, 1.0, 201):
        coverage = sum(scipy.stats.binom.pmf(k, n, p) for k, iv in enumerate(intervals) if iv.lo <= p <= iv.hi)
        assert coverage >= LEVEL - 1e-9


def test_binomial_interval_without_runs():
    assert binomial_interval(0, 0) == Interval(0, None, None, None)
    one = binomial_interval(1, 2)  # exact at any n: no minimum of runs
    assert one.estimate == 0.5 and 0.0 < one.lo < 0.5 < one.hi < 1.0


# --- the median and its order-statistic interval ---------------------------------


def test_order_statistic_rank_is_the_largest_with_the_coverage():
    """[x_(j), x_(n+1-j)] covers the median unless at most j - 1 values lie
    below it or at most j - 1 above: coverage 1 - 2 P(Binomial(n, 1/2) <= j - 1)."""
    for n in range(1, 31):
        coverage = {j: 1 - 2 * scipy.stats.binom.cdf(j - 1, n, 0.5) for j in range(1, n + 1)}
        ok = [j for j, c in coverage.items() if c >= LEVEL]
        expected = max(ok) if ok else None
        assert order_statistic_rank(n) == expected, n
        if n < 6:
            assert expected is None
        else:
            assert coverage[expected] >= LEVEL > coverage[expected + 1]
    assert MIN_SEEDS == 6
    assert order_statistic_rank(10) == 2  # P(Bin(10, 1/2) <= 1) = 11/1024 <= 0.025 < P(<= 2) = 56/1024


def test_median_interval_on_simple_data():
    iv = median_interval([7, 3, 10, 1, 5, 2, 9, 4, 8, 6])
    assert (iv.n, iv.estimate, iv.lo, iv.hi) == (10, 5.5, 2.0, 9.0)  # j = 2: x_(2), x_(9)
    # None and NaN are left out, +inf stays (a diverged run); n = 7 gives j = 1: the extremes
    iv = median_interval([3, None, 1, INF, 2, float("nan"), 5, 4, 6])
    assert (iv.n, iv.estimate, iv.lo, iv.hi) == (7, 4.0, 1.0, INF)
    few = median_interval([0.3, 0.1, 0.2])
    assert (few.n, few.estimate, few.lo, few.hi, few.values) == (3, 0.2, None, None, (0.1, 0.2, 0.3))
    assert median_interval([None]) == Interval(0, None, None, None)
    half_diverged = median_interval([1.0, 2.0, INF, INF, INF, INF])
    assert half_diverged.estimate == INF


def test_median_band_and_over_seeds_match_median_interval_at_every_x():
    rng = np.random.default_rng(3)
    series = []
    for seed in range(8):
        steps = 10 if seed < 6 else 4  # two runs stop early (diverged)
        ys = rng.lognormal(size=steps).tolist()
        if seed == 0:
            ys[2], ys[3] = None, INF  # not finite: left out of the band
        if seed == 1:
            ys[5] = float("nan")
        series.append((range(0, 10 * steps, 10), ys))
    xs, n, mid, lo, hi = over_seeds(series)
    assert xs.tolist() == list(range(0, 100, 10))
    for i, x in enumerate(xs):
        there = [ys[int(x) // 10] for _, ys in series if int(x) // 10 < len(ys)]
        there = [v for v in there if v is not None and math.isfinite(v)]
        iv = median_interval(there)
        assert n[i] == iv.n and mid[i] == pytest.approx(iv.estimate)
        if iv.lo is None:
            assert iv.n < MIN_SEEDS and np.isnan(lo[i]) and np.isnan(hi[i])
        else:
            assert (lo[i], hi[i]) == (iv.lo, iv.hi)
    assert set(n.tolist()) == {5, 6, 7, 8}  # both sides of MIN_SEEDS
    block = rng.normal(size=(5, 9))
    med, blo, bhi = median_band(block)
    for row, m, a, b in zip(block, med, blo, bhi):
        iv = median_interval(row)
        assert (m, a, b) == (iv.estimate, iv.lo, iv.hi)


def test_over_seeds_is_fast_enough_for_every_logged_step():
    import time

    rng = np.random.default_rng(0)
    series = [(range(500), rng.normal(size=500)) for _ in range(8)]
    start = time.perf_counter()
    x, n, mid, lo, hi = over_seeds(series)
    assert time.perf_counter() - start < 2.0
    assert len(x) == 500 and np.all(lo <= mid) and np.all(mid <= hi)


# --- the sign test ---------------------------------------------------------------


def test_median_test_is_the_binomial_tail_in_both_directions():
    values = [1, 2, 3, 4, 5, 6, 7, 8]
    below = median_test(values, 6.5, "below")  # 6 of 8 below, 2 above
    assert below.p == pytest.approx(37 / 256)  # (C(8,6) + C(8,7) + C(8,8)) / 2^8
    assert below.p_opposite == pytest.approx(247 / 256)  # P(Bin(8, 1/2) >= 2) = 1 - 9/256
    assert below.p_min == 1 / 256
    above = median_test(values, 6.5, "above")
    assert (above.p, above.p_opposite) == (below.p_opposite, below.p)
    assert median_test([0.1] * 8, 1.0, "below").p == 1 / 256
    for n in (3, 6, 10, 16):
        for k in range(n + 1):
            got = median_test([0.0] * k + [2.0] * (n - k), 1.0, "below")
            assert got.p == pytest.approx(binomial_tail(k, n, 0.5), rel=1e-12)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_run_without_a_value_counts_against_the_claim_either_way(direction):
    side = 0.1 if direction == "below" else 2.0
    got = median_test([side] * 6 + [None, None], 1.0, direction)
    assert got.p == pytest.approx(37 / 256)  # 6 of 8 runs, not 6 of 6 (1/64)
    assert got.p_opposite == 1.0  # nor for the other side
    assert median_test([side] * 6 + [float("nan")] * 2, 1.0, direction).p == pytest.approx(37 / 256)
    nothing = median_test([None] * 5, 1.0, direction)
    assert (nothing.p, nothing.p_opposite) == (1.0, 1.0)


def test_a_run_at_the_threshold_counts_against_the_claim():
    runs = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert median_test(runs, 1.0, "below").p == pytest.approx(42 / 64)  # 3 of 6 below: P(>= 3)
    assert median_test(runs, 1.0, "above").p == 1.0  # none strictly above
    assert median_test([1.0] * 6, 1.0, "below").p == 1.0
    assert median_test([], 1.0, "below") == median_test([], 1.0, "above")


# --- the binomial test -----------------------------------------------------------


@pytest.mark.parametrize("k, n, p0", [(7, 10, 0.4), (0, 6, 0.3), (2, 8, 0.5), (16, 16, 0.9), (1, 3, 0.1)])
def test_rate_test_is_the_binomial_tail(k, n, p0):
    above, below = rate_test(k, n, p0, "above"), rate_test(k, n, p0, "below")
    assert above.p == pytest.approx(binomial_tail(k, n, p0), rel=1e-9)  # P(K >= k)
    assert below.p == pytest.approx(1 - binomial_tail(k + 1, n, p0), rel=1e-9, abs=1e-15)  # P(K <= k)
    assert (above.p_opposite, below.p_opposite) == (below.p, above.p)
    assert above.p_min == pytest.approx(p0 ** n) and below.p_min == pytest.approx((1 - p0) ** n)


def test_rate_test_at_zero_and_one():
    # "above 0": one event is proof; "below 0" can never be shown
    assert rate_test(1, 5, 0.0, "above").p == 0.0
    assert rate_test(0, 5, 0.0, "above").p == 1.0
    assert rate_test(0, 5, 0.0, "above").p_min == 0.0
    assert {rate_test(k, 5, 0.0, "below").p for k in range(6)} == {1.0}
    assert rate_test(0, 5, 0.0, "below").p_min == 1.0
    # "below 1": one non-event is proof; "above 1" can never be shown
    assert rate_test(4, 5, 1.0, "below").p == 0.0
    assert rate_test(5, 5, 1.0, "below").p == 1.0
    assert {rate_test(k, 5, 1.0, "above").p for k in range(6)} == {1.0}
    assert rate_test(5, 5, 1.0, "above").p_min == 1.0
    assert rate_test(0, 0, 0.5, "above") == rate_test(0, 0, 0.5, "below")
    assert rate_test(0, 0, 0.5, "above").p == 1.0


# --- Boschloo's test -------------------------------------------------------------


@pytest.mark.parametrize("k1, n1, k2, n2", [(3, 3, 0, 3), (4, 5, 1, 5), (2, 4, 2, 4), (0, 6, 5, 7)])
def test_rates_compared_is_boschloo_one_sided_in_each_direction(k1, n1, k2, n2):
    table = [[k1, k2], [n1 - k1, n2 - k2]]  # a column per variant
    greater = scipy.stats.boschloo_exact(table, alternative="greater").pvalue
    less = scipy.stats.boschloo_exact(table, alternative="less").pvalue
    above, below = rates_compared(k1, n1, k2, n2, "above"), rates_compared(k1, n1, k2, n2, "below")
    assert (above.p, above.p_opposite) == pytest.approx((greater, less))
    assert (below.p, below.p_opposite) == pytest.approx((less, greater))


def test_three_of_three_against_none_of_three_is_shown_where_fisher_cannot():
    fisher = scipy.stats.fisher_exact([[3, 0], [0, 3]], alternative="greater").pvalue
    assert fisher == pytest.approx(1 / 20)  # 1 / C(6, 3)
    # only this table is as extreme: its chance p^3 (1 - p)^3 is largest at p = 1/2
    assert rates_compared(3, 3, 0, 3, "above").p == pytest.approx(1 / 64)
    assert rates_compared(0, 3, 3, 3, "below").p == pytest.approx(1 / 64)
    assert rates_compared(3, 3, 0, 3, "below").p == pytest.approx(1.0)
    too_few = rates_compared(2, 2, 0, 2, "above").p_min  # sup of p^2 (1 - p)^2, at p = 1/2
    assert too_few == pytest.approx(1 / 16) and too_few > ALPHA
    assert rates_compared(1, 0, 0, 3, "above").p == 1.0


# --- the rank test ---------------------------------------------------------------


def midranks(values) -> list[float]:
    """Each value's rank among ``values``, ties sharing the mean of their ranks."""
    return [sum(w < v for w in values) + (sum(w == v for w in values) + 1) / 2 for v in values]


def brute_force_rank_test(x, y) -> tuple[float, float]:
    """(p of "x below y", p of "x above y"): the shares of all splits of the
    pooled runs into groups of len(x) and len(y) whose x mid-rank sum is at
    most / at least the one seen."""
    pooled = list(x) + list(y)
    ranks = midranks(pooled)
    seen = sum(ranks[: len(x)])
    sums = [sum(ranks[i] for i in chosen) for chosen in itertools.combinations(range(len(pooled)), len(x))]
    return (sum(s <= seen + 1e-9 for s in sums) / len(sums), sum(s >= seen - 1e-9 for s in sums) / len(sums))


def test_mann_whitney_null_counts_every_split():
    for n in range(1, 9):
        for m in range(1, 9):
            counts = _mann_whitney_null(n, m)
            assert len(counts) == n * m + 1 and counts.sum() == math.comb(n + m, n)
    for n, m in [(1, 1), (2, 3), (3, 3), (4, 2), (4, 5), (5, 5)]:
        brute = np.zeros(n * m + 1)
        for chosen in itertools.combinations(range(n + m), n):  # the positions of x in the sorted pool
            ys = [v for v in range(n + m) if v not in chosen]
            brute[sum(a < b for a in chosen for b in ys)] += 1
        assert np.array_equal(_mann_whitney_null(n, m), brute)


@pytest.mark.parametrize("x, y", [
    ([0.1, 0.4, 0.2, 0.3], [0.25, 0.5, 0.15]),
    ([1.5, 0.2, 3.1, 0.7, 2.2, 0.9], [2.5, 1.1, 4.0, 3.3, 0.5, 2.8]),
    ([-1.0, -2.0, -3.0], [1.0, 2.0, 3.0]),
    ([5.0], [1.0, 2.0, 3.0, 4.0]),
])
def test_rank_test_without_ties_is_the_exact_mann_whitney_test(x, y):
    below, above = rank_test(x, y, "below"), rank_test(x, y, "above")
    less = scipy.stats.mannwhitneyu(x, y, alternative="less", method="exact").pvalue
    greater = scipy.stats.mannwhitneyu(x, y, alternative="greater", method="exact").pvalue
    assert (below.p, above.p) == pytest.approx((less, greater))
    assert (below.p, above.p) == pytest.approx(brute_force_rank_test(x, y))
    assert (below.p_opposite, above.p_opposite) == (above.p, below.p)
    assert below.p_min == above.p_min == 1 / math.comb(len(x) + len(y), len(x))


@pytest.mark.parametrize("x, y", [
    ([1.0, 2.0, 2.0, INF], [2.0, INF, 3.0, 0.5, INF]),  # ties at a value and at +inf
    ([INF, INF, INF], [1.0, 2.0, INF]),  # diverged runs
    ([100.0, 150.0, 150.0, INF, INF], [150.0, 200.0, INF, INF, INF, 50.0]),  # censored times
    ([0.3, 0.3, 0.3], [0.3, 0.1, 0.9]),
    ([1.0], [1.0, 2.0, INF]),  # a variant with one run
    ([INF, INF], [INF, INF]),  # all tied: no evidence either way
])
def test_rank_test_with_ties_enumerates_every_split_on_mid_ranks(x, y):
    below, above = rank_test(x, y, "below"), rank_test(x, y, "above")
    assert (below.p, above.p) == pytest.approx(brute_force_rank_test(x, y))
    assert (below.p_opposite, above.p_opposite) == (above.p, below.p)


def test_rank_test_beyond_the_exact_limit_draws_splits_and_stays_near_the_exact_p():
    """10 against 10 runs: 184,756 splits, more than it enumerates; it draws
    RESAMPLES of them. Compared with the exact share over every split (here
    enumerated), within Monte Carlo error."""
    x = [120.0, 80.0, 200.0, INF, 150.0, 150.0, 90.0, 300.0, INF, 110.0]
    y = [150.0, 250.0, INF, INF, 130.0, 400.0, 200.0, INF, 160.0, 100.0]
    ranks = np.array(midranks(x + y))
    chosen = np.array(list(itertools.combinations(range(20), 10)), dtype=np.int8)
    sums, seen = ranks[chosen].sum(axis=1), ranks[:10].sum()
    exact_below, exact_above = np.mean(sums <= seen + 1e-9), np.mean(sums >= seen - 1e-9)
    assert 0.01 < exact_below < 0.2  # a p-value where the sampling error matters
    below, above = rank_test(x, y, "below"), rank_test(x, y, "above")
    for got, exact in ((below.p, exact_below), (above.p, exact_above)):
        assert abs(got - exact) <= 4 * math.sqrt(exact * (1 - exact) / RESAMPLES) + 1 / (RESAMPLES + 1)
    assert below.p >= 1 / (RESAMPLES + 1)
    assert rank_test(x, y, "below") == below  # a fixed seed: the same runs give the same p


def test_rank_test_leaves_out_runs_without_a_value():
    assert rank_test([1.0, None, 2.0], [3.0, 4.0, float("nan")], "below") == rank_test([1.0, 2.0], [3.0, 4.0], "below")
    empty = rank_test([], [1.0, 2.0], "below")
    assert (empty.p, empty.p_opposite, empty.p_min) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("x, y", [
    ([0.1, 0.4, 0.2, 0.3], [0.25, 0.5, 0.15]),
    ([1.0, 2.0, 2.0, INF], [2.0, INF, 3.0, 0.5, INF]),
    ([INF, INF, INF], [INF, INF, INF]),
])
def test_improvement_counts_pairs(x, y):
    pairs = list(itertools.product(x, y))
    brute = sum(1.0 if a < b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)
    assert improvement(x, y) == pytest.approx(brute)
    assert improvement(x, y) + improvement(y, x) == pytest.approx(1.0)


@pytest.mark.parametrize("call", [
    lambda d: median_test([1.0], 0.0, d), lambda d: rate_test(1, 2, 0.5, d),
    lambda d: rates_compared(1, 2, 1, 2, d), lambda d: rank_test([1.0], [2.0], d),
])
def test_a_direction_must_be_below_or_above(call):
    with pytest.raises(ValueError):
        call("beside")


# --- Holm ------------------------------------------------------------------------


def test_holm_on_a_hand_computed_example():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> max(0.06, 0.04)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    assert holm([0.02]) == [0.02]
    assert holm([]) == []


def test_holm_is_monotone_and_rejects_as_the_step_down_procedure():
    rng = np.random.default_rng(7)
    for _ in range(300):
        m = int(rng.integers(1, 12))
        p = np.round(rng.uniform(0, 0.2, m) ** 2, 4).tolist()  # small values, some tied
        adjusted = holm(p)
        assert all(a >= q and a <= 1.0 for a, q in zip(adjusted, p))
        for i, j in itertools.product(range(m), repeat=2):
            if p[i] <= p[j]:
                assert adjusted[i] <= adjusted[j]
        # step-down: reject the smallest p-values up to the first p_(i) > alpha / (m - i + 1)
        order = sorted(range(m), key=lambda i: p[i])
        rejected = set()
        for rank, i in enumerate(order):
            if p[i] > ALPHA / (m - rank):
                break
            rejected.add(i)
        assert {i for i, a in enumerate(adjusted) if a <= ALPHA} == rejected


# --- the Kaplan-Meier median -----------------------------------------------------


def test_censored_median_by_hand():
    # 7 runs, 3 never solved: S(10) = 6/7, S(20) = 5/7, S(30) = 4/7, S(40) = 3/7 <= 1/2
    assert censored_median([40, 10, INF, 30, INF, INF, 20], budget=100) == 40.0
    # 6 runs, 3 never solved: S(30) = 3/6 = 1/2, where the plain median would be (30 + inf) / 2
    assert censored_median([10, 20, 30, INF, INF, INF], budget=100) == 30.0
    assert float(np.median([10, 20, 30, INF, INF, INF])) == INF
    # a time past the budget counts as censored there
    assert censored_median([10, 20, 150, 30], budget=100) == 20.0
    # more than half never solved: the median lies beyond the budget
    assert censored_median([10, INF, INF, INF], budget=100) is None
    assert censored_median([INF, INF], budget=100) is None
    assert censored_median([], budget=100) is None
    assert censored_median([None, 10, 20, INF], budget=100) == 20.0  # S(20) = 1/3


# --- what each test detects with 80% power ---------------------------------------


def test_detectable_side_probability_has_the_power_just_there():
    for n in range(1, 21):
        reproducing = [k for k in range(n + 1) if binomial_tail(k, n, 0.5) <= ALPHA]
        q = detectable_side_probability(n, ALPHA)
        if not reproducing:
            assert q is None and 0.5 ** n > ALPHA
            continue
        k = min(reproducing)
        assert binomial_tail(k, n, q) >= POWER - 1e-9
        assert binomial_tail(k, n, q - 1e-6) < POWER
    assert detectable_side_probability(4, ALPHA) is None  # 1/16 > 0.05


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_detectable_rate_has_the_power_just_there(direction):
    for n in (3, 6, 10, 16):
        for p0 in (0.0, 0.1, 0.5, 0.9):
            if direction == "above":  # reject for k >= k*: P_p0(K >= k*) <= alpha
                reproducing = [k for k in range(n + 1) if binomial_tail(k, n, p0) <= ALPHA]
            else:  # reject for k <= k*: P_p0(K <= k*) <= alpha
                reproducing = [k for k in range(n + 1) if 1 - binomial_tail(k + 1, n, p0) <= ALPHA]
            rate = detectable_rate(n, p0, direction, ALPHA)
            if not reproducing:
                assert rate is None, (n, p0)
                continue

            def power_at(r):
                return sum(math.comb(n, k) * r ** k * (1 - r) ** (n - k) for k in reproducing)

            step = 1e-6 if direction == "above" else -1e-6
            assert power_at(rate) >= POWER - 1e-9, (n, p0, rate)
            assert power_at(rate - step) < POWER, (n, p0, rate)


@pytest.mark.parametrize("direction, p2", [("above", 0.1), ("below", 0.9)])
def test_detectable_rate_difference_has_the_power_just_there(direction, p2):
    """n = 4 against 4: every table's Boschloo p-value from scipy, the power
    summed over the tables that reproduce."""
    n = 4
    alternative = "greater" if direction == "above" else "less"
    reproduces = np.array([[scipy.stats.boschloo_exact([[k1, k2], [n - k1, n - k2]], alternative=alternative).pvalue
                            <= ALPHA for k2 in range(n + 1)] for k1 in range(n + 1)])
    k = np.arange(n + 1)

    def power_at(p1):
        return scipy.stats.binom.pmf(k, n, p1) @ reproduces @ scipy.stats.binom.pmf(k, n, p2)

    p1 = detectable_rate_difference(n, n, p2, direction, ALPHA)
    assert p1 is not None
    step = 1e-6 if direction == "above" else -1e-6
    assert power_at(p1) >= POWER - 1e-9
    assert power_at(p1 - step) < POWER
    assert detectable_rate_difference(2, 2, 0.5, direction, ALPHA) is None  # p >= 1/16 at best


def test_detectable_improvement_has_about_the_power_there():
    """Simulated afresh (40,000 suites, another seed) against the critical
    value of an enumeration of every split: about 80% power at the returned
    probability of improvement, clearly less 0.05 before it and more after."""
    n = m = 6
    chosen = list(itertools.combinations(range(n + m), n))
    u_null = np.array([sum(a < b for a in c for b in range(n + m) if b not in c) for c in chosen])
    critical = min(u for u in range(n * m + 1) if np.mean(u_null >= u) <= ALPHA)
    rng = np.random.default_rng(99)
    zx, zy = rng.standard_normal((40_000, n)), rng.standard_normal((40_000, m))

    def power_at(theta):
        shift = math.sqrt(2) * scipy.stats.norm.ppf(theta)  # P(X < Y) = Phi(shift / sqrt 2)
        return np.mean(((zx[:, :, None] - shift) < zy[:, None, :]).sum(axis=(1, 2)) >= critical)

    theta = detectable_improvement(n, m, ALPHA)
    assert abs(power_at(theta) - POWER) < 0.025
    assert power_at(theta - 0.05) < POWER - 0.05 and power_at(theta + 0.05) > POWER + 0.05
    assert detectable_improvement(2, 2, ALPHA) is None  # 1 / C(4, 2) = 1/6 > 0.05
