"""The report's figures, each built from stored results as a matplotlib Figure:
convergence, gradient decay, success, gradient norm, W_hh over training,
timing, and the timing history across commits (asv).

Their common layout -- panels, the variants' colours, legends, log axes,
saving as PNG -- is :mod:`rnnbench.report.figure_layout` (``layout``). A y
axis is logarithmic when its values are positive and span more than one and a
half decades (``layout.LOG_SPAN``); gradient norms and decay profiles always are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import offset_copy

from rnnbench.report import figure_layout as layout
from rnnbench.report.analysis import (
    finished,
    init_profile,
    final_profile,
    metric_names,
    runs_of,
    state_names,
)
from rnnbench.report.asv_history import AsvPoint
from rnnbench.report.formatting import format_number
from rnnbench.report.stats import MIN_SEEDS, geometric_over_seeds, mean, over_seeds
from rnnbench.results import RunResult
from rnnbench.spec import SuiteSpec

HAT_K = r"$\hat{k}$"


# --- convergence ----------------------------------------------------------------


def _curve(r: RunResult, quantity: str) -> tuple[list[int], list[float | None]]:
    """(steps, values) of a run's test loss, training loss or a metric."""
    c = r.curves
    if quantity == "test loss":
        return c.step, c.test_loss
    if quantity == "training loss":
        return c.step, c.train_loss
    return c.step, c.test_metrics.get(quantity, [])


def _baseline(results: Sequence[RunResult], quantity: str) -> float | None:
    """Mean over runs of the input-blind baseline of the loss or of a metric."""
    if quantity == "test loss":
        return mean(r.baseline for r in results)
    return mean(r.baseline_metrics.get(quantity) for r in results)


def _limits(core: Sequence[float], edges: Sequence[float], log: bool) -> tuple:
    """Axis limits that show the ``core`` values (means, baselines) with a
    margin, widened to show the ``edges`` (interval bounds) but by at most a
    decade on a log axis, or half the core range on a linear one: a band from
    two seeds can be very wide, and is then cut at the axis."""
    core = [v for v in core if np.isfinite(v) and (v > 0 or not log)]
    if not core:
        return None, None
    lo, hi = min(core), max(core)
    edges = [v for v in edges if np.isfinite(v) and (v > 0 or not log)]
    if log:
        lo, hi = max(min(edges, default=lo), lo / 10), min(max(edges, default=hi), hi * 10)
        return min(lo, min(core)) / 1.3, max(hi, max(core)) * 1.3
    span = hi - lo
    lo = min(max(min(edges, default=lo), lo - span / 2), lo)
    hi = max(min(max(edges, default=hi), hi + span / 2), hi)
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.1, 0.1)
    return lo - pad, hi + pad


def _seed_band(series, log: bool):
    """(x, median, lo, hi) over seeds: the median and its exact order-statistic
    interval (``over_seeds``: NaN where fewer than MIN_SEEDS seeds have a value),
    on a log axis computed on the log values and transformed back (the same
    median and interval: order statistics commute with the logarithm)."""
    if not log:
        x, _, m, lo, hi = over_seeds(series)
        return x, m, lo, hi
    logged = [(xs, [math.log(v) if v is not None and v > 0 else None for v in ys]) for xs, ys in series]
    x, _, m, lo, hi = over_seeds(logged)
    return x, np.exp(m), np.exp(lo), np.exp(hi)


def _has_values(curve: tuple[Sequence, Sequence]) -> bool:
    """Whether a (steps, values) curve has a finite value to draw."""
    return any(v is not None and math.isfinite(v) for v in curve[1])


