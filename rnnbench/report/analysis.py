"""What the stored numbers say: decay factors, success, the summary table and the ranking.

Every function here is pure: it reads RunResults (or plain lists) and returns
numbers, never touching files or figures. Which runs each statistic is taken
over is part of its docstring, and the page repeats it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from rnnbench.report.stats import (
    binomial_interval,
    censored_median,
    improvement,
    mean,
    median,
    median_interval,
    rank_test,
)
from rnnbench.results import STATUSES, DecayProfile, RunResult
from rnnbench.spec import SuiteSpec


def fit_decay_factor(norms: Sequence[float | None]) -> float | None:
    """The per-step factor k-hat: exp of the least-squares slope of log(norm)
    against the distance d (the index), over the finite positive entries;
    None if fewer than two such entries."""
    d = np.arange(len(norms), dtype=float)
    y = np.array([np.nan if v is None else v for v in norms], dtype=float)
    keep = np.isfinite(y) & (y > 0)
    if keep.sum() < 2:
        return None
    d, logy = d[keep], np.log(y[keep])
    dc = d - d.mean()
    return float(np.exp(np.dot(dc, logy - logy.mean()) / np.dot(dc, dc)))


def runs_of(results: Sequence[RunResult], seq_len: int, variant: str) -> list[RunResult]:
    """The runs of one grid cell: one sequence length and one variant name."""
    return [r for r in results if r.spec.seq_len == seq_len and r.spec.variant.name == variant]


def init_profile(result: RunResult) -> DecayProfile | None:
    """The decay profile measured at initialisation (the first one), if any."""
    return result.decay[0] if result.decay else None


def final_profile(result: RunResult) -> DecayProfile | None:
    """The decay profile at the end of training (the last one), if there are
    at least two: a run that stopped with only the initial profile has none."""
    return result.decay[-1] if len(result.decay) >= 2 else None


def k_hat(profile: DecayProfile | None, state: str | None = None) -> float | None:
    """k-hat of a profile's hidden-state norms, or of one of its other states
    (``state``, e.g. "c"); None if the profile or that state is absent."""
    if profile is None:
        return None
    norms = profile.norms if state is None else profile.state_norms.get(state)
    return None if norms is None else fit_decay_factor(norms)


def loss_over_baseline(r: RunResult) -> float | None:
    """A finished run's final test loss over its input-blind baseline; None for
    a run that did not finish (status other than ok) or without the two."""
    loss, base = r.final_test_loss, r.baseline
    if r.status != "ok" or loss is None or not base or not math.isfinite(loss) or not math.isfinite(base):
        return None
    return loss / base


def k_hat_over_bound_init(r: RunResult) -> float | None:
    """k-hat at initialisation over the bound ||W_hh||_2 max|f'| there; None
    without a profile or a bound (gated cells)."""
    profile = init_profile(r)
    k = k_hat(profile)
    return k / profile.bound if k is not None and profile.bound else None


def time_to_solve(r: RunResult) -> float:
    """The first logged step at which the run met the task's main criterion;
    +inf for a run that never did within its budget (right-censored there:
    it would have needed more steps, or never solves)."""
    return math.inf if r.steps_to_solve is None or r.status == "error" else float(r.steps_to_solve)


def _first_seen(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def metric_names(results: Sequence[RunResult]) -> list[str]:
    """Names of the task metrics recorded by any run, in the order first seen."""
    return _first_seen(
        name for r in results for name in [*r.curves.test_metrics, *r.final_metrics]
    )


def criterion_names(results: Sequence[RunResult]) -> list[str]:
    """Names of the success criteria recorded by any run, in the order first
    seen; the first is the task's main criterion."""
    return _first_seen(name for r in results for name in r.solved)


def main_criterion(results: Sequence[RunResult]) -> str | None:
    """The task's main success criterion (the first it declares), or None if
    no stored run records one."""
    names = criterion_names(results)
    return names[0] if names else None


def state_names(results: Sequence[RunResult]) -> list[str]:
    """Names of the cell states besides h with a decay profile (the LSTM's c)."""
    return _first_seen(name for r in results for p in r.decay for name in p.state_norms)


