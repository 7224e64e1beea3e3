"""The independently recurrent neural network (IndRNN; Li, Li, Cook, Zhu & Gao
2018, "Independently Recurrent Neural Network (IndRNN): Building A Longer and
Deeper RNN", CVPR, eqs. 2-4 and section 3.1), the class a suite selects as
``cell = "indrnn"``:

    h_t = f(W_hx x_t + u * h_{t-1} + b_h),

one recurrent weight u_n per unit (a vector, stored as ``W_hh``, shape (H,)),
so that the units are independent of each other through time: the gradient
reaching unit n at step t from step T is u_n^(T-t) f'(...) ... f'(...) times
the one at T (the paper's eq. 4). h_t is what the read-out reads. Its forward
pass and BPTT are :func:`rnnbench.engine.textbook.indrnn_forward` and
``indrnn_backward`` (equations (IR1)-(IR6)); there is no compiled path.

The bound on u (section 3.1). A unit whose gradient must neither explode nor
vanish over T steps needs |u_n|^T in a fixed range; with relu (f' is 0 or 1) the
paper relaxes the range to |u_n| in [0, gamma^(1/T)], gamma the largest
growth of a gradient it allows, and for the adding problem (section 5.1) it
takes gamma = 2: |u_n| < 2^(1/T). The authors' code for the adding problem
(Sunnydreamrain/IndRNN_Theano_Lasagne, adding/adding.py: MAG = 2) clips u to
[-2^(1/T), 2^(1/T)] before every update and draws u ~ U(0, 2^(1/T)) in its first
layer, U(2^(-1/T), 2^(1/T)) in its last. Here gamma is the cell parameter
``magnitude`` (default 2) and T is ``bound_steps``: the cell is not told the
sequence length, so a suite gives it -- the longest length the suite runs,
since the bound magnitude^(1/bound_steps) then keeps the growth over every
shorter sequence below ``magnitude`` as well. :meth:`IndRNNCell.constrain`
clips u to the bound after every update, and the initialisation draws it inside.

Deviations, each a choice the paper leaves open: one layer, read out linearly
(the paper stacks two for the adding problem, with batch normalisation between
layers in its deeper networks; ``layer_norm`` is the nearest remedy here, applied
to the summed input a_t); W_hx by the variant's ``init`` as for the vanilla
cell (the authors' adding code draws it from N(0, 0.001^2)); the same bound
and initialisation for tanh as for relu (max|tanh'| = 1, so the bound on the
growth holds; the authors' code loosens it by 0.9^(-1/10) for tanh).
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
        description="Draw u from U(magnitude^(-1/T), magnitude^(1/T)), every unit with a long "
        "memory (the authors' last layer), instead of U(0, magnitude^(1/T)).",
    )

    @property
    def recurrent_max(self) -> float:
        """The bound on |u_n|: magnitude^(1/bound_steps)."""
        return self.magnitude ** (1.0 / self.bound_steps)

    @property
    def recurrent_min(self) -> float:
        """The lower end of ``memory_init``: magnitude^(-1/bound_steps)."""
        return self.magnitude ** (-1.0 / self.bound_steps)


class IndRNNCell(Cell):
    """IndRNN, h_t = f(W_hx x_t + u * h_{t-1} + b_h), u = ``W_hh`` (H,); h_t is
    the state the read-out reads.

    Activations relu (the paper's, first) and tanh; a variant that names none
    gets the variant default, tanh: write ``activation = "relu"``.
    Initialisation: u ~ U(0, magnitude^(1/bound_steps)) (or from
    magnitude^(-1/bound_steps) with ``memory_init``); W_hx by ``init`` --
    ``uniform`` U(-1/sqrt(H), 1/sqrt(H)), ``normal`` N(0, 1/I); b_h = 0. The
    summed-input transforms (layer_norm) act at one site, "h".
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
        self.chain = TransformChain(self.transforms, "h", 1, config.hidden_size)
        given = config.cell_params
        self.hyper = given if isinstance(given, IndRNNParams) else IndRNNParams()

    def init_params(self, rng: np.random.Generator) -> Params:
        c, hyper = self.config, self.hyper
        H, I = c.hidden_size, c.input_size
        if c.init == "uniform":
            W_hx = rng.uniform(-1.0 / np.sqrt(H), 1.0 / np.sqrt(H), (H, I))
        else:
            W_hx = rng.normal(0.0, 1.0 / np.sqrt(I), (H, I))
        low = hyper.recurrent_min if hyper.memory_init else 0.0
        params = {"W_hx": W_hx, "W_hh": rng.uniform(low, hyper.recurrent_max, H), "b_h": np.zeros(H)}
        params.update(self.chain.init_params(c.dtype))
        return {k: v.astype(c.dtype) for k, v in params.items()}

    def forward(self, params: Params, x: np.ndarray):
        steps = textbook.indrnn_forward(
            params["W_hx"], params["W_hh"], params["b_h"], x, self.activation, self.chain, params
        )
        return steps.h[1:], steps

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        # loss_steps is not needed: the textbook recursion adds every d_t
        grads = self.chain.zero_grads(params)
        (dW_hx, du, db_h), g = textbook.indrnn_backward(
            params["W_hh"], cache, dh_out, self.activation, self.chain, params, grads, truncate
        )
        grads.update(W_hx=dW_hx, W_hh=du, b_h=db_h)
        return grads, g

    def constrain(self, params: Params) -> None:
        """|u_n| <= magnitude^(1/bound_steps), by clipping (the authors' code)."""
        bound = self.hyper.recurrent_max
        np.clip(params["W_hh"], -bound, bound, out=params["W_hh"])

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        """diag(u): the per-step Jacobian is diag(u * f'), so ||diag(u)||_2 max|f'| = max_n |u_n|
        bounds the per-step factor of the gradient."""
        return np.diag(params["W_hh"])

    def max_derivative(self) -> float:
        return self.activation.max_derivative
