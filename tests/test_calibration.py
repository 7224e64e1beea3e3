"""A verdict marked 95% must be right 19 times in 20: every kind of claim the
findings make, simulated with the truth exactly at the claim's threshold, is
"reproduced" (p <= ALPHA) in at most ALPHA of the simulated suites, up to
Monte Carlo error.

The harness (the distributions, ``false_claim_rate``, ``power``) is
``benchmarks/calibration.py``, which prints the same table with more
simulations. Here:

- each kind of claim (median, rate, two rates, two samples), distribution
  (normal, lognormal, solved-or-stuck, runs that did not finish, censored
  times with ties, an accuracy that half of the runs reach exactly: ties at
  the threshold), direction and seed count the suites use, held to
  ``allowed_rate(sims)`` = ALPHA + 3 standard errors, one cell at a time and
  pooled per kind (sharper: thousands of suites);
- exactly, without simulation, where the outcomes can be enumerated: the
  sign test, the binomial test and Boschloo's test keep their level at every
  true value on a grid;
- a suite's claims as a family: with Holm's adjustment the chance that any of
  m false claims is reproduced stays at the level; without it, it does not;
- the harness can fail: it rejects a BCa bootstrap of the mean and a t-test of
  raw values on lognormal data, and a sign test that counted a run that did
  not finish as lying above the threshold, while it passes the t-test on
  normal data, where the t-test is exact;
- the power with a clear effect, where the seed counts allow one (printed as
  a table with ``pytest -s``).

Every simulation draws from a fixed seed, so the rates are the same at every
run. The number of simulated suites per cell keeps the file under a minute
on two slow cores; the rank test with ties at 8 and 10 runs per variant
(about 10 and 50-90 ms a call: it enumerates 12,870 splits, or draws 19,999)
gets fewer, and a looser bound per cell for it.
"""

from __future__ import annotations

import functools
import math
import pathlib
import sys

import numpy as np
import pytest
import scipy.stats

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repository root, where benchmarks/ is

from benchmarks.calibration import (  # noqa: E402
    ABOVE,
    AT_TRUTH,
    BELOW,
    CLEAR_SHARE,
    DIRECTIONS,
    LOGNORMAL,
    LOGNORMAL_MEAN,
    MEDIAN,
    NORMAL,
    PER_RUN,
    RANKS,
    RATE,
    SEED_COUNTS,
    TIMES_TO_SOLVE,
    TWO_RATES,
    UNFINISHED_RUNS,
    allowed_rate,
    any_reproduced,
    bootstrap_mean_claim,
    false_claim_rate,
    family,
    family_at_truth,
    median_claim,
    per_run,
    power,
    scenarios,
    t_test_claim,
)
from rnnbench.report.stats import ALPHA, median_test, rate_test, rates_compared  # noqa: E402

KINDS = (MEDIAN, RATE, TWO_RATES, RANKS)
SIMS = {MEDIAN: 1000, RATE: 1000, TWO_RATES: 1000, RANKS: 300}
TIED_SIMS = {8: 150, 10: 80}  # the rank test on tied values at 8 and 10 runs per variant: slow calls
NULL = {s.key: s for s in scenarios(AT_TRUTH)}
CELLS = [(key, n) for key in NULL for n in SEED_COUNTS[key[0]]]


def sims_for(key: tuple[str, str, str], n: int) -> int:
    kind, distribution, _ = key
    if kind == RANKS and distribution == TIMES_TO_SOLVE.name and n in TIED_SIMS:
        return TIED_SIMS[n]
    return SIMS[kind]


@functools.lru_cache(maxsize=None)
def measured(key: tuple[str, str, str], n: int) -> tuple[int, int]:
    """(suites reproduced, suites simulated) for one cell, computed once per session."""
    s, sims = NULL[key], sims_for(key, n)
    return round(false_claim_rate(s.decide, s.sampler, n, sims) * sims), sims


