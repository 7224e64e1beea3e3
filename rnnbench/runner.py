"""The runner: expands a suite into runs, skips what is stored, dispatches the
rest to an executor, and stores each result as it arrives.

Each run is isolated: an exception from any plugin is recorded as a run with
status ``error`` and its traceback, a run over the suite's time limit as
``timeout``, a run whose worker process died as ``error``, and the sweep goes
on. Every finished run is stored at once, so an interrupted sweep loses at
most the runs in flight and a restart runs only what is missing. Once a run
is stored, the plugins' ``rnnbench_run_stored`` hook is called with it, here,
in the process that stores, whatever executor trained it.

The same function trains a run on every executor (``run_in_worker``, or
``run_here`` in this process), under the same process settings (BLAS threads,
flush-to-zero, the allocator: :mod:`rnnbench.process_settings`), so that a
RunSpec gives the same numbers wherever it runs.

The runs come from the resolution step (:class:`rnnbench.resolve.Resolved`):
the grid as written, or, for a tuned suite, the trials of its search and then
the evaluation runs of what tuning selected from the stored trials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import functools
import os
import platform
import time
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, Sequence

from rnnbench import devices
from rnnbench.engine import fast
from rnnbench.engine.blas import blas_description
from rnnbench.executors import Executor, make_executor
from rnnbench.process_settings import run_settings
from rnnbench.registry import Registry, load_registry
from rnnbench.resolve import Resolved, resolve
from rnnbench.results import RunResult, made_by
from rnnbench.spec import ExecutionSpec, RunSpec, SuiteSpec
from rnnbench.store import Store
from rnnbench.training import train

FAILED = ("error", "timeout")  # the statuses that make a sweep fail and --retry-failed reruns
OTHER_VERSION = "other version"  # in plan(): a record made by another rnnbench, for --rerun-other-versions
DAMAGED = "damaged"  # in plan(): a record that cannot be read and stays in place: never overwritten

_PACKAGES = ("rnnbench", "numpy", "pydantic", "pluggy")


def _cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), else what platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment() -> dict[str, str]:
    """What a result's numbers and timings depend on: Python and package
    versions, the machine, its CPU and the BLAS behind numpy."""
    return dict(_environment())


@functools.lru_cache(maxsize=1)
def _environment() -> dict[str, str]:
    env = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
    }
    for name in _PACKAGES:
        try:
            env[name] = version(name)
        except PackageNotFoundError:
            env[name] = "not installed"
    blas = blas_description()
    if blas:
        env["blas"] = ", ".join(
            f"{lib['internal_api']} {lib['version']} ({lib['architecture']})" for lib in blas
        )
    return env


class RunTimeout(Exception):
    """A run went over its time limit."""


def _deadline(timeout_s: float | None, on_step: Callable[[int], None] | None):
    """An ``on_step`` that raises RunTimeout once ``timeout_s`` seconds have passed."""
    if timeout_s is None:
        return on_step
    limit = time.monotonic() + timeout_s

    def step(n: int) -> None:
        if on_step is not None:
            on_step(n)
        if time.monotonic() > limit:
            raise RunTimeout(f"over the time limit of {timeout_s:g} s after {n} steps")

    return step


def _failed(run: RunSpec, status: str, exc: BaseException, steps_done: int = 0) -> RunResult:
    first = (str(exc).strip().splitlines() or [""])[0]
    return RunResult(
        key=run.key(),
        spec=run,
        status=status,
        message=f"{type(exc).__name__}: {first}".rstrip(": "),
        traceback=None if status == "timeout" else "".join(traceback.format_exception(exc)),
        steps_done=steps_done,
    )


def run_one(
    run: RunSpec,
    registry: Registry,
    on_step: Callable[[int], None] | None = None,
    timeout_s: float | None = None,
) -> RunResult:
    """Train one run; an exception becomes a result with status ``error``, and
    going over ``timeout_s`` seconds (checked after each step) one with ``timeout``."""
    started = time.perf_counter()
    steps = [0]

    def counting(n: int) -> None:
        steps[0] = n
        if on_step is not None:
            on_step(n)

    try:
        result = train(run, registry, on_step=_deadline(timeout_s, counting))
    except RunTimeout as exc:
        result = _failed(run, "timeout", exc, steps_done=steps[0])
    except Exception as exc:
        result = _failed(run, "error", exc, steps_done=steps[0])
    if result.status in FAILED:
        result = result.model_copy(update={"wall_time_s": time.perf_counter() - started})
    return _stamped(result)


def _stamped(result: RunResult) -> RunResult:
    """``result`` with the package versions and the time it was made."""
    return result.model_copy(
        update={
            "versions": environment(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
    )


def run_here(
    run: RunSpec,
    registry: Registry,
    threads: int,
    timeout_s: float | None,
    on_step: Callable[[int], None] | None = None,
    engine: str = "auto",
    device: str = "cpu",
) -> RunResult:
    """Train one run in this process, under the process settings a run trains
    under (``threads`` BLAS threads, the run's flush-to-zero, the allocator).
    A numpy cell runs the path ``engine`` chooses (``engine.fast``), which the
    record keeps as ``versions["engine"]``: "fast" or "textbook"; a cell
    written in torch runs on ``device`` (:mod:`rnnbench.devices`), with
    ``threads`` torch threads on the CPU, and its record keeps "torch", torch's
    version and the device."""
    if _runs_in_torch(run, registry):
        from rnnbench import torch_cell

        with run_settings(threads, run.train.flush_to_zero), \
                torch_cell.use_device(devices.worker_device(device), threads=threads):
            result = run_one(run, registry, on_step=on_step, timeout_s=timeout_s)
            return result.model_copy(update={"versions": {**result.versions, **torch_cell.versions()}})
    with run_settings(threads, run.train.flush_to_zero), fast.engine(engine):
        result = run_one(run, registry, on_step=on_step, timeout_s=timeout_s)
        return result.model_copy(update={"versions": {**result.versions, "engine": fast.path()}})


def _runs_in_torch(run: RunSpec, registry: Registry) -> bool:
    """Whether the run's cell is written in torch; False where the variant
    cannot be built (training then stores the error)."""
    try:
        return devices.runs_in_torch(run.variant, registry)
    except Exception:
        return False


_registries: dict[tuple[str, ...], Registry] = {}  # per worker process, by plugin modules


def run_in_worker(
    run: RunSpec, plugins: tuple[str, ...], threads: int, timeout_s: float | None, engine: str = "auto",
    device: str = "cpu",
) -> RunResult:
    """Train one run in a worker process, with the plugins the sweep was started
    with (the installed ones and the ``--plugin`` modules, loaded once per worker)."""
    registry = _registries.get(plugins)
    if registry is None:
        registry = _registries[plugins] = load_registry(extra_modules=plugins)
    return run_here(run, registry, threads, timeout_s, engine=engine, device=device)


@dataclasses.dataclass
class SweepSummary:
    """What one phase of a sweep did: the evaluation runs (``tuning`` then holds
    the tuning phase's summary, for a tuned suite)."""

    total: int
    skipped: int
    counts: dict[str, int]  # status -> number of runs done in this sweep
    tuning: SweepSummary | None = None

    @property
    def failed(self) -> int:
        return sum(self.counts.get(status, 0) for status in FAILED)


class Progress:
    """What the runner reports while it works; the CLI draws it, tests ignore it.

    ``step`` is called only when ``sweep_started`` said ``stepwise`` (runs
    train in this process); ``run_started`` when a run takes a worker slot.
    A tuned suite has two phases, each with its own ``sweep_started`` and
    ``sweep_finished``: ``phase`` is "tuning", then "evaluation".
    """

    def sweep_started(self, total: int, skipped: int, stepwise: bool, phase: str = "evaluation") -> None: ...
    def run_started(self, run: RunSpec) -> None: ...
    def step(self, step: int) -> None: ...
    def run_finished(self, result: RunResult) -> None: ...
    def sweep_finished(self) -> None: ...


def this_version() -> str:
    """The version of rnnbench that stamps the records this process makes."""
    return environment()["rnnbench"]


def plan(
    runs: Sequence[RunSpec], stored: dict[str, str], rerun: bool = False, retry_failed: bool = False
) -> list[RunSpec]:
    """The runs to do, given the status of each stored run by key (or
    OTHER_VERSION for a record to make again with this version, DAMAGED for a
    damaged record left in place): the missing ones and those of OTHER_VERSION;
    with ``retry_failed`` also those stored as error or timeout; with ``rerun``
    all. Never a DAMAGED one: its bytes would be overwritten."""
    redo = ("missing", OTHER_VERSION, *(FAILED if retry_failed else ()))
    return [r for r in runs if stored.get(r.key()) != DAMAGED and (rerun or stored.get(r.key(), "missing") in redo)]


def stored_states(store: Store, runs: Sequence[RunSpec], rerun_other_versions: bool = False) -> dict[str, str]:
    """What ``plan`` needs to know of ``runs`` in ``store``: each readable
    record's status (OTHER_VERSION instead, with ``rerun_other_versions``, for
    one made by another version of rnnbench) and DAMAGED for each damaged
    record left in place. Damaged records are moved aside as they are met."""
    records = store.records(r.key() for r in runs)
    states = {key: result.status for key, result in records.items()}
    if rerun_other_versions:
        mine = this_version()
        states |= {key: OTHER_VERSION for key, result in records.items() if made_by(result) != mine}
    return states | dict.fromkeys(store.damaged_in_place(), DAMAGED)


class _Announcer:
    """Hands each stored run to the plugins' ``rnnbench_run_stored`` hook, and
    names through ``warn`` each plugin whose implementation raises, once per sweep."""

    def __init__(self, registry: Registry, suite: SuiteSpec, warn: Callable[[str], None] | None):
        self.hooks, self.suite = registry.hooks, suite
        self.warn = warn or (lambda line: None)
        self.failed: set[str] = set()

    def __call__(self, result: RunResult, path: Path) -> None:
        for call in self.hooks.call("rnnbench_run_stored", result=result, suite=self.suite, path=path):
            if call.error is None or call.provider.plugin in self.failed:
                continue
            self.failed.add(call.provider.plugin)
            spec = result.spec
            self.warn(
                f"plugin {call.provider}: rnnbench_run_stored raised {call.why()} for run "
                f"{spec.variant.name} T={spec.seq_len} seed={spec.seed}; the run is stored "
                "(later failures of this hook in this sweep are not repeated)"
            )


def _portable(plugins: Sequence[str]) -> tuple[str, ...]:
    """Plugin modules as a worker elsewhere can load them: .py files by absolute path."""
    return tuple(str(Path(p).resolve()) if p.endswith(".py") else p for p in plugins)


def run_suite(
    suite: SuiteSpec | Resolved,
    store: Store,
    registry: Registry,
    progress: Progress | None = None,
    rerun: bool = False,
    retry_failed: bool = False,
    execution: ExecutionSpec | None = None,
    plugins: Sequence[str] = (),
    rerun_other_versions: bool = False,
    warn: Callable[[str], None] | None = None,
    executor: Executor | None = None,
) -> SweepSummary:
    """Run every run of ``suite`` (resolved against ``registry`` here unless
    it is a ``Resolved`` already) that ``store`` does not hold yet (all, with
    ``rerun``; also the failed ones, with ``retry_failed``; also those made by
    another version of rnnbench, with ``rerun_other_versions``) on the executor
    ``execution`` names (default: the suite's own ``execution``). A damaged
    record is moved aside and its run trained again.

    ``registry`` serves the in-process executor; worker processes load the
    installed plugins and the modules in ``plugins`` themselves. The store is
    locked for the sweep: a second sweep of the same suite into the same
    directory raises StoreBusy; a directory that holds another suite, or
    whose suite.json cannot be read, raises StoreError (``Store.claim``).

    Each stored run is handed to the ``rnnbench_run_stored`` hook of the
    plugins in ``registry``; an implementation that raises is named through
    ``warn`` (one line, the first time it fails in this sweep) and the sweep
    goes on.

    ``executor``: the one ``execution`` names, if the caller has made it
    already (``make_executor`` checks that it can run here).
    """
    resolved = suite if isinstance(suite, Resolved) else resolve(suite, registry)
    suite = resolved.suite
    progress = progress or Progress()
    execution = execution or suite.execution
    stored_suite = suite.model_copy(update={"execution": execution})
    announce = _Announcer(registry, stored_suite, warn)
    executor = executor or make_executor(execution)
    if executor.in_process:
        work = functools.partial(
            run_here, registry=registry, threads=execution.blas_threads,
            timeout_s=execution.timeout_s, on_step=progress.step, engine=execution.engine,
            device=execution.device,
        )
    else:
        work = functools.partial(
            run_in_worker, plugins=_portable(plugins), threads=execution.blas_threads,
            timeout_s=execution.timeout_s, engine=execution.engine, device=execution.device,
        )
    def sweep(runs: list[RunSpec], phase: str) -> SweepSummary:
        stored = stored_states(store, runs, rerun_other_versions)
        todo = plan(runs, stored, rerun=rerun, retry_failed=retry_failed)
        skipped = len(runs) - len(todo)
        progress.sweep_started(total=len(runs), skipped=skipped, stepwise=executor.in_process, phase=phase)
        counts: dict[str, int] = {}
        try:
            if not todo:  # no pool or cluster started for nothing
                return SweepSummary(total=len(runs), skipped=skipped, counts=counts)
            with contextlib.closing(executor.map(work, todo, progress.run_started)) as outcomes:
                for run, outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        outcome = _stamped(_failed(run, "error", outcome))
                    announce(outcome, store.save(outcome))
                    counts[outcome.status] = counts.get(outcome.status, 0) + 1
                    progress.run_finished(outcome)
        finally:
            progress.sweep_finished()
        return SweepSummary(total=len(runs), skipped=skipped, counts=counts)

    with store.lock():
        store.claim(suite)
        store.remove_temporaries()
        store.save_suite(stored_suite)
        if suite.tuning is None:
            return sweep(resolved.runs(), "evaluation")
        tuned = sweep(resolved.trial_runs(), "tuning")
        summary = sweep(resolved.stages(store.load_runs).evaluations, "evaluation")
        summary.tuning = tuned
        return summary
