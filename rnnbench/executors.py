"""Where runs execute: in this process, in a local process pool, or on Dask.

An executor takes a picklable ``work(run) -> RunResult`` and the runs to do,
and yields ``(run, outcome)`` as runs finish, in completion order: ``outcome``
is the RunResult, or the exception that lost it when a worker died. It never
decides what a failure means; the runner does. It calls ``started(run)`` when a
run takes a worker slot, so that progress can count the runs in flight.

Every executor hands out at most as many runs as it has slots, so that a sweep
killed at any moment loses at most the runs in flight.

- ``Serial``: one run at a time in this process; the only one whose ``work``
  may report steps to a progress bar.
- ``ProcessPool``: ``jobs`` worker processes started by a fork server (or
  spawned), never forked from this process: a forked child would inherit its
  threads and open files, such as the results directory's lock. A worker
  exits when the process that started it dies. When a worker dies mid-run
  (a crash in native code, ``os._exit``), the runs that were in flight are
  run again one at a time in a fresh pool, so that only the run that kills
  its worker on its own is lost (``recovering_map``).
- ``Dask``: a ``distributed`` client of the scheduler at ``scheduler``, or
  of a LocalCluster of ``jobs`` single-threaded worker processes bound to
  127.0.0.1 when no address is given. Dask is an optional extra.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import logging
import multiprocessing
import os
import re
import sys
import threading
import uuid
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

from rnnbench.results import RunResult
from rnnbench.spec import ExecutionSpec, RunSpec

Work = Callable[[RunSpec], RunResult]
Started = Callable[[RunSpec], None]
Outcome = tuple[RunSpec, RunResult | BaseException]

DASK_INSTALL_HINT = "pip install rnnbench[dask]"


class ExecutorUnavailable(Exception):
    """The chosen executor cannot be used here (Dask not installed, bad options)."""


class WorkerDied(Exception):
    """The worker process running a run died before returning its result."""


class Executor(Protocol):
    in_process: bool

    def map(self, work: Work, runs: Iterable[RunSpec], started: Started) -> Iterator[Outcome]: ...


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Python's process pools start each worker by importing the script that runs as __main__
# again (multiprocessing's "spawn" and "forkserver"); a script that calls rnnbench at its top
# level, without this guard, would start the sweep again in every worker.
MAIN_GUARD = re.compile(r"""__name__\s*==\s*['"]__main__['"]""")


def unguarded_main_script() -> str | None:
    """The script running as __main__, if worker processes would import it again
    and it has no ``if __name__ == "__main__":`` guard; None otherwise (a
    notebook or ``python -c`` has no script, a package's ``__main__`` module is
    not imported again, and a script that cannot be read is given the benefit)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if path is None or (spec is not None and spec.name.rpartition(".")[2] == "__main__"):
        return None
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return None if MAIN_GUARD.search(source) else str(path)


def check_available(execution: ExecutionSpec) -> None:
    """Raise ExecutorUnavailable, with what to install or change, if ``execution``
    cannot run here."""
    local_pool = execution.executor == "processes" or (execution.executor == "dask" and not execution.scheduler)
    script = unguarded_main_script() if local_pool else None
    if script is not None:
        raise ExecutorUnavailable(
            f"{script}: the {execution.executor} executor's worker processes import this script again, "
            f'and it has no `if __name__ == "__main__":` guard: put the call to rnnbench under one '
            f"(or use executor='serial')"
        )
    if execution.executor == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ExecutorUnavailable(
                f"the dask executor needs Dask, which is not installed: {DASK_INSTALL_HINT}"
            ) from None


def make_executor(execution: ExecutionSpec) -> Executor:
    """The executor ``execution`` names."""
    check_available(execution)
    if execution.executor == "serial":
        return Serial()
    if execution.executor == "processes":
        return ProcessPool(execution.jobs or available_cores())
    return Dask(execution.jobs or available_cores(), execution.scheduler)


class Serial:
    """One run at a time, in this process."""

    in_process = True

    def map(self, work: Work, runs: Iterable[RunSpec], started: Started) -> Iterator[Outcome]:
        for run in runs:
            started(run)
            yield run, work(run)


def _exit_with_parent() -> None:
    """In a worker: exit as soon as the process that started the pool is gone.

    ``multiprocessing.parent_process()`` is that process (not the fork server)
    and its sentinel is a pipe only it holds open, so the worker sees its end
    even when it was killed with SIGKILL and not yet reaped.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="rnnbench-parent-watch", daemon=True).start()


