"""The independently recurrent neural network (IndRNN; Li, Li, Cook, Zhu & Gao
2018, "Independently Recurrent Neural Network (IndRNN): Building A Longer and
Deeper RNN", CVPR, eqs. 2-4 and sections 3.1-3.2), the class a suite selects as
``cell = "indrnn"``. A stack of L layers (the cell parameter ``layers``) of

    h^l_t = f(W^l_hx h^(l-1)_t + u^l * h^l_{t-1} + b^l_h),    h^0_t = x_t,

one recurrent weight u_n per unit and layer (a vector), so that the units are
independent of each other through time: the gradient reaching unit n of a layer
at step t from step T along its own recurrence is u_n^(T-t) f'(...) ... f'(...)
times the one at T (the paper's eq. 4). h_t, what the read-out reads, is the
top layer's state h^L_t. Its forward pass and BPTT are
:func:`rnnbench.engine.textbook.indrnn_stack_forward` and
``indrnn_stack_backward`` (equations (IR1)-(IR7)); there is no compiled path.

Why a stack. One layer cannot solve the adding problem: each unit is a
one-dimensional system linear in its input, so it cannot keep a marked value
and ignore the others. Li et al. stack two layers of 128 units for it (the
adding problem, section 4.1; the authors' adding/adding.py builds the same two
layers), hence ``layers = 2`` by default; ``layers = 1`` is the plain cell.

Parameter names. Layer 1 keeps the one-layer cell's W_hx (H, I), W_hh (u, (H,))
and b_h (H,), so that the remedies that name them act on it as before; layer
l >= 2 has W_hx.l (H, H), W_hh.l (H,) and b_h.l (H,). l2's groups cover every
layer ("recurrent": W_hh and each W_hh.l; "input": W_hx and each W_hx.l). The
summed-input transforms (layer_norm) act at every layer's summed input, at site
"h" for layer 1 (parameters ``layer_norm.h.*``) and "h<l>" for layer l
(``layer_norm.h2.*``, ...).

The bound on u (section 3.1). A unit whose gradient must neither explode nor
vanish over T steps needs |u_n|^T in a fixed range; with relu (f' is 0 or 1) the
paper relaxes the range to |u_n| in [0, gamma^(1/T)], gamma the largest
growth of a gradient it allows, and for the adding problem it takes gamma = 2:
|u_n| < 2^(1/T). The authors' code for the adding problem
(Sunnydreamrain/IndRNN_Theano_Lasagne, adding/adding.py: MAG = 2) clips u to
[-2^(1/T), 2^(1/T)] in every layer before every update and draws u ~ U(0, 2^(1/T))
in its first layer, U(2^(-1/T), 2^(1/T)) in its last, as :meth:`IndRNNCell.init_params`
does (a single layer counts as a first one). Here gamma is the cell parameter
``magnitude`` (default 2) and T is ``bound_steps``: the cell is not told the
sequence length, so a suite gives it -- the longest length the suite runs,
since the bound magnitude^(1/bound_steps) then keeps the growth over every
shorter sequence below ``magnitude`` as well. :meth:`IndRNNCell.constrain`
clips every layer's u to the bound after every update.

The report's figures. The decay profile is that of g_t = dL/dh^L_t, the top
layer's total gradient (what ``backward`` returns), and ``recurrent_matrix`` is
diag(u^L), the top layer's: with a loss at the last step only, g^L_t =
u^L * f'(z^L_{t+1}) * g^L_{t+1}, so max_n |u^L_n| max|f'| bounds that profile's
per-step factor. The layers below have profiles of their own, g^l_t =
dL/dh^l_t, under the names "h1", ..., "h<L-1>" (``state_profiles``); their
decay also depends on what the layers above pass down, which no u bounds alone.

Deviations, each a choice the paper leaves open: read out linearly from the top
layer (the authors' too) with no batch normalisation between layers (the paper
adds it in its deeper networks; ``layer_norm`` is the nearest remedy here); W_hx
by the variant's ``init`` as for the vanilla cell (the authors' adding code draws
it from N(0, 0.001^2)); the same bound and initialisation for tanh as for relu
(max|tanh'| = 1, so the bound on the growth holds; the authors' code loosens it
by 0.9^(-1/10) for tanh).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Cell, Params
from rnnbench.engine import textbook
from rnnbench.engine.activations import activation
from rnnbench.engine.initialisation import INITS
from rnnbench.engine.transforms import TransformChain


class IndRNNParams(BaseModel):
    """The IndRNN's parameters, given in a variant as
    ``cell_params = { bound_steps = 400 }``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layers: int = Field(
        2, ge=1,
        description="Number of stacked IndRNN layers, each of hidden_size units; the read-out reads "
        "the top one. Li et al. 2018 stack two for the adding problem (section 4.1); one layer "
        "cannot solve it.",
    )
    magnitude: float = Field(
        2.0, gt=1.0,
        description="gamma of Li et al. 2018 (section 3.1; MAG in the authors' code): the largest "
        "factor by which a unit's gradient may grow over bound_steps steps; each |u_n| is kept "
        "at most magnitude^(1/bound_steps).",
    )
    bound_steps: int = Field(
        1000, ge=1,
        description="T of the bound magnitude^(1/T) on |u_n| (the paper takes the sequence length). "
        "Give the longest sequence the suite runs: the bound then holds at every shorter one.",
    )
    memory_init: bool = Field(
        False,
        description="Draw every layer's u from U(magnitude^(-1/T), magnitude^(1/T)), every unit with "
        "a long memory, instead of U(0, magnitude^(1/T)) in all layers but the top one of a stack "
        "(the authors' initialisation: the top layer of a stack always has the long memory).",
    )

    @property
    def recurrent_max(self) -> float:
        """The bound on |u_n|: magnitude^(1/bound_steps)."""
        return self.magnitude ** (1.0 / self.bound_steps)

    @property
    def recurrent_min(self) -> float:
        """The lower end of ``memory_init``: magnitude^(-1/bound_steps)."""
        return self.magnitude ** (-1.0 / self.bound_steps)


