"""The tuning protocol: every variant searched with the same budget, selected on
the validation set, then trained on the evaluation seeds and judged on the test set.

A suite's ``[tuning]`` table (``rnnbench.spec.TuningSpec``) gives a search
space, a budget of trials per (variant, sequence length), tuning seeds apart
from the evaluation seeds and a selection metric. This module turns it into
plain runs and back:

1. ``trial_runs``: for each length, variant and trial of its search, one
   ordinary RunSpec per tuning seed, with the trial's values applied and the
   trial recorded in ``RunSpec.trial``. The runner stores and resumes them like
   any run.
2. ``select``: from the stored trials, each (variant, length)'s scores and the
   chosen trial. It reads only validation metrics.
3. ``evaluation_runs``: the chosen configuration of each (variant, length),
   trained with the suite's seeds. Findings and the report read these.

``stages`` runs 1 to 3 given what is stored: the runner, the store and the
resolved suite read the sequence from there. The protocol is checked against
the plugins by ``rnnbench.resolve``, not here.

Everything here is a pure function of the suite and the stored results, so a
sweep interrupted at any point, on any executor, selects the same trials.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rnnbench.results import RunResult
from rnnbench.spec import RunSpec, SearchDim, SuiteSpec, TrainSpec, Trial, VariantSpec, search_target

SELECTION_RULE = (
    "A trial's score is the mean, over the tuning seeds, of the final value of the selection "
    "metric on the validation set; a trial with a run that diverged, failed or timed out scores "
    "worst. The best score is chosen; ties (such as every trial diverging) go to the trial that "
    "comes first in the search order (for a grid, the smallest values, the first dimension "
    "varying slowest)."
)


# --- the search space ------------------------------------------------------------------


def applies(dim: SearchDim, variant: VariantSpec) -> bool:
    """Whether ``dim`` is a setting of this variant (a cell or remedy parameter
    applies only to the variants whose cell or remedies have it)."""
    target = dim.target
    if target.kind == "cell":
        return target.param in variant.cell_params
    if target.kind == "remedy":
        return any(r.name == target.remedy for r in variant.remedies)
    return True


def space(suite: SuiteSpec, variant: VariantSpec) -> list[SearchDim]:
    """The dimensions searched for ``variant``: the suite's that apply to it, in
    order, each replaced by the variant's own of the same name, then the
    variant's other ones."""
    own = {d.name: d for d in variant.search}
    dims = [own.pop(d.name, d) for d in suite.tuning.search]
    dims += list(own.values())
    return [d for d in dims if applies(d, variant)]


def _all_names(suite: SuiteSpec) -> list[str]:
    """Every dimension name the suite searches, for any variant, in a fixed order."""
    names = [d.name for d in suite.tuning.search]
    for v in suite.variants:
        names += [d.name for d in v.search if d.name not in names]
    return names


def _scaled(dim: SearchDim, u: np.ndarray) -> np.ndarray:
    """Points of ``dim`` from uniform numbers u in [0, 1)."""
    if dim.values is not None:
        return np.asarray(dim.values, dtype=float)[np.minimum((u * len(dim.values)).astype(int), len(dim.values) - 1)]
    if dim.log:
        lo, hi = math.log(dim.low), math.log(dim.high)
        return np.exp(lo + u * (hi - lo))
    return dim.low + u * (dim.high - dim.low)


def _grid_axis(dim: SearchDim, points: int) -> list[float]:
    if dim.values is not None:
        return sorted(dim.values)
    if points == 1:  # the middle of the range
        mid = math.sqrt(dim.low * dim.high) if dim.log else (dim.low + dim.high) / 2
        return [mid]
    axis = np.geomspace(dim.low, dim.high, points) if dim.log else np.linspace(dim.low, dim.high, points)
    return [float(v) for v in axis]


