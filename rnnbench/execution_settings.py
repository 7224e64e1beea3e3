"""A sweep's execution settings: the suite's ``[execution]`` table with the
command line's options (or the Python API's arguments) on top."""

from __future__ import annotations

from rnnbench.executors import ExecutorUnavailable
from rnnbench.engine import fast
from rnnbench.spec import ExecutionSpec


def merge_settings(
    base: ExecutionSpec,
    executor: str | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    timeout_s: float | None = None,
    engine: str | None = None,
    device: str | None = None,
    workers_per_gpu: int | None = None,
) -> ExecutionSpec:
    """The suite's execution settings with the command line's on top
    (``engine``: the command line's, else the environment variable
    RNNBENCH_ENGINE's, else the suite's).

    ``--scheduler`` alone means Dask; ``--jobs N`` (N > 1) alone turns the
    in-process executor into a process pool. An explicit executor wins.
    """
    kind = executor
    if kind is None:
        if scheduler is not None:
            kind = "dask"
        elif jobs is not None and jobs > 1 and base.executor == "serial":
            kind = "processes"
        else:
            kind = base.executor
    if scheduler is not None and kind != "dask":
        raise ExecutorUnavailable(f"--scheduler is for the dask executor, not '{kind}'")
    update = {"executor": kind}
    if jobs is not None:
        update["jobs"] = jobs
    if scheduler is not None:
        update["scheduler"] = scheduler
    if timeout_s is not None:
        update["timeout_s"] = timeout_s
    engine = engine or fast.from_environment() or base.engine
    update["engine"] = fast.check(engine, "--engine")
    if device is not None:
        update["device"] = device
    if workers_per_gpu is not None:
        update["workers_per_gpu"] = workers_per_gpu
    return ExecutionSpec.model_validate(base.model_copy(update=update).model_dump())
