"""How the report's figures are laid out, the same in each: the panel grid,
the variants' colours, legends, log axes, and saving as PNG.

Figures are standalone ``Figure`` objects on an Agg canvas (``new_figure``),
so no pyplot state is created and nothing needs closing; ``save`` writes one as
PNG. Each variant is drawn in the colour of its index in ``suite.variants``
(``variant_colour``), the same in every figure and in the page's tables. A y
axis is logarithmic when its values are positive and span more than one and a
half decades (``LOG_SPAN``, ``wants_log``). Legends sit outside the panels so
that they never cover data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from rnnbench.results import RunResult
from rnnbench.spec import SuiteSpec

DPI = 100
PANEL = (4.6, 3.2)  # inches per panel
LEGEND_LINE = 0.2  # inches a line of a legend under a panel takes
LEGEND_CHAR = 0.065  # inches a character of a legend takes, at most (font size "small")
LEGEND_DROP = 36  # points from a panel's bottom to a legend under it: past its tick labels and x label
LOG_SPAN = 30.0  # a positive axis spanning more than this ratio (1.5 decades) is drawn on a log scale
BASELINE_STYLE = {"color": "grey", "ls": "--", "lw": 1.2}


def variant_colour(suite: SuiteSpec, name: str):
    """The colour of a variant: tab10 at its index in the suite (tab20 for a
    suite of more than ten variants)."""
    names = [v.name for v in suite.variants]
    palette = "tab10" if len(names) <= 10 else "tab20"
    return colormaps[palette](names.index(name) % 20)


def label(text: str) -> str:
    """``text`` shown literally: no mathtext from '$', not hidden by a leading '_'."""
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def new_figure(nrows: int, ncols: int, sharey: bool | str = False, size=PANEL) -> tuple[Figure, np.ndarray]:
    """A grid of ``nrows`` x ``ncols`` panels of ``size`` inches each, on an Agg canvas, gridded."""
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharey=sharey, squeeze=False)
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps, distances
    return fig, axes


def length_titles(axes_row, suite: SuiteSpec) -> None:
    """Title each panel of a row with its sequence length."""
    for ax, seq_len in zip(axes_row, suite.seq_lens):
        ax.set_title(f"sequence length T = {seq_len}")


def wants_log(values: Sequence[float]) -> bool:
    """Whether positive values spanning more than LOG_SPAN call for a log axis."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    return bool(len(v)) and v.min() > 0 and v.max() / v.min() > LOG_SPAN


def line(ax: Axes, x, y, **style) -> None:
    """Plot a line; a lone point gets a marker so that it is seen."""
    ax.plot(x, y, marker="o" if len(x) == 1 else None, markersize=4, **style)


def no_data(ax: Axes, text: str = "no data") -> None:
    """Say in the middle of an empty panel that it has nothing to show."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="grey")


def variant_handles(suite: SuiteSpec, lw: float = 2.0) -> list[Line2D]:
    """A legend entry per variant, in its colour."""
    return [
        Line2D([], [], color=variant_colour(suite, v.name), lw=lw, label=label(v.name))
        for v in suite.variants
    ]


def bottom_legend(fig: Figure, handles: list, ncols: int | None = None) -> None:
    """A legend under the panels."""
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols or min(len(handles), 4),
               fontsize="small", frameon=False)


def legend_columns(suite: SuiteSpec) -> int:
    """Columns of a legend under a row of panels, one per sequence length: as
    many as fit under them."""
    return 2 if len(suite.seq_lens) == 1 else 3


def mark_diverged(ax: Axes, suite: SuiteSpec, runs: Sequence[RunResult]) -> bool:
    """A cross at the top of the panel at the last step of each diverged run;
    whether there was one."""
    marked = False
    for r in runs:
        if r.status == "diverged":
            ax.plot([r.steps_done], [1.0], transform=ax.get_xaxis_transform(), marker="x",
                    ms=8, mew=2, clip_on=False, color=variant_colour(suite, r.spec.variant.name))
            marked = True
    return marked


DIVERGED_HANDLE = Line2D([], [], color="black", lw=0, marker="x", mew=2,
                         label="diverged (at its last step)")


def tidy_log_axes(fig: Figure) -> None:
    """On a log y axis spanning less than two decades, label ticks at 1, 2 and 5
    times powers of ten in plain numbers instead of crowded minor-tick labels."""
    for ax in fig.axes:
        if ax.get_visible() and ax.get_yscale() == "log":
            lo, hi = ax.get_ylim()
            if lo > 0 and hi / lo < 100:
                ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.yaxis.set_minor_formatter(NullFormatter())


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG to ``path`` and return the path."""
    tidy_log_axes(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path
