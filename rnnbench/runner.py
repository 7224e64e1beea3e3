"""The runner: expands a suite into runs, skips what is stored, runs the rest.

Each run is isolated: an exception from any plugin is recorded as a run with
status ``error`` and its traceback, and the sweep goes on. Every finished run
is stored before the next starts, so an interrupted sweep loses at most the
run in flight and a restart runs only what is missing.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import platform
import traceback
from importlib.metadata import PackageNotFoundError, version
from typing import Callable

from rnnbench.plugins import Registry
from rnnbench.results import RunResult
from rnnbench.spec import RunSpec, SuiteSpec
from rnnbench.store import Store
from rnnbench.training import train

_PACKAGES = ("rnnbench", "numpy", "pydantic", "pluggy")


def environment() -> dict[str, str]:
    """Versions of Python and the packages a result depends on."""
    env = {"python": platform.python_version(), "machine": platform.machine()}
    for name in _PACKAGES:
        try:
            env[name] = version(name)
        except PackageNotFoundError:
            env[name] = "not installed"
    return env


def run_one(run: RunSpec, registry: Registry, on_step: Callable[[int], None] | None = None) -> RunResult:
    """Train one run; an exception becomes a result with status ``error``."""
    try:
        result = train(run, registry, on_step=on_step)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        result = RunResult(
            key=run.key(),
            spec=run,
            status="error",
            message=f"{type(exc).__name__}: {first}".rstrip(": "),
            traceback=traceback.format_exc(),
        )
    return result.model_copy(
        update={
            "versions": environment(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
    )


@dataclasses.dataclass
class SweepSummary:
    total: int
    skipped: int
    counts: dict[str, int]  # status -> number of runs done in this sweep

    @property
    def failed(self) -> int:
        return self.counts.get("error", 0)


class Progress:
    """What the runner reports while it works; the CLI draws it, tests ignore it."""

    def sweep_started(self, total: int, skipped: int) -> None: ...
    def run_started(self, run: RunSpec) -> None: ...
    def step(self, step: int) -> None: ...
    def run_finished(self, result: RunResult) -> None: ...
    def sweep_finished(self) -> None: ...


def run_suite(
    suite: SuiteSpec,
    store: Store,
    registry: Registry,
    progress: Progress | None = None,
    rerun: bool = False,
) -> SweepSummary:
    """Run every run of ``suite`` that ``store`` does not hold yet (all, with ``rerun``)."""
    progress = progress or Progress()
    store.save_suite(suite)
    runs = suite.runs()
    stored = set() if rerun else store.keys()
    todo = [r for r in runs if r.key() not in stored]
    progress.sweep_started(total=len(runs), skipped=len(runs) - len(todo))
    counts: dict[str, int] = {}
    for run in todo:
        progress.run_started(run)
        result = run_one(run, registry, on_step=progress.step)
        store.save(result)
        counts[result.status] = counts.get(result.status, 0) + 1
        progress.run_finished(result)
    progress.sweep_finished()
    return SweepSummary(total=len(runs), skipped=len(runs) - len(todo), counts=counts)
