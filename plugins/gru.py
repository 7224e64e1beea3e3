"""The gated recurrent unit (Cho et al. 2014, "Learning Phrase Representations
using RNN Encoder-Decoder for Statistical Machine Translation", section 2.3;
compared with the LSTM by Chung et al. 2014, "Empirical Evaluation of Gated
Recurrent Neural Networks on Sequence Modeling", section 3.2), in the original
"reset before" form:

    r_t = sigmoid(W_r x_t + U_r h_{t-1} + b_r)
    z_t = sigmoid(W_z x_t + U_z h_{t-1} + b_z)
    n_t = tanh(W_n x_t + U_n (r_t * h_{t-1}) + b_n)
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

The update gate interpolates between the old state and the candidate, so
dh_t/dh_{t-1} contains the diagonal term z_t: where z_t is near 1 the gradient
crosses many steps almost unchanged. The maths is in :mod:`rnnbench.engine.gru`.
"""

from __future__ import annotations

import numpy as np

from rnnbench import hookimpl
from rnnbench.api import Cell, Params
from rnnbench.engine.initialisation import INITS, cell_weights
from rnnbench.engine import gru
from rnnbench.engine.transforms import TransformChain


class GRUCell(Cell):
    """GRU with reset gate r, update gate z and candidate n, stacked r, z, n in
    ``W_hx`` (3H, I), ``W_hh`` (3H, H) and ``b_h`` (3H,).

    Its gates are sigmoids and its candidate a tanh, whatever the variant's
    activation (only "tanh" is accepted). Summed-input transforms act at two
    sites: "gates", the summed inputs of r and z (2 blocks of H units), and
    "candidate", that of n (1 block).

    Initialisations: ``uniform``, every weight U(-1/sqrt(H), 1/sqrt(H)) (the
    common default of deep-learning libraries); ``normal``, every weight
    N(0, 1/fan_in). Biases start at zero.
    """

    name = "gru"
    activations = ("tanh",)
    inits = INITS

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        H = config.hidden_size
        self.gates = TransformChain(self.transforms, "gates", 2, H)
        self.candidate = TransformChain(self.transforms, "candidate", 1, H)

    def init_params(self, rng: np.random.Generator) -> Params:
        c = self.config
        params = cell_weights(rng, c, 3)
        params.update(self.gates.init_params(c.dtype))
        params.update(self.candidate.init_params(c.dtype))
        return {k: v.astype(c.dtype) for k, v in params.items()}

    def forward(self, params: Params, x: np.ndarray, initial=None):
        cache = gru.forward(
            params["W_hx"], params["W_hh"], params["b_h"], x, self.gates, self.candidate, params, initial
        )
        return cache.h[1:], cache

    def state_at(self, cache, t: int):
        return cache.h[t]

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        grads = {**self.gates.zero_grads(params), **self.candidate.zero_grads(params)}
        (dW_hx, dW_hh, db_h), g = gru.backward(
            params["W_hh"], cache, dh_out, self.gates, self.candidate, params, grads, truncate, loss_steps
        )
        grads.update(W_hx=dW_hx, W_hh=dW_hh, b_h=db_h)
        return grads, g

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        """All three blocks [U_r; U_z; U_n] (3H, H). For a gated cell the bound
        ||W_hh||_2 * max|f'| on the per-step gradient factor is only indicative:
        dh_t/dh_{t-1} = diag(z_t) + (terms through the gates and U_n), and the
        gates' sigmoids (max slope 1/4) and the interpolation are not in it."""
        return params["W_hh"]

    def max_derivative(self) -> None:
        """None: no bound ||W_hh||_2 max|f'| holds for a gated cell (see
        ``recurrent_matrix``)."""
        return None


@hookimpl
def rnnbench_register_cells():
    return [GRUCell]
