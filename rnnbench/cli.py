"""The ``rnnbench`` command.

The verbs are built on :mod:`rnnbench.session`, the Python API, and add
what a terminal needs: progress bars, the printed summary, exit codes.

Exit codes: 0 success; 1 some run is stored with status error (its traceback
is stored) or timeout (for ``check``: it found damaged, foreign or
other-version records); 2 bad input (suite file, plugin name, paths, executor
options, a results directory another sweep of the suite is using, or one whose
suite.json cannot be read or is another suite's, a folder that is not a
results directory, an export format whose extra is not installed), one line
per problem; a module named with ``--plugin`` that cannot be imported or
registered is bad input too. A damaged record is not bad input: it is named in
a ``warning:`` line, moved aside and treated as missing. Neither is an
installed plugin that fails to load, nor a plugin hook that fails: each is
named in a ``warning:`` line and the verb goes on without it.

Each verb imports what it uses when it runs, so that ``rnnbench --help``,
``suites``, ``plugins`` and ``validate`` answer at once: none of them loads
the report (matplotlib, scipy) or pandas. A test keeps it so.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rnnbench import __version__

if TYPE_CHECKING:
    from rnnbench.registry import Registry
    from rnnbench.results import RunResult
    from rnnbench.spec import SuiteSpec
    from rnnbench.store import Audit, Contents, Store


KIND_TITLES = {"task": "tasks", "cell": "cells", "remedy": "remedies", "optimizer": "optimisers"}


class InputError(click.ClickException):
    """Bad input: a one-line message per problem, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        for line in self.message.splitlines():
            click.echo(f"error: {line}", err=True)


def _warn(line: str) -> None:
    """A problem that does not stop the verb, as one ``warning:`` line on standard error."""
    click.echo(f"warning: {line}", err=True)


class _ChoiceOf(click.Choice):
    """A choice among the values of ``module.NAME``, imported when first needed
    (a verb's --help, a value to check): defining the options imports nothing."""

    def __init__(self, where: str) -> None:
        self._where = where
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        module, name = self._where.rsplit(".", 1)
        return tuple(getattr(importlib.import_module(module), name))

    @choices.setter
    def choices(self, value) -> None:  # click.Choice.__init__ sets it: the module's values are the ones
        pass


SCALE_CHOICE = _ChoiceOf("rnnbench.spec.SCALE_CHOICES")
RENAMED = ("note: --fast is now --quick (a suite's quick version, its [quick] table); "
           "--engine fast chooses the compiled path")


def _scale(quick: bool, fast: bool, scale: str | None) -> str | None:
    """The size asked for: --quick is --scale quick; --fast and --scale fast,
    the quick version's old names, say so on standard error and still work."""
    from rnnbench.spec import scale_name

    if fast or scale == "fast":
        click.echo(RENAMED, err=True)
    quick = quick or fast
    scale = None if scale is None else scale_name(scale)
    if quick and scale not in (None, "quick"):
        raise InputError(f"--quick and --scale {scale}: choose one")
    return "quick" if quick else scale


def _echo_left_out(store: Store, what: str, runs: list[RunResult] | None = None) -> None:
    """Say how many runs ``what`` (the report, the export) left out because
    their records cannot be read (each was named as it was met); ``runs``: the
    tuning and evaluation runs read, if the caller has them already."""
    if runs is None:
        contents = store.contents()
        runs = [*contents.trials, *contents.results]
    n = len(store.unread(runs))
    if n:
        _warn(f"{store.root}: {what} leaves out {n} run{'s' if n != 1 else ''} whose record cannot be "
              "read (named above)")


def _echo_versions(store: Store, results: list[RunResult]) -> None:
    """Say so when ``results`` were made by more than one version of rnnbench."""
    from rnnbench.results import versions_made_by

    made = versions_made_by(results)
    if len(made) > 1:
        listed = ", ".join(f"{v} ({n} run{'s' if n != 1 else ''})" for v, n in made)
        _warn(f"{store.root}: these results were made by {len(made)} versions of rnnbench: {listed}; "
              "`rnnbench run --rerun-other-versions` trains the runs of other versions again")


