"""How often the report's verdicts are wrong: the false-claim rate and the power of each test.

    python benchmarks/calibration.py [--sims 1000] [--seed 20240601]

"A verdict marked 95% must be right 19 times in 20." A finding claims that a
measure lies below or above a number, or the same measure of another variant;
the report calls it "reproduced" when the claim's one-sided test in
:mod:`rnnbench.report.stats` gives p <= ALPHA (0.05), after Holm's adjustment
across the suite's claims. This module simulates suites of seeds in which a
claim is false with the truth exactly AT its threshold -- the false claim that
is hardest to reject -- and counts how often the test still says "reproduced":
the false-claim rate, which must be at most ALPHA. Beside it, the power: how
often the test says "reproduced" when the claim holds clearly.

The kinds of claim, each with the test the findings use and the distributions
a benchmark's runs have (normal; lognormal, i.e. skewed; runs that either
solved the task or stayed stuck near the baseline; runs that did not finish;
times to solve, logged every 50 steps, where some runs never solve; an
accuracy that every run that solves reaches exactly, so that runs tie with
the threshold):

- **median vs number** (``median_test``, the sign test): the truth at the
  threshold is "a run lies strictly on the claimed side with probability
  1/2", or at most 1/2 where runs did not finish or tie with the threshold
  (such runs lie on neither side). Clear effect: 95% of runs on the claimed
  side.
- **rate vs number** (``rate_test``, the exact binomial test): the true rate
  is p0. Clear effect: the true rate 0.4 past p0 on the claimed side.
- **two rates** (``rates_compared``, Boschloo's exact test): both rates equal.
  Clear effect: 0.9 against 0.1.
- **two samples** (``rank_test``, the exact Mann-Whitney permutation test):
  both variants' runs from one distribution. Clear effect: a shift of 2
  standard deviations, or of the stuck and never-solving shares.
- **a suite's claims** (``stats.family_adjusted``, as the findings decide a
  suite: Holm over the claims whose test can decide at all): m claims of the
  kinds above, all at their thresholds; the chance that any is reproduced.

For comparison, the same harness on two tests the report does not use, on
the mean of the runs: a 95% BCa bootstrap interval (scipy.stats.bootstrap;
"reproduced" when the interval lies wholly past the threshold) and a
one-sided t-test of the raw values, with the true MEAN at the threshold. On
skewed data at a handful of seeds both say "reproduced" far more often than
5%: that is why the report decides with the median and exact tests.

``tests/test_calibration.py`` imports this module and holds every test to its
level; run as a script, it prints the whole table with ``--sims`` simulated
suites per cell, the machine and the library versions first. A cell costs
about ``sims`` calls of the test; the rank test with ties at 10 against 10
runs draws 19,999 splits per call and dominates (50-90 ms a call: about
6 minutes at --sims 1000 on a 2-core AMD EPYC).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy
import scipy.stats

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rnnbench.report.stats import ALPHA, Test, family_adjusted, median_test, rank_test, rate_test, rates_compared

SEED = 20240601  # of every simulation: the same call gives the same rate
BELOW, ABOVE = "below", "above"
DIRECTIONS = (BELOW, ABOVE)
AT_TRUTH = 0.5  # the share of runs on the claimed side when the truth is at the threshold
CLEAR_SHARE = 0.95  # ... and with a clear effect

# what one simulated suite gives a test, drawn at n seeds
Sampler = Callable[[np.random.Generator, int], object]
# True where the method says "reproduced" from one simulated suite's data
Decide = Callable[[object], bool]


def share_reproduced(decide: Decide, sampler: Sampler, n: int, sims: int, seed: int = SEED) -> float:
    """The share of ``sims`` suites, each drawn by ``sampler`` at ``n`` seeds
    from one generator seeded with ``seed``, for which ``decide`` says "reproduced"."""
    rng = np.random.default_rng(seed)
    return sum(bool(decide(sampler(rng, n))) for _ in range(sims)) / sims


def false_claim_rate(decide: Decide, sampler: Sampler, n: int, sims: int, seed: int = SEED) -> float:
    """How often ``decide`` says "reproduced" when ``sampler`` draws with the
    truth at the claim's threshold (the claim is false): at most ALPHA for a
    test that deserves "95%"."""
    return share_reproduced(decide, sampler, n, sims, seed)


def power(decide: Decide, sampler: Sampler, n: int, sims: int, seed: int = SEED) -> float:
    """How often ``decide`` says "reproduced" when ``sampler`` draws with the claim true."""
    return share_reproduced(decide, sampler, n, sims, seed)


def allowed_rate(sims: int, alpha: float = ALPHA) -> float:
    """The most a false-claim rate measured from ``sims`` suites may show for
    a test of level ``alpha``: alpha plus 3 standard errors of Monte Carlo
    noise (a calibrated test exceeds it by chance about once in 700)."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / sims)


