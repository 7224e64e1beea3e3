"""The report's figures: loss curves and gradient-decay profiles, written as PNG.

Figures are built as standalone ``Figure`` objects on an Agg canvas, so no
pyplot state is created and nothing needs closing. Each variant is drawn in the
tab10 colour of its index in ``suite.variants``, the same in every figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnnbench.report.analysis import (
    aggregate,
    final_profile,
    fit_decay_factor,
    init_profile,
    mean_present,
    runs_of,
)
from rnnbench.results import RunResult
from rnnbench.spec import SuiteSpec

DPI = 100
PANEL_SIZE = (4.5, 3.8)
BASELINE_LABEL = "baseline (input-blind)"


def variant_colour(suite: SuiteSpec, name: str):
    """The colour of a variant: tab10 at its index in the suite."""
    index = [v.name for v in suite.variants].index(name)
    return colormaps["tab10"](index % 10)


def _label(text: str) -> str:
    """``text`` shown literally: no mathtext from '$', not hidden by a leading '_'."""
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def _panels(suite: SuiteSpec, sharey: bool) -> tuple[Figure, list]:
    n = len(suite.seq_lens)
    fig = Figure(figsize=(PANEL_SIZE[0] * n, PANEL_SIZE[1]), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, sharey=sharey, squeeze=False)[0]
    for ax, seq_len in zip(axes, suite.seq_lens):
        ax.set_title(f"sequence length T = {seq_len}")
        ax.grid(True, alpha=0.3)
    return fig, list(axes)


def _line(ax, x, y, **style) -> None:
    """Plot a line; a lone point gets a marker so that it is seen."""
    ax.plot(x, y, marker="o" if len(x) == 1 else None, markersize=4, **style)


def _no_data(ax) -> None:
    ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="grey")


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def loss_figure(suite: SuiteSpec, results: Sequence[RunResult], path: str | Path) -> Path:
    """Test loss (solid, mean over seeds, band min..max) and training loss
    (dotted, mean) against step, one panel per sequence length, with the task
    baseline dashed; log y axis when the values span more than two decades.

    The y axis stops at ten times the larger of the initial loss and the
    baseline, so that an exploding run does not flatten every other curve; a
    run that diverged is marked with a cross at the top, at its last step.
    """
    fig, axes = _panels(suite, sharey=True)
    plotted: list[np.ndarray] = []
    for ax, seq_len in zip(axes, suite.seq_lens):
        drawn = False
        for variant in suite.variants:
            runs = runs_of(results, seq_len, variant.name)
            colour = variant_colour(suite, variant.name)
            x, mean, lo, hi = aggregate([(r.curves.step, r.curves.test_loss) for r in runs])
            if len(x):
                _line(ax, x, mean, color=colour, lw=1.8)
                ax.fill_between(x, lo, hi, color=colour, alpha=0.2, lw=0)
                plotted += [lo, hi]
            x, mean, _, _ = aggregate([(r.curves.step, r.curves.train_loss) for r in runs])
            if len(x):
                _line(ax, x, mean, color=colour, lw=1.0, ls=":")
                plotted.append(mean)
            drawn = drawn or bool(runs)
        baseline = mean_present(r.baseline for r in results if r.spec.seq_len == seq_len)
        if baseline is not None:
            ax.axhline(baseline, color="grey", ls="--", lw=1.2)
            plotted.append(np.array([baseline]))
        if not drawn:
            _no_data(ax)
        ax.set_xlabel("step (parameter updates)")
    axes[0].set_ylabel("loss")
    values = np.concatenate(plotted) if plotted else np.array([])
    values = values[np.isfinite(values)]
    start = [r.curves.test_loss[0] for r in results if r.curves.test_loss]
    start += [r.baseline for r in results]
    ceiling = 10 * max((v for v in start if v is not None), default=np.inf)
    if len(values) and values.min() > 0 and min(values.max(), ceiling) / values.min() > 100:
        axes[0].set_yscale("log")
    if np.isfinite(ceiling) and len(values) and values.max() > ceiling:
        axes[0].set_ylim(top=ceiling)
    for ax, seq_len in zip(axes, suite.seq_lens):
        for r in results:
            if r.spec.seq_len == seq_len and r.status == "diverged":
                ax.plot([r.steps_done], [1.0], transform=ax.get_xaxis_transform(), marker="x",
                        ms=9, mew=2, clip_on=False, color=variant_colour(suite, r.spec.variant.name))
    handles = [
        Line2D([], [], color=variant_colour(suite, v.name), lw=1.8, label=_label(v.name))
        for v in suite.variants
    ] + [
        Line2D([], [], color="black", lw=1.8, label="test loss: mean, band min..max over seeds"),
        Line2D([], [], color="black", lw=1.0, ls=":", label="training loss: mean over seeds"),
        Line2D([], [], color="grey", lw=1.2, ls="--", label=BASELINE_LABEL),
        Line2D([], [], color="black", lw=0, marker="x", mew=2, label="diverged (at its last step)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small", frameon=False)
    return _save(fig, path)


def _mean_profile(profiles) -> np.ndarray:
    """Mean over seeds of the norms at each distance d (index); NaN where no
    seed has a positive value."""
    x, mean, _, _ = aggregate([(range(len(p.norms)), p.norms) for p in profiles if p])
    profile = np.full(int(x.max()) + 1 if len(x) else 0, np.nan)
    profile[x.astype(int)] = np.where(mean > 0, mean, np.nan)
    return profile


def decay_figure(suite: SuiteSpec, results: Sequence[RunResult], path: str | Path) -> Path:
    """Gradient norm against distance T - t on a log axis, one panel per
    sequence length: per variant the mean over seeds of the profile at
    initialisation (dashed) and after training (solid); the legend gives the
    per-step factor k-hat fitted to the plotted final profile."""
    fig, axes = _panels(suite, sharey=False)
    for ax, seq_len in zip(axes, suite.seq_lens):
        handles = []
        for variant in suite.variants:
            runs = runs_of(results, seq_len, variant.name)
            colour = variant_colour(suite, variant.name)
            init = _mean_profile(init_profile(r) for r in runs)
            if len(init):
                _line(ax, np.arange(len(init)), init, color=colour, lw=1.2, ls="--")
            final = _mean_profile(final_profile(r) for r in runs)
            if len(final):
                _line(ax, np.arange(len(final)), final, color=colour, lw=1.8)
            k_hat = fit_decay_factor(list(final))
            k_text = "n/a" if k_hat is None else f"{k_hat:.3g}"
            label = _label(variant.name) + rf"  ($\hat{{k}}$ = {k_text})"
            handles.append(Line2D([], [], color=colour, lw=1.8, label=label))
        handles += [
            Line2D([], [], color="black", lw=1.2, ls="--", label="at initialisation"),
            Line2D([], [], color="black", lw=1.8, label="after training"),
        ]
        if ax.lines:
            ax.set_yscale("log")
        else:
            _no_data(ax)
        ax.set_xlabel("distance back in time  d = T - t")
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.18),
                  fontsize="small", frameon=False)
    axes[0].set_ylabel("gradient norm  ||dL_T / dh_t||")
    return _save(fig, path)
