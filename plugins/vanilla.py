"""The vanilla (Elman) cell: h_t = f(W_hx x_t + W_hh h_{t-1} + b_h)."""

from __future__ import annotations

import numpy as np

from rnnbench import hookimpl
from rnnbench.api import Cell, Params
from rnnbench.engine.initialisation import INITS, cell_weights
from rnnbench.engine import vanilla
from rnnbench.engine.activations import ACTIVATION_NAMES, activation
from rnnbench.engine.transforms import TransformChain


class VanillaCell(Cell):
    """Elman RNN, h_t = f(W_hx x_t + W_hh h_{t-1} + b_h).

    Initialisations: ``uniform``, every weight U(-1/sqrt(H), 1/sqrt(H)) (the
    common default of deep-learning libraries); ``normal``, every weight
    N(0, 1/fan_in). Biases start at zero.
    """

    name = "vanilla"
    activations = ACTIVATION_NAMES
    inits = INITS

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        self.activation = activation(config.activation, config.slope)
        self.chain = TransformChain(self.transforms, "h", 1, config.hidden_size)

    def init_params(self, rng: np.random.Generator) -> Params:
        c = self.config
        params = cell_weights(rng, c, 1)
        params.update(self.chain.init_params(c.dtype))
        return {k: v.astype(c.dtype) for k, v in params.items()}

    def forward(self, params: Params, x: np.ndarray, initial=None):
        cache = vanilla.forward(
            params["W_hx"], params["W_hh"], params["b_h"], x, self.activation, self.chain, params, initial
        )
        return cache.h[1:], cache

    def state_at(self, cache, t: int):
        return cache.h[t]

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        grads = self.chain.zero_grads(params)
        (dW_hx, dW_hh, db_h), g = vanilla.backward(
            params["W_hh"], cache, dh_out, self.activation, self.chain, params, grads, truncate, loss_steps
        )
        grads.update(W_hx=dW_hx, W_hh=dW_hh, b_h=db_h)
        return grads, g

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        return params["W_hh"]

    def max_derivative(self) -> float:
        return self.activation.max_derivative


@hookimpl
def rnnbench_register_cells():
    return [VanillaCell]