def _registry(plugins: tuple[str, ...]) -> Registry:
    """The installed plugins and the ``--plugin`` modules. A ``--plugin``
    module that cannot be imported or registered is bad input; any other
    problem (an installed plugin that fails to load) is a warning."""
    from rnnbench import session

    registry = session.load_plugins(plugins)
    refused = session.unloaded(registry, plugins)
    for problem in registry.problems:
        if problem not in refused:
            _warn(problem)
    if refused:
        raise InputError("\n".join(refused))
    return registry


def _load(suite: str, registry: Registry, scale: str | None = None) -> SuiteSpec:
    """A suite file, or the name of a built-in suite, at ``scale`` if given,
    resolved against ``registry`` as ``run`` resolves it."""
    from rnnbench import session
    from rnnbench.spec import SpecError

    try:
        return session.load_suite(suite, registry, scale)
    except SpecError as exc:
        raise InputError(str(exc)) from None


plugin_option = click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="MODULE",
    help="Load a plugin module that is not installed (dotted name or .py file); repeatable.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rnnbench")
def main() -> None:
    """Benchmark remedies for vanishing and exploding gradients in RNNs.

    Start with `rnnbench run` (the built-in default suite), or write a suite of
    your own with `rnnbench init my_suite.toml`, edit it, and
    `rnnbench run my_suite.toml`.
    """


@main.command()
@click.argument("suite", default="default")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
    help="Directory under which results/<suite>/ and reports/<suite>/ are written.",
)
@click.option("--rerun", is_flag=True, help="Run again even the runs already stored.")
@click.option(
    "--rerun-other-versions", is_flag=True,
    help="Run again the runs stored by another version of rnnbench (and any not stored yet).",
)
@click.option(
    "--retry-failed", is_flag=True,
    help="Run again the runs stored with status error or timeout (and any not stored yet).",
)
@click.option(
    "--executor", type=click.Choice(["serial", "processes", "dask"]), default=None,
    help="Where runs execute: in this process, a local process pool, or Dask "
         "(default: the suite's [execution], else serial).",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
    help="Worker processes (processes; dask without --scheduler). Alone, N > 1 means --executor processes.",
)
@click.option(
    "--scheduler", default=None, metavar="tcp://HOST:PORT",
    help="Address of a running Dask scheduler (implies --executor dask; default: a local cluster).",
)
@click.option(
    "--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=None,
    metavar="SECONDS", help="Per-run time limit; a run over it is stored with status timeout.",
)
@click.option(
    "--engine", type=click.Choice(["auto", "fast", "textbook"]), default=None,
    help="Which path the cells run: textbook (plain numpy, one line per formula: the code the "
         "README teaches), fast (compiled with numba) or auto (fast where numba is installed). "
         "Default: the environment variable RNNBENCH_ENGINE, else the suite's [execution], else auto.",
)
@click.option(
    "--device", type=click.Choice(["cpu", "cuda", "auto"]), default=None,
    help="Where cells written in torch run: cpu, cuda (a GPU) or auto (a GPU where there is one). "
         "Without a GPU one line says so and they run on the CPU. Default: the suite's [execution], else cpu.",
)
@click.option(
    "--workers-per-gpu", type=click.IntRange(min=1), default=None, metavar="N",
    help="With a GPU and no --jobs: N worker processes share each GPU (default 4).",
)
@click.option("--quick", is_flag=True,
              help="Run the suite's quick version (its [quick] settings), stored as <name>-quick; "
                   "the same as --scale quick.")
