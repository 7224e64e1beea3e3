"""What the tests of the built-in cells share: parameters moved off the values an
initialisation gives, and a regression batch. Imported by tests/test_<cell>.py."""

from __future__ import annotations

import numpy as np

from rnnbench.api import Batch
from rnnbench.engine.network import init_readout


def make_params(cell, seed=0, noise=0.1):
    """The cell's and read-out's parameters, moved off special values by N(0, noise)."""
    rng = np.random.default_rng(seed)
    c = cell.config
    params = cell.init_params(rng)
    params.update(init_readout(rng, c.hidden_size, c.output_size, c.dtype))
    return {k: v + rng.normal(0.0, noise, v.shape) for k, v in params.items()}


def regression_batch(T, B, O=2, seed=1, *, inputs):
    """x ~ N(0, 1) of shape (T, B, inputs), one target (B, O) per sequence."""
    rng = np.random.default_rng(seed)
    return Batch(rng.normal(size=(T, B, inputs)), rng.normal(size=(B, O)))