def _id(key, n) -> str:
    return "-".join(part.split(" (")[0].replace(" ", "_") for part in key) + f"-n{n}"


# ---- every kind of claim, with the truth at its threshold ------------------------------------


@pytest.mark.parametrize("key, n", CELLS, ids=[_id(*cell) for cell in CELLS])
def test_a_false_claim_at_its_threshold_is_reproduced_at_most_one_time_in_twenty(key, n):
    hits, sims = measured(key, n)
    assert hits / sims <= allowed_rate(sims), f"{key} at n = {n}: {hits}/{sims} reproduced"


@pytest.mark.parametrize("kind", KINDS)
def test_pooled_over_its_cells_each_kind_stays_at_the_level(kind):
    """A test can exceed the level by a little in every cell and pass each
    cell's bound; over all of a kind's cells (9,000 to 72,000 suites) the
    bound is within a few thousandths of ALPHA. Printed with ``pytest -s``."""
    cells = [(key, n) for key, n in CELLS if key[0] == kind]
    hits = sum(measured(key, n)[0] for key, n in cells)
    sims = sum(measured(key, n)[1] for key, n in cells)
    print(f"\n{kind}: false-claim rate by cell (truth at the threshold)")
    for key, n in cells:
        h, s = measured(key, n)
        print(f"  {key[2]:<5} {key[1]:<40} n={n:<3} {h / s:.3f} of {s}")
    print(f"  pooled: {hits / sims:.4f} of {sims} (allowed {allowed_rate(sims):.4f})")
    assert hits / sims <= allowed_rate(sims)


def test_a_run_that_did_not_finish_never_helps_a_claim():
    """The finished runs' median at the threshold, 30% of runs without a
    value: "above" and "below" are false, and stay unreproduced (a run without
    a value is on neither side). Counting such a run as lying above
    (+inf, as for a diverged loss) would put 65% of runs above and reproduce
    "above" in 29% of suites of 16 (P(Binomial(16, 0.65) >= 12)): the same
    harness catches it."""
    threshold = 1.0  # the median of the finished runs' lognormal
    sampler = per_run(UNFINISHED_RUNS)
    for n in (6, 8, 10, 16):
        for direction in DIRECTIONS:
            assert false_claim_rate(median_claim(threshold, direction), sampler, n, 1000) <= allowed_rate(1000)

    def none_as_infinity(values):
        return median_test([math.inf if v is None else v for v in values], threshold, ABOVE).p <= ALPHA

    assert false_claim_rate(none_as_infinity, sampler, 16, 1000) > allowed_rate(1000)


# ---- exactly, where the outcomes can be enumerated -------------------------------------------


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_sign_test_size_is_at_most_alpha_at_every_seed_count(direction):
    """With the median at the threshold a run lies on the claimed side with
    probability 1/2: the chance of "reproduced" is the sum of the binomial
    probabilities of the counts that reproduce."""
    side, other = (-1.0, 1.0) if direction == BELOW else (1.0, -1.0)
    for n in range(1, 31):
        size = sum(scipy.stats.binom.pmf(k, n, 0.5) for k in range(n + 1)
                   if median_test([side] * k + [other] * (n - k), 0.0, direction).p <= ALPHA)
        assert size <= ALPHA


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_binomial_test_size_is_at_most_alpha_at_and_beyond_the_threshold(direction):
    """At every p0 on a grid and every true rate at p0 or beyond it on the
    other side: the chance of a k that reproduces."""
    for n in (1, 3, 6, 7, 8, 10, 16):
        for p0 in np.linspace(0.0, 1.0, 21):
            reproducing = [k for k in range(n + 1) if rate_test(k, n, p0, direction).p <= ALPHA]
            trues = np.linspace(0.0, p0, 5) if direction == ABOVE else np.linspace(p0, 1.0, 5)
            for true in trues:
                assert sum(scipy.stats.binom.pmf(reproducing, n, true)) <= ALPHA + 1e-12