@click.option("--fast", is_flag=True, hidden=True, help="The old name of --quick.")
@click.option("--scale", type=SCALE_CHOICE, default=None,
              help="Run the suite at another size: quick (its [quick] settings) or paper (its [paper] "
                   "settings: the papers' lengths and budgets, hours of CPU, for a cluster); stored "
                   "as <name>-<scale>.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@plugin_option
def run(
    suite: str, out: Path, rerun: bool, rerun_other_versions: bool, retry_failed: bool, executor: str | None,
    jobs: int | None, scheduler: str | None, timeout_s: float | None, engine: str | None,
    device: str | None, workers_per_gpu: int | None, quick: bool,
    fast: bool, scale: str | None, quiet: bool, plugins: tuple[str, ...],
) -> None:
    """Run a suite and write its report.

    SUITE is a suite file or the name of a built-in suite (default: `default`).
    Runs already stored under --out are skipped, so an interrupted sweep
    resumes where it stopped; a stored record that cannot be read is named,
    moved to results/<suite>/damaged/ and trained again. The command line
    overrides the suite's [execution] settings. The last line printed is the
    report's path; the exit code is 1 if any run of the suite is stored with
    status error or timeout, 2 if the results directory holds another suite or
    its suite.json cannot be read.
    """
    from rnnbench import session
    from rnnbench.executors import ExecutorUnavailable
    from rnnbench.report import build_report
    from rnnbench.runner import FAILED
    from rnnbench.spec import SpecError
    from rnnbench.store import StoreError

    if rerun + retry_failed + rerun_other_versions > 1:
        raise InputError("--rerun, --retry-failed and --rerun-other-versions: choose one "
                         "(--rerun runs everything again)")
    scale = _scale(quick, fast, scale)
    registry = _registry(plugins)
    try:
        prepared = session.prepare(
            suite, registry, plugins=plugins, scale=scale, executor=executor, jobs=jobs,
            scheduler=scheduler, timeout_s=timeout_s, engine=engine, device=device,
            workers_per_gpu=workers_per_gpu, warn=_warn,
        )
    except (SpecError, ExecutorUnavailable) as exc:
        raise InputError(str(exc)) from None
    spec = prepared.suite
    try:
        store, summary = session.sweep(
            prepared, out,
            rerun="all" if rerun else "failed" if retry_failed else "other-versions" if rerun_other_versions else None,
            progress=session.BarProgress(disable=True if quiet else None), warn=_warn,
        )
    except StoreError as exc:
        raise InputError(str(exc)) from None
    if summary.tuning is not None:
        _echo_phase(f"{spec.name}: tuning", summary.tuning, "trial runs")
    _echo_phase(f"{spec.name}: evaluation" if summary.tuning else spec.name, summary, "runs")
    click.echo(f"results: {store.root}")
    try:
        contents = store.contents()
        verdicts = check_findings(spec, contents.results, contents.trials)
        index = build_report(store, out / "reports", hooks=registry.hooks, warn=_warn, verdicts=verdicts,
                             contents=contents)
    except StoreError as exc:
        raise InputError(str(exc)) from None
    results, every = contents.results, [*contents.trials, *contents.results]
    _echo_left_out(store, "the report", every)
    _echo_versions(store, every)
    if spec.tuning is not None:
        _echo_tuning(spec, contents)
    _echo_verdict_table(spec, results)
    for verdict in verdicts:
        click.echo(f"finding, T={verdict.seq_len}: {verdict.headline}: {verdict.finding.claim} "
                   f"({verdict.detail})")
    failed = [r for r in results if r.status in FAILED]
    for line in _failure_lines(failed):
        click.echo(line, err=True)
    click.echo(f"report: {index}")
    if failed:
        sys.exit(1)


def _failure_lines(failed: list[RunResult]) -> list[str]:
    """A line per (status, variant, length, message): the seeds that failed the
    same way share one line, so that a cell that fails at every seed is said once."""
    seeds: dict[tuple, list[int]] = {}
    for r in failed:
        seeds.setdefault((r.status, r.spec.variant.name, r.spec.seq_len, r.message), []).append(r.spec.seed)
    lines = []
    for (status, variant, seq_len, message), which in seeds.items():
        said = f"seed={which[0]}" if len(which) == 1 else f"seeds={','.join(map(str, sorted(which)))}"
        lines.append(f"{'timeout' if status == 'timeout' else 'failed'}: {variant} T={seq_len} {said}: {message}")
    return lines


def check_findings(suite: SuiteSpec, results: list[RunResult], trials: list[RunResult]):
    """The suite's findings decided on its stored runs (``rnnbench.report.findings.check``,
    imported here when ``run`` needs it)."""
    from rnnbench.report.findings import check

    return check(suite, results, trials)


def _echo_verdict_table(spec: SuiteSpec, results: list[RunResult]) -> None:
    """One line per (length, variant) of the evaluation runs: solved, the median
    final test loss over the baseline with its exact interval, k-hat at initialisation."""
    from rnnbench.report.analysis import summarise
    from rnnbench.report.formatting import format_statuses, number

    rows = summarise(spec, results)
    if not rows:
        return
    width = max(len("variant"), *(len(r["variant"]) for r in rows))
    click.echo(f"{'T':>5}  {'variant':<{width}}  {'runs':<22}  {'solved':<7}  "
               f"{'test loss / baseline, median [95% CI]':<38}  k-hat init")
    for row in rows:
        base, loss = row["baseline"], row["final_test_loss"]
        if loss.estimate is None or not base:
            ratio = "-"
        elif loss.lo is None:
            ratio = ", ".join(f"{v / base:.3g}" for v in loss.values) + " (no interval)"
        else:
            ratio = f"{loss.estimate / base:.3g} [{loss.lo / base:.3g}, {loss.hi / base:.3g}]"
        solved = f"{row['solved']}/{row['trained']}" if row["criterion"] else "-"
        k = number(row["k_hat_init"], ".3f", missing="-")
        click.echo(f"{row['seq_len']:>5}  {row['variant']:<{width}}  {format_statuses(row):<22}  "
                   f"{solved:<7}  {ratio:<38}  {k}")


def _echo_phase(label: str, summary, what: str) -> None:
    from rnnbench.results import STATUSES

    done = sum(summary.counts.values())
    counts = ", ".join(f"{k} {summary.counts.get(k, 0)}" for k in STATUSES)
    click.echo(f"{label}: ran {done} of {summary.total} {what} ({counts}); "
               f"{summary.skipped} already stored were skipped")


def _echo_tuning(spec: SuiteSpec, contents: Contents) -> None:
    """What tuning chose, how many trials diverged, and what it cost."""
    from rnnbench.tuning import tuning_cost

    cost = tuning_cost(contents.selections, contents.results)
    click.echo(
        f"tuning: budget {spec.tuning.budget} trials per variant and length x "
        f"{len(spec.tuning.seeds)} tuning seed(s): {cost.trial_runs} trial runs, "
        f"{cost.trial_diverged} diverged, {cost.trial_failed} failed"
    )
    for sel in contents.selections:
        if sel.chosen is None:
            click.echo(f"  T={sel.seq_len} {sel.variant}: not selected yet (trials missing)")
            continue
        values = ", ".join(f"{k} = {v:.3g}" for k, v in sel.chosen.values.items())
        note = " (every trial diverged or failed)" if sel.all_diverged else ""
        if sel.edges():
            note = f" (at the {' and '.join(sel.edges())} end of the range searched)"
        click.echo(f"  T={sel.seq_len} {sel.variant}: {values}; {sel.metric.replace('_', ' ')} "
                   f"{sel.chosen.score:.4g}{note}")
    if cost.ratio is not None:
        click.echo(f"tuning cost: {cost.total_s:.0f} s of training in all, {cost.ratio:.1f}x training "
                   f"each variant once per length ({cost.once_s:.1f} s)")


@main.command(name="suites")
def list_suites() -> None:
    """List the built-in suites: `rnnbench run NAME` runs one, `rnnbench init --suite NAME`
    writes it out to edit."""
    from rnnbench import builtin_suites
    from rnnbench.spec import SCALES
    from rnnbench.tuning import planned_runs

    for name in builtin_suites.names():
        spec = builtin_suites.load(name)
        runs = sum(planned_runs(spec))
        first = spec.description.split(". ")[0].rstrip(".")
        scales = "".join(f", --scale {s}" for s in SCALES if getattr(spec, s) is not None)
        click.echo(f"{name:<14} {runs:>3} runs{scales:<30}  {first}.")


@main.command()
@click.argument("suite")
@click.option("--quick", is_flag=True,
              help="Check the suite's quick version (its [quick] settings); the same as --scale quick.")
@click.option("--fast", is_flag=True, hidden=True, help="The old name of --quick.")
@click.option("--scale", type=SCALE_CHOICE, default=None,
              help="Check the suite at this size (its [quick] or [paper] settings) and count its runs.")
@plugin_option
def validate(suite: str, quick: bool, fast: bool, scale: str | None, plugins: tuple[str, ...]) -> None:
    """Check a suite file (or built-in suite name) without running it, and count its runs.

    With --quick or --scale, the suite at that size is checked against the
    plugins exactly as `rnnbench run` checks it (its own tuning protocol too).
    """
    from rnnbench.tuning import planned_runs

    scale = _scale(quick, fast, scale)
    spec = _load(suite, _registry(plugins), scale)
    trials, evaluations = planned_runs(spec)
    click.echo(
        f"{suite}: ok: suite '{spec.name}', {len(spec.variants)} variants x "
        f"{len(spec.seq_lens)} lengths x {len(spec.seeds)} seeds = {evaluations} runs"
        + (f", after {trials} tuning runs (budget {spec.tuning.budget} x {len(spec.tuning.seeds)} "
           f"tuning seed(s) per variant and length)" if spec.tuning else "")
    )


def _result_dirs(results_dir: Path) -> list[Path]:
    from rnnbench.store import StoreError, find_result_dirs

    try:
        return find_result_dirs(results_dir)
    except StoreError as exc:
        raise InputError(str(exc)) from None


@main.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
    help="The report goes to OUT/reports/<suite>/.",
)
@plugin_option
def report(results_dir: Path, out: Path, plugins: tuple[str, ...]) -> None:
    """Rebuild the report from stored results, without training.

    RESULTS_DIR is one suite's results (results/<suite>) or a directory of them.
    A record that cannot be read is named, moved to results/<suite>/damaged/
    and left out, and the page says so. Plugins (installed, or given with
    --plugin) may add sections. Exit code 2 for a folder that holds no stored
    suite, and for a suite whose suite.json cannot be read (the other suites
    are still reported).
    """
    from rnnbench.report import build_report
    from rnnbench.store import Store, StoreError

    directories = _result_dirs(results_dir)
    registry = _registry(plugins)
    errors = []
    for directory in directories:
        store = Store(directory, warn=_warn)
        try:
            contents = store.contents()
            index = build_report(store, out / "reports", hooks=registry.hooks, warn=_warn, contents=contents)
            click.echo(f"report: {index}")
            every = [*contents.trials, *contents.results]
            _echo_left_out(store, "the report", every)
            _echo_versions(store, every)
        except StoreError as exc:
            errors.append(str(exc))
    if errors:
        raise InputError("\n".join(errors))


