"""rnnbench from Python: run a suite, load stored results, read them as pandas DataFrames.

::

    import rnnbench

    results = rnnbench.run("default", out="sweeps", executor="processes", jobs=2)
    runs = results.runs()      # a row per run: the columns of runs.csv
    curves = results.curves()  # a row per run and logged step
    later = rnnbench.load("sweeps/results/default")

``run`` does what ``rnnbench run`` does -- the command is built on this
module -- without printing anything unless asked: ``progress=True`` draws the
command's progress bars and prints its warnings on standard error. Problems
that do not stop the work (a plugin that failed to load, a record that cannot
be read, a plugin hook that failed) are Python warnings of the category
``RnnbenchWarning`` (shown once each in a notebook; filter them with the
``warnings`` module), and are kept, one line each, in ``Results.warnings``;
with ``progress=True`` they are printed instead of warned. Problems that do
stop it raise: ``SpecError`` (a suite
that cannot be run, one line per problem), ``ExecutorUnavailable`` (executor
options), ``StoreError`` (a results directory that cannot be used; its
subclass ``NotAResultsDirectory`` for a folder that holds no stored suite).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import warnings as python_warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Union

from pydantic import ValidationError
from tqdm import tqdm

from rnnbench import builtin_suites, devices
from rnnbench.execution_settings import merge_settings
from rnnbench.executors import Executor, ExecutorUnavailable, make_executor
from rnnbench.registry import Registry, load_registry
from rnnbench.results import STATUSES, RunResult
from rnnbench.runner import FAILED, Progress, SweepSummary, run_suite
from rnnbench.resolve import resolve, resolve_data, resolve_file
from rnnbench.spec import ExecutionSpec, RunSpec, SpecError, SuiteSpec, first_problem, scale_name
from rnnbench.store import Contents, Store, StoreError, find_result_dirs

if TYPE_CHECKING:
    import pandas

__all__ = ["Results", "RnnbenchWarning", "StoredSuite", "concat", "load", "run"]

SuiteLike = Union[str, os.PathLike, Mapping[str, Any], SuiteSpec]
Warn = Callable[[str], None]


class RnnbenchWarning(UserWarning):
    """A problem that did not stop the work: a plugin that failed to load, a
    record that cannot be read, a plugin hook that failed."""


def _callers_level() -> int:
    """The ``stacklevel`` that points a warning issued by the caller of this
    function at the first frame outside rnnbench: the user's own line."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


class Warnings:
    """Collects warning lines; with ``echo``, also prints each on standard
    error as ``warning: <line>``, as the command line does; with ``python``,
    also issues each as a Python warning (``RnnbenchWarning``); ``also`` is
    called with each."""

    def __init__(self, echo: bool = False, also: Warn | None = None, python: bool = False):
        self.lines: list[str] = []
        self.echo, self.also, self.python = echo, also, python

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if self.echo:  # through tqdm, so that a progress bar being drawn is not cut
            tqdm.write(f"warning: {line}", file=sys.stderr)
        if self.python:
            python_warnings.warn(line, RnnbenchWarning, stacklevel=_callers_level())
        if self.also is not None:
            self.also(line)


def load_plugins(plugins: Sequence[str] = (), warn: Warn | None = None) -> Registry:
    """The installed plugins and the modules in ``plugins`` (dotted names or
    ``.py`` files); each problem met while loading them goes to ``warn``."""
    registry = load_registry(extra_modules=plugins)
    for problem in registry.problems:
        (warn or (lambda line: None))(problem)
    return registry


def unloaded(registry: Registry, plugins: Sequence[str]) -> list[str]:
    """The problems met loading ``registry`` that say a module of ``plugins``
    (named for this run, ``--plugin``) could not be imported or registered:
    the command line takes these as bad input, and any other as a warning."""
    heads = tuple(f"plugin {spec}: {what}: " for spec in plugins
                  for what in ("failed to import", "not registered"))
    return [line for line in registry.problems if line.startswith(heads)]


def load_suite(suite: SuiteLike, registry: Registry, scale: str | None = None) -> SuiteSpec:
    """``suite`` validated against ``registry``: the name of a built-in suite, a
    suite file (a path; a file wins over a built-in suite of the same name),
    a dict with a suite file's content, or a SuiteSpec; with ``scale``, its
    ``quick`` or ``paper`` version, resolved against ``registry`` in turn (its
    own tuning protocol too). SpecError, with one line per problem, if it
    cannot be run."""
    spec = _load_suite(suite, registry)
    if scale is None:
        return spec
    scale = scale_name(scale)
    try:
        sized = spec.scaled(scale)
    except ValueError as exc:
        raise SpecError([str(exc).splitlines()[0]]) from None
    try:
        return resolve(sized, registry).suite
    except SpecError as exc:
        raise SpecError([f"{scale}: {line}" for line in exc.lines]) from None


