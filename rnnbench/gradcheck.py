"""Checking a variant's gradients: the analytic BPTT gradient of every parameter
against central finite differences, in float64, on small random data.

What is checked is d(loss + penalties)/dp with full BPTT, for the variant's cell,
activation, initialisation and summed-input transforms. Remedies that change the
gradient itself -- clipping, truncation -- have no finite-difference
counterpart; they are checked against their own definitions (see the tests).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnbench.api import Batch
from rnnbench.engine import numerics
from rnnbench.engine.gradcheck import check_gradients
from rnnbench.variant import Model, build_model

INPUTS, OUTPUTS = 3, 2


@dataclasses.dataclass
class Problem:
    """A model with float64 parameters and a batch, ready for a gradient check."""

    model: Model
    batch: Batch


def make_problem(
    variant, registry, seq_len: int = 6, batch_size: int = 3, loss: str = "mse",
    many_to_one: bool = True, seed: int = 0, noise: float = 0.1,
) -> Problem:
    """A float64 network for ``variant`` on random data, its parameters perturbed
    by N(0, noise) so that none sits at a special value (zero biases, I). The
    network runs full BPTT: truncation is checked against its own definition."""
    rng = np.random.default_rng(seed)
    outputs = OUTPUTS if loss == "mse" else OUTPUTS + 1
    model = build_model(variant, registry, INPUTS, outputs, "float64", loss, many_to_one, rng)
    model.network.truncate = None
    params = model.params
    for name in params:
        params[name] = params[name] + rng.normal(0.0, noise, params[name].shape)
    x = rng.normal(size=(seq_len, batch_size, INPUTS))
    steps = (batch_size,) if many_to_one else (seq_len, batch_size)
    if loss == "mse":
        y = rng.normal(size=(*steps, outputs))
    else:
        y = rng.integers(0, outputs, steps)
    mask = None if many_to_one else rng.random((seq_len, batch_size)) < 0.6
    if mask is not None:
        mask[-1] = True
    return Problem(model, Batch(x, y, mask))


def gradient_errors(problem: Problem, eps: float = 1e-6) -> dict[str, float]:
    """Relative error of each parameter's analytic gradient against finite
    differences, with subnormals kept (flush-to-zero off) so no difference is lost."""
    with numerics.flush_to_zero(False):
        _, grads = problem.model.loss_and_gradients(problem.batch)
        return check_gradients(lambda: problem.model.loss_value(problem.batch), problem.model.params, grads, eps)