@main.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Write the tables here, under OUT/<suite>/ (default: into each suite's results directory).",
)
@click.option(
    "--format", "formats", type=_ChoiceOf("rnnbench.report.export.FORMATS"), multiple=True,
    default=("csv", "json"), show_default=True, help="Write the tables in this format; repeatable. parquet needs pyarrow "
                            "(pip install 'rnnbench[parquet]').",
)
def export(results_dir: Path, out: Path | None, formats: tuple[str, ...]) -> None:
    """Write stored results as tables: runs.<format> (a row per run) and
    curves.<format> (a row per run and logged step), as CSV and JSON unless
    --format says otherwise. The columns are documented in reports/README.md. A
    record that cannot be read is named, moved to results/<suite>/damaged/ and
    left out. Exit code 2 for a folder that holds no stored suite, for a
    format whose extra is not installed, and for a suite whose suite.json
    cannot be read (the other suites are still exported)."""
    from rnnbench.extras import MissingExtra
    from rnnbench.report import export_results
    from rnnbench.report.export import check_formats
    from rnnbench.store import Store, StoreError

    try:
        check_formats(formats)
    except MissingExtra as exc:
        raise InputError(str(exc)) from None
    errors = []
    for directory in _result_dirs(results_dir):
        target = directory if out is None else out / directory.name
        store = Store(directory, warn=_warn)
        try:
            for path in export_results(store, target, formats):
                click.echo(str(path))
            _echo_left_out(store, "the export")
        except StoreError as exc:
            errors.append(str(exc))
        except OSError as exc:
            errors.append(f"{target}: cannot write the tables ({exc.strerror or exc})")
    if errors:
        raise InputError("\n".join(errors))


