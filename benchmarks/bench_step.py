"""asv: time, peak memory and GFLOP/s of one training step per cell, dtype and shape.

A step is forward + BPTT + SGD update (:mod:`benchmarks.workload`), with the
adding problem's 2 input channels, 1 BLAS thread and flush-to-zero on -- the
settings training uses.
"""

from __future__ import annotations

import time

from benchmarks.workload import SHAPES, matmul_flops, training_step
from rnnbench.process_settings import run_settings

CELLS = ["vanilla", "lstm", "gru"]
DTYPES = ["float32", "float64"]
INPUTS = 2


class _Step:
    """Shared setup: one built step, run once so that its buffers exist."""

    params = (CELLS, DTYPES, list(SHAPES))
    param_names = ["cell", "dtype", "shape"]

    def setup(self, cell, dtype, shape):
        self._settings = run_settings(threads=1, flush_to_zero=True)  # as a worker trains a run
        self._settings.__enter__()
        self.step = training_step(cell, *SHAPES[shape], inputs=INPUTS, dtype=dtype)
        self.step.run()

    def teardown(self, cell, dtype, shape):
        self._settings.__exit__(None, None, None)


class TimeStep(_Step):
    """Seconds per training step."""

    timeout = 300

    def time_step(self, cell, dtype, shape):
        self.step.run()


class MemStep(_Step):
    """Peak resident memory of a process that built the step and ran it once."""

    def peakmem_step(self, cell, dtype, shape):
        self.step.run()


class TrackGflops(_Step):
    """Achieved GFLOP/s in the step's matrix products (best of 3 steps)."""

    unit = "GFLOP/s"
    timeout = 300

    def track_gflops(self, cell, dtype, shape):
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            self.step.run()
            best = min(best, time.perf_counter() - t0)
        return matmul_flops(self.step.model.network.cell.name, *SHAPES[shape], INPUTS) / best / 1e9
