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

from rnnbench.api import Batch, Params
from rnnbench.engine import numerics
from rnnbench.engine.gradcheck import check_gradients
from rnnbench.engine.losses import LOSSES
from rnnbench.engine.network import Network, init_readout
from rnnbench.variant import resolve_model

INPUTS, OUTPUTS = 3, 2


@dataclasses.dataclass
class Problem:
    """A network with float64 parameters and a batch, ready for a gradient check."""

    network: Network
    params: Params
    batch: Batch
    remedies: list

    def total_loss(self) -> float:
        loss = self.network.loss_value(self.params, self.batch)
        return loss + sum(p[0] for p in self._penalties())

    def _penalties(self):
        return [p for p in (r.penalty(self.params) for r in self.remedies) if p is not None]

    def analytic_gradients(self) -> Params:
        _, grads = self.network.loss_and_gradients(self.params, self.batch)
        for _, extra in self._penalties():
            for name, g in extra.items():
                grads[name] = grads[name] + g
        return grads


def make_problem(
    variant, registry, seq_len: int = 6, batch_size: int = 3, loss: str = "mse",
    many_to_one: bool = True, seed: int = 0, noise: float = 0.1,
) -> Problem:
    """A float64 network for ``variant`` on random data, its parameters perturbed
    by N(0, noise) so that none sits at a special value (zero biases, I)."""
    rng = np.random.default_rng(seed)
    outputs = OUTPUTS if loss == "mse" else OUTPUTS + 1
    config, remedies = resolve_model(variant, registry, INPUTS, outputs, "float64")
    transforms = tuple(t for t in (r.summed_input_transform() for r in remedies) if t is not None)
    cell = registry.get("cell", config.cell)(config, transforms)
    params = cell.init_params(rng)
    params.update(init_readout(rng, config.hidden_size, outputs, np.float64))
    for remedy in remedies:
        params = remedy.initialise(params, config, rng)
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
    network = Network(cell, LOSSES[loss], many_to_one)
    return Problem(network, params, Batch(x, y, mask), remedies)


def gradient_errors(problem: Problem, eps: float = 1e-6) -> dict[str, float]:
    """Relative error of each parameter's analytic gradient against finite
    differences, with subnormals kept (flush-to-zero off) so no difference is lost."""
    with numerics.flush_to_zero(False):
        return check_gradients(problem.total_loss, problem.params, problem.analytic_gradients(), eps)