def convergence_figure(suite: SuiteSpec, results: Sequence[RunResult]) -> Figure:
    """Test loss and each task metric against step: one row per quantity, one
    panel per sequence length. Per variant the median over seeds (solid) with a
    95% order-statistic band of that median over the seeds present at each step
    (where at least MIN_SEEDS are), the training loss as a dotted median, the
    input-blind baseline dashed grey. A variant with fewer than MIN_SEEDS runs
    with a curve at a length gets no band there: each run's curve is drawn as a
    thin line instead.

    A row is drawn on a log axis when its medians span more than layout.LOG_SPAN; the
    median and its interval are the same on either axis. The
    y axis covers the curves of the runs that finished, the baseline and the
    bands, with some headroom, so that an exploding run does not flatten every
    other curve: it leaves at the top, and a cross marks its last step. Bands
    are cut at zero when every value is non-negative.
    """
    quantities = ["test loss", *metric_names(results)]
    fig, axes = layout.new_figure(len(quantities), len(suite.seq_lens), sharey="row")
    layout.length_titles(axes[0], suite)
    any_diverged = any_thin = any_band = False
    done = finished(results)
    for row, quantity in zip(axes, quantities):
        kept = [v for r in done for v in _curve(r, quantity)[1] if v is not None]
        kept += [v for v in [_baseline(results, quantity)] if v is not None]
        if quantity == "test loss":
            kept += [v for r in done for v in _curve(r, "training loss")[1] if v is not None]
        if not kept:  # no run finished: up to ten times the initial values
            kept = [10 * abs(v) for r in results for v in _curve(r, quantity)[1][:1] if v is not None]
        ceiling = max(kept) if kept else math.inf
        means = [
            v
            for seq_len in suite.seq_lens
            for variant in suite.variants
            for v in over_seeds([_curve(r, quantity) for r in runs_of(results, seq_len, variant.name)])[2]
            if v <= ceiling
        ]
        log = layout.wants_log(means)
        edges: list[float] = []
        core: list[float] = []  # the drawn means and the baselines
        nonnegative = all(v >= 0 for v in kept + means)
        for ax, seq_len in zip(row, suite.seq_lens):
            cell_runs = [r for r in results if r.spec.seq_len == seq_len]
            for variant in suite.variants:
                runs = runs_of(results, seq_len, variant.name)
                colour = layout.variant_colour(suite, variant.name)
                curves = [c for c in (_curve(r, quantity) for r in runs) if _has_values(c)]
                x, m, lo, hi = _seed_band(curves, log)
                if len(x):
                    layout.line(ax, x, m, color=colour, lw=1.8)
                    core += [v for v in m if np.isfinite(v) and v <= ceiling]
                if len(curves) < MIN_SEEDS:  # no band: each seed's own curve
                    for xs, ys in curves:
                        ys = np.array([np.nan if v is None else v for v in ys], dtype=float)
                        layout.line(ax, xs, ys, color=colour, lw=0.7, alpha=0.6)
                        edges += [v for v in ys if np.isfinite(v) and v <= ceiling]
                    any_thin |= bool(curves)
                elif len(x) and np.isfinite(lo).any():
                    if nonnegative:
                        lo = np.maximum(lo, 0.0)
                    ax.fill_between(x, lo, hi, color=colour, alpha=0.15, lw=0)
                    edges += [v for v in (*lo, *hi) if np.isfinite(v) and v <= ceiling]
                    any_band = True
                if quantity == "test loss":
                    x, m, _, _ = _seed_band([_curve(r, "training loss") for r in runs], log)
                    if len(x):
                        layout.line(ax, x, m, color=colour, lw=1.0, ls=":")
                        core += [v for v in m if np.isfinite(v) and v <= ceiling]
            baseline = _baseline(cell_runs, quantity)
            if baseline is not None:
                ax.axhline(baseline, **layout.BASELINE_STYLE)
                core.append(baseline)
            if not cell_runs:
                layout.no_data(ax)
            any_diverged |= layout.mark_diverged(ax, suite, cell_runs)
            ax.set_xlabel("step (parameter updates)")
        if log:
            row[0].set_yscale("log")
        row[0].set_ylim(*_limits(core, edges, log))
        row[0].set_ylabel(quantity + ("\n(log axis)" if log else ""))
    handles = layout.variant_handles(suite) + [
        Line2D([], [], color="black", lw=1.8, label="held-out set: median over seeds"),
    ]
    if any_band:
        handles.append(Patch(color="black", alpha=0.15, lw=0,
                             label=f"95% interval of the median, order statistics (\u2265 {MIN_SEEDS} seeds)"))
    if any_thin:
        handles.append(Line2D([], [], color="black", lw=0.7, alpha=0.6,
                              label=f"one seed (variants with < {MIN_SEEDS} seeds)"))
    handles += [
        Line2D([], [], color="black", lw=1.0, ls=":", label="training loss: median over seeds"),
        Line2D([], [], label="input-blind baseline", **layout.BASELINE_STYLE),
    ]
    if any_diverged:
        handles.append(layout.DIVERGED_HANDLE)
    layout.bottom_legend(fig, handles, ncols=layout.legend_columns(suite))
    return fig


