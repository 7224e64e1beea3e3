"""The HTML report of one suite: a self-contained page with its figures beside it.

The page is rendered from ``templates/index.html.j2`` with auto-escaping on, so
text from the suite file (names, description, messages) is shown as text and
never interpreted as markup. It references nothing but the PNG files in its own
folder and anchors within itself: no script, no stylesheet or font from
elsewhere, so it opens from disk without a network.

Plugins add sections through the ``rnnbench_report_section`` hook: each is
rendered by the same template, escaped like everything else, after the
built-in figures. One a plugin gets wrong -- its hook raises, or returns what
the page cannot draw -- is left out and its plugin named in one warning line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from rnnbench.api import ReportSection
from rnnbench.registry import Hooks, one_line

from rnnbench.report.findings import check as check_findings
from rnnbench.report import figure_layout as layout
from rnnbench.report import figures, tuning_figures
from rnnbench.report.analysis import (
    RANKING_RULE,
    improvement_tables,
    main_criterion,
    metric_names,
    rank_variants,
    recorded_environment,
    summarise,
)
from rnnbench.report.asv_history import read_asv_results
from rnnbench.report.export import format_ref, write_report_runs
from rnnbench.report.formatting import format_interval, format_number, format_percent, format_statuses
from rnnbench.report.stats import LEVEL, MIN_SEEDS
from rnnbench.results import versions_made_by
from rnnbench.spec import SuiteSpec
from rnnbench.store import Contents, Store
from rnnbench.tuning import SELECTION_RULE, tuning_cost

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class FigureInfo:
    """A figure of the page: its file, heading, caption and text alternative."""

    file: str
    title: str
    caption: str
    alt: str


FIGURES = {
    "success": FigureInfo(
        "success.png", "Success against sequence length",
        "Fraction of the runs (every run: one that diverged, failed or timed out did not "
        "solve) which meet the task's main criterion at the end of training, per variant; points are nudged sideways so "
        "that equal rates stay visible.",
        "Success rate against sequence length, one line per variant.",
    ),
    "convergence": FigureInfo(
        "convergence.png", "Convergence",
        "Test loss and each task metric on the held-out set against step, one panel per "
        "sequence length. Solid: median over the seeds that have a finite value at that step; "
        f"band: the exact {round(100 * LEVEL)}% order-statistic interval of that median (it "
        "holds for any distribution of the seeds' values), drawn only "
        f"at the steps where at least {MIN_SEEDS} seeds have a value. A variant with fewer "
        f"than {MIN_SEEDS} seeds at a length has no band: each seed's curve is drawn as a "
        "thin line instead. A row whose medians span more than 1.5 decades is drawn on a "
        "log axis. Dotted: "
        "training loss, median over seeds. Dashed grey: the input-blind baseline. The y axis "
        "covers the runs that finished; a run that explodes leaves it at the top, and a "
        "cross marks the last step of a run that diverged (after it the median is over the "
        "survivors only).",
        "Test loss and metrics against training step per variant with confidence bands, "
        "one panel per sequence length.",
    ),
    "decay": FigureInfo(
        "decay.png", "Gradient decay",
        "||dL_T/dh_t|| against the distance d = T \u2212 t on a log axis, geometric mean over "
        "seeds, at initialisation (dashed) and at the end of training (solid; runs that "
        "diverged have none). The legend gives the fitted per-step factor k\u0302 and the "
        "bound ||W_hh||\u2082 \u00b7 max|f\u2032|, at initialisation \u2192 at the end (n/a for "
        "gated cells, which have no such bound). Variants that differ only in a training "
        "remedy start from the same weights, so their initial profiles coincide. For cells "
        "with a second state the next rows show its profile: the LSTM's cell state c, the "
        "coRNN's velocity z, a stacked IndRNN's lower layers h1, .... The LRU's first row is its "
        "complex state s_t's: the norm of the real 2N-vector (dL/dRe s_t, dL/dIm s_t).",
        "Gradient norm against distance back in time on a log scale per variant, at "
        "initialisation and after training, one panel per sequence length.",
    ),
    "grad_norm": FigureInfo(
        "grad_norm.png", "Gradient norm over training",
        "Mean global gradient norm of the updates since the previous log, on a log axis: "
        "before the remedies (solid, geometric mean over seeds, band min..max over seeds) "
        "and after them (dashed, only for variants whose remedies change the gradient, such "
        "as clipping). Spikes are explosions; the gap between solid and dashed is what the "
        "remedy removed.",
        "Gradient norm before and after the remedies against training step, log scale.",
    ),
    "recurrent": FigureInfo(
        "recurrent.png", "W_hh over training",
        "Largest singular value ||W_hh||\u2082 (solid) and spectral radius (dashed, vanilla "
        "cells only) of the recurrent weight matrix, mean over seeds; the dotted line marks 1.",
        "Largest singular value and spectral radius of the recurrent weights against "
        "training step.",
    ),
    "timing": FigureInfo(
        "timing.png", "Time per step",
        "Wall-clock milliseconds per training step: bar at the median over the runs that "
        "finished, a dot per run. Runs that diverged are left out, as their few steps are "
        "dominated by setting up.",
        "Bar chart of milliseconds per training step per variant, grouped by sequence length.",
    ),
    "asv": FigureInfo(
        "asv_history.png", "Timing history across commits (asv)",
        "Timing benchmarks from asv's result files, one panel per benchmark and one line "
        "per parameter combination, commits ordered by date.",
        "Benchmark timings against commit, one panel per benchmark.",
    ),
}

# The tuning section's figure: drawn only for a suite with tuning, in that section
# rather than with FIGURES; its caption is tuning_figures.tuning_caption's.
TUNING_FIGURE = FigureInfo(
    "tuning.png", "Sensitivity to the searched value", "",
    "Final validation metric of each tuning trial against the searched value (the learning "
    "rate on a log axis), a line per variant, one panel per sequence length, the chosen trial ringed.",
)


def _jinja_environment(suite: SuiteSpec) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["interval"] = format_interval
    env.filters["percent"] = format_percent
    env.filters["statuses"] = format_statuses
    env.filters["ref"] = format_ref
    env.filters["colour"] = lambda name: to_hex(layout.variant_colour(suite, name))
    return env


def build_report(
    results_dir: str | Path | Store,
    reports_root: str | Path,
    asv_results: str | Path | None = None,
    hooks: Hooks | None = None,
    warn: Callable[[str], None] | None = None,
    verdicts: list | None = None,
    contents: Contents | None = None,
) -> Path:
    """Render the report of the suite stored in ``results_dir`` (a directory,
    or a Store to read it through) into ``reports_root/<suite name>/``
    (index.html, its PNG figures and runs.csv) and return the path of index.html.

    ``asv_results`` is asv's results directory (default: ``.asv/results`` under
    the current directory); the timing-history figure is drawn when it holds
    timing results and left out otherwise. The page says which runs it left
    out because their records could not be read, and which versions of
    rnnbench made the runs when they are not all one.

    ``hooks`` are the plugins' lifecycle hooks (``Registry.hooks``): each
    section their ``rnnbench_report_section`` returns is added to the page; a
    plugin whose hook fails is named through ``warn`` and its section left out.

    ``verdicts``: the findings checked against the stored runs
    (``findings.check``), if the caller has them; else they are checked here.
    ``contents``: what ``Store.contents`` read of the suite, if the caller has
    read it already; else it is read here.
    """
    store = Store.of(results_dir)
    contents = store.contents() if contents is None else contents
    suite, results, trials, selections = contents.suite, contents.results, contents.trials, contents.selections
    out = Path(reports_root) / suite.name
    out.mkdir(parents=True, exist_ok=True)
    write_report_runs(out, contents)  # runs.csv: the raw runs beside the page
    rows = summarise(suite, results)
    built = {}
    if results:
        built = {
            "success": figures.success_figure(suite, rows),
            "convergence": figures.convergence_figure(suite, results),
            "decay": figures.decay_figure(suite, results, rows),
            "grad_norm": figures.grad_norm_figure(suite, results),
            "recurrent": figures.recurrent_figure(suite, results),
            "timing": figures.timing_figure(suite, results),
        }
    built["asv"] = figures.asv_figure(read_asv_results(asv_results))
    tuning_shown = _save_tuning_figure(suite, selections, out)
    sections = _plugin_sections(hooks, suite, results, trials, out, warn or (lambda line: None))
    shown = []
    for key, info in FIGURES.items():
        path = out / info.file
        fig = built.get(key)
        if fig is None:
            path.unlink(missing_ok=True)  # not a stale figure from an earlier build
            continue
        layout.save(fig, path)
        shown.append(info)
    page = _jinja_environment(suite).get_template("index.html.j2").render(
        suite=suite,
        results=results,
        rows=rows,
        ranking=rank_variants(suite, rows),
        improvement=improvement_tables(suite, results) if results else [],
        level=round(100 * LEVEL),
        min_seeds=MIN_SEEDS,
        verdicts=(check_findings(suite, results, trials) if verdicts is None else verdicts) if results else [],
        ranking_rule=RANKING_RULE,
        metrics=metric_names(results),
        criterion=main_criterion(results),
        expected_runs=len(suite.runs()),
        problems=[r for r in results if r.status != "ok"],
        environment=recorded_environment(results),
        # the suite's first figure (first_figure), drawn at the top of the page, above the tuning
        lead=next((f for f in shown if f is FIGURES.get(suite.first_figure or "")), None),
        figures=[f for f in shown if f is not FIGURES.get(suite.first_figure or "")],
        sections=sections,
        tuning=_tuning_context(suite, selections, results, tuning_shown),
        left_out=[str(d) for d in store.unread([*trials, *results])],
        made_by=versions_made_by([*trials, *results]),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLUGIN_FIGURE = "plugin-{}.png"


def _undrawable(section: object) -> str | None:
    """Why the page cannot draw ``section``, in a few words; None if it can."""
    if not isinstance(section, ReportSection):
        return f"returned {type(section).__name__}, not a ReportSection"
    for field in ("title", "text", "alt"):
        if not isinstance(getattr(section, field), str):
            return f"a ReportSection whose {field} is {type(getattr(section, field)).__name__}, not text"
    if not section.title.strip():
        return "a ReportSection without a title"
    figure = section.figure
    if figure is None or isinstance(figure, Figure):
        return None
    if isinstance(figure, (bytes, bytearray)):
        return None if bytes(figure[:8]) == PNG_SIGNATURE else "a figure of bytes that are not a PNG image"
    return f"a figure of type {type(figure).__name__}, not a matplotlib Figure or PNG bytes"


def _save_section_figure(figure: Figure | bytes, path: Path) -> None:
    if isinstance(figure, Figure):
        figure.savefig(path, dpi=layout.DPI, bbox_inches="tight")
    else:
        path.write_bytes(bytes(figure))


def _plugin_sections(
    hooks: Hooks | None, suite: SuiteSpec, results, trials, out: Path, warn: Callable[[str], None]
) -> list[dict]:
    """The sections the plugins add, their figures saved in ``out`` as
    plugin-<n>.png (older ones deleted); one warning line per plugin whose
    hook raised or returned something that cannot be drawn."""
    for stale in out.glob(PLUGIN_FIGURE.format("*")):
        stale.unlink(missing_ok=True)
    sections: list[dict] = []
    for call in (hooks or Hooks()).call("rnnbench_report_section", suite=suite, results=results, trials=trials):
        if call.error is not None:
            warn(f"plugin {call.provider}: rnnbench_report_section raised {call.why()}; "
                 "the report is written without its section")
            continue
        returned = call.value
        items = [] if returned is None else list(returned) if isinstance(returned, (list, tuple)) else [returned]
        problems = []
        for item in items:
            why = _undrawable(item)
            entry = None
            if why is None:
                entry = {"id": f"plugin-{len(sections) + 1}", "title": item.title, "text": item.text,
                         "alt": item.alt or item.title, "plugin": str(call.provider), "file": None}
                if item.figure is not None:
                    path = out / PLUGIN_FIGURE.format(len(sections) + 1)
                    try:
                        _save_section_figure(item.figure, path)
                    except Exception as exc:
                        path.unlink(missing_ok=True)
                        why, entry = f"a figure that cannot be saved ({one_line(exc)})", None
                    else:
                        entry["file"] = path.name
            if entry is None:
                problems.append(why)
            else:
                sections.append(entry)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            warn(f"plugin {call.provider}: rnnbench_report_section returned {problems[0].removeprefix('returned ')}"
                 f"{more}, which the report cannot draw; the report is written without it")
    return sections


def _save_tuning_figure(suite: SuiteSpec, selections, out: Path) -> FigureInfo | None:
    """Write tuning.png for a suite with stored trials and return its info;
    otherwise delete a stale one and return None."""
    path = out / TUNING_FIGURE.file
    fig = tuning_figures.tuning_figure(suite, selections)
    if fig is None:
        path.unlink(missing_ok=True)
        return None
    layout.save(fig, path)
    return replace(TUNING_FIGURE, caption=tuning_figures.tuning_caption(suite))


def _tuning_context(suite: SuiteSpec, selections, results, figure: FigureInfo | None) -> dict | None:
    """What the page's tuning section shows; None for a suite without tuning."""
    if suite.tuning is None:
        return None
    return {
        "protocol": tuning_figures.protocol(suite),
        "rule": SELECTION_RULE,
        "robustness_rule": tuning_figures.ROBUSTNESS_RULE,
        "chosen": tuning_figures.chosen_rows(selections),
        "cost": tuning_figures.cost_rows(suite, tuning_cost(selections, results)),
        "figure": figure,
    }
