"""Checking a suite's findings -- known results it should reproduce -- against
its stored runs. Pure: reads results, returns verdicts; the report and the
command line show them, the tests assert them on the fast versions.

A finding says that a measure of a variant lies below or above a number, or
the same measure of another variant, at each sequence length. Each verdict
carries two answers:

- ``held``: the direction of the point estimates (the mean over runs, or the
  rate), whatever the spread;
- ``outcome``: what the runs show at ``stats.LEVEL`` confidence, from the
  per-run values: "reproduced", "not shown", "contradicted", "too few seeds"
  (see ``stats.decide``), or "undecided" where there is no value to compare.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from rnnbench.report.analysis import (
    final_profile,
    finished,
    init_profile,
    k_hat,
    main_criterion,
    metric_names,
    runs_of,
    success,
    trained,
)
from rnnbench.report.stats import (
    LEVEL,
    MIN_SEEDS,
    binomial_interval,
    decide,
    difference_interval,
    finite,
    mean,
    mean_interval,
    proportions_compared,
)
from rnnbench.results import RunResult
from rnnbench.spec import FindingSpec, SuiteSpec

RATES = ("success_rate", "diverged_fraction")  # measures that are a count out of a number of runs
TRIAL_MEASURES = ("trials_diverged_fraction",)  # measures over a tuned variant's trial runs
LOSSES = ("final_test_loss", "loss_over_baseline")  # infinitely bad for a variant with no finished run


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One finding at one sequence length.

    ``held``: whether the point estimates lie as claimed (True/False), None when
    they cannot be compared (the reason in ``detail``). ``outcome``: what the
    runs show at ``LEVEL`` confidence -- "reproduced", "not shown",
    "contradicted", "too few seeds" or "undecided" (no value). ``confidence``:
    the interval (lo, hi) behind the outcome (of the value against a number, of
    the difference value - reference against another variant), or the one-sided
    p-value of Boschloo's test when two rates are compared; None without one.
    ``detail`` says all of it in words.
    """

    finding: FindingSpec
    seq_len: int
    held: bool | None
    value: float | None
    reference: float | None
    detail: str
    outcome: str = "undecided"
    confidence: tuple[float, float] | float | None = None

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
    of ``total`` runs (a rate), or the per-run ``values`` (their mean is the
    measure). ``infinite``: no run finished, so a loss measure is +inf."""

    values: tuple[float, ...] = ()
    count: int | None = None
    total: int = 0
    infinite: bool = False

    @property
    def estimate(self) -> float | None:
        """The point estimate: the rate, +inf, or the mean of the values."""
        if self.count is not None:
            return self.count / self.total if self.total else None
        if self.infinite:
            return math.inf
        return mean(self.values)

    def describe(self) -> str:
        if self.count is not None:
            return f"{self.count}/{self.total}"
        if self.infinite:
            return f"inf (none of {self.total} runs finished)"
        return f"{_fmt(self.estimate)} (n={len(self.values)})"


def _loss_over_baseline(r: RunResult) -> float | None:
    loss, base = r.final_test_loss, r.baseline
    return loss / base if loss is not None and base else None


def _steps_to_solve(r: RunResult) -> int:
    """The first logged step at which ``r`` solved its task, or its whole
    training budget (censored: it did not solve within it)."""
    return r.steps_to_solve if r.steps_to_solve is not None else r.spec.train.steps


def _k_hat_over_bound_init(r: RunResult) -> float | None:
    profile = init_profile(r)
    k = k_hat(profile)
    return k / profile.bound if k is not None and profile.bound else None


def sample(runs: Sequence[RunResult], name: str, criterion: str | None, metrics: Sequence[str]) -> Sample:
    """The runs of one (variant, length) as a Sample of measure ``name``.

    Rates: ``success_rate`` is solved of trained (every status but error; see
    ``analysis.success``; no count when the task has no criterion),
    ``diverged_fraction`` is diverged of all stored runs. Per-run values (the
    finite ones): ``final_test_loss``, ``loss_over_baseline`` (that run's final
    test loss / its baseline) and task metrics over the finished runs (status
    ok); a variant with runs but none finished is infinitely bad on the two
    losses. ``k_hat_init``, ``k_hat_final``, ``k_hat_over_bound_init`` (k-hat /
    the run's bound, at initialisation) and ``recurrent_norm_final`` (the last
    logged ||W_hh||_2) over every run that has the value. ``steps_to_solve``
    (the first logged step at which the task's main criterion held) over the
    trained runs (every status but error); a run that never solved counts as
    its whole training budget, a lower bound on its true value.
    """
    if name == "success_rate":
        solved, total = success(runs, criterion)
        return Sample(count=solved if criterion else None, total=total if criterion else 0)
    if name in ("diverged_fraction", "trials_diverged_fraction"):
        return Sample(count=sum(r.status == "diverged" for r in runs), total=len(runs))
    done = finished(runs)
    if name in LOSSES:
        per_run = [r.final_test_loss for r in done] if name == "final_test_loss" else [
            _loss_over_baseline(r) for r in done]
        values = finite(per_run)
        return Sample(tuple(values), infinite=not values and not done and bool(runs), total=len(runs))
    if name == "k_hat_init":
        per_run = [k_hat(init_profile(r)) for r in runs]
    elif name == "k_hat_final":
        per_run = [k_hat(final_profile(r)) for r in runs]
    elif name == "k_hat_over_bound_init":
        per_run = [_k_hat_over_bound_init(r) for r in runs]
    elif name == "steps_to_solve":
        per_run = [_steps_to_solve(r) for r in trained(runs)]
    elif name == "recurrent_norm_final":
        per_run = [r.curves.recurrent_norm[-1] for r in runs if r.curves.recurrent_norm]
    elif name in metrics:
        per_run = [r.final_metrics.get(name) for r in done]
    else:
        raise ValueError(f"unknown measure '{name}'")
    return Sample(tuple(finite(per_run)))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else ("inf" if math.isinf(value) else f"{value:.4g}")


def _ci(lo: float, hi: float) -> str:
    return f"{round(100 * LEVEL)}% CI [{_fmt(lo)}, {_fmt(hi)}]"


def _against_number(mine: Sample, bound: float, word: str) -> tuple[str, tuple | None, str]:
    """(outcome, confidence, words) for "mine lies ``word`` ``bound``"."""
    if mine.infinite:
        if mine.total < MIN_SEEDS:
            return "too few seeds", None, f"only {mine.total} runs, none finished (fewer than {MIN_SEEDS})"
        outcome = "contradicted" if word == "below" else "reproduced"
        return outcome, None, f"no run of {mine.total} finished: infinitely bad for certain"
    if mine.count is not None:
        iv = binomial_interval(mine.count, mine.total)
        how = "Clopper-Pearson"
    else:
        iv = mean_interval(mine.values)
        how = "bootstrap"
    outcome = decide(iv, bound, word)
    if iv.lo is None:
        return outcome, None, f"{iv.n} runs, fewer than {MIN_SEEDS}: no interval"
    return outcome, (iv.lo, iv.hi), f"{_ci(iv.lo, iv.hi)} ({how})"


def _against_variant(
    mine: Sample, other: Sample, word: str, names: tuple[str, str]
) -> tuple[str, tuple | float | None, str]:
    """(outcome, confidence, words) for "mine lies ``word`` other"."""
    a, b = names
    if mine.infinite or other.infinite:
        worse, better = (mine, other) if mine.infinite else (other, mine)
        if worse.total < MIN_SEEDS or len(better.values) < MIN_SEEDS:
            return "too few seeds", None, (
                f"one side never finished; deciding needs at least {MIN_SEEDS} runs on it and "
                f"{MIN_SEEDS} finished runs on the other")
        mine_is_lower = other.infinite
        outcome = "reproduced" if mine_is_lower == (word == "below") else "contradicted"
        return outcome, None, "one side never finished: infinitely bad for certain"
    if mine.count is not None:
        cmp = proportions_compared(mine.count, mine.total, other.count, other.total)
        if cmp.answer == "too few seeds":
            return "too few seeds", None, f"fewer than {MIN_SEEDS} runs on a side"
        claimed = "greater" if word == "above" else "less"
        outcome = ("reproduced" if cmp.answer == claimed else
                   "not shown" if cmp.answer == "neither" else "contradicted")
        p_claim = cmp.p_greater if claimed == "greater" else cmp.p_less
        p_other = cmp.p_less if claimed == "greater" else cmp.p_greater
        p = p_other if outcome == "contradicted" else p_claim
        sign = ">" if (claimed == "greater") != (outcome == "contradicted") else "<"
        return outcome, p, f"Boschloo's exact test, one-sided p = {p:.3g} for {a} {sign} {b}"
    iv = difference_interval(mine.values, other.values)
    outcome = decide(iv, 0.0, word)
    if iv.lo is None:
        return outcome, None, f"{iv.n} runs on a side, fewer than {MIN_SEEDS}: no interval"
    return outcome, (iv.lo, iv.hi), f"{a} - {b} = {_fmt(iv.mean)}, {_ci(iv.lo, iv.hi)} (bootstrap)"


def _every_trial(
    finding: FindingSpec, seq_len: int, trials: Sequence[RunResult], reference: float,
    word: str, criterion: str | None, metrics: Sequence[str],
) -> str | None:
    """For a claim that must hold at every value of the tuning budget: None when
    the point estimate over each trial's runs (its tuning seeds) lies as claimed,
    else the first trial where it does not, in words."""
    mine = runs_of(trials, seq_len, finding.variant)
    by_trial: dict[int, list[RunResult]] = {}
    for r in mine:
        by_trial.setdefault(r.spec.trial.index, []).append(r)
    if not by_trial:
        return "no trial runs are stored"
    for index in sorted(by_trial):
        value = sample(by_trial[index], finding.measure, criterion, metrics).estimate
        holds = value is not None and (value < reference if word == "below" else value > reference)
        if not holds:
            values = ", ".join(f"{k} = {v:.3g}" for k, v in by_trial[index][0].spec.trial.values.items())
            return f"not at every value of its tuning budget: at {values}, {finding.measure} = {_fmt(value)}"
    return None


def check(
    suite: SuiteSpec, results: Sequence[RunResult], trials: Sequence[RunResult] = ()
) -> list[Verdict]:
    """Every finding of ``suite`` at every length it concerns, in order; see
    ``sample`` for the runs each measure is taken over, and ``Verdict``.

    ``results`` are the evaluation runs; ``trials`` the tuning runs, read by the
    ``trials_*`` measures (over every trial run of the variant at that length:
    the whole budget, all tuning seeds) and by findings with ``every_trial``,
    which hold only where the claim's direction holds at every trial too.
    """
    criterion = main_criterion(results) or main_criterion(trials)
    metrics = metric_names(results)

    def sample_of(variant: str, seq_len: int, name: str) -> Sample:
        runs = trials if name in TRIAL_MEASURES else results
        return sample(runs_of(runs, seq_len, variant), name, criterion, metrics)

    verdicts = []
    for finding in suite.findings:
        bound = finding.bound
        word = "below" if finding.below is not None else "above"
        for seq_len in [finding.seq_len] if finding.seq_len else suite.seq_lens:
            mine = sample_of(finding.variant, seq_len, finding.measure)
            value = mine.estimate
            if isinstance(bound, str):
                other = sample_of(bound, seq_len, finding.measure)
                reference = other.estimate
                against = f"{bound} = {other.describe()}"
            else:
                other, reference, against = None, float(bound), _fmt(float(bound))
            detail = f"{finding.measure} of {finding.variant} = {mine.describe()}, {word} {against}?"
            outcome, confidence = "undecided", None
            if value is None or reference is None:
                held = None
                detail += " -- not enough runs to decide: undecided"
            elif math.isinf(value) and math.isinf(reference):
                held = None
                detail += " -- no run of either finished: undecided"
            else:
                held = value < reference if word == "below" else value > reference
                if other is None:
                    outcome, confidence, words = _against_number(mine, reference, word)
                else:
                    outcome, confidence, words = _against_variant(
                        mine, other, word, (finding.variant, bound))
                direction = "point estimates agree" if held else "point estimates disagree"
                detail += f" {direction}; {words}: {outcome}"
                if finding.every_trial and other is None:
                    broken = _every_trial(finding, seq_len, trials, reference, word, criterion, metrics)
                    if broken is not None:
                        held, outcome = False, "not shown"
                        detail += f"; but {broken}: not shown"
                    else:
                        count = len({r.spec.trial.index for r in runs_of(trials, seq_len, finding.variant)})
                        detail += f"; and at each of the {count} trials of its tuning budget"
            verdicts.append(
                Verdict(finding, seq_len, held, value, reference, detail, outcome, confidence)
            )
    return verdicts