# --- gradient decay -------------------------------------------------------------


def _mean_profile(norms: Sequence[Sequence[float | None]]) -> tuple[np.ndarray, np.ndarray]:
    """Geometric mean over seeds of the norms at each distance d (index)."""
    d, g, _, _ = geometric_over_seeds([(range(len(n)), n) for n in norms])
    return d, g


# What each state a built-in cell reports is, for the decay figure's axis labels: h the
# state the read-out reads (for the LRU, its complex state s_t: see rnnbench.engine.lru),
# the LSTM's cell state c, the coRNN's velocity z, a stacked IndRNN's lower layers h1, h2, ...
STATE_WORDS = {"h": "hidden state", "c": "cell state", "z": "velocity z"}


def decay_figure(suite: SuiteSpec, results: Sequence[RunResult], rows: Sequence[dict]) -> Figure:
    """The gradient-decay profile ||dL_T/dh_{T-d}|| against the distance d on a
    log axis, one panel per sequence length: per variant the geometric mean over
    seeds at initialisation (dashed) and at the end of training (solid). Each
    panel's legend gives k-hat and the bound ||W_hh||_2 max|f'|, at
    initialisation -> at the end, as in the summary table (``rows``); the bound
    is "n/a" for gated cells. Cells with other states (the LSTM's c) get a
    second row of panels with the profile of that state, its k-hat beside it.
    """
    states = state_names(results)
    kinds = [None, *states]
    # each panel's legend, a line per variant, goes under it: the panel grows to hold it,
    # wide enough for the longest name and its numbers (": k 0.705 -> 0.981, bound 1.95 -> 1.96")
    longest = max(len(v.name) for v in suite.variants) + 40
    size = (max(layout.PANEL[0], layout.LEGEND_CHAR * longest + 1.0), layout.PANEL[1] + layout.LEGEND_LINE * len(suite.variants))
    fig, axes = layout.new_figure(len(kinds), len(suite.seq_lens), size=size)
    layout.length_titles(axes[0], suite)
    by_cell = {(row["seq_len"], row["variant"]): row for row in rows}
    for row_axes, state in zip(axes, kinds):
        for ax, seq_len in zip(row_axes, suite.seq_lens):
            handles = []
            for variant in suite.variants:
                runs = runs_of(results, seq_len, variant.name)
                colour = layout.variant_colour(suite, variant.name)
                drawn = False
                for profile_of, style in ((init_profile, "--"), (final_profile, "-")):
                    profiles = [profile_of(r) for r in runs]
                    norms = [
                        p.norms if state is None else p.state_norms[state]
                        for p in profiles
                        if p is not None and (state is None or state in p.state_norms)
                    ]
                    d, g = _mean_profile(norms)
                    if len(d):
                        layout.line(ax, d, g, color=colour, lw=1.8 if style == "-" else 1.2, ls=style)
                        drawn = True
                if not drawn:
                    continue
                row = by_cell[(seq_len, variant.name)]
                if state is None:
                    k = f"{format_number(row['k_hat_init'], 3)} \u2192 {format_number(row['k_hat_final'], 3)}"
                    bound = (
                        "n/a" if row["bound_init"] is None and row["bound_final"] is None
                        else f"{format_number(row['bound_init'], 3)} \u2192 {format_number(row['bound_final'], 3)}"
                    )
                    text = f"{layout.label(variant.name)}: {HAT_K} {k}, bound {bound}"
                else:
                    k = (f"{format_number(row['state_k_hat_init'].get(state), 3)} \u2192 "
                         f"{format_number(row['state_k_hat_final'].get(state), 3)}")
                    text = f"{layout.label(variant.name)}: {HAT_K} {k}"
                handles.append(Line2D([], [], color=colour, lw=1.8, label=text))
            if ax.lines:
                ax.set_yscale("log")
                # anchored a fixed distance below the axes, under its tick labels and
                # x label (a fraction of the axes' height moves with the layout)
                below = offset_copy(ax.transAxes, fig=fig, y=-layout.LEGEND_DROP, units="points")
                ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                          bbox_transform=below, fontsize="small", frameon=False)
            else:
                layout.no_data(ax)
            ax.set_xlabel("distance back in time  d = T \u2212 t")
        name = "h" if state is None else state
        row_axes[0].set_ylabel(f"||dL_T / d{name}_t||  ({STATE_WORDS.get(name, 'state ' + name)})")
    fig.legend(
        handles=[
            Line2D([], [], color="black", lw=1.2, ls="--", label="at initialisation"),
            Line2D([], [], color="black", lw=1.8, label="at the end of training"),
        ],
        loc="outside upper center", ncols=2, fontsize="small", frameon=False,
    )
    return fig