def _load_suite(suite: SuiteLike, registry: Registry) -> SuiteSpec:
    """``load_suite`` at the suite's own size."""
    if isinstance(suite, SuiteSpec):
        return resolve_data(suite.model_dump(mode="json"), registry)
    if isinstance(suite, Mapping):
        return resolve_data(dict(suite), registry)
    if not isinstance(suite, (str, os.PathLike)):
        raise SpecError([f"{suite!r}: not a suite: give a built-in suite's name, a suite file or a dict"])
    text = os.fspath(suite)
    path = Path(text)
    # a file of that name wins over a built-in suite; a directory does not
    if isinstance(suite, str) and not path.is_file() and not text.endswith(".toml") and text in builtin_suites.names():
        return builtin_suites.load(text, registry)
    if path.is_dir():
        raise SpecError([f"{text}: a directory, not a suite file"])
    if not path.exists():
        raise SpecError([f"{text}: no such suite file, nor a built-in suite "
                         f"(built-in: {', '.join(builtin_suites.names())})"])
    return resolve_file(path, registry)


@dataclasses.dataclass(frozen=True)
class PreparedSweep:
    """A suite ready to run: resolved against the plugins, at its size, with its
    execution settings and the executor they name (checked to be available here)."""

    suite: SuiteSpec
    execution: ExecutionSpec
    registry: Registry
    plugins: tuple[str, ...] = ()
    executor: Executor | None = None


def prepare(
    suite: SuiteLike,
    registry: Registry,
    *,
    plugins: Sequence[str] = (),
    scale: str | None = None,
    executor: str | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    timeout_s: float | None = None,
    engine: str | None = None,
    device: str | None = None,
    workers_per_gpu: int | None = None,
    warn: Warn | None = None,
) -> PreparedSweep:
    """Validate ``suite`` (see ``load_suite``), scale it (``quick`` or ``paper``)
    and put the executor options on top of its ``[execution]`` settings.
    SpecError for the suite or its scale, ExecutorUnavailable for the executor
    options, each one line. A GPU asked for (``device``) where there is none
    is said to ``warn`` in one line, and the torch cells run on the CPU."""
    spec = load_suite(suite, registry, scale)
    try:
        execution = merge_settings(spec.execution, executor, jobs, scheduler, timeout_s, engine,
                                   device, workers_per_gpu)
        execution = devices.settle(execution, spec, registry, jobs_given=jobs is not None, warn=warn)
        made = make_executor(execution)  # checks, once, that it can run here
    except ValidationError as exc:
        raise ExecutorUnavailable(first_problem(exc)) from None
    except (ExecutorUnavailable, ValueError) as exc:
        raise ExecutorUnavailable(str(exc).splitlines()[0]) from None
    return PreparedSweep(spec, execution, registry, tuple(plugins), made)


RERUN = ("all", "failed", "other-versions")  # what rerun= may name


def rerun_flags(rerun: str | bool | None) -> dict[str, bool]:
    """The runner's switches for ``rerun``: None (the runs not stored yet),
    "all" (or True: every run again), "failed" (also those stored as error or
    timeout), "other-versions" (also those another version of rnnbench
    stored). ValueError, one line, for anything else."""
    if rerun is True:
        rerun = "all"
    if rerun not in (None, False, *RERUN):
        raise ValueError(f"rerun: {rerun!r} is not one of {', '.join(RERUN)} (or None)")
    return {"rerun": rerun == "all", "retry_failed": rerun == "failed",
            "rerun_other_versions": rerun == "other-versions"}


def sweep(
    prepared: PreparedSweep,
    out: str | os.PathLike = ".",
    *,
    rerun: str | bool | None = None,
    progress: Progress | None = None,
    warn: Warn | None = None,
) -> tuple[Store, SweepSummary]:
    """Run ``prepared`` into ``out``/results/<suite>/: the runs not stored yet,
    and those ``rerun`` names (see ``rerun_flags``). StoreError if the results
    directory cannot be used."""
    flags = rerun_flags(rerun)
    store = Store.for_suite(Path(out) / "results", prepared.suite, warn=warn)
    summary = run_suite(
        prepared.suite, store, prepared.registry, progress=progress, **flags,
        execution=prepared.execution, plugins=prepared.plugins,
        warn=warn, executor=prepared.executor,
    )
    return store, summary


