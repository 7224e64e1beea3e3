"""The workload every benchmark times: one training step of a network.

A step is forward + BPTT + the remedies' penalties and gradient transforms +
an SGD update: :func:`rnnbench.training.train_step`, the function each step
of a run calls, on a many-to-one regression batch (x: (T, B, I) uniform in [0, 1), as the
adding problem's values; y: (B, 1)). Built from the same plugins and variant
resolution as a run, so a remedy costs here what it costs in a sweep.

Matrix-product work of one step, with G gate blocks (1 vanilla, 4 LSTM, 3 GRU),
I inputs, H units, B sequences and T steps (the read-out is negligible):
    forward   per step x_t W_hx^T and h_{t-1} W_hh^T    2 T B G H (I + H)
    backward  per step delta_t W_hh                     2 T B G H H
              dW_hx, dW_hh, one product each            2 T B G H (I + H)
so 2 T B G H (2 I + 3 H) floating-point operations in all.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnbench.api import Batch, Optimizer
from rnnbench.registry import load_registry
from rnnbench.spec import OptimizerRef, VariantSpec
from rnnbench.training import train_step
from rnnbench.variant import Model, build_model

GATES = {"vanilla": 1, "lstm": 4, "gru": 3}
LEARNING_RATE = 1e-3

# (batch, hidden, length): the two target shapes and a smaller and a larger one.
SHAPES = {
    "small": (32, 32, 100),
    "medium": (32, 128, 100),
    "large": (128, 256, 200),
}

_REGISTRY = None


def registry():
    """The plugin registry, loaded once per process."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load_registry()
    return _REGISTRY


def matmul_flops(cell: str, batch: int, hidden: int, length: int, inputs: int) -> int:
    """Floating-point operations in the matrix products of one step (see above)."""
    G = GATES[cell]
    return 2 * length * batch * G * hidden * (2 * inputs + 3 * hidden)


@dataclasses.dataclass
class TrainingStep:
    """A model, its optimiser and one batch; :meth:`run` takes one step."""

    model: Model
    optimizer: Optimizer
    batch: Batch

    def run(self) -> float:
        return train_step(self.model, self.optimizer, self.batch, step=1).loss


def training_step(cell: str, batch: int, hidden: int, length: int, inputs: int = 2,
                  dtype: str = "float32", remedies: tuple = (), seed: int = 0) -> TrainingStep:
    """Build a step of ``cell`` with the given remedies (names or
    ``{"name": ..., **params}`` tables, as in a suite file)."""
    spec = VariantSpec(name="bench", cell=cell, hidden_size=hidden, remedies=list(remedies))
    rng = np.random.default_rng(seed)
    model = build_model(spec, registry(), inputs, 1, dtype, "mse", True, rng)
    x = rng.uniform(0.0, 1.0, (length, batch, inputs)).astype(dtype)
    y = rng.uniform(0.0, 2.0, (batch, 1)).astype(dtype)
    optimizer = registry().create("optimizer", OptimizerRef(name="sgd"), LEARNING_RATE)
    return TrainingStep(model, optimizer, Batch(x, y))