# --- success --------------------------------------------------------------------


def success_figure(suite: SuiteSpec, rows: Sequence[dict]) -> Figure | None:
    """The fraction of seeds that meet the task's main criterion at the end of
    training, against sequence length, per variant (markers joined by lines,
    nudged sideways so that equal rates stay visible). None when the task has
    no success criterion."""
    criterion = next((row["criterion"] for row in rows if row["criterion"]), None)
    if criterion is None:
        return None
    width = max(layout.PANEL[0], 1.2 * len(suite.seq_lens) + 2.5)
    fig, axes = layout.new_figure(1, 1, size=(width, layout.PANEL[1]))
    ax = axes[0, 0]
    n = len(suite.variants)
    for i, variant in enumerate(suite.variants):
        offset = (i - (n - 1) / 2) * min(0.08, 0.5 / n)
        points = [
            (j + offset, row["success_rate"])
            for j, seq_len in enumerate(suite.seq_lens)
            for row in rows
            if row["variant"] == variant.name and row["seq_len"] == seq_len
            and row["success_rate"] is not None
        ]
        if points:
            x, y = zip(*points)
            ax.plot(x, y, marker="o", ms=6, lw=1.5, color=layout.variant_colour(suite, variant.name))
    ax.set_xticks(range(len(suite.seq_lens)), [str(t) for t in suite.seq_lens])
    ax.set_xlim(-0.5, len(suite.seq_lens) - 0.5)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("fraction of seeds solved")
    ax.set_title(f"success: '{layout.label(criterion)}' at the end of training", fontsize="medium")
    fig.legend(handles=layout.variant_handles(suite, lw=1.5), loc="outside right center",
               fontsize="small", frameon=False)
    return fig


# --- gradient norm and W_hh over training ---------------------------------------