class BarProgress(Progress):
    """Progress bars on standard error: one for the sweep (runs done of those to
    do, running, failed) and, when runs train in this process, one for the steps
    of the current run. ``disable``: True draws nothing, None draws only on a
    terminal, False always."""

    def __init__(self, disable: bool | None = None):
        self.disable = disable
        self.sweep = None
        self.steps = None
        self.stepwise = False
        self.running = 0
        self.counts = dict.fromkeys(STATUSES, 0)

    def _show(self, refresh: bool) -> None:
        failed = sum(self.counts[s] for s in FAILED)
        self.sweep.set_postfix_str(
            f"running {self.running}, ok {self.counts['ok']}, diverged {self.counts['diverged']}, "
            f"failed {failed}",
            refresh=refresh,
        )

    def sweep_started(self, total: int, skipped: int, stepwise: bool, phase: str = "evaluation") -> None:
        self.stepwise = stepwise
        self.counts = dict.fromkeys(STATUSES, 0)
        self.sweep = tqdm(
            total=total - skipped, desc="tuning trials" if phase == "tuning" else "runs", unit="run",
            disable=self.disable, dynamic_ncols=True,
        )

    def run_started(self, run: RunSpec) -> None:
        self.running += 1
        self._show(refresh=True)
        if self.stepwise:
            desc = f"{run.variant.name} T={run.seq_len} seed={run.seed}"
            self.steps = tqdm(
                total=run.train.steps, desc=desc, unit="step", leave=False, disable=self.disable,
                dynamic_ncols=True,
            )

    def step(self, step: int) -> None:
        if self.steps is not None:
            self.steps.update(1)

    def run_finished(self, result: RunResult) -> None:
        if self.steps is not None:
            self.steps.close()
            self.steps = None
        self.running = max(0, self.running - 1)
        self.counts[result.status] += 1
        self._show(refresh=False)
        self.sweep.update(1)
        self.sweep.refresh()

    def sweep_finished(self) -> None:
        if self.steps is not None:
            self.steps.close()
        self.sweep.close()


@dataclasses.dataclass(frozen=True)
class StoredSuite:
    """One suite's results directory, and what was read from it: the part of
    ``Results`` that one suite contributes."""

    store: Store
    contents: Contents

    @classmethod
    def read(cls, where: str | os.PathLike | Store, warn: Warn | None = None) -> StoredSuite:
        """Read one suite's results directory (``<out>/results/<suite>``) as it
        is now, changing nothing on disk; a record that cannot be read goes to
        ``warn`` and is left out."""
        store = where if isinstance(where, Store) else Store(where, set_aside=False, warn=warn)
        return cls(store, store.contents())

    @property
    def records(self) -> list[RunResult]:
        return [*self.contents.trials, *self.contents.results]