def finished(runs: Iterable[RunResult]) -> list[RunResult]:
    """The runs that completed every step (status ``ok``); final losses and
    metrics are taken over these only."""
    return [r for r in runs if r.status == "ok"]


def success(runs: Sequence[RunResult], criterion: str | None) -> tuple[int, int]:
    """(solved, runs): how many of the runs meet ``criterion`` at the end of
    training, out of every run (one that diverged, failed or timed out did
    not solve: it is counted, never left out)."""
    if criterion is None:
        return 0, len(runs)
    return sum(bool(r.status != "error" and r.solved.get(criterion, False)) for r in runs), len(runs)


def summarise(suite: SuiteSpec, results: Sequence[RunResult]) -> list[dict]:
    """One row per (sequence length, variant), in grid order, even without runs.

    Keys:

    - ``variant``, ``seq_len``; ``runs`` (stored runs); ``ok``, ``diverged``,
      ``error``, ``timeout`` (status counts);
    - ``final_test_loss`` (an Interval: the median over every run, a run that
      did not finish counting as +inf, with its exact 95% order-statistic
      interval, see ``stats.median_interval``; no interval with fewer than 6
      runs) and ``metrics`` (name -> the same of its final value over the
      finished runs);
    - ``baseline`` and ``baseline_metrics`` (name -> value): the input-blind
      predictor's loss and metrics, mean over the runs that record them;
    - ``criterion`` (the main criterion or None), ``solved`` and ``trained``
      (every run; see ``success``), ``success_rate`` = solved / trained (None
      when there is no run or the task has no criterion) and ``success_interval`` (its
      exact 95% Clopper-Pearson Interval, see ``stats.binomial_interval``;
      None when success_rate is);
    - ``steps_to_solve``: the Kaplan-Meier median over every run of the first
      logged step at which the criterion held, a run that never met it being
      censored at its budget (``time_to_solve``; None when fewer than half
      met it); ``steps_to_solve_n``: how many met it;
    - ``k_hat_init``, ``k_hat_final``, ``bound_init``, ``bound_final``, and
      ``state_k_hat_init`` / ``state_k_hat_final`` (state name -> value): means
      over the runs that have the value (bounds are None for gated cells);
    - ``seconds_per_step``: median over the finished runs.
    """
    criterion = main_criterion(results)
    metrics = metric_names(results)
    states = state_names(results)
    rows = []
    for seq_len in suite.seq_lens:
        for variant in suite.variants:
            runs = runs_of(results, seq_len, variant.name)
            done = finished(runs)
            solved, n_trained = success(runs, criterion)
            inits = [init_profile(r) for r in runs]
            finals = [final_profile(r) for r in runs]
            rows.append(
                {
                    "variant": variant.name,
                    "seq_len": seq_len,
                    "runs": len(runs),
                    **{s: sum(r.status == s for r in runs) for s in STATUSES},
                    "final_test_loss": median_interval(improvement_losses(runs)),
                    "metrics": {
                        m: median_interval(r.final_metrics.get(m) for r in done) for m in metrics
                    },
                    "baseline": mean(r.baseline for r in runs),
                    "baseline_metrics": {
                        m: mean(r.baseline_metrics.get(m) for r in runs) for m in metrics
                    },
                    "criterion": criterion,
                    "solved": solved,
                    "trained": n_trained,
                    "success_rate": solved / n_trained if criterion and n_trained else None,
                    "success_interval": (
                        binomial_interval(solved, n_trained) if criterion and n_trained else None
                    ),
                    "steps_to_solve": censored_median(
                        [time_to_solve(r) for r in runs], max((r.spec.train.steps for r in runs), default=0)),
                    "steps_to_solve_n": sum(math.isfinite(time_to_solve(r)) for r in runs),
                    "k_hat_init": mean(k_hat(p) for p in inits),
                    "k_hat_final": mean(k_hat(p) for p in finals),
                    "bound_init": mean(p.bound for p in inits if p),
                    "bound_final": mean(p.bound for p in finals if p),
                    "state_k_hat_init": {s: mean(k_hat(p, s) for p in inits) for s in states},
                    "state_k_hat_final": {s: mean(k_hat(p, s) for p in finals) for s in states},
                    "seconds_per_step": median(r.seconds_per_step for r in done),
                }
            )
    return rows