def grad_norm_figure(suite: SuiteSpec, results: Sequence[RunResult]) -> Figure:
    """The global gradient norm over training on a log axis, one panel per
    sequence length: per variant the geometric mean over seeds of the mean norm
    of the updates since the previous log, before the remedies (solid, band =
    min..max over seeds) and after them (dashed, drawn only where a remedy
    changed it, e.g. clipping)."""
    fig, axes = layout.new_figure(1, len(suite.seq_lens), sharey=True)
    layout.length_titles(axes[0], suite)
    any_after = any_diverged = False
    for ax, seq_len in zip(axes[0], suite.seq_lens):
        cell_runs = [r for r in results if r.spec.seq_len == seq_len]
        for variant in suite.variants:
            runs = runs_of(results, seq_len, variant.name)
            colour = layout.variant_colour(suite, variant.name)
            x, g, lo, hi = geometric_over_seeds([(r.curves.step, r.curves.grad_norm) for r in runs])
            if len(x):
                layout.line(ax, x, g, color=colour, lw=1.6)
                ax.fill_between(x, lo, hi, color=colour, alpha=0.15, lw=0)
            changed = any(
                a is not None and b is not None and not math.isclose(a, b, rel_tol=1e-9)
                for r in runs
                for a, b in zip(r.curves.grad_norm, r.curves.grad_norm_after)
            )
            if changed:
                xa, ga, _, _ = geometric_over_seeds(
                    [(r.curves.step, r.curves.grad_norm_after) for r in runs]
                )
                layout.line(ax, xa, ga, color=colour, lw=1.3, ls="--")
                any_after = True
        any_diverged |= layout.mark_diverged(ax, suite, cell_runs)
        if ax.lines:
            ax.set_yscale("log")
        else:
            layout.no_data(ax)
        ax.set_xlabel("step (parameter updates)")
    axes[0, 0].set_ylabel("global gradient norm")
    handles = layout.variant_handles(suite) + [
        Line2D([], [], color="black", lw=1.6, label="before the remedies: geometric mean over seeds"),
        Patch(color="black", alpha=0.15, lw=0, label="min..max over seeds"),
    ]
    if any_after:
        handles.append(Line2D([], [], color="black", lw=1.3, ls="--", label="after the remedies"))
    if any_diverged:
        handles.append(layout.DIVERGED_HANDLE)
    layout.bottom_legend(fig, handles, ncols=layout.legend_columns(suite))
    return fig


def recurrent_figure(suite: SuiteSpec, results: Sequence[RunResult]) -> Figure:
    """||W_hh||_2 (largest singular value, solid) and the spectral radius of
    W_hh (dashed; vanilla cells only) over training, mean over seeds, one panel
    per sequence length, with 1 marked: the edge between a linear recurrence
    that shrinks and one that grows."""
    fig, axes = layout.new_figure(1, len(suite.seq_lens), sharey=True)
    layout.length_titles(axes[0], suite)
    values: list[float] = []
    any_radius = any_diverged = False
    for ax, seq_len in zip(axes[0], suite.seq_lens):
        cell_runs = [r for r in results if r.spec.seq_len == seq_len]
        for variant in suite.variants:
            runs = runs_of(results, seq_len, variant.name)
            colour = layout.variant_colour(suite, variant.name)
            for attr, style in (("recurrent_norm", "-"), ("spectral_radius", "--")):
                x, _, m, _, _ = over_seeds([(r.curves.step, getattr(r.curves, attr)) for r in runs])
                if len(x):
                    layout.line(ax, x, m, color=colour, lw=1.6 if style == "-" else 1.2, ls=style)
                    values += list(m)
                    any_radius |= attr == "spectral_radius"
        ax.axhline(1.0, color="grey", lw=1.0, ls=":")
        any_diverged |= layout.mark_diverged(ax, suite, cell_runs)
        if not cell_runs:
            layout.no_data(ax)
        ax.set_xlabel("step (parameter updates)")
    if layout.wants_log(values + [1.0]):
        axes[0, 0].set_yscale("log")
    axes[0, 0].set_ylabel("norm and spectral radius of W_hh")
    handles = layout.variant_handles(suite) + [
        Line2D([], [], color="black", lw=1.6, label="||W_hh||_2 (largest singular value)"),
    ]
    if any_radius:
        handles.append(Line2D([], [], color="black", lw=1.2, ls="--",
                              label="spectral radius (vanilla cells)"))
    handles.append(Line2D([], [], color="grey", lw=1.0, ls=":", label="1"))
    if any_diverged:
        handles.append(layout.DIVERGED_HANDLE)
    layout.bottom_legend(fig, handles, ncols=layout.legend_columns(suite))
    return fig


# --- timing ---------------------------------------------------------------------