class Results:
    """The stored results of one suite, or of several (``load`` of a directory
    of them, ``concat``), as read when the object was made.

    ``runs()`` and ``curves()`` give them as tidy DataFrames: the tables of
    ``rnnbench export`` (the same columns as ``runs.csv`` and ``curves.csv``,
    described in reports/README.md), with a ``suite`` column, and a ``role`` column
    that marks the runs of tuning trials (``tuning``) apart from the
    evaluation runs the report reads (``evaluation``). ``records`` are the
    runs themselves (:class:`rnnbench.results.RunResult`).
    """

    def __init__(
        self,
        parts: Iterable[StoredSuite],
        warnings: Iterable[str] = (),
        summary: SweepSummary | None = None,
        report_path: Path | None = None,
        *,
        summaries: Iterable[SweepSummary] = (),
        report_paths: Iterable[Path] = (),
    ):
        """``parts``: a ``StoredSuite`` per suite (``StoredSuite.read(path)``).
        ``summaries`` and ``report_paths`` are those of results being joined;
        ``summary`` and ``report_path`` add one each."""
        self._parts = tuple(parts)
        self.warnings: list[str] = list(warnings)
        """The problems met while loading or running, one line each."""
        self.summaries: list[SweepSummary] = [*summaries, *([summary] if summary is not None else [])]
        """What each sweep behind these results did (``run``, and results joined from runs)."""
        self.report_paths: list[Path] = [*report_paths, *([report_path] if report_path is not None else [])]
        """The reports written (``run`` with ``report=True``, and results joined from them)."""

    @property
    def summary(self) -> SweepSummary | None:
        """What the sweep did (``run``): runs done by status, skipped, total;
        None unless exactly one sweep made these results (see ``summaries``)."""
        return self.summaries[0] if len(self.summaries) == 1 else None

    @property
    def report_path(self) -> Path | None:
        """The report's index.html (``run`` with ``report=True``); None unless
        exactly one report was written (see ``report_paths``)."""
        return self.report_paths[0] if len(self.report_paths) == 1 else None

    @property
    def suites(self) -> list[SuiteSpec]:
        """The suites, as stored (``suite.json``), in the order loaded."""
        return [part.contents.suite for part in self._parts]

    @property
    def suite(self) -> SuiteSpec:
        """The suite, for the results of one; ValueError for several."""
        if len(self._parts) != 1:
            raise ValueError(f"these results hold {len(self._parts)} suites; see .suites")
        return self._parts[0].contents.suite

    @property
    def paths(self) -> list[Path]:
        """The results directories read (``<out>/results/<suite>``)."""
        return [part.store.root for part in self._parts]

    @property
    def records(self) -> list[RunResult]:
        """Every stored run: per suite, the tuning runs first, then the evaluation runs."""
        return [r for part in self._parts for r in part.records]

    @functools.cached_property
    def _tables(self):
        from rnnbench.report.export import tables_of

        return tables_of([(part.contents.suite.name, part.records) for part in self._parts])

    def runs(self) -> pandas.DataFrame:
        """A row per stored run: the columns of ``runs.csv``, in its order."""
        from rnnbench.report.export import dataframe

        return dataframe(*self._tables["runs"])

    def curves(self) -> pandas.DataFrame:
        """A row per stored run and logged step: the columns of ``curves.csv``."""
        from rnnbench.report.export import dataframe

        return dataframe(*self._tables["curves"])

    def findings(self) -> pandas.DataFrame:
        """A row per finding of each suite at each length it concerns, decided on
        the stored runs as ``rnnbench run`` and the report decide them (one
        Holm family per suite): suite, claim, source, seq_len, outcome
        ("reproduced", "not shown", "contradicted", "too few seeds",
        "undecided"), confidence (the level, where the statistics decided),
        held (the point estimates lie as claimed), value, reference, p,
        p_adjusted, method, detectable and detail (all of it in words)."""
        import pandas as pd

        from rnnbench.report.findings import LEVEL, check

        rows = []
        for part in self._parts:
            for v in check(part.contents.suite, part.contents.results, part.contents.trials):
                decided = v.outcome in ("reproduced", "not shown", "contradicted")
                rows.append({
                    "suite": part.contents.suite.name, "claim": v.finding.claim, "source": v.finding.source,
                    "seq_len": v.seq_len, "outcome": v.outcome, "confidence": LEVEL if decided else None,
                    "held": v.held, "value": v.value, "reference": v.reference, "p": v.p,
                    "p_adjusted": v.p_adjusted, "method": v.method, "detectable": v.detectable, "detail": v.detail,
                })
        columns = ["suite", "claim", "source", "seq_len", "outcome", "confidence", "held", "value", "reference",
                   "p", "p_adjusted", "method", "detectable", "detail"]
        table = pd.DataFrame(rows, columns=columns)
        return table.astype({"suite": "string", "claim": "string", "source": "string", "seq_len": "Int64",
                             "outcome": "string", "confidence": "Float64", "held": "boolean", "value": "Float64",
                             "reference": "Float64", "p": "Float64", "p_adjusted": "Float64",
                             "method": "string", "detectable": "string", "detail": "string"})

    def export(self, out: str | os.PathLike | None = None, formats: Sequence[str] = ("csv", "json")) -> list[Path]:
        """Write the tables as ``rnnbench export`` does, in each of ``formats``
        (csv, json, parquet), into each suite's results directory or into
        ``out``/<suite>/; return the paths written."""
        from rnnbench.report.export import tables_of, write_tables

        written = []
        for part in self._parts:
            target = part.store.root if out is None else Path(out) / part.store.root.name
            data = tables_of([(part.contents.suite.name, part.records)])
            written += write_tables(data, target, formats)
        return written

    def report(self, out: str | os.PathLike = ".", plugins: Sequence[str] = ()) -> list[Path]:
        """Write each suite's report into ``out``/reports/<suite>/ from what is
        stored now, with the sections the installed plugins and the modules in
        ``plugins`` add; return the paths of the index.html pages."""
        from rnnbench.report import build_report

        registry = load_plugins(plugins, self.warnings.append)
        return [
            build_report(part.store, Path(out) / "reports", hooks=registry.hooks, warn=self.warnings.append)
            for part in self._parts
        ]

    def __add__(self, other: Results) -> Results:
        if not isinstance(other, Results):
            return NotImplemented
        return concat([self, other])

    def __len__(self) -> int:
        return sum(len(part.records) for part in self._parts)

    def __repr__(self) -> str:
        described = ", ".join(
            f"{part.contents.suite.name}: {len(part.contents.results)} runs"
            + (f" and {len(part.contents.trials)} tuning runs" if part.contents.trials else "")
            for part in self._parts
        )
        said = f"; {len(self.warnings)} warning(s), see .warnings" if self.warnings else ""
        return f"<Results {described or 'empty'}{said}>"


