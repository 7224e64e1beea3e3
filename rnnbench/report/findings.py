"""Checking a suite's findings -- known results it should reproduce -- against
its stored runs. Pure: reads results, returns verdicts; the report and the
command line show them, the tests assert them.

A finding says that a measure of a variant lies below or above a number, or
the same measure of another variant, at each sequence length. The measure's
kind fixes what is estimated and how it is tested (``stats`` has the tests):

- a count out of a number of runs (``success_rate``, ``diverged_fraction``) or
  of trials (``trials_diverged_fraction``: a learning rate is the unit that
  varies, so a trial counts as diverged when any of its runs diverged): the
  rate, with the exact binomial test against a number and Boschloo's exact
  test against another variant;
- every other measure is one value per run: the median run, with the sign
  test against a number and the exact rank (Mann-Whitney permutation) test
  against another variant. Every run counts. A run that did not finish
  (diverged, failed, timed out) has no final loss: against a number it counts
  as a run not on the claimed side, whichever side that is, so a diverged run
  never passes for one that "stayed at the baseline"; against another variant
  it counts as worse than any run that finished. A time to solve is censored
  at the budget: a run that never solved is "more than the budget", tied with
  the others that never did, and its median is the Kaplan-Meier one.

Each verdict carries two answers:

- ``held``: the direction of the point estimates (the median or the rate; for
  two variants' runs, whether the probability of improvement is past 1/2);
- ``outcome``: what the runs show at ``stats.LEVEL`` confidence once the
  suite's claims are corrected together (Holm): "reproduced" where the
  claim's one-sided test has an adjusted p-value of at most 1 - LEVEL,
  "contradicted" where the opposite direction's has, "not shown" otherwise,
  "too few seeds" where the test cannot reach the level at these seed counts
  even alone (such claims are left out of the family), "undecided" where
  there is nothing to compare.

A claim with ``every_trial`` is reproduced only if, besides, every run of every
trial of the variant's tuning budget (each tuning seed) lies as claimed and
finished; the first run that does not is named, with its failure.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from rnnbench.report.analysis import (
    final_profile,
    init_profile,
    k_hat,
    k_hat_over_bound_init,
    loss_over_baseline,
    main_criterion,
    metric_names,
    runs_of,
    success,
    time_to_solve,
)
from rnnbench.report.stats import (
    ALPHA,
    LEVEL,
    POWER,
    Test,
    censored_median,
    detectable_improvement,
    detectable_rate,
    detectable_rate_difference,
    detectable_side_probability,
    family_adjusted,
    improvement,
    median_test,
    rank_test,
    rate_test,
    rates_compared,
)
from rnnbench.results import RunResult
from rnnbench.spec import FindingSpec, SuiteSpec

RATES = ("success_rate", "diverged_fraction")  # a count out of a number of runs
TRIAL_MEASURES = ("trials_diverged_fraction",)  # a count out of a tuned variant's trials
WORST_WHEN_MISSING = ("final_test_loss", "loss_over_baseline", "steps_to_solve")  # a run without one is worse


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One finding at one sequence length.

    ``held``: whether the point estimates lie as claimed (True/False), None when
    they cannot be compared (the reason in ``detail``). ``outcome``: what the
    runs show at ``LEVEL`` confidence after Holm's correction over the suite's
    claims -- "reproduced", "not shown", "contradicted", "too few seeds" or
    "undecided" (no value). ``p``: the one-sided p-value of the claim's test,
    ``p_adjusted`` its Holm-adjusted value (None for a claim outside the
    family); ``method``: the test; ``detectable``: what the test detects with
    80% power at this n and the family's level. ``detail`` says all of it in
    words.
    """

    finding: FindingSpec
    seq_len: int
    held: bool | None
    value: float | None
    reference: float | None
    detail: str
    outcome: str = "undecided"
    p: float | None = None
    p_adjusted: float | None = None
    method: str = ""
    detectable: str = ""

    @property
    def headline(self) -> str:
        """The outcome, with the confidence level when the statistics decided
        it, e.g. "reproduced (95%)"."""
        if self.outcome in ("reproduced", "not shown", "contradicted"):
            return f"{self.outcome} ({round(100 * LEVEL)}%)"
        return self.outcome


