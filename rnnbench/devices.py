"""Where the cells written in torch run (:mod:`rnnbench.torch_cell`): the
``device`` of a suite's ``[execution]`` table, or ``rnnbench run --device``.

"cpu" (the default) needs nothing; "cuda" and "auto" ask torch for a GPU once,
when the sweep is prepared (:func:`settle`): without one, one line says so and
the torch cells run on the CPU; with one, and no ``--jobs`` given, the sweep
runs ``workers_per_gpu`` worker processes per GPU, which share it. Each worker
takes the GPU its process id picks (:func:`worker_device`). The numpy cells
always run on the CPU, and a suite without a torch cell never imports torch.

This module imports no torch itself: the command line's start-up does not pay
for it.
"""

from __future__ import annotations

import os
from typing import Callable

from rnnbench.spec import ExecutionSpec, SuiteSpec


def cell_class(variant, registry) -> type:
    """The class of the cell ``variant`` runs, after its remedies chose (the
    lstm and gru remedies replace the cell)."""
    from rnnbench.variant import model_config

    config, _ = model_config(variant, registry, 1, 1, "float64")
    return registry.get("cell", config.cell)


def runs_in_torch(variant, registry) -> bool:
    """Whether ``variant``'s cell is written in torch."""
    from rnnbench.torch_cell import is_torch_cell  # imports no torch

    return is_torch_cell(cell_class(variant, registry))


def settle(execution: ExecutionSpec, suite: SuiteSpec, registry, jobs_given: bool,
           warn: Callable[[str], None] | None = None) -> ExecutionSpec:
    """``execution`` with its device resolved for this machine: "cpu" where the
    suite has no torch cell or torch sees no GPU (said to ``warn`` in one line
    when a GPU was asked for), "cuda" where it sees one; then, unless the jobs
    were given, ``workers_per_gpu`` workers per GPU in a process pool."""
    if execution.device == "cpu":
        return execution
    if not any(runs_in_torch(v, registry) for v in suite.variants):
        return execution.model_copy(update={"device": "cpu"})
    from rnnbench.torch_cell import resolve_device

    device, message = resolve_device(execution.device)
    if message is not None and warn is not None:
        warn(message)
    if device == "cpu":
        return execution.model_copy(update={"device": "cpu"})
    update = {"device": "cuda"}
    if not jobs_given and execution.executor != "dask":
        import torch

        update["jobs"] = execution.workers_per_gpu * max(1, torch.cuda.device_count())
        if update["jobs"] > 1:
            update["executor"] = "processes"
    return execution.model_copy(update=update)


def worker_device(device: str) -> str:
    """The torch device this process's torch cells use for the setting
    ``device``: "cpu", or with several GPUs the one the process id picks
    ("cuda:k"), so that the workers spread over them."""
    if device == "cpu":
        return "cpu"
    from rnnbench.torch_cell import resolve_device

    resolved, _ = resolve_device(device)
    if resolved == "cpu":
        return "cpu"
    import torch

    count = torch.cuda.device_count()
    return f"cuda:{os.getpid() % count}" if count > 1 else "cuda"