# ---- one run's value: the distributions ------------------------------------------------------


@dataclass(frozen=True)
class PerRun:
    """A distribution of one run's value (None: a run that did not finish).

    ``threshold(direction, share)``: the number t such that a run lies
    strictly on the ``direction`` side of t with probability ``share``. Where
    the distribution has atoms no t may give exactly that: then, for a share
    of at most 1/2 (the truth at a threshold), the t nearest it with at most
    that share (a run tied with t is on neither side), for a larger one, with
    at least that share. None where no t gives the share (runs that never
    finish cap the share below a threshold)."""

    name: str
    draw: Callable[[np.random.Generator, int], list[float | None]]
    threshold: Callable[[str, float], float | None]


def _continuous(name: str, draw, quantile) -> PerRun:
    """A PerRun whose values have the quantile function ``quantile`` (no atoms, no None)."""
    return PerRun(name, draw, lambda d, share: float(quantile(share if d == BELOW else 1 - share)))


NORMAL = _continuous("normal", lambda rng, n: rng.standard_normal(n).tolist(), scipy.stats.norm.ppf)
LOGNORMAL = _continuous("lognormal (sigma 1)", lambda rng, n: np.exp(rng.standard_normal(n)).tolist(),
                        lambda q: math.exp(scipy.stats.norm.ppf(q)))

STUCK = 0.4  # the share of runs stuck near the baseline


def _solved_or_stuck(rng: np.random.Generator, n: int, stuck: float = STUCK) -> list[float]:
    """Loss over the baseline: stuck runs near 1 (lognormal, sigma 0.05), solved
    runs near 0.01 (lognormal, sigma 0.5); the two humps overlap with
    probability below 1e-14."""
    z = rng.standard_normal(n)
    return np.where(rng.random(n) < stuck, np.exp(0.05 * z), 0.01 * np.exp(0.5 * z)).tolist()


def _solved_or_stuck_quantile(q: float) -> float:
    if q <= 1 - STUCK:
        return 0.01 * math.exp(0.5 * scipy.stats.norm.ppf(q / (1 - STUCK)))
    return math.exp(0.05 * scipy.stats.norm.ppf((q - (1 - STUCK)) / STUCK))


SOLVED_OR_STUCK = _continuous(f"solved or stuck ({STUCK:.0%} stuck)", _solved_or_stuck, _solved_or_stuck_quantile)

UNFINISHED = 0.3  # the share of runs that do not finish (no value)


def _unfinished_draw(rng: np.random.Generator, n: int) -> list[float | None]:
    values = np.exp(rng.standard_normal(n))
    return [None if gone else float(v) for gone, v in zip(rng.random(n) < UNFINISHED, values)]


def _unfinished_threshold(direction: str, share: float) -> float | None:
    """A run is on the claimed side only if it finished: P = 0.7 F(t) below, 0.7 (1 - F(t)) above."""
    finished = 1 - UNFINISHED
    if share >= finished:
        return None
    q = share / finished if direction == BELOW else 1 - share / finished
    return math.exp(scipy.stats.norm.ppf(q))