RANKING_RULE = (
    "Variants are ranked by their success rate averaged over the sequence lengths "
    "(higher first; a length where no run trained counts as 0), then by their median final "
    "test loss (a run that did not finish counting as infinite) averaged over the sequence lengths (lower first; a variant without a "
    "finished run at some length comes after every variant that has one at each length). "
    "Variants equal on both share a rank."
)


def rank_variants(suite: SuiteSpec, rows: Sequence[dict]) -> list[dict]:
    """The variants in ranking order (rule: ``RANKING_RULE``), each as a dict with
    ``rank``, ``variant``, ``success_rate`` (mean over lengths, None when the task
    has no criterion) and ``final_test_loss`` (mean over lengths of the per-length
    median; None when some length has no run)."""
    entries = []
    for variant in suite.variants:
        mine = [row for row in rows if row["variant"] == variant.name]
        has_criterion = any(row["criterion"] for row in mine)
        rates = [row["success_rate"] or 0.0 for row in mine]
        losses = [row["final_test_loss"].estimate for row in mine]
        entries.append(
            {
                "variant": variant.name,
                "success_rate": float(np.mean(rates)) if has_criterion and rates else None,
                "final_test_loss": None if None in losses else float(np.mean(losses)),
            }
        )

    def key(entry: dict) -> tuple[float, float]:
        rate = entry["success_rate"] if entry["success_rate"] is not None else 0.0
        loss = entry["final_test_loss"] if entry["final_test_loss"] is not None else math.inf
        return -rate, loss

    entries.sort(key=key)
    for i, entry in enumerate(entries):
        tied = i > 0 and key(entry) == key(entries[i - 1])
        entry["rank"] = entries[i - 1]["rank"] if tied else i + 1
    return entries


def improvement_losses(runs: Iterable[RunResult]) -> list[float]:
    """One final test loss per run, every run counted: a run that finished
    gives its final test loss (+inf if that is not finite); a run that
    diverged, failed or timed out gives +inf, worse than any run that finished
    (its last loss is not a final one)."""
    losses = []
    for r in runs:
        loss = r.final_test_loss if r.status == "ok" else None
        losses.append(loss if loss is not None and math.isfinite(loss) else math.inf)
    return losses


def improvement_tables(suite: SuiteSpec, results: Sequence[RunResult]) -> list[dict]:
    """Per sequence length (in the suite's order), the probability of
    improvement on the final test loss for each ordered pair of variants: for
    a run X of the row's variant and a run Y of the column's, P(X < Y) +
    P(X = Y) / 2 over the losses of ``improvement_losses`` (Agarwal et al.
    2021), with the one-sided p-value of the exact rank test that the row's
    runs tend lower (``stats.rank_test``; descriptive, not corrected for the
    table's many pairs).

    Each entry: ``seq_len``; ``variants`` (names in the suite's order) and
    ``cells``, a dict (row variant, column variant) -> (probability, p) for
    every pair of different variants that both have runs.
    """
    names = [v.name for v in suite.variants]
    tables = []
    for seq_len in suite.seq_lens:
        losses = {name: improvement_losses(runs_of(results, seq_len, name)) for name in names}
        cells: dict[tuple[str, str], tuple[float, float]] = {}
        for a in names:
            for b in names:
                if a != b and losses[a] and losses[b]:
                    cells[(a, b)] = (improvement(losses[a], losses[b]),
                                     rank_test(losses[a], losses[b], "below").p)
        tables.append({"seq_len": seq_len, "variants": names, "cells": cells})
    return tables


def recorded_environment(results: Sequence[RunResult]) -> list[tuple[str, list[tuple[str, int]]]]:
    """The recorded environment: for each key any run records (package versions,
    CPU, BLAS...), sorted by key, its distinct values with how many runs
    recorded each, most common first."""
    counts: dict[str, Counter] = {}
    for r in results:
        for name, value in r.versions.items():
            counts.setdefault(name, Counter())[value] += 1
    return [(name, counts[name].most_common()) for name in sorted(counts)]

