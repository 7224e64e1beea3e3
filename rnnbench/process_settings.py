"""The process settings a run trains under, owned by whoever runs the runs.

Three settings of the process (or of its calling thread) change how fast a run
trains and, for flush-to-zero, its float32 numbers:

- BLAS threads: limited to the sweep's ``blas_threads`` (one by default), so
  that parallel runs do not oversubscribe the cores and a run's sums are added
  in the same order on every executor (:func:`rnnbench.engine.blas.blas_threads`);
- flush-to-zero: subnormal floats flushed to zero (FTZ and DAZ) when the run's
  ``train.flush_to_zero`` says so (:func:`rnnbench.engine.numerics.flush_to_zero`);
- the allocator: glibc keeps BPTT's large buffers from one step to the next
  instead of mapping fresh pages (:func:`rnnbench.engine.memory.keep_allocations`,
  process-wide and never undone).

``training.train`` changes none of them: the runner's workers (every executor,
:func:`rnnbench.runner.run_here`) and the benchmarks enter ``run_settings``
around a run, so a RunSpec gives the same numbers wherever it trains.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from rnnbench.engine import memory, numerics
from rnnbench.engine.blas import blas_threads


@contextlib.contextmanager
def run_settings(threads: int, flush_to_zero: bool) -> Iterator[None]:
    """Inside the block: BLAS limited to ``threads`` threads, subnormals
    flushed to zero in this thread if ``flush_to_zero``, and the allocator
    keeping large buffers. The first two are restored on exit."""
    memory.keep_allocations()
    with blas_threads(threads), numerics.flush_to_zero(flush_to_zero):
        yield