def layer_names(layer: int) -> tuple[str, str, str]:
    """The names of layer ``layer``'s (1-based) W_hx, u and b_h: those of the
    one-layer cell for layer 1, with the suffix ".<layer>" above it."""
    suffix = "" if layer == 1 else f".{layer}"
    return f"W_hx{suffix}", f"W_hh{suffix}", f"b_h{suffix}"


class IndRNNCell(Cell):
    """IndRNN: ``layers`` stacked layers h^l_t = f(W^l_hx h^(l-1)_t + u^l * h^l_{t-1}
    + b^l_h), h^0_t = x_t; h_t, what the read-out reads, is the top layer's h^L_t.
    Layer 1's parameters are W_hx, W_hh (its u) and b_h; layer l's W_hx.l, W_hh.l, b_h.l.

    Activations relu (the paper's, first) and tanh; a variant that names none
    gets the variant default, tanh: write ``activation = "relu"``.
    Initialisation: u ~ U(0, magnitude^(1/bound_steps)) in every layer but the
    top one of a stack, U(magnitude^(-1/bound_steps), magnitude^(1/bound_steps))
    in that one (and in every layer with ``memory_init``); W_hx by ``init`` --
    ``uniform`` U(-1/sqrt(H), 1/sqrt(H)), ``normal`` N(0, 1/fan-in); b = 0. The
    summed-input transforms (layer_norm) act at every layer, at sites "h", "h2", ...
    """

    name = "indrnn"
    Params = IndRNNParams
    activations = ("relu", "tanh")
    inits = INITS
    refused_remedies = {
        "orthogonal_init": "its W_hh is the vector u of one recurrent weight per unit, not a matrix",
    }

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        self.activation = activation(config.activation, **config.activation_params)
        given = config.cell_params
        self.hyper = given if isinstance(given, IndRNNParams) else IndRNNParams()
        H, L = config.hidden_size, self.hyper.layers
        self.chains = [TransformChain(self.transforms, "h" if l == 1 else f"h{l}", 1, H) for l in range(1, L + 1)]
        self.names = [layer_names(l) for l in range(1, L + 1)]

    def init_params(self, rng: np.random.Generator) -> Params:
        c, hyper = self.config, self.hyper
        H, L = c.hidden_size, hyper.layers
        params = {}
        for l, (W_name, u_name, b_name) in enumerate(self.names, start=1):
            fan_in = c.input_size if l == 1 else H
            if c.init == "uniform":
                W_hx = rng.uniform(-1.0 / np.sqrt(H), 1.0 / np.sqrt(H), (H, fan_in))
            else:
                W_hx = rng.normal(0.0, 1.0 / np.sqrt(fan_in), (H, fan_in))
            long_memory = hyper.memory_init or (L > 1 and l == L)  # the authors' top layer
            low = hyper.recurrent_min if long_memory else 0.0
            params.update({W_name: W_hx, u_name: rng.uniform(low, hyper.recurrent_max, H), b_name: np.zeros(H)})
        for chain in self.chains:
            params.update(chain.init_params(c.dtype))
        return {k: v.astype(c.dtype) for k, v in params.items()}

    def weights(self, params: Params) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(W^l_hx, u^l, b^l_h) of every layer, from l = 1."""
        return [tuple(params[n] for n in names) for names in self.names]

    def forward(self, params: Params, x: np.ndarray, h0=None):
        """h_1..h_T of the top layer, from the zero state, or from ``h0``: every
        layer's initial state, a list from l = 1 (or, with one layer, its (B, H) array)."""
        if h0 is not None and self.hyper.layers == 1 and np.ndim(h0) == 2:
            h0 = [h0]
        stack = textbook.indrnn_stack_forward(self.weights(params), x, self.activation, self.chains, params, h0)
        return stack.h[1:], stack

    def _backward(self, params, cache, dh_out, truncate=None):
        grads = {}
        for chain in self.chains:
            grads.update(chain.zero_grads(params))
        found, g = textbook.indrnn_stack_backward(
            self.weights(params), cache, dh_out, self.activation, self.chains, params, grads, truncate
        )
        for names, values in zip(self.names, found):
            grads.update(zip(names, values))
        return grads, g

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        # loss_steps is not needed: the textbook recursion adds every d_t
        grads, g = self._backward(params, cache, dh_out, truncate)
        return grads, g[-1]

    def state_profiles(self, params: Params, cache, dh_out: np.ndarray) -> dict[str, np.ndarray]:
        """The layers below the top one: "h<l>" for g^l_t = dL/dh^l_t, l = 1..L-1,
        norms[d] = mean over the batch of ||dL/dh^l_{T-d}|| by full BPTT (none for one layer)."""
        if self.hyper.layers == 1:
            return {}
        _, g = self._backward(params, cache, dh_out)
        return {f"h{l}": np.linalg.norm(g[l - 1].astype(np.float64), axis=2).mean(axis=1)[::-1]
                for l in range(1, self.hyper.layers)}

    def constrain(self, params: Params) -> None:
        """|u^l_n| <= magnitude^(1/bound_steps) in every layer, by clipping (the authors' code)."""
        bound = self.hyper.recurrent_max
        for _, u_name, _ in self.names:
            np.clip(params[u_name], -bound, bound, out=params[u_name])

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        """diag(u^L), the top layer's (W_hh for one layer): its per-step Jacobian is
        diag(u^L * f'), so ||diag(u^L)||_2 max|f'| = max_n |u^L_n| bounds the per-step
        factor of the decay profile the report draws, that of dL/dh^L_t. It bounds
        nothing about the layers below."""
        return np.diag(params[self.names[-1][1]])

    def max_derivative(self) -> float:
        return self.activation.max_derivative