@pytest.mark.parametrize("n", SEED_COUNTS[TWO_RATES])
def test_boschloo_size_is_at_most_alpha_at_every_common_rate(n):
    """Boschloo's p-value is a maximum over the common rate, which scipy
    finds numerically: the chance of a reproducing table, summed over all
    tables, stays at the level at every common rate on a fine grid."""
    k = np.arange(n + 1)
    for direction in DIRECTIONS:
        reproduces = np.array([[rates_compared(k1, n, k2, n, direction).p <= ALPHA for k2 in k] for k1 in k])
        for rate in np.linspace(0.005, 0.995, 199):
            pmf = scipy.stats.binom.pmf(k, n, rate)
            assert pmf @ reproduces @ pmf <= ALPHA + 1e-12


# ---- a suite's claims as a family ------------------------------------------------------------

FAMILY_SIMS = 500


@pytest.mark.parametrize("m, n", [(4, 8), (10, 8), (10, 4)])
def test_holm_keeps_the_chance_of_any_false_claim_in_a_suite_at_the_level(m, n):
    """The family as the findings form it (stats.family_adjusted). At 4 seeds
    the sign test and the binomial test cannot reach 0.05 (p_min 1/16) and
    leave the family, the rank tests stay: the family the data decide."""
    claims = family_at_truth(m)
    with_holm = false_claim_rate(any_reproduced(claims), family(claims), n, FAMILY_SIMS)
    without = false_claim_rate(any_reproduced(claims, adjusted=False), family(claims), n, FAMILY_SIMS)
    print(f"\n{m} false claims at {n} seeds: any reproduced {with_holm:.3f} with Holm, {without:.3f} without")
    assert with_holm <= allowed_rate(FAMILY_SIMS)
    if n == 4:  # the family really is cut: some claims cannot decide, the others can
        p_min = [c.test(c.sample(np.random.default_rng(0), n)).p_min for c in claims]
        assert any(p > ALPHA for p in p_min) and any(p <= ALPHA for p in p_min)
    if (m, n) == (10, 8):  # ten claims at their level each: the chance that one of them passes is far above it
        assert without > 0.1


# ---- the harness fails a method that is not calibrated ---------------------------------------


def test_the_harness_rejects_a_bca_bootstrap_of_the_mean_at_three_seeds():
    """Lognormal runs (sigma 1) with the true mean at the threshold: a
    two-sided 95% BCa interval wholly below it (a one-sided 2.5% claim) says
    "reproduced" in about a third of suites of 3 (the issue measured 35%):
    the sample mean of skewed data is usually below the true mean, and the
    interval too narrow."""
    sims = 300
    rate = false_claim_rate(bootstrap_mean_claim(LOGNORMAL_MEAN, BELOW), per_run(LOGNORMAL), 3, sims)
    print(f"\nBCa bootstrap of the mean, lognormal, n = 3: {rate:.3f} reproduced (allowed {allowed_rate(sims):.3f})")
    assert rate > allowed_rate(sims) + 0.1


def test_the_harness_rejects_a_t_test_of_skewed_values_and_passes_it_on_normal_ones():
    """A one-sided t-test of lognormal values with the true mean at the
    threshold says "below" in about 15% of suites of 8 (the issue measured
    14-18%); on normal values, where it is exact, it stays at the level."""
    sims = 1000
    skewed = false_claim_rate(t_test_claim(LOGNORMAL_MEAN, BELOW), per_run(LOGNORMAL), 8, sims)
    normal = false_claim_rate(t_test_claim(0.0, BELOW), per_run(NORMAL), 8, sims)
    print(f"\nt-test, n = 8: lognormal {skewed:.3f}, normal {normal:.3f} (allowed {allowed_rate(sims):.3f})")
    assert skewed > allowed_rate(sims) + 0.05
    assert normal <= allowed_rate(sims)


# ---- power with a clear effect ---------------------------------------------------------------

POWER_SIMS = 400