def _short(function):
    """The API function ``function``, whose expected errors (a suite, a store,
    executor options that cannot be used) reach the caller as raised from it:
    one frame and the message, not the path through the package's modules."""
    expected = (SpecError, StoreError, ExecutorUnavailable)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except expected as exc:
            raise exc.with_traceback(None) from None

    return wrapper


@_short
def run(
    suite: SuiteLike = "default",
    *,
    out: str | os.PathLike = ".",
    executor: str | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    timeout_s: float | None = None,
    engine: str | None = None,
    device: str | None = None,
    workers_per_gpu: int | None = None,
    scale: str | None = None,
    rerun: str | bool | None = None,
    plugins: Sequence[str] = (),
    report: bool = True,
    progress: bool | Progress = False,
    timeout: float | None = None,
) -> Results:
    """Run a suite, as ``rnnbench run`` does, and return its results.

    ``suite`` is the name of a built-in suite, a suite file, a dict with a
    suite file's content, or a SuiteSpec. The options are the command's:
    results go to ``out``/results/<suite>/ and, with ``report``, the report to
    ``out``/reports/<suite>/; ``executor`` (serial, processes, dask), ``jobs``,
    ``scheduler``, ``timeout_s`` (seconds per run; ``timeout``, its old
    name, still works and warns), ``engine`` ("textbook",
    "fast" or "auto": which path the numpy cells run), ``device`` ("cpu",
    "cuda", "auto": where cells written in torch run) and ``workers_per_gpu``
    override the suite's ``[execution]``; ``scale`` runs its ``quick`` or ``paper`` size; runs already
    stored are skipped, but for those ``rerun`` names: "all" (or True),
    "failed" (those stored as error or timeout) or "other-versions" (those
    another version of rnnbench stored); ``plugins`` are modules to
    load besides the installed plugins. ``progress=True`` draws progress bars
    and prints warnings on standard error (or give a ``runner.Progress``).

    A run that raises or times out is stored as such, not raised: see
    ``Results.summary`` and the ``status`` column.
    """
    rerun_flags(rerun)  # a bad choice is refused before anything loads
    if timeout is not None:  # the old name of timeout_s, the one name the suite and the CLI use
        python_warnings.warn("rnnbench.run(timeout=...) is now timeout_s=...; timeout will go in a later version",
                             DeprecationWarning, stacklevel=_callers_level())
        timeout_s = timeout if timeout_s is None else timeout_s
    warnings = Warnings(echo=progress is True, python=progress is not True)
    registry = load_plugins(plugins, warnings)
    prepared = prepare(
        suite, registry, plugins=plugins, scale=scale, executor=executor, jobs=jobs, scheduler=scheduler,
        timeout_s=timeout_s, engine=engine, device=device, workers_per_gpu=workers_per_gpu, warn=warnings,
    )
    if isinstance(progress, Progress):
        bars = progress
    else:
        bars = BarProgress(disable=False) if progress else Progress()
    store, summary = sweep(
        prepared, out, rerun=rerun, progress=bars, warn=warnings,
    )
    contents = store.contents()
    index = None
    if report:
        from rnnbench.report import build_report

        index = build_report(store, Path(out) / "reports", hooks=registry.hooks, warn=warnings, contents=contents)
    return Results([StoredSuite(store, contents)], warnings.lines, summary=summary, report_path=index)


@_short
def load(path: str | os.PathLike) -> Results:
    """The results stored in ``path``: one suite's results directory
    (``<out>/results/<suite>``) or a directory of them (``<out>/results``).

    Reading changes nothing on disk: a record that cannot be read is named in
    ``Results.warnings`` and left out (``rnnbench check --move-damaged`` moves
    it aside). NotAResultsDirectory if ``path`` holds no stored suite;
    StoreError if a suite's ``suite.json`` cannot be read.
    """
    warnings = Warnings(python=True)
    parts = [StoredSuite.read(directory, warnings) for directory in find_result_dirs(path)]
    return Results(parts, warnings.lines)


def concat(results: Iterable[Results]) -> Results:
    """The results of several suites or machines as one: their tables are
    concatenated, with the columns of all of them."""
    results = list(results)
    return Results(
        [part for r in results for part in r._parts], [line for r in results for line in r.warnings],
        summaries=[s for r in results for s in r.summaries],
        report_paths=[p for r in results for p in r.report_paths],
    )