@main.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--move-damaged", is_flag=True,
    help="Move the damaged records (and a damaged suite.json) into RESULTS_DIR/damaged/, bytes intact.",
)
def check(results_dir: Path, move_damaged: bool) -> None:
    """Read every stored record and report those that cannot be read (damaged),
    those the stored suite does not plan (foreign) and those made by another
    version of rnnbench. Changes nothing unless --move-damaged.

    RESULTS_DIR is one suite's results (results/<suite>) or a directory of
    them. Exit code 0: nothing to report; 1: a damaged, foreign or
    other-version record, or one with fields this version does not know; 2:
    RESULTS_DIR holds no stored suite, or cannot be listed.
    """
    from rnnbench.store import Store, StoreError

    errors, found = [], 0
    for directory in _result_dirs(results_dir):
        store = Store(directory, set_aside=move_damaged)
        try:
            audit = store.audit()
        except StoreError as exc:
            errors.append(str(exc))
            continue
        found += _echo_audit(store, audit)
    if errors:
        raise InputError("\n".join(errors))
    if found:
        sys.exit(1)


def _describe(result: RunResult) -> str:
    """A run in a few words: variant, length, seed, and its trial if it has one."""
    spec = result.spec
    trial = f" trial {spec.trial.index}" if spec.trial is not None else ""
    return f"{spec.variant.name} T={spec.seq_len} seed={spec.seed}{trial}"


