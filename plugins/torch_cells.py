"""The built-in cells written again in PyTorch: ``torch_vanilla``, ``torch_lstm``
and ``torch_gru``, the equations of :mod:`rnnbench.engine.textbook` ((V1)-(V3),
(L1)-(L5), (G1)-(G5)) as torch steps, with the numpy cells' parameter layout
(W_hx (G*H, I), W_hh (G*H, H), b_h (G*H,); LSTM blocks i, f, g, o; GRU blocks
r, z, n, reset before) and their initialisation (each delegates
``init_params`` to the numpy cell, so a seed gives both the same weights).

Autograd takes their BPTT (:mod:`rnnbench.torch_cell`), and the tests hold
them equal to the numpy engine in float64: loss, every parameter gradient,
g_t at every step and the decay profiles, with and without truncation. They
are the check that the torch path and the numpy engine agree, and the
reference a torch cell of one's own can be compared with.

Nothing here imports torch when the plugin is loaded: the steps use only the
methods of the tensors they are given. The remedies that transform a summed
input inside the cell (layer_norm) are refused for them; the ones that check
the cell by name (identity_init and leaky_relu for "vanilla", chrono_init for
"lstm") refuse them too.
"""

from __future__ import annotations

import numpy as np

from rnnbench.api import GRUCell, LSTMCell, Params, TorchCell, VanillaCell, hookimpl

def _activation(name: str, slope: float = 0.01):
    """f for the vanilla step, from tensor methods: the numpy cell's activation
    of the same name (rnnbench.engine.activations), with the same derivative
    at 0 (relu' = 0, leaky_relu' = slope)."""
    if name == "tanh":
        return lambda a: a.tanh()
    if name == "relu":
        return lambda a: a.relu()
    if name == "leaky_relu":
        return lambda a: a.where(a > 0, a * slope)
    if name == "linear":
        return lambda a: a
    raise ValueError(f"cell 'torch_vanilla': no activation '{name}'; choose one of {', '.join(VanillaCell.activations)}")


def _inputs(p: dict, x):
    """W_hx x_t + b_h for every step at once (one product), and W_hh^T kept for the steps."""
    p["W_hh^T"] = p["W_hh"].T
    return x.matmul(p["W_hx"].T) + p["b_h"]


class TorchVanilla(TorchCell):
    """The vanilla cell, h_t = f(W_hx x_t + W_hh h_{t-1} + b_h), in torch."""

    name = "torch_vanilla"
    activations = VanillaCell.activations
    inits = VanillaCell.inits

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        self.numpy = VanillaCell(config)  # its initialisation and its bound
        self.f = _activation(config.activation, **config.activation_params)

    def init_params(self, rng: np.random.Generator) -> Params:
        return self.numpy.init_params(rng)

    def prepare(self, p, x):
        return _inputs(p, x)

    def step(self, p, x_t, h):
        return self.f(x_t.addmm(h, p["W_hh^T"]))  # (V1), (V3): h_t = f(a_t)

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        return params["W_hh"]

    def max_derivative(self) -> float:
        return self.numpy.max_derivative()


class TorchLSTMParams(LSTMCell.Params, TorchCell.Params):
    """The LSTM's parameters (forget_bias), and the check that torch is installed."""


class TorchLSTM(TorchCell):
    """The LSTM with forget gate, in torch; the state is (h_t, c_t)."""

    name = "torch_lstm"
    Params = TorchLSTMParams
    activations = LSTMCell.activations
    inits = LSTMCell.inits
    states = ("h", "c")

    def init_params(self, rng: np.random.Generator) -> Params:
        return LSTMCell(self.config).init_params(rng)

    def prepare(self, p, x):
        return _inputs(p, x)

    def step(self, p, x_t, state):
        h, c = state
        a = x_t.addmm(h, p["W_hh^T"])  # (L1)
        i, f, g, o = a.chunk(4, 1)
        # (L3), (L4); c_t probed here, so that its gradient counts the path through h_t
        c = self.probe("c", f.sigmoid() * c + i.sigmoid() * g.tanh())
        return o.sigmoid() * c.tanh(), c  # (L5)

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        return params["W_hh"]


class TorchGRU(TorchCell):
    """The GRU (Cho et al. 2014, reset before), in torch."""

    name = "torch_gru"
    activations = GRUCell.activations
    inits = GRUCell.inits

    def init_params(self, rng: np.random.Generator) -> Params:
        return GRUCell(self.config).init_params(rng)

    def prepare(self, p, x):
        H = self.config.hidden_size
        p["U_rz^T"], p["U_n^T"] = p["W_hh"][: 2 * H].T, p["W_hh"][2 * H :].T
        a = x.matmul(p["W_hx"].T) + p["b_h"]
        return list(zip(a[..., : 2 * H].unbind(0), a[..., 2 * H :].unbind(0)))

    def step(self, p, x_t, h):
        x_rz, x_n = x_t
        r, z = x_rz.addmm(h, p["U_rz^T"]).sigmoid().chunk(2, 1)  # (G1), (G2)
        n = x_n.addmm(r * h, p["U_n^T"]).tanh()  # (G3), (G4)
        return (1 - z) * n + z * h  # (G5)

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        return params["W_hh"]


@hookimpl
def rnnbench_register_cells():
    return [TorchVanilla, TorchLSTM, TorchGRU]
