"""The initial weights of a recurrent cell with G gate blocks stacked row-wise
(G = 1 for the vanilla cell, 4 for the LSTM, 3 for the GRU).

``uniform``: every weight U(-1/sqrt(H), 1/sqrt(H)), the common default of
deep-learning libraries; ``normal``: every weight N(0, 1/fan_in). Biases zero.
"""

from __future__ import annotations

import numpy as np

from rnnbench.api import ModelConfig, Params
from rnnbench.engine.transforms import TransformChain

INITS = ("uniform", "normal")


def cell_weights(rng: np.random.Generator, config: ModelConfig, gates: int) -> Params:
    """W_hx (G*H, I), W_hh (G*H, H) by ``config.init``, and b_h = 0 (G*H,), in float64."""
    H = config.hidden_size
    shapes = {"W_hx": (gates * H, config.input_size), "W_hh": (gates * H, H)}
    params = {}
    for name, shape in shapes.items():
        if config.init == "uniform":
            bound = 1.0 / np.sqrt(H)
            params[name] = rng.uniform(-bound, bound, shape)
        else:
            params[name] = rng.normal(0.0, 1.0 / np.sqrt(shape[1]), shape)
    params["b_h"] = np.zeros(gates * H)
    return params


def initial_params(rng: np.random.Generator, config: ModelConfig, gates: int, *chains: TransformChain) -> Params:
    """A cell's fresh parameters in ``config.dtype``: :func:`cell_weights` and the
    parameters of the summed-input transform ``chains`` at its sites."""
    params = cell_weights(rng, config, gates)
    for chain in chains:
        params.update(chain.init_params(config.dtype))
    return {k: v.astype(config.dtype) for k, v in params.items()}