UNFINISHED_RUNS = PerRun(f"lognormal, {UNFINISHED:.0%} unfinished (None)", _unfinished_draw,
                         _unfinished_threshold)

NEVER = 0.3  # the share of runs that never solve (time +inf)
LOG_EVERY = 50  # steps between logged evaluations: a time to solve is a multiple of it
TIME_MEDIAN = 1000.0  # of the runs that solve, before rounding up to the log grid


def _times_draw(rng: np.random.Generator, n: int, never: float = NEVER, median: float = TIME_MEDIAN) -> list[float]:
    """Steps to solve: lognormal (sigma 0.5) rounded up to the log grid, +inf for a run that never solves."""
    t = LOG_EVERY * np.ceil(median * np.exp(0.5 * rng.standard_normal(n)) / LOG_EVERY)
    return np.where(rng.random(n) < never, np.inf, t).tolist()


_GRID = LOG_EVERY * np.arange(1, 2001, dtype=float)  # 50 .. 100,000 steps: all but 1e-40 of the mass
_AT_MOST = (1 - NEVER) * scipy.stats.norm.cdf(np.log(_GRID / TIME_MEDIAN) / 0.5)  # P(T <= grid)
_BEFORE = np.concatenate([[0.0], _AT_MOST[:-1]])  # P(T < grid)


def _times_threshold(direction: str, share: float) -> float | None:
    """On the log grid: the claimed side has P(T < t) (below) or 1 - P(T <= t) (above)."""
    side = _BEFORE if direction == BELOW else 1 - _AT_MOST
    if share <= 0.5:  # the threshold nearest the truth with at most ``share`` on the claimed side
        ok = np.flatnonzero(side <= share)
        return float(_GRID[ok[-1] if direction == BELOW else ok[0]])
    ok = np.flatnonzero(side >= share)  # a clear effect: at least ``share`` there
    if len(ok) == 0:
        return None
    return float(_GRID[ok[0] if direction == BELOW else ok[-1]])


TIMES_TO_SOLVE = PerRun(f"steps to solve ({NEVER:.0%} never: +inf; ties)",
                        _times_draw, _times_threshold)

def _accuracy_draw(rng: np.random.Generator, n: int) -> list[float]:
    """Accuracy on the test set: exactly 1 for the half of the runs that solve
    the task, else uniform on [0.5, 1)."""
    return np.where(rng.random(n) < 0.5, 1.0, 0.5 + 0.5 * rng.random(n)).tolist()


def _accuracy_threshold(direction: str, share: float) -> float | None:
    """P(A < t) = t - 0.5 for t in [0.5, 1]; P(A > t) = 1.5 - t for t in
    [0.5, 1), and 0 from 1 on. At the truth both thresholds are 1, where half
    of the runs tie."""
    if direction == BELOW:
        return 0.5 + share if share <= 0.5 else None
    return 1.0 if share <= 0.5 else 1.5 - share


ACCURACY = PerRun("accuracy (50% exactly 1: ties)", _accuracy_draw, _accuracy_threshold)

PER_RUN = (NORMAL, LOGNORMAL, SOLVED_OR_STUCK, UNFINISHED_RUNS, TIMES_TO_SOLVE, ACCURACY)


# ---- two variants' runs ----------------------------------------------------------------------


@dataclass(frozen=True)
class TwoSamples:
    """One variant's runs, ``draw``, and a clear effect between two variants:
    ``lower`` draws runs that tend to lie clearly below ``higher``'s."""

    name: str
    draw: Callable[[np.random.Generator, int], list[float]]
    lower: Callable[[np.random.Generator, int], list[float]]
    higher: Callable[[np.random.Generator, int], list[float]]
    effect: str


