"""asv: the cost of each remedy over the bare training step.

Each remedy is timed on the cell it applies to, at the medium shape
(batch, hidden, length) = (32, 128, 100), float32; ``track_overhead`` gives the
ratio to the bare step of the same cell, measured in the same process.
"""

from __future__ import annotations

import time

from benchmarks.workload import SHAPES, training_step
from rnnbench.process_settings import run_settings

# Remedy tables as a suite file writes them, and the cell each is timed on.
REMEDIES = {
    "none": ("vanilla", ()),
    "clip_norm": ("vanilla", ({"name": "clip_norm", "threshold": 1.0},)),
    "clip_value": ("vanilla", ({"name": "clip_value", "threshold": 1.0},)),
    "l2": ("vanilla", ("l2",)),
    "truncated_bptt": ("vanilla", ({"name": "truncated_bptt", "steps": 20},)),
    "identity_init": ("vanilla", ("identity_init",)),
    "orthogonal_init": ("vanilla", ("orthogonal_init",)),
    "leaky_relu": ("vanilla", ("leaky_relu",)),
    "layer_norm": ("vanilla", ("layer_norm",)),
    "lstm_layer_norm": ("lstm", ("layer_norm",)),
    "gru_layer_norm": ("gru", ("layer_norm",)),
}
SHAPE = SHAPES["medium"]


def _build(name):
    cell, remedies = REMEDIES[name]
    return training_step(cell, *SHAPE, remedies=remedies, dtype="float32")


def _median_time(step, repeats=7):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step.run()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


class Remedy:
    params = [list(REMEDIES)]
    param_names = ["remedy"]

    def setup(self, remedy):
        self._settings = run_settings(threads=1, flush_to_zero=True)  # as a worker trains a run
        self._settings.__enter__()
        self.step = _build(remedy)
        self.step.run()
        cell = REMEDIES[remedy][0]
        self.bare = training_step(cell, *SHAPE, dtype="float32")
        self.bare.run()

    def teardown(self, remedy):
        self._settings.__exit__(None, None, None)

    def time_step(self, remedy):
        """Seconds per step with the remedy."""
        self.step.run()

    def track_overhead(self, remedy):
        """Step time with the remedy / without it, on the same cell (medians of alternating steps)."""
        with_r, bare = [], []
        for _ in range(7):
            with_r.append(_median_time(self.step, 1))
            bare.append(_median_time(self.bare, 1))
        return sorted(with_r)[3] / sorted(bare)[3]

    track_overhead.unit = "ratio"