def grid_points(dims: Sequence[SearchDim], budget: int) -> list[list[float]]:
    """Each dimension's grid values: a list of values as given; the one range
    (at most one) split into as many points as the budget leaves. Raises
    ValueError when the grid cannot have exactly ``budget`` points."""
    listed = math.prod(len(d.values) for d in dims if d.values is not None)
    ranges = [d for d in dims if d.values is None]
    if len(ranges) > 1:
        raise ValueError(
            f"a grid can split one range, not {len(ranges)} ({', '.join(d.name for d in ranges)}): "
            "give the others as values, or use method random or quasirandom"
        )
    if ranges:
        if budget % listed:
            raise ValueError(
                f"the budget {budget} is not a multiple of the {listed} combinations of the listed "
                f"values, so the range of '{ranges[0].name}' cannot be split evenly"
            )
        points = budget // listed
    else:
        points = 1
        if listed != budget:
            names = ", ".join(d.name for d in dims)
            raise ValueError(f"the grid of {names} has {listed} points, not the budget of {budget}")
    return [_grid_axis(d, points) for d in dims]


def search(suite: SuiteSpec, variant: VariantSpec) -> list[dict[str, float]]:
    """The trials of ``variant`` in search order: ``budget`` assignments
    name -> value. Variants that share a dimension get the same values of it
    (common random numbers), whatever else they search."""
    tuning = suite.tuning
    dims = space(suite, variant)
    budget = tuning.budget
    if not dims:
        raise ValueError("none of the searched settings applies to it")
    if tuning.method == "grid":
        combos = list(itertools.product(*grid_points(dims, budget)))
    elif tuning.method == "random":
        columns = [
            _scaled(d, np.random.default_rng([tuning.draw_seed, zlib.crc32(d.name.encode())]).random(budget))
            for d in dims
        ]
        combos = list(zip(*columns))
    else:
        from scipy.stats import qmc  # a scrambled Halton sequence over every name the suite searches

        names = _all_names(suite)
        u = qmc.Halton(d=len(names), scramble=True, seed=tuning.draw_seed).random(budget)
        combos = list(zip(*[_scaled(d, u[:, names.index(d.name)]) for d in dims]))
    return [
        {d.name: float(round(v)) if d.integer else float(v) for d, v in zip(dims, combo)}
        for combo in combos
    ]


# --- applying a trial -----------------------------------------------------------------------


