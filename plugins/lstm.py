"""The LSTM cell: Hochreiter & Schmidhuber 1997, "Long Short-Term Memory"
(Neural Computation 9(8)), with the forget gate of Gers, Schmidhuber & Cummins
2000, "Learning to Forget: Continual Prediction with LSTM" (Neural Computation
12(10)); no peephole connections.

    [i; f; g; o] = [sigma; sigma; tanh; sigma](N(W_hx x_t + W_hh h_{t-1} + b_h))
    c_t = f * c_{t-1} + i * g ;  h_t = o * tanh(c_t)

The forget-gate bias starts at 1 (Jozefowicz, Zaremba & Sutskever 2015, "An
Empirical Exploration of Recurrent Network Architectures", section 2.2), so
that the cell initially remembers. The maths is in :mod:`rnnbench.engine.lstm`.
"""

from __future__ import annotations


import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench import hookimpl
from rnnbench.api import Cell, Params
from rnnbench.engine.initialisation import INITS, cell_weights
from rnnbench.engine import lstm
from rnnbench.engine.transforms import TransformChain

GATES = 4  # i, f, g, o, stacked row-wise in this order


class LSTMParams(BaseModel):
    """The LSTM's parameters, given in a variant as ``cell_params = { forget_bias = 0.0 }``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    forget_bias: float = Field(1.0, description="Initial value of the forget gate's biases.")


class LSTMCell(Cell):
    """LSTM with forget gate; the state is (h_t, c_t).

    Initialisations, as for the vanilla cell: ``uniform``, every weight
    U(-1/sqrt(H), 1/sqrt(H)); ``normal``, every weight N(0, 1/fan_in). Biases
    start at zero except the forget gate's, which start at ``forget_bias``
    (1.0 unless the variant's ``cell_params`` say otherwise; Jozefowicz et al. 2015). The summed-input transforms act at one
    site, "gates", of 4 groups of H units (layer normalisation normalises each
    gate's block separately).
    """

    name = "lstm"
    Params = LSTMParams
    activations = ("tanh",)
    inits = INITS

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        self.chain = TransformChain(self.transforms, "gates", GATES, config.hidden_size)

    def init_params(self, rng: np.random.Generator) -> Params:
        c = self.config
        H = c.hidden_size
        params = cell_weights(rng, c, GATES)
        given = c.cell_params if isinstance(c.cell_params, LSTMParams) else LSTMParams()
        params["b_h"][H : 2 * H] = given.forget_bias
        params.update(self.chain.init_params(c.dtype))
        return {k: v.astype(c.dtype) for k, v in params.items()}

    def forward(self, params: Params, x: np.ndarray, initial=None):
        h0, c0 = (None, None) if initial is None else initial
        cache = lstm.forward(
            params["W_hx"], params["W_hh"], params["b_h"], x, self.chain, params, h0, c0
        )
        return cache.h[1:], cache

    def state_at(self, cache, t: int):
        """(h_t, c_t), the state after t steps."""
        return cache.h[t], cache.c[t]

    def backward_with_cell_state(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        """As :meth:`backward`, and also gc with gc[t-1] = dL/dc_t, t = 1..T."""
        grads = self.chain.zero_grads(params)
        (dW_hx, dW_hh, db_h), gh, gc = lstm.backward(
            params["W_hh"], cache, dh_out, self.chain, params, grads, truncate, loss_steps
        )
        grads.update(W_hx=dW_hx, W_hh=dW_hh, b_h=db_h)
        return grads, gh, gc

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        grads, gh, _ = self.backward_with_cell_state(params, cache, dh_out, truncate, loss_steps)
        return grads, gh

    def cell_state_profile(self, params: Params, cache, dh_out: np.ndarray) -> np.ndarray:
        """norms[d] = mean over the batch of ||dL/dc_{T-d}||, d = 0..T-1, by full
        BPTT from ``dh_out`` (ordered as :meth:`Network.decay_profile`; pass the
        same per-sequence scaling of ``dh_out`` as it does to compare the two)."""
        _, _, gc = self.backward_with_cell_state(params, cache, dh_out)
        return np.linalg.norm(gc.astype(np.float64), axis=2).mean(axis=1)[::-1]

    def state_profiles(self, params: Params, cache, dh_out: np.ndarray) -> dict[str, np.ndarray]:
        """The cell state's profile, under the name "c"."""
        return {"c": self.cell_state_profile(params, cache, dh_out)}

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        """W_hh (4H, H). For a gated cell ||W_hh||_2 * max|f'| is only an
        indicative bound on the per-step gradient factor: the gates multiply
        the Jacobian, and the cell state c_t carries gradient past W_hh."""
        return params["W_hh"]

    def max_derivative(self) -> None:
        """None: no bound ||W_hh||_2 max|f'| holds for a gated cell (see
        :meth:`recurrent_matrix`)."""
        return None


@hookimpl
def rnnbench_register_cells():
    return [LSTMCell]