@dataclasses.dataclass(frozen=True)
class Sample:
    """What one variant at one length gives for a measure: either a ``count``
    of ``total`` runs or trials (a rate), or one entry of ``values`` per run
    (None for a run without a value: one that did not finish, for a final
    loss or metric; one that never solved is +inf for ``steps_to_solve``).
    ``missing``: the statuses of the runs that did not finish, in words."""

    values: tuple[float | None, ...] = ()
    count: int | None = None
    total: int = 0
    worst_when_missing: bool = False
    budget: float | None = None
    missing: str = ""

    @property
    def ranked(self) -> list[float]:
        """The values the rank test compares: a missing value is +inf where a
        run without one is worse (losses, times), else left out."""
        if self.worst_when_missing:
            return [math.inf if v is None else v for v in self.values]
        return [v for v in self.values if v is not None]

    @property
    def estimate(self) -> float | None:
        """The point estimate: the rate, the Kaplan-Meier median of times to
        solve, or the median run (+inf when half the runs or more have no
        value and are worse for it)."""
        if self.count is not None:
            return self.count / self.total if self.total else None
        values = self.ranked
        if not values:
            return None
        if self.budget is not None:
            kaplan_meier = censored_median(values, self.budget)
            return math.inf if kaplan_meier is None else kaplan_meier
        return float(np.median(values))

    def describe(self) -> str:
        if self.count is not None:
            return f"{self.count}/{self.total}"
        what = "Kaplan-Meier median" if self.budget is not None else "median"
        extra = f"; {self.missing}" if self.missing else ""
        return f"{what} {_fmt(self.estimate)} of {len(self.values)} runs{extra}"