def configure(
    variant: VariantSpec, train: TrainSpec, values: dict[str, float]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The variant's and the training settings' data (plain dicts, to be
    validated) with ``values`` applied."""
    v = variant.model_dump(mode="json")
    v["search"] = []
    t = train.model_dump(mode="json")
    for name, value in values.items():
        target = search_target(name)
        if target.kind == "learning_rate":
            v["learning_rate"] = value
        elif target.kind == "train":
            t[target.param] = value
        elif target.kind == "optimizer":
            t["optimizer"][target.param] = value
        elif target.kind == "cell":
            v["cell_params"][target.param] = value
        else:  # remedy.<name>.<parameter>: every remedy of that name in the variant
            for remedy in v["remedies"]:
                if remedy["name"] == target.remedy:
                    remedy[target.param] = value
    return v, t


def _as_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def trial_settings(variant: VariantSpec, train: TrainSpec, values: dict[str, float]) -> tuple[VariantSpec, TrainSpec]:
    """The variant and training settings of one trial, their structure
    validated (the plugins' parameters are checked by ``rnnbench.resolve``)."""
    v, t = configure(variant, train, {k: _as_number(x) for k, x in values.items()})
    return VariantSpec.model_validate(v), TrainSpec.model_validate(t)


# --- expansion and selection -----------------------------------------------------------------


def trial_runs(suite: SuiteSpec) -> list[RunSpec]:
    """Every tuning run: per length, variant, trial (in search order) and tuning seed."""
    if suite.tuning is None:
        return []
    runs = []
    for variant in suite.variants:
        trials = search(suite, variant)
        settings = [trial_settings(variant, suite.train, values) for values in trials]
        for seq_len in suite.seq_lens:
            for index, (values, (v, t)) in enumerate(zip(trials, settings)):
                trial = Trial(index=index, values=values)
                runs += [
                    RunSpec(task=suite.task, seq_len=seq_len, variant=v, seed=seed, train=t, trial=trial)
                    for seed in suite.tuning.seeds
                ]
    order = {n: i for i, n in enumerate(suite.seq_lens)}
    return sorted(runs, key=lambda r: order[r.seq_len])  # stable: variants, trials, seeds stay in order


@dataclasses.dataclass(frozen=True)
class TrialScore:
    """One trial of one (variant, length): its values, its runs on the tuning
    seeds (those stored), and its score (None until every seed is stored)."""

    trial: Trial
    runs: tuple[RunResult, ...]
    score: float | None
    diverged: int
    failed: int

    @property
    def values(self) -> dict[str, float]:
        return self.trial.values


@dataclasses.dataclass(frozen=True)
class Selection:
    """The tuning of one (variant, length): every trial's score and the chosen one
    (None until every trial's runs are stored)."""

    variant: str
    seq_len: int
    metric: str
    goal: str  # "min" or "max"
    trials: tuple[TrialScore, ...]
    chosen: TrialScore | None

    @property
    def all_diverged(self) -> bool:
        return bool(self.trials) and all(t.diverged + t.failed for t in self.trials)

    def edges(self) -> list[str]:
        """Where the chosen trial sits at the end of a searched dimension (of at
        least three values): e.g. ["low learning_rate"]. A choice at the edge says
        the best value may lie outside the range searched."""
        if self.chosen is None or self.all_diverged:
            return []
        found = []
        for name, value in self.chosen.values.items():
            tried = sorted({t.values[name] for t in self.trials})
            if len(tried) >= 3 and value in (tried[0], tried[-1]):
                found.append(f"{'low' if value == tried[0] else 'high'} {name}")
        return found


def goal(suite: SuiteSpec) -> str:
    """Which way the selection metric is better: "min" or "max" (a suite
    validated against the plugins has the task's declaration filled in)."""
    if suite.tuning.goal is not None:
        return suite.tuning.goal
    return "min" if suite.tuning.metric == "validation_loss" else "max"


def run_value(result: RunResult, metric: str) -> float | None:
    """The final validation value of ``metric`` for one run; None where it has none."""
    if result.status != "ok":
        return None
    value = result.final_validation_loss if metric == "validation_loss" else result.final_validation_metrics.get(metric)
    return value if value is not None and math.isfinite(value) else None


def _score(trial: Trial, runs: list[RunResult], seeds: int, metric: str, direction: str) -> TrialScore:
    diverged = sum(r.status == "diverged" for r in runs)
    failed = sum(r.status in ("error", "timeout") for r in runs)
    score = None
    if len(runs) == seeds:
        values = [run_value(r, metric) for r in runs]
        worst = math.inf if direction == "min" else -math.inf
        score = worst if None in values else math.fsum(values) / len(values)
    return TrialScore(trial, tuple(sorted(runs, key=lambda r: r.spec.seed)), score, diverged, failed)


def select(suite: SuiteSpec, trial_results: Sequence[RunResult]) -> list[Selection]:
    """Each (variant, length)'s trials scored on the validation set and the chosen
    one (rule: ``SELECTION_RULE``), in grid order. Reads only validation metrics."""
    if suite.tuning is None:
        return []
    direction = goal(suite)
    by_trial: dict[tuple[str, int, int], list[RunResult]] = {}
    for r in trial_results:
        if r.spec.trial is not None:
            by_trial.setdefault((r.spec.variant.name, r.spec.seq_len, r.spec.trial.index), []).append(r)
    selections = []
    for seq_len in suite.seq_lens:
        for variant in suite.variants:
            scores = tuple(
                _score(Trial(index=i, values=values), by_trial.get((variant.name, seq_len, i), []),
                       len(suite.tuning.seeds), suite.tuning.metric, direction)
                for i, values in enumerate(search(suite, variant))
            )
            chosen = None
            if scores and all(s.score is not None for s in scores):
                sign = 1.0 if direction == "min" else -1.0
                chosen = min(scores, key=lambda s: (sign * s.score, s.trial.index))
            selections.append(
                Selection(variant.name, seq_len, suite.tuning.metric, direction, scores, chosen)
            )
    return selections


def evaluation_runs(suite: SuiteSpec, selections: Sequence[Selection] = ()) -> list[RunSpec]:
    """The runs the report and the findings read: without tuning, the grid as
    written; with it, each (variant, length)'s chosen configuration trained
    with the suite's seeds (none for a (variant, length) not selected yet)."""
    if suite.tuning is None:
        return suite.runs()
    chosen = {(s.variant, s.seq_len): s.chosen for s in selections}
    runs = []
    for seq_len in suite.seq_lens:
        for variant in suite.variants:
            pick = chosen.get((variant.name, seq_len))
            if pick is None:
                continue
            v, t = trial_settings(variant, suite.train, pick.values)
            runs += [RunSpec(task=suite.task, seq_len=seq_len, variant=v, seed=s, train=t) for s in suite.seeds]
    return runs


@dataclasses.dataclass(frozen=True)
class Stages:
    """The tuning sequence of a suite, given what is stored, written out once:
    its trial runs, the stored results of those, what they select and the
    evaluation runs of that (without tuning: no trials, and the grid as written)."""

    trials: list[RunSpec]
    trial_results: list[RunResult]
    selections: list[Selection]
    evaluations: list[RunSpec]


def stages(suite: SuiteSpec, stored: Callable[[list[RunSpec]], list[RunResult]]) -> Stages:
    """``suite``'s tuning sequence (``Stages``); ``stored`` gives the stored
    results of the runs it is handed, in their order, leaving out those not stored."""
    trials = trial_runs(suite)
    trial_results = stored(trials)
    selections = select(suite, trial_results)
    return Stages(trials, trial_results, selections, evaluation_runs(suite, selections))


def planned_runs(suite: SuiteSpec) -> tuple[int, int]:
    """(trial runs, evaluation runs) a full sweep of ``suite`` trains."""
    evaluations = len(suite.seq_lens) * len(suite.variants) * len(suite.seeds)
    return len(trial_runs(suite)), evaluations


@dataclasses.dataclass(frozen=True)
class TuningCost:
    """What a tuned suite cost, from the stored runs' wall times: the tuning runs,
    the evaluation runs, and training each (variant, length) once (the mean
    time of one of its evaluation runs, or of its trial runs before any)."""

    trial_runs: int
    trial_diverged: int
    trial_failed: int
    trial_s: float
    evaluation_s: float
    once_s: float

    @property
    def total_s(self) -> float:
        return self.trial_s + self.evaluation_s

    @property
    def ratio(self) -> float | None:
        """Everything trained, in units of training each variant once per length."""
        return self.total_s / self.once_s if self.once_s > 0 else None


def tuning_cost(selections: Sequence[Selection], evaluations: Sequence[RunResult]) -> TuningCost:
    trials = [r for s in selections for t in s.trials for r in t.runs]
    once = 0.0
    for s in selections:
        mine = [r.wall_time_s for r in evaluations if (r.spec.variant.name, r.spec.seq_len) == (s.variant, s.seq_len)]
        mine = mine or [r.wall_time_s for t in s.trials for r in t.runs]
        once += math.fsum(mine) / len(mine) if mine else 0.0
    return TuningCost(
        trial_runs=len(trials),
        trial_diverged=sum(r.status == "diverged" for r in trials),
        trial_failed=sum(r.status in ("error", "timeout") for r in trials),
        trial_s=math.fsum(r.wall_time_s for r in trials),
        evaluation_s=math.fsum(r.wall_time_s for r in evaluations),
        once_s=once,
    )