TWO_SAMPLES = (
    TwoSamples("normal", NORMAL.draw,
               lambda rng, n: (rng.standard_normal(n) - 1).tolist(),
               lambda rng, n: (rng.standard_normal(n) + 1).tolist(), "a shift of 2 sd"),
    TwoSamples("lognormal (sigma 1)", LOGNORMAL.draw,
               lambda rng, n: np.exp(rng.standard_normal(n) - 1).tolist(),
               lambda rng, n: np.exp(rng.standard_normal(n) + 1).tolist(), "a shift of 2 sd of the log"),
    TwoSamples(SOLVED_OR_STUCK.name, SOLVED_OR_STUCK.draw,
               lambda rng, n: _solved_or_stuck(rng, n, stuck=0.1),
               lambda rng, n: _solved_or_stuck(rng, n, stuck=0.9), "10% stuck against 90%"),
    TwoSamples(TIMES_TO_SOLVE.name, TIMES_TO_SOLVE.draw,
               lambda rng, n: _times_draw(rng, n, never=0.1, median=500.0),
               lambda rng, n: _times_draw(rng, n, never=0.6, median=2000.0),
               "10% never, median 500 vs 60%, 2000"),
)


# ---- the kinds of claim ----------------------------------------------------------------------

MEDIAN, RATE, TWO_RATES, RANKS = "median vs number", "rate vs number", "two rates", "two samples"
SEED_COUNTS = {MEDIAN: (3, 6, 7, 8, 10, 16), RATE: (3, 6, 7, 8, 10, 16),
               TWO_RATES: (3, 6, 8, 10), RANKS: (3, 6, 8, 10)}
NULL_RATES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class Scenario:
    """A claim of one kind on simulated data: ``sampler`` draws one suite's
    data at n seeds, ``decide`` says whether the report's test reproduces it."""

    kind: str
    distribution: str
    direction: str
    sampler: Sampler
    decide: Decide

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.distribution, self.direction


def median_claim(threshold: float, direction: str) -> Decide:
    return lambda values: median_test(values, threshold, direction).p <= ALPHA


def rate_claim(p0: float, direction: str) -> Decide:
    return lambda kn: rate_test(kn[0], kn[1], p0, direction).p <= ALPHA


def two_rates_claim(direction: str) -> Decide:
    return lambda counts: rates_compared(*counts, direction).p <= ALPHA


def two_samples_claim(direction: str) -> Decide:
    return lambda xy: rank_test(xy[0], xy[1], direction).p <= ALPHA


def binomial(rate: float) -> Sampler:
    """k successes of n runs at ``rate``: (k, n)."""
    return lambda rng, n: (int(rng.binomial(n, rate)), n)


def two_binomials(rate1: float, rate2: float) -> Sampler:
    """(k1, n, k2, n) at the two rates."""
    return lambda rng, n: (int(rng.binomial(n, rate1)), n, int(rng.binomial(n, rate2)), n)


def two_variants(draw_x, draw_y) -> Sampler:
    return lambda rng, n: (draw_x(rng, n), draw_y(rng, n))


def per_run(dist: PerRun) -> Sampler:
    return lambda rng, n: dist.draw(rng, n)