def _context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        # The fork server imports the training stack once; workers forked from it start warm.
        ctx.set_forkserver_preload(["rnnbench.runner"])
        return ctx
    return multiprocessing.get_context("spawn")


class ProcessPool:
    """``jobs`` local worker processes."""

    in_process = False

    def __init__(self, jobs: int):
        self.jobs = jobs

    def _pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=_context(), initializer=_exit_with_parent
        )

    def map(self, work: Work, runs: Iterable[RunSpec], started: Started) -> Iterator[Outcome]:
        yield from recovering_map(self._pool, self.jobs, work, runs, started)


def recovering_map(
    new_pool: Callable[[], cf.ProcessPoolExecutor], jobs: int, work: Work, runs: Iterable[RunSpec], started: Started
) -> Iterator[Outcome]:
    """``runs`` on pools from ``new_pool``, at most ``jobs`` at a time, as
    ``(run, outcome)`` in completion order, recovering from dead workers.

    A worker that dies (a crash in native code, ``os._exit``) breaks its pool
    and loses every run in flight. The pool is renewed, and the lost runs go
    again one at a time: a run that fails alone killed its worker on its own,
    and is yielded with WorkerDied; a run that finishes alone was only in the
    way. The others wait until the suspects are cleared, so that only the runs
    that kill their worker are lost.
    """
    todo = collections.deque(runs)
    suspects: collections.deque[RunSpec] = collections.deque()  # in flight when a worker died
    in_flight: dict[cf.Future, tuple[RunSpec, bool]] = {}
    pool = new_pool()
    try:
        while todo or suspects or in_flight:
            # After a worker died, its runs go one at a time until each has finished alone.
            slots = 1 if suspects else jobs
            broken = False
            while len(in_flight) < slots:
                if suspects:
                    if in_flight:
                        break
                    run, alone = suspects.popleft(), True
                elif todo:
                    run, alone = todo.popleft(), False
                else:
                    break
                try:
                    future = pool.submit(work, run)
                except BrokenProcessPool:
                    # A worker died after the last results were collected: this run
                    # never started; it goes back in its queue, and the pool is renewed.
                    (suspects if alone else todo).appendleft(run)
                    broken = True
                    break
                if not alone:
                    started(run)
                in_flight[future] = (run, alone)
            if not broken:
                done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    run, alone = in_flight.pop(future)
                    try:
                        yield run, future.result()
                    except BrokenProcessPool as exc:
                        broken = True
                        if alone:
                            yield run, WorkerDied(f"the worker process died during the run ({exc})")
                        else:
                            suspects.append(run)
            if broken:
                # Every run still in flight was lost with the pool: collect them too.
                for future in cf.as_completed(list(in_flight)):
                    run, alone = in_flight.pop(future)
                    try:
                        yield run, future.result()
                    except BrokenProcessPool:
                        suspects.append(run)
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class Dask:
    """A Dask cluster: the one at ``scheduler``, or a LocalCluster of ``jobs`` workers."""

    in_process = False

    def __init__(self, jobs: int, scheduler: str | None = None):
        self.jobs = jobs
        self.scheduler = scheduler

    def _connect(self):
        import dask
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            return Client(self.scheduler), None
        # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which hands freed
        # memory back to the system at once: training allocates many arrays of a
        # few hundred KiB per step, and each then costs fresh page faults (runs
        # took twice as long). The BLAS thread limits Dask also sets are kept.
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(
                n_workers=self.jobs,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
        return Client(cluster), cluster

    def map(self, work: Work, runs: Iterable[RunSpec], started: Started) -> Iterator[Outcome]:
        from distributed import as_completed

        client, cluster = self._connect()
        try:
            todo = collections.deque(runs)
            finished = as_completed()
            in_flight: dict = {}

            def fill() -> None:
                # As many runs as the cluster has threads now (at least one), so
                # that workers that join later are used and none sits on a backlog.
                slots = max(1, sum(client.nthreads().values()))
                while todo and len(in_flight) < slots:
                    run = todo.popleft()
                    started(run)
                    future = client.submit(work, run, key=f"rnnbench-{run.key()}-{uuid.uuid4().hex[:8]}")
                    in_flight[future.key] = run
                    finished.add(future)

            fill()
            for future in finished:
                run = in_flight.pop(future.key)
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker was lost (KilledWorker) or the task failed to run
                    outcome = WorkerDied(f"{type(exc).__name__}: {exc}")
                future.release()
                yield run, outcome
                fill()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