def _missing(runs: Sequence[RunResult]) -> str:
    counts: dict[str, int] = {}
    for r in runs:
        if r.status != "ok":
            counts[r.status] = counts.get(r.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def _per_run(r: RunResult, name: str, metrics: Sequence[str]) -> float | None:
    """One run's value of per-run measure ``name`` (None without one)."""
    done = r.status == "ok"
    if name == "final_test_loss":
        value = r.final_test_loss if done else None
    elif name == "loss_over_baseline":
        value = loss_over_baseline(r)
    elif name == "k_hat_init":
        value = k_hat(init_profile(r))
    elif name == "k_hat_final":
        value = k_hat(final_profile(r))
    elif name == "k_hat_over_bound_init":
        value = k_hat_over_bound_init(r)
    elif name == "steps_to_solve":
        return None if r.status == "error" else time_to_solve(r)
    elif name == "recurrent_norm_final":
        value = r.curves.recurrent_norm[-1] if r.curves.recurrent_norm else None
    elif name in metrics:
        value = r.final_metrics.get(name) if done else None
    else:
        raise ValueError(f"unknown measure '{name}'")
    return value if value is not None and math.isfinite(value) else None


def sample(runs: Sequence[RunResult], name: str, criterion: str | None, metrics: Sequence[str]) -> Sample:
    """The runs of one (variant, length) as a Sample of measure ``name``.

    Counts: ``success_rate`` is solved of every stored run (a run that
    diverged, failed or timed out did not solve; no count when the task has
    no criterion); ``diverged_fraction`` is diverged of every stored run;
    ``trials_diverged_fraction`` counts trials (runs grouped by their trial),
    a trial diverging when any of its runs did.

    Per-run values, one per stored run: ``final_test_loss``,
    ``loss_over_baseline`` and task metrics (None for a run that did not
    finish); ``k_hat_init``, ``k_hat_final``, ``k_hat_over_bound_init`` and
    ``recurrent_norm_final`` (None where the run has no such value);
    ``steps_to_solve`` (the first logged step at which the main criterion
    held; +inf, censored at the training budget, for a run that never did).
    """
    if name == "success_rate":
        solved, total = success(runs, criterion)  # the summary table's count: the same runs
        return Sample(count=solved if criterion else None, total=total if criterion else 0)
    if name == "diverged_fraction":
        return Sample(count=sum(r.status == "diverged" for r in runs), total=len(runs))
    if name == "trials_diverged_fraction":
        trials: dict[int, bool] = {}
        for r in runs:
            trials[r.spec.trial.index] = trials.get(r.spec.trial.index, False) or r.status == "diverged"
        return Sample(count=sum(trials.values()), total=len(trials))
    values = tuple(_per_run(r, name, metrics) for r in runs)
    budget = float(runs[0].spec.train.steps) if name == "steps_to_solve" and runs else None
    return Sample(values, total=len(runs), worst_when_missing=name in WORST_WHEN_MISSING,
                  budget=budget, missing=_missing(runs))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else ("inf" if math.isinf(value) else f"{value:.4g}")


def _test(mine: Sample, other: Sample | None, bound: float | None, word: str) -> Test:
    """The claim's one-sided test (see the module's docstring)."""
    if other is None:
        if mine.count is not None:
            return rate_test(mine.count, mine.total, bound, word)
        return median_test(mine.values, bound, word)
    if mine.count is not None:
        return rates_compared(mine.count, mine.total, other.count, other.total, word)
    return rank_test(mine.ranked, other.ranked, word)


def _detectable(mine: Sample, other: Sample | None, bound: float | None, word: str, alpha: float) -> str:
    """What the claim's test detects with POWER at these seed counts and level ``alpha``."""
    power = f"{round(100 * POWER)}% power"
    if other is None and mine.count is not None:
        rate = detectable_rate(mine.total, bound, word, alpha)
        return (f"no rate reaches {power} at {mine.total} runs" if rate is None else
                f"{power} for a true rate {word} {_fmt(rate)}")
    if other is None:
        q = detectable_side_probability(len(mine.values), alpha)
        return (f"cannot reach the level at {len(mine.values)} runs" if q is None else
                f"{power} when a run lies {word} {_fmt(bound)} with probability {q:.2f}")
    if mine.count is not None:
        if not other.total:
            return ""
        rate = detectable_rate_difference(mine.total, other.total, other.count / other.total, word, alpha)
        return (f"no rate reaches {power} against the other's {other.count}/{other.total} at these counts"
                if rate is None else
                f"{power} for a rate of {_fmt(rate)} against the other's {other.count}/{other.total}")
    n, m = len(mine.ranked), len(other.ranked)
    theta = detectable_improvement(n, m, alpha) if n and m else None
    return (f"cannot reach the level at {n} against {m} runs" if theta is None else
            f"{power} when a run beats the other's with probability {theta:.2f}")


def _every_trial(
    finding: FindingSpec, seq_len: int, trials: Sequence[RunResult], bound: float, word: str,
    criterion: str | None, metrics: Sequence[str],
) -> str | None:
    """For a claim that must hold at every value of the tuning budget: None when
    every run of every trial (each tuning seed) finished and lies as claimed,
    else the first that does not, in words (its failure named). A count
    measure is checked per trial, on the trial's rate."""
    mine = runs_of(trials, seq_len, finding.variant)
    if not mine:
        return "no trial runs are stored"
    by_trial: dict[int, list[RunResult]] = {}
    for r in mine:
        by_trial.setdefault(r.spec.trial.index, []).append(r)

    def lies(value: float | None) -> bool:
        return value is not None and (value < bound if word == "below" else value > bound)

    for index in sorted(by_trial):
        runs = by_trial[index]
        where = ", ".join(f"{k} = {v:.3g}" for k, v in runs[0].spec.trial.values.items())
        if finding.measure in RATES or finding.measure in TRIAL_MEASURES:
            rate = sample(runs, finding.measure, criterion, metrics).estimate
            if not lies(rate):
                return f"not at every value of its tuning budget: at {where}, {finding.measure} = {_fmt(rate)}"
            continue
        for r in sorted(runs, key=lambda r: r.spec.seed):
            at = f"{where}, tuning seed {r.spec.seed}"
            if r.status != "ok" and finding.measure not in ("k_hat_init", "k_hat_over_bound_init"):
                return (f"not at every run of its tuning budget: at {at} the run {r.status} "
                        f"(a run that {r.status} did not stay {word} {_fmt(bound)})")
            value = _per_run(r, finding.measure, metrics)
            if not lies(value):
                return f"not at every run of its tuning budget: at {at}, {finding.measure} = {_fmt(value)}"
    return None


@dataclasses.dataclass
class _Claim:
    """A verdict under construction: its samples, test and words so far."""

    finding: FindingSpec
    seq_len: int
    mine: Sample
    other: Sample | None
    bound: float | None
    word: str
    detail: str
    held: bool | None = None
    test: Test | None = None
    broken: str | None = None  # why every_trial does not hold


def check(
    suite: SuiteSpec, results: Sequence[RunResult], trials: Sequence[RunResult] = ()
) -> list[Verdict]:
    """Every finding of ``suite`` at every length it concerns, in order, decided
    together as one family (Holm); see ``sample`` for the runs each measure
    is taken over, and ``Verdict``.

    ``results`` are the evaluation runs; ``trials`` the tuning runs, read by the
    ``trials_*`` measures (the whole budget, every tuning seed) and by findings
    with ``every_trial``.
    """
    criterion = main_criterion(results) or main_criterion(trials)
    metrics = metric_names(results)

    def sample_of(variant: str, seq_len: int, name: str) -> Sample:
        runs = trials if name in TRIAL_MEASURES else results
        return sample(runs_of(runs, seq_len, variant), name, criterion, metrics)

    claims: list[_Claim] = []
    for finding in suite.findings:
        bound = finding.bound
        word = "below" if finding.below is not None else "above"
        for seq_len in [finding.seq_len] if finding.seq_len else suite.seq_lens:
            mine = sample_of(finding.variant, seq_len, finding.measure)
            if isinstance(bound, str):
                other = sample_of(bound, seq_len, finding.measure)
                claim = _Claim(finding, seq_len, mine, other, None, word,
                               f"{finding.measure} of {finding.variant} = {mine.describe()}, "
                               f"{word} {bound} = {other.describe()}?")
            else:
                claim = _Claim(finding, seq_len, mine, None, float(bound), word,
                               f"{finding.measure} of {finding.variant} = {mine.describe()}, "
                               f"{word} {_fmt(float(bound))}?")
            claims.append(claim)
            _decide_alone(claim, trials, criterion, metrics)

    adjusted, opposite = family_adjusted([c.test for c in claims])
    size = sum(p is not None for p in adjusted)
    alpha_first = ALPHA / size if size else ALPHA  # Holm's strictest step
    return [_verdict(c, p, q, alpha_first, size) for c, p, q in zip(claims, adjusted, opposite)]


def _decide_alone(claim: _Claim, trials, criterion, metrics) -> None:
    """Fill in the claim's point estimates, test and every_trial check."""
    mine, other, word = claim.mine, claim.other, claim.word
    value = mine.estimate
    if other is None:
        reference = claim.bound
    elif mine.count is not None:
        reference = other.estimate
    else:
        reference = None if not other.ranked else other.estimate
    if value is None or reference is None or (other is not None and mine.count is None and not mine.ranked):
        claim.detail += " -- not enough runs to decide: undecided"
        return
    if other is not None and mine.count is None:
        better = improvement(mine.ranked, other.ranked)  # P(mine < other)
        claim.held = better > 0.5 if word == "below" else better < 0.5
        claim.detail += f" P({claim.finding.variant} lower) = {better:.2f};"
    else:
        claim.held = value < reference if word == "below" else value > reference
    claim.test = _test(mine, other, claim.bound, word)
    if claim.finding.every_trial and other is None:
        claim.broken = _every_trial(claim.finding, claim.seq_len, trials, claim.bound, word, criterion, metrics)


def _verdict(claim: _Claim, p_adj: float | None, p_opp_adj: float | None, alpha_first: float,
             family: int) -> Verdict:
    finding, mine, other, word = claim.finding, claim.mine, claim.other, claim.word
    value = mine.estimate
    reference = claim.bound if other is None else other.estimate
    test, detail, held = claim.test, claim.detail, claim.held
    if test is None:
        return Verdict(finding, claim.seq_len, None, value, reference, detail)
    direction = "point estimates agree" if held else "point estimates disagree"
    words = f"{test.method}, one-sided p = {test.p:.3g}"
    if p_adj is None:
        outcome = "too few seeds"
        words += (f"; the smallest p this test can give at these seed counts is {test.p_min:.3g}, "
                  f"above {ALPHA:.2g}: it cannot decide the claim")
    else:
        words += f", Holm-adjusted over the suite's {family} claims p = {p_adj:.3g}"
        outcome = ("reproduced" if p_adj <= ALPHA else
                   "contradicted" if p_opp_adj is not None and p_opp_adj <= ALPHA else "not shown")
        if outcome == "contradicted":
            words += f" (the opposite direction: adjusted p = {p_opp_adj:.3g})"
    detectable = _detectable(mine, other, claim.bound, word, alpha_first)
    detail += f" {direction}; {words}: {outcome}"
    if claim.finding.every_trial and other is None:
        if claim.broken is not None:
            held = False
            if outcome == "reproduced":
                outcome = "not shown"
            detail += f"; but {claim.broken}: {outcome}"
        else:
            detail += "; and every run of every trial of its tuning budget lies as claimed"
    return Verdict(finding, claim.seq_len, held, value, reference, detail, outcome,
                   test.p, p_adj, test.method, detectable)
