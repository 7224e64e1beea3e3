"""The report's tuning section: the learning-rate sensitivity figure (after
DeepOBS, Schneider et al. 2019) and the numbers beside it.

``tuning_figure`` draws, per sequence length, each variant's final validation
metric against the searched value: a small dot per tuning seed, a line through
the trials' scores (the mean over the tuning seeds), the chosen trial ringed,
and a cross at the top edge where a trial diverged or failed. The other
functions turn a suite's protocol and its ``rnnbench.tuning.Selection`` list
into the plain rows the page shows: the protocol in words, the chosen
configuration of each (variant, length) with its robustness, and the cost.

Everything here reads the validation set only (through the tuning module);
the test set is left to the verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, NullFormatter

from rnnbench.report import figure_layout as layout
from rnnbench.report.formatting import DASH
from rnnbench.report.stats import mean
from rnnbench.spec import SearchDim, SuiteSpec
from rnnbench.tuning import Selection, TrialScore, TuningCost, run_value, space
from rnnbench.tuning import goal as selection_goal

ROBUST_FACTOR = 2.0
ROBUSTNESS_RULE = (
    "Robustness: the fraction of a (variant, length)'s trials whose validation score is within a "
    f"factor of {ROBUST_FACTOR:g} of the best one (at most {ROBUST_FACTOR:g} times the best when "
    f"lower is better, at least 1/{ROBUST_FACTOR:g} of it when higher is better); a trial that "
    "diverged or failed on any tuning seed counts as not within. Near 100%: the result hardly "
    "depends on the searched value; a low number: it holds only in a narrow band."
)
CHOSEN_STYLE = {"marker": "o", "ms": 13, "mfc": "none", "mew": 1.8, "ls": "none"}
CROSS_STYLE = {"marker": "x", "ms": 8, "mew": 2, "ls": "none"}
ABOVE_STYLE = {"marker": "^", "ms": 7, "ls": "none"}
CEILING_SPAN = 1000.0  # the y axis of a metric to minimise reaches at least 1000 x the best value...
CEILING_BASELINE = 10.0  # ... and 10 x the input-blind baseline; a score above both leaves it
CROSS_TOP = 0.96  # axes fraction of the first row of crosses; each next variant a bit lower
CROSS_STEP = 0.045


# --- which searched value goes on the x axis -----------------------------------------


def x_dimension(suite: SuiteSpec, variant: str) -> SearchDim | None:
    """The dimension a variant's trials are drawn against: the learning rate if
    it is searched, else the first dimension of its space."""
    dims = space(suite, next(v for v in suite.variants if v.name == variant))
    return next((d for d in dims if d.name == "learning_rate"), dims[0] if dims else None)


def _log_x(dim: SearchDim) -> bool:
    """Whether the x axis of ``dim`` is logarithmic: always for the learning
    rate, for a log range, and for listed positive values spanning a decade."""
    if dim.name == "learning_rate":
        return True
    if dim.values is None:
        return dim.log
    return min(dim.values) > 0 and max(dim.values) / min(dim.values) >= 10


def _pretty(name: str) -> str:
    return name.replace("_", " ") if name in ("learning_rate", "validation_loss") else name


# --- robustness ---------------------------------------------------------------------------


def _failed(trial: TrialScore) -> bool:
    """Whether a trial has no finite score: a run diverged or failed, or a run
    that finished has no value of the metric (a trial still missing runs has
    no score yet, and is not counted as failed)."""
    if trial.diverged + trial.failed:
        return True
    return trial.score is not None and not math.isfinite(trial.score)


def within(score: float, best: float, goal: str) -> bool:
    """Whether ``score`` is within ROBUST_FACTOR of ``best`` in the direction ``goal``
    (for a best that is not positive, only a score as good as it)."""
    if best <= 0:
        return score <= best if goal == "min" else score >= best
    return score <= best * ROBUST_FACTOR if goal == "min" else score >= best / ROBUST_FACTOR


def robustness(selection: Selection) -> float | None:
    """The fraction of the trials within ROBUST_FACTOR of the best score
    (ROBUSTNESS_RULE); None until every trial is scored or when none has a
    finite score."""
    trials = selection.trials
    if not trials or any(t.score is None for t in trials):
        return None
    scores = [t.score for t in trials if not _failed(t)]
    if not scores:
        return None
    best = min(scores) if selection.goal == "min" else max(scores)
    return sum(within(s, best, selection.goal) for s in scores) / len(trials)


# --- the figure ---------------------------------------------------------------------------


def _seed_values(trial: TrialScore, metric: str) -> list[float]:
    return [v for v in (run_value(r, metric) for r in trial.runs) if v is not None]


def _best_per_x(points: list[tuple[float, float]], goal: str) -> tuple[list[float], list[float]]:
    """For each distinct x (in order), the best of the scores at it."""
    best: dict[float, float] = {}
    for x, s in points:
        if x not in best or (s < best[x] if goal == "min" else s > best[x]):
            best[x] = s
    xs = sorted(best)
    return xs, [best[x] for x in xs]


def _ceiling(values: Sequence[float], baseline: float | None, goal: str) -> float:
    """The top of the y axis for a metric to minimise: the larger of
    CEILING_SPAN times the best value and CEILING_BASELINE times the baseline,
    so that a trial that blew up to a huge but finite loss leaves the axis
    instead of flattening every other curve. Infinite (no cap) for a metric
    to maximise or without a positive value."""
    positive = [v for v in values if math.isfinite(v) and v > 0]
    if goal != "min" or not positive:
        return math.inf
    cap = CEILING_SPAN * min(positive)
    if baseline is not None and baseline > 0:
        cap = max(cap, CEILING_BASELINE * baseline)
    return cap


def tuning_figure(suite: SuiteSpec, selections: Sequence[Selection]) -> Figure | None:
    """The sensitivity of each variant's final validation metric to the searched
    value, one panel per sequence length (and one row per x dimension, should
    variants be drawn against different ones; see ``x_dimension``).

    Per variant, in its colour: a small dot per tuning seed and trial, a line
    through the trials' scores (where trials share an x value, through the best
    of them), a ring on the chosen trial, and a cross near the top edge at the x
    of each trial that diverged or failed (it has no finite score; when every
    trial did, the chosen one's cross is ringed). When the metric is the
    validation loss, the input-blind baseline is a dashed grey line. For a
    metric to minimise the y axis stops at ``_ceiling``: a score above it leaves
    the panel, marked by a triangle at the top edge. None for a suite without
    tuning or without a stored trial run.
    """
    if suite.tuning is None or not any(t.runs for s in selections for t in s.trials):
        return None
    by_cell = {(s.variant, s.seq_len): s for s in selections}
    metric, goal = selections[0].metric, selections[0].goal
    dims: dict[str, SearchDim] = {}
    for v in suite.variants:
        d = x_dimension(suite, v.name)
        if d is not None:
            dims.setdefault(d.name, d)
    rows = list(dims)
    fig, axes = layout.new_figure(len(rows), len(suite.seq_lens), sharey=True)
    layout.length_titles(axes[0], suite)

    # the y range first: every finite value and baseline, and the ceiling
    values = [v for s in selections for t in s.trials for v in _seed_values(t, metric)]
    values += [t.score for s in selections for t in s.trials if t.score is not None and not _failed(t)]
    baselines = {}
    if metric == "validation_loss":
        for seq_len in suite.seq_lens:
            runs = [r for s in selections if s.seq_len == seq_len for t in s.trials for r in t.runs]
            baselines[seq_len] = mean(r.baseline for r in runs)
    shown_baselines = [b for b in baselines.values() if b is not None]
    ceiling = _ceiling(values, max(shown_baselines, default=None), goal)
    kept = [v for v in values + shown_baselines if math.isfinite(v) and v <= ceiling]

    any_cross = any_chosen = any_above = False
    for row_axes, xname in zip(axes, rows):
        log_x = _log_x(dims[xname])
        for ax, seq_len in zip(row_axes, suite.seq_lens):
            slots = 0  # variants with a marker at the top edge of this panel, to stack them
            drawn = False
            for variant in suite.variants:
                sel = by_cell.get((variant.name, seq_len))
                dim = x_dimension(suite, variant.name)
                if sel is None or dim is None or dim.name != xname:
                    continue
                colour = layout.variant_colour(suite, variant.name)
                dots_x, dots_y, scored, failed_x = [], [], [], []
                for t in sel.trials:
                    x = t.values[xname]
                    seeds = _seed_values(t, metric)
                    dots_x += [x] * len(seeds)
                    dots_y += seeds
                    drawn |= bool(t.runs)
                    if _failed(t):
                        failed_x.append(x)
                    elif t.score is not None:
                        scored.append((x, t.score))
                if dots_x:
                    ax.plot(dots_x, dots_y, ls="none", marker="o", ms=3, alpha=0.55, color=colour,
                            gid=f"seeds:{variant.name}")
                if scored:
                    xs, ys = _best_per_x(scored, goal)
                    layout.line(ax, xs, ys, color=colour, lw=1.8, gid=f"score:{variant.name}")
                above_x = [x for x, s in scored if s > ceiling]
                top = CROSS_TOP - CROSS_STEP * slots
                if failed_x or above_x:
                    slots += 1
                if failed_x:
                    ax.plot(failed_x, [top] * len(failed_x), transform=ax.get_xaxis_transform(),
                            clip_on=False, color=colour, gid=f"failed:{variant.name}", **CROSS_STYLE)
                    any_cross = True
                if above_x:
                    ax.plot(above_x, [top] * len(above_x), transform=ax.get_xaxis_transform(),
                            clip_on=False, color=colour, gid=f"above:{variant.name}", **ABOVE_STYLE)
                    any_above = True
                chosen = sel.chosen
                if chosen is not None:
                    x = chosen.values[xname]
                    if _failed(chosen):  # every trial failed: ring the cross it falls back on
                        ax.plot([x], [top], transform=ax.get_xaxis_transform(), clip_on=False,
                                color=colour, gid=f"chosen:{variant.name}", **CHOSEN_STYLE)
                    else:
                        ax.plot([x], [chosen.score], color=colour, gid=f"chosen:{variant.name}",
                                **CHOSEN_STYLE)
                    any_chosen = True
            if baselines.get(seq_len) is not None:
                ax.axhline(baselines[seq_len], **layout.BASELINE_STYLE)
            if not drawn:
                layout.no_data(ax)
            if log_x:
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(base=10))
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(_pretty(xname) + (" (log axis)" if log_x else ""))
    log_y = layout.wants_log(kept)
    if log_y:
        axes[0, 0].set_yscale("log")
    kept = [v for v in kept if v > 0 or not log_y]
    headroom = any_cross or any_above
    if kept:
        lo, hi = min(kept), max(kept)
        if log_y:  # room at the top for the crosses
            top = min(hi * (3.0 if headroom else 1.5), ceiling)
            axes[0, 0].set_ylim(lo / 1.5, max(top, hi))
        else:
            span = (hi - lo) or max(abs(hi) * 0.1, 0.1)
            top = min(hi + (0.3 if headroom else 0.08) * span, ceiling)
            axes[0, 0].set_ylim(lo - 0.05 * span, max(top, hi))
    direction = "lower" if goal == "min" else "higher"
    for row_axes in axes:
        row_axes[0].set_ylabel(f"final {_pretty(metric)}, validation set\n({direction} is better"
                               + (", log axis)" if log_y else ")"))
    handles = layout.variant_handles(suite) + [
        Line2D([], [], color="black", ls="none", marker="o", ms=3, alpha=0.55, label="one tuning seed"),
        Line2D([], [], color="black", lw=1.8, label="trial score: mean over tuning seeds"),
    ]
    if any_chosen:
        handles.append(Line2D([], [], color="black", label="chosen trial", **CHOSEN_STYLE))
    if any_cross:
        handles.append(Line2D([], [], color="black", label="diverged or failed (no finite score)",
                              **CROSS_STYLE))
    if any_above:
        handles.append(Line2D([], [], color="black", label="score above the axis", **ABOVE_STYLE))
    if shown_baselines:
        handles.append(Line2D([], [], label="input-blind baseline", **layout.BASELINE_STYLE))
    layout.bottom_legend(fig, handles, ncols=layout.legend_columns(suite))
    return fig


def tuning_caption(suite: SuiteSpec) -> str:
    """The figure's caption, saying which value is on the x axis of variants
    that search several."""
    metric = _pretty(suite.tuning.metric)
    text = (
        f"Sensitivity to the searched value (after DeepOBS): the final {metric} on the "
        "validation set of each trial of the tuning budget, one panel per sequence length. "
        "Small dots: one tuning seed each; line: the trial's score, the mean over the tuning "
        "seeds; ring: the chosen trial; cross near the top edge: a trial that diverged or failed "
        "on some tuning seed, at the value where it did (it has no finite score)."
    )
    if suite.tuning.metric == "validation_loss":
        text += " Dashed grey: the input-blind baseline."
    if selection_goal(suite) == "min":
        text += (
            f" The y axis stops at {CEILING_SPAN:g} times the best value or {CEILING_BASELINE:g} "
            "times the baseline, whichever is higher; a triangle at the top edge marks a score "
            "above it (a trial that blew up without becoming non-finite)."
        )
    several = []
    for v in suite.variants:
        dims = space(suite, v)
        if len(dims) > 1:
            x = x_dimension(suite, v.name)
            others = ", ".join(d.name for d in dims if d.name != x.name)
            several.append(f"{v.name} (x: {x.name}; also searched: {others})")
    if several:
        text += (
            " Variants that search several settings are drawn against the learning rate if "
            "they search it, else against their first setting; where several of their trials "
            "share an x value the line joins the best of them: " + "; ".join(several) + "."
        )
    return text


# --- the numbers beside it ------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:.3g}"


def describe_dim(dim: SearchDim) -> str:
    """A searched dimension in words, e.g. "learning_rate: 0.0001 to 0.1, log scale"."""
    if dim.values is not None:
        text = f"{dim.name}: the values {', '.join(_number(v) for v in dim.values)}"
    else:
        scale = "log scale" if dim.log else "linear scale"
        text = f"{dim.name}: {_number(dim.low)} to {_number(dim.high)}, {scale}"
    return text + (", rounded to whole numbers" if dim.integer else "")


METHODS = {
    "grid": "a grid (every combination; one range split into as many points as the budget leaves)",
    "random": "random draws (uniform, log-uniform on a log range)",
    "quasirandom": "a scrambled Halton sequence (quasi-random)",
}


@dataclass(frozen=True)
class Protocol:
    """The tuning protocol of a suite, as the page words it."""

    budget: int
    method: str
    search: list[str]  # the suite's dimensions, described
    per_variant: list[tuple[str, list[str]]]  # variants whose space differs, and theirs
    tuning_seeds: list[int]
    evaluation_seeds: list[int]
    metric: str
    direction: str
    validation_size: int
    test_size: int


def protocol(suite: SuiteSpec) -> Protocol:
    tuning = suite.tuning
    method = METHODS[tuning.method]
    if tuning.method != "grid":
        method += f", drawn with seed {tuning.draw_seed}"
    suite_dims = [d.model_dump() for d in tuning.search]
    per_variant = [
        (v.name, [describe_dim(d) for d in space(suite, v)])
        for v in suite.variants
        if [d.model_dump() for d in space(suite, v)] != suite_dims
    ]
    direction = selection_goal(suite)
    return Protocol(
        budget=tuning.budget,
        method=method,
        search=[describe_dim(d) for d in tuning.search],
        per_variant=per_variant,
        tuning_seeds=list(tuning.seeds),
        evaluation_seeds=list(suite.seeds),
        metric=tuning.metric,
        direction="lower is better" if direction == "min" else "higher is better",
        validation_size=suite.train.validation_size,
        test_size=suite.train.test_size,
    )


@dataclass(frozen=True)
class ChosenRow:
    """One (variant, length) of the table of chosen configurations."""

    seq_len: int
    variant: str
    values: str  # the chosen values, e.g. "learning_rate = 0.0215"; "" when not selected yet
    score: float | None  # the chosen trial's validation score; None when not finite
    trials: int  # the budget
    stored: int  # trials with every tuning seed stored
    diverged: int  # trials with a run that diverged
    failed: int  # trials with a run that errored or timed out
    robustness: float | None
    robust: int  # trials within ROBUST_FACTOR of the best
    note: str


def chosen_rows(selections: Sequence[Selection]) -> list[ChosenRow]:
    rows = []
    for s in selections:
        rob = robustness(s)
        stored = sum(t.score is not None for t in s.trials)
        note = ""
        if s.chosen is None:
            note = f"not selected yet: {stored} of {len(s.trials)} trials stored"
        elif s.all_diverged:
            note = "failed at every value tried: the first trial in the search order is evaluated"
        elif s.edges():
            note = (f"chosen at the {' and '.join(s.edges())} end of the range searched: the best "
                    "value may lie outside it")
        score = s.chosen.score if s.chosen is not None else None
        rows.append(ChosenRow(
            seq_len=s.seq_len,
            variant=s.variant,
            values="" if s.chosen is None else ", ".join(
                f"{k} = {v:.3g}" for k, v in s.chosen.values.items()
            ),
            score=score if score is not None and math.isfinite(score) else None,
            trials=len(s.trials),
            stored=stored,
            diverged=sum(t.diverged > 0 for t in s.trials),
            failed=sum(t.failed > 0 for t in s.trials),
            robustness=rob,
            robust=round(rob * len(s.trials)) if rob is not None else 0,
            note=note,
        ))
    return rows


def cost_rows(suite: SuiteSpec, cost: TuningCost) -> list[tuple[str, str]]:
    """The budget and the cost of tuning, as (label, value) rows."""
    tuning = suite.tuning
    planned = tuning.budget * len(tuning.seeds) * len(suite.variants) * len(suite.seq_lens)
    return [
        ("budget", f"{tuning.budget} trials × {len(tuning.seeds)} tuning seed(s) per (variant, length): "
                   f"{planned} trial runs"),
        ("trial runs stored", f"{cost.trial_runs} ({cost.trial_diverged} diverged, {cost.trial_failed} failed)"),
        ("training time, tuning", f"{cost.trial_s:.3g} s"),
        ("training time, evaluation", f"{cost.evaluation_s:.3g} s"),
        ("training each variant once per length", f"{cost.once_s:.3g} s"),
        ("ratio", DASH if cost.ratio is None else f"{cost.ratio:.3g}\u00d7"),
    ]