def _echo_audit(store: Store, audit: Audit) -> int:
    """Print what ``rnnbench check`` found in one results directory, a line per
    problem (a line per version, and one for unknown fields); return how many
    problems it printed."""
    from rnnbench.results import RECORD_FORMAT, versions_made_by
    from rnnbench.runner import this_version
    from rnnbench.store import DAMAGED_DIR

    mine = this_version()
    root = store.root
    if audit.suite is None:
        head = "suite.json cannot be read, so which records are foreign is not known"
    else:
        stored = len(audit.planned & audit.records.keys())
        head = f"suite '{audit.suite.name}': {stored} of {len(audit.planned)} planned runs stored"
    earlier = store.set_aside_count() - sum(d.moved_to is not None for d in audit.damaged)
    if earlier > 0:
        head += f"; {earlier} file(s) set aside earlier in {root / DAMAGED_DIR}"
    click.echo(f"{root}: {len(audit.records) + sum(d.path.parent == store.runs_dir for d in audit.damaged)} "
               f"records; {head}")
    lines = []
    for damage in audit.damaged:
        hint = "" if damage.moved_to is not None or damage.kept else "; --move-damaged moves it aside"
        lines.append(f"damaged: {damage}{hint}")
    for result in audit.foreign:
        lines.append(f"foreign: {store.runs_dir / (result.key + '.json')}: {_describe(result)}: "
                     "not a run of the stored suite")
    others = [(v, n) for v, n in versions_made_by(list(audit.records.values())) if v != mine]
    for version, n in others:
        lines.append(f"other version: {root}: {n} record{'s' if n != 1 else ''} made by rnnbench {version} "
                     f"(this is {mine}); `rnnbench run --rerun-other-versions` trains them again")
    if store.unknown:
        names = sorted({name for record in store.unknown.values() for name in record.unknown})
        formats = sorted({record.format_version for record in store.unknown.values()})
        lines.append(
            f"unknown fields: {root}: {len(store.unknown)} record(s) of format "
            f"{', '.join(map(str, formats))} have fields this rnnbench (format {RECORD_FORMAT}) does not know "
            f"({', '.join(names)}); they are read without them"
        )
    for line in lines:
        click.echo(line)
    click.echo(f"{root}: {len(lines)} problem{'s' if len(lines) != 1 else ''}" if lines else f"{root}: ok")
    return len(lines)


@main.command()
@plugin_option
def schema(plugins: tuple[str, ...]) -> None:
    """Print the JSON schema of a suite file, with every registered plugin's parameters."""
    from rnnbench.spec import json_schema

    click.echo(json.dumps(json_schema(_registry(plugins)), indent=2))


@main.command(name="plugins")
@plugin_option
def list_plugins(plugins: tuple[str, ...]) -> None:
    """List every registered task, cell, remedy and optimiser and who provides it.
    Exit code 2 if a --plugin module cannot be imported or registered."""
    from rnnbench.registry import KINDS

    registry = _registry(plugins)
    for kind in KINDS:
        click.echo(f"{KIND_TITLES[kind]}:")
        for name in registry.names(kind):
            component = registry.components[(kind, name)]
            doc = (component.cls.__doc__ or "").strip().splitlines()
            click.echo(f"  {name:<16} {component.provider}" + (f"  - {doc[0]}" if doc else ""))


def _remedy_ref(text: str):
    """``name`` or a TOML inline table ``{ name = "...", param = value }``."""
    if not text.lstrip().startswith("{"):
        return text
    try:
        return tomllib.loads(f"remedy = {text}")["remedy"]
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"--remedy {text}: not a TOML inline table: {exc}") from None