def timing_figure(suite: SuiteSpec, results: Sequence[RunResult]) -> Figure:
    """Wall-clock time per training step in milliseconds, grouped by sequence length: per
    variant a bar at the median over the finished runs and a dot for each run
    (runs that diverged early are left out: their few steps are dominated by
    setting up)."""
    n = len(suite.variants)
    width = max(layout.PANEL[0], (0.35 * n + 0.6) * len(suite.seq_lens) + 2.5)
    fig, axes = layout.new_figure(1, 1, size=(width, layout.PANEL[1]))
    ax = axes[0, 0]
    bar = 0.8 / n
    values: list[float] = []
    for i, variant in enumerate(suite.variants):
        colour = layout.variant_colour(suite, variant.name)
        for j, seq_len in enumerate(suite.seq_lens):
            times = [
                1e3 * r.seconds_per_step for r in finished(runs_of(results, seq_len, variant.name))
                if r.seconds_per_step is not None and r.seconds_per_step > 0
            ]
            x = j - 0.4 + bar * (i + 0.5)
            if not times:
                ax.text(x, 0.02, "no finished run", transform=ax.get_xaxis_transform(), rotation=90,
                        ha="center", va="bottom", fontsize="x-small", color="grey")
                continue
            ax.bar(x, float(np.median(times)), width=bar * 0.9, color=colour, alpha=0.75)
            ax.plot([x] * len(times), times, ls="none", marker="o", ms=3.5,
                    mfc="white", mec="black", mew=0.8)
            values += times
    if layout.wants_log(values):
        ax.set_yscale("log")
    if not values:
        layout.no_data(ax)
    ax.set_xticks(range(len(suite.seq_lens)), [str(t) for t in suite.seq_lens])
    ax.set_xlim(-0.5, len(suite.seq_lens) - 0.5)
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("milliseconds per step")
    ax.grid(True, axis="y", alpha=0.3)
    ax.grid(False, axis="x")
    handles = layout.variant_handles(suite, lw=6) + [
        Line2D([], [], ls="none", marker="o", ms=4, mfc="white", mec="black", label="one run"),
    ]
    fig.legend(handles=handles, loc="outside right center", fontsize="small", frameon=False)
    return fig


# --- asv history ----------------------------------------------------------------


def asv_figure(points: Sequence[AsvPoint], max_panels: int = 8) -> Figure | None:
    """Timing history across commits from asv results: one panel per timing
    benchmark (the first ``max_panels`` by name), one line per parameter
    combination (and machine/environment when there are several), commits in
    order of their date on the x axis. None without any point."""
    if not points:
        return None
    commits = list(dict.fromkeys(p.commit for p in sorted(points, key=lambda p: p.date_ms)))
    where = {c: i for i, c in enumerate(commits)}
    hosts = {(p.machine, p.env) for p in points}
    benchmarks = sorted({p.benchmark for p in points})[:max_panels]
    fig, axes = layout.new_figure(len(benchmarks), 1, size=(7.0, 3.2))  # legends go to the right
    colours = colormaps["tab20"]
    for ax, name in zip(axes.flat, benchmarks):
        mine = [p for p in points if p.benchmark == name]
        series: dict[tuple, list[AsvPoint]] = {}
        for p in mine:
            series.setdefault((p.params, p.machine, p.env), []).append(p)
        for k, ((params, machine, env), pts) in enumerate(sorted(series.items())):
            pts = sorted(pts, key=lambda p: where[p.commit])
            label = params or "(no parameters)"
            if len(hosts) > 1:
                label += f" [{machine}, {env}]"
            ax.plot([where[p.commit] for p in pts], [p.seconds for p in pts], marker="o", ms=3,
                    lw=1.2, color=colours(k % 20), ls=("-", "--", ":")[(k // 20) % 3],
                    label=layout.label(label))
        if layout.wants_log([p.seconds for p in mine]):
            ax.set_yscale("log")
        ax.set_title(layout.label(name), fontsize="medium")
        ax.set_ylabel("seconds")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda v, _: commits[int(v)][:8] if v == int(v) and 0 <= v < len(commits) else ""
        ))
        ax.tick_params(axis="x", labelrotation=30, labelsize="small")
        ax.set_xlim(-0.5, len(commits) - 0.5)
        ax.set_xlabel("commit (oldest left)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="x-small", frameon=False)
    return fig