def _exact_power(n: int, share: float, reproduces) -> float:
    """P(reproduces(K)) for K ~ Binomial(n, share): the count of runs on the claimed side, or of successes."""
    return float(sum(scipy.stats.binom.pmf(k, n, share) for k in range(n + 1) if reproduces(k)))


def test_power_with_a_clear_effect():
    """95% of runs on the claimed side (sign test), a true rate 0.4 past p0 = 0.5
    (binomial test), rates 0.9 against 0.1 (Boschloo), normal runs 2 sd apart
    and censored times with clearly different never-solving shares (rank test).
    The sign and binomial tests' simulated power agrees with the exact binomial
    sum; each test has power above 80% from the seed counts where it should."""
    effect = {(s.kind, s.distribution, s.direction): s for s in scenarios(CLEAR_SHARE)}
    table, failures = [], []

    def measure(key, n, should_exceed=None, exact=None):
        s = effect[key]
        got = power(s.decide, s.sampler, n, POWER_SIMS)
        table.append(f"  {key[0]:<17} {key[2]:<5} {key[1]:<48} n={n:<3} {got:.3f}"
                     + (f" (exact {exact:.3f})" if exact is not None else ""))
        if should_exceed is not None and not got > should_exceed:
            failures.append(f"{key} at n = {n}: power {got:.3f}")
        if exact is not None and abs(got - exact) > 4 * math.sqrt(exact * (1 - exact) / POWER_SIMS) + 1e-9:
            failures.append(f"{key} at n = {n}: power {got:.3f}, exact {exact:.3f}")

    for d in DIRECTIONS:
        side, other = (-1.0, 1.0) if d == BELOW else (1.0, -1.0)
        for n in (6, 7, 8, 10, 16):
            exact = _exact_power(n, CLEAR_SHARE,
                                 lambda k: median_test([side] * k + [other] * (n - k), 0.0, d).p <= ALPHA)
            measure((MEDIAN, NORMAL.name, d), n, 0.8 if n in (8, 10, 16) else None, exact)
        p0, true = 0.5, 0.9 if d == ABOVE else 0.1
        for n in (6, 8, 10, 16):
            exact = _exact_power(n, true, lambda k: rate_test(k, n, p0, d).p <= ALPHA)
            measure((RATE, f"p0 {p0}, true {true}", d), n, 0.8 if n == 16 else None, exact)
        for n in (6, 8, 10):
            measure((TWO_RATES, "0.1 vs 0.9" if d == BELOW else "0.9 vs 0.1", d), n, 0.8 if n >= 8 else None)
        for n in (6, 8, 10):
            measure((RANKS, "normal: a shift of 2 sd", d), n, 0.8)
        measure((RANKS, f"{TIMES_TO_SOLVE.name}: 10% never, median 500 vs 60%, 2000", d), 6, 0.8)
    print("\npower with a clear effect\n" + "\n".join(table))
    assert not failures, failures


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_thresholds_put_the_stated_share_of_runs_on_the_claimed_side(direction):
    """The distributions' thresholds, checked on 200,000 drawn runs: at the
    truth at most half of the runs lie strictly on the claimed side, and at
    least half on it or tied with the threshold (so no threshold nearer the
    claimed side would still be a false claim); with a clear effect, 95%."""
    rng = np.random.default_rng(1)
    for dist in PER_RUN:
        values = np.array([np.nan if v is None else v for v in dist.draw(rng, 200_000)])
        for share in (AT_TRUTH, CLEAR_SHARE):
            t = dist.threshold(direction, share)
            if t is None:
                continue
            on_side = np.mean(values < t) if direction == BELOW else np.mean(values > t)
            if share == AT_TRUTH:
                assert on_side <= share + 0.004, (dist.name, on_side)
                assert on_side + np.mean(values == t) >= share - 0.004, (dist.name, on_side)
            else:
                assert on_side >= share - 0.003, (dist.name, on_side)