def scenarios(share: float = AT_TRUTH) -> list[Scenario]:
    """Every kind, distribution and direction, with the truth at the threshold
    (``share`` = 1/2: the false claims) or with a clear effect (any other
    ``share``: the share of runs on the claimed side for a median)."""
    at_truth = share == AT_TRUTH
    out = []
    for d in DIRECTIONS:
        for dist in PER_RUN:
            t = dist.threshold(d, share)
            if t is not None:
                out.append(Scenario(MEDIAN, dist.name, d, per_run(dist), median_claim(t, d)))
        for p0 in NULL_RATES:
            true = p0 if at_truth else p0 + (0.4 if d == ABOVE else -0.4)
            if 0 < true < 1:
                out.append(Scenario(RATE, f"p0 {p0}, true {true:.1f}", d, binomial(true), rate_claim(p0, d)))
        pairs = [(r, r) for r in NULL_RATES] if at_truth else [(0.1, 0.9) if d == BELOW else (0.9, 0.1)]
        for r1, r2 in pairs:
            out.append(Scenario(TWO_RATES, f"{r1} vs {r2}", d, two_binomials(r1, r2), two_rates_claim(d)))
        for two in TWO_SAMPLES:
            if at_truth:
                sampler, name = two_variants(two.draw, two.draw), two.name
            else:
                x, y = (two.lower, two.higher) if d == BELOW else (two.higher, two.lower)
                sampler, name = two_variants(x, y), f"{two.name}: {two.effect}"
            out.append(Scenario(RANKS, name, d, sampler, two_samples_claim(d)))
    return out


# ---- a suite's claims as one family ----------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One claim of a simulated suite: its data at n seeds and its test of them."""

    sample: Sampler
    test: Callable[[object], Test]