@main.command()
@click.argument("suite", required=False)
@click.option("--variant", "variants", multiple=True, metavar="NAME",
              help="Check only this variant of SUITE; repeatable.")
@click.option("--cell", help="Check this cell instead of a suite's variants.")
@click.option("--activation", help="With --cell: the activation (default: tanh, or the cell's first "
                                    "if it has no tanh).")
@click.option("--init", help="With --cell: the initialisation (default: uniform, or the cell's "
                              "first if it has no uniform).")
@click.option("--remedy", "remedies", multiple=True, metavar="REMEDY",
              help='With --cell: a remedy, by name or as a TOML inline table such as '
                   '\'{ name = "l2", weight_decay = 0.1 }\'; repeatable, applied in order.')
@click.option("--tolerance", default=1e-6, show_default=True, help="Largest relative error allowed.")
@plugin_option
def gradcheck(suite, variants, cell, activation, init, remedies, tolerance, plugins) -> None:
    """Check gradients against finite differences, for a new remedy or cell.

    For each variant, every parameter's BPTT gradient (float64, full BPTT, with
    the remedies' penalties and summed-input transforms) is compared with
    central finite differences, on a many-to-one MSE problem and a many-to-many
    cross-entropy problem with masked steps. Then every remedy hook runs: two
    real training steps on each problem (the suite's dtype and optimiser), as
    `run` takes them. Exit code 1 if any error exceeds the tolerance, or if a
    hook raises or returns non-finite numbers (one line naming the remedy and
    the hook). Give a suite (all its variants, or --variant ones), or an
    ad-hoc variant with --cell, --activation, --init and --remedy.
    """
    from rnnbench import gradcheck as checks

    registry = _registry(plugins)
    try:
        if cell or remedies or activation or init:
            checked = [checks.command_line_variant(registry, cell, activation, init,
                                                   [_remedy_ref(r) for r in remedies])]
            train = None  # the default training settings
        else:
            loaded = _load(suite or "default", registry)
            checked, train = checks.suite_variants(loaded, variants), loaded.train
    except checks.Crashed as exc:  # a remedy's configure or check crashed
        click.echo(f"error: {checks.COMMAND_LINE}: {exc}", err=True)
        sys.exit(1)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    failed = 0
    for v in checked:
        remedies_text = ", ".join(r.name for r in v.remedies) or "no remedy"
        click.echo(f"{v.name}: cell {v.cell}, activation {v.activation}, init {v.init}, {remedies_text}")
        try:
            for done in checks.check_variant(v, registry, tolerance, train):
                bad = done.failed
                failed += bool(bad)
                verdict = "FAILED " + ", ".join(f"{n} {e:.1e}" for n, e in bad.items()) if bad else "ok"
                click.echo(f"  {done.loss:<13} {done.shape:<12} {len(done.errors)} parameters, "
                           f"largest relative error {done.errors[done.worst]:.1e} ({done.worst}), "
                           f"{checks.STEPS} training steps: {verdict}")
        except checks.Crashed as exc:
            click.echo(f"error: {v.name}: {exc}", err=True)
            failed += 1
        except ValueError as exc:  # a combination that does not fit, found when building
            raise InputError(f"{v.name}: {exc}") from None
    if failed:
        click.echo(f"{failed} check(s) failed", err=True)
        sys.exit(1)


@main.command()
@click.argument("path", default="suite.toml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@click.option("--suite", "name", default="default", show_default=True,
              help="The built-in suite to write out (see `rnnbench suites`).")
def init(path: Path, force: bool, name: str) -> None:
    """Write a built-in suite (the commented default one unless --suite says
    otherwise) to PATH as a starting point, named after PATH (my_suite.toml:
    `name = "my_suite"`), so that its results do not land beside the built-in's."""
    from rnnbench import builtin_suites
    from rnnbench.spec import suite_name

    if name not in builtin_suites.names():
        raise InputError(f"--suite {name}: no such built-in suite ({', '.join(builtin_suites.names())})")
    if path.exists() and not force:
        raise InputError(f"{path}: exists; use --force to overwrite it")
    own = suite_name(path.stem)
    text = re.sub(r'^name = "[^"\n]*"$', lambda _: f'name = "{own}"', builtin_suites.text(name), count=1,
                  flags=re.MULTILINE)
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path} (suite '{own}'); edit it, then: rnnbench validate {path} && rnnbench run {path}")
