"""The HTML report of one suite: a self-contained page with two figures beside it.

The page is rendered from ``templates/index.html.j2`` with auto-escaping on, so
text from the suite file (names, description, messages) is shown as text and
never interpreted as markup. It references nothing outside its own folder.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from rnnbench.report.analysis import summarise
from rnnbench.report.export import format_ref
from rnnbench.report.figures import decay_figure, loss_figure
from rnnbench.store import Store

TEMPLATES = Path(__file__).parent / "templates"
LOSS_PNG = "loss.png"
DECAY_PNG = "decay.png"


def format_number(value: float | int | None, digits: int = 4) -> str:
    """A number to ``digits`` significant digits; a dash for a missing one."""
    return "\u2013" if value is None else f"{value:.{digits}g}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["ref"] = format_ref
    return env


def build_report(results_dir: str | Path, reports_root: str | Path) -> Path:
    """Render the report of the suite stored in ``results_dir`` into
    ``reports_root/<suite name>/`` (index.html, loss.png, decay.png) and
    return the path of index.html."""
    store = Store(results_dir)
    suite = store.load_suite()
    results = store.results()
    out = Path(reports_root) / suite.name
    out.mkdir(parents=True, exist_ok=True)
    if results:
        loss_figure(suite, results, out / LOSS_PNG)
        decay_figure(suite, results, out / DECAY_PNG)
    page = _environment().get_template("index.html.j2").render(
        suite=suite,
        results=results,
        rows=summarise(suite, results),
        expected_runs=len(suite.runs()),
        problems=[r for r in results if r.status != "ok"],
        versions=results[0].versions if results else {},
        loss_png=LOSS_PNG,
        decay_png=DECAY_PNG,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