def family_at_truth(m: int) -> list[Claim]:
    """m independent claims, all false with the truth at the threshold: the
    four kinds in turn (median of normal runs at 0, a rate at p0 = 0.5, two
    samples of normal runs, two rates of 0.5), directions alternating."""
    kinds = [
        lambda d: Claim(per_run(NORMAL), lambda v: median_test(v, 0.0, d)),
        lambda d: Claim(binomial(0.5), lambda kn: rate_test(kn[0], kn[1], 0.5, d)),
        lambda d: Claim(two_variants(NORMAL.draw, NORMAL.draw), lambda xy: rank_test(xy[0], xy[1], d)),
        lambda d: Claim(two_binomials(0.5, 0.5), lambda c: rates_compared(*c, d)),
    ]
    return [kinds[i % len(kinds)](DIRECTIONS[(i // len(kinds)) % 2]) for i in range(m)]


def family(claims: Sequence[Claim]) -> Sampler:
    return lambda rng, n: [c.sample(rng, n) for c in claims]


def any_reproduced(claims: Sequence[Claim], adjusted: bool = True) -> Decide:
    """"Reproduced" for the family when any claim's p-value -- adjusted as the
    findings adjust a suite's (``stats.family_adjusted``: Holm over the claims
    that can decide), or not adjusted -- is at most ALPHA."""
    def decide(data) -> bool:
        tests = [c.test(x) for c, x in zip(claims, data)]
        ps = family_adjusted(tests)[0] if adjusted else [t.p for t in tests]
        return any(p is not None and p <= ALPHA for p in ps)
    return decide


# ---- for comparison: tests of the mean -------------------------------------------------------

LOGNORMAL_MEAN = math.exp(0.5)  # the mean of exp(Z): where a claim about the mean is at its threshold


def bootstrap_mean_claim(threshold: float, direction: str, resamples: int = 2000) -> Decide:
    """"Reproduced" when the two-sided 95% BCa bootstrap interval of the mean
    (scipy.stats.bootstrap, a fixed seed per call) lies wholly past ``threshold``."""
    def decide(values) -> bool:
        x = np.asarray(values, dtype=float)
        with warnings.catch_warnings():  # BCa at n = 3 warns of degenerate resamples
            warnings.simplefilter("ignore")
            ci = scipy.stats.bootstrap((x,), np.mean, confidence_level=1 - ALPHA, method="BCa",
                                       n_resamples=resamples, rng=np.random.default_rng(0)).confidence_interval
        return bool(ci.high < threshold) if direction == BELOW else bool(ci.low > threshold)
    return decide


def t_test_claim(threshold: float, direction: str) -> Decide:
    """"Reproduced" when the one-sided one-sample t-test of the raw values against ``threshold`` has p <= ALPHA."""
    alternative = "less" if direction == BELOW else "greater"
    return lambda values: bool(scipy.stats.ttest_1samp(values, threshold, alternative=alternative).pvalue <= ALPHA)


def mean_scenarios(share: float = AT_TRUTH) -> list[Scenario]:
    """The bootstrap and the t-test on one run's value: with the true MEAN at
    the threshold (``share`` = 1/2), or at the clear-effect threshold of the
    median's scenarios (95% of runs on the claimed side)."""
    out = []
    for d in DIRECTIONS:
        for dist, mean in ((NORMAL, 0.0), (LOGNORMAL, LOGNORMAL_MEAN), (SOLVED_OR_STUCK, None)):
            if share == AT_TRUTH:
                t = mean if mean is not None else (1 - STUCK) * 0.01 * math.exp(0.125) + STUCK * math.exp(0.00125)
            else:
                t = dist.threshold(d, share)
            for method, claim in (("BCa bootstrap of the mean", bootstrap_mean_claim),
                                  ("t-test of raw values", t_test_claim)):
                out.append(Scenario(method, dist.name, d, per_run(dist), claim(t, d)))
    return out


# ---- the script ------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} CPUs; Python {platform.python_version()}, "
            f"numpy {np.__version__}, scipy {scipy.__version__}")


def _row(label: str, cells: dict[int, float | None], seed_counts: Sequence[int]) -> str:
    text = "  ".join(f"{cells[n]:6.3f}" if cells.get(n) is not None else "     -" for n in seed_counts)
    return f"{label:<74} {text}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=1000, help="simulated suites per cell (default 1000)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(machine())
    print(f"{args.sims} simulated suites per cell, seed {args.seed}; a calibrated test stays at or below "
          f"{ALPHA:.2f} (with this many suites, {allowed_rate(args.sims):.3f} allows for Monte Carlo noise)")
    columns = sorted({n for ns in SEED_COUNTS.values() for n in ns})
    header = f"{'':<74} " + "  ".join(f"n={n:<4}" for n in columns)
    null, effect = scenarios(AT_TRUTH), scenarios(CLEAR_SHARE)
    for kind in (MEDIAN, RATE, TWO_RATES, RANKS):
        print(f"\n{kind}: false-claim rate (truth at the threshold), then power (clear effect)\n{header}")
        for rows, measure in ((null, false_claim_rate), (effect, power)):
            for s in rows:
                if s.kind == kind:
                    cells = {n: measure(s.decide, s.sampler, n, args.sims, args.seed) for n in SEED_COUNTS[kind]}
                    tag = "false" if measure is false_claim_rate else "power"
                    print(_row(f"{tag}  {s.direction:<5} {s.distribution}", cells, columns), flush=True)
    print(f"\na suite's claims (the four kinds in turn, 8 seeds each, all at their thresholds): "
          f"chance that any is reproduced\n{'':<74} {'Holm':>6}  {'none':>6}")
    for m in (1, 4, 10):
        claims = family_at_truth(m)
        holm_rate = false_claim_rate(any_reproduced(claims), family(claims), 8, args.sims, args.seed)
        raw_rate = false_claim_rate(any_reproduced(claims, adjusted=False), family(claims), 8, args.sims, args.seed)
        print(f"{f'm = {m}':<74} {holm_rate:6.3f}  {raw_rate:6.3f}", flush=True)
    print(f"\nfor comparison, tests of the mean (not used): false-claim rate with the true MEAN at the "
          f"threshold, then power at the median's clear effect\n{header}")
    for rows, measure in ((mean_scenarios(AT_TRUTH), false_claim_rate), (mean_scenarios(CLEAR_SHARE), power)):
        for s in rows:
            cells = {n: measure(s.decide, s.sampler, n, args.sims, args.seed) for n in SEED_COUNTS[MEDIAN]}
            tag = "false" if measure is false_claim_rate else "power"
            print(_row(f"{tag}  {s.direction:<5} {s.kind}, {s.distribution}", cells, columns), flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
