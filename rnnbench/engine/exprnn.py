"""The expRNN, whole: the class a suite selects as ``cell = "exprnn"``
(:class:`ExpRNNCell`: its parameters, initialisation and cell parameters). Its
forward pass and BPTT are the textbook ones,
:func:`rnnbench.engine.textbook.exprnn_forward` and ``exprnn_backward``,
equations (E1)-(E10); there is no fast path.

Lezcano-Casado & Martinez-Rubio 2019, "Cheap Orthogonal Constraints in Neural
Networks: A Simple Parametrization of the Orthogonal and Unitary Group" (ICML),
sections 3-4, and the authors' public code (github.com/Lezcano/expRNN):

    h_t = f(W_hx x_t + W_hh h_{t-1}; b_h),   W_hh = expm(A),   A = P - P^T,

P the strict upper triangle of the stored parameter ``A_hh`` (H, H). The
exponential of a skew-symmetric matrix is orthogonal, so W_hh stays orthogonal
at every step of training, whatever the optimiser does to A_hh: ||W_hh||_2 = 1,
and with max |f'| = 1 the per-step gradient factor is at most 1
(``recurrent_matrix`` = expm(A), ``max_derivative`` = 1). W_hh is computed once
per forward pass (scipy.linalg.expm), and dL/dA once per backward pass from
dL/dW_hh by the Frechet derivative of the matrix exponential
(scipy.linalg.expm_frechet), then projected on P (equations (E9)-(E10)).

h_t is the hidden state itself, the read-out's input, and g[t-1] = dL/dh_t as
for the vanilla cell.

The non-linearity is the variant's ``activation``: ``modrelu`` (the paper's, in
its real form f(a; b) = sign(a) max(|a| + b, 0), Arjovsky, Shah & Bengio 2016)
or ``tanh`` (f(a; b) = tanh(a + b), the default of every variant). b_h is the
non-linearity's bias either way; the input product has none, as in the authors'
code.

Initialisation: A by the cell parameter ``a_init`` (the authors' code,
initialization.py): ``henaff`` (Henaff, Szlam & LeCun 2016; the default of
their copying task), A block-diagonal with 2 x 2 blocks [[0, s], [-s, 0]],
s ~ U(-pi, pi), so W_hh is a block-diagonal of rotations by angles uniform on
(-pi, pi); or ``cayley`` (Helfrich, Willmott & Ye 2018), s = -sqrt((1 - cos u) /
(1 + cos u)), u ~ U(0, pi/2). W_hx: the variant's ``init``, ``uniform``
U(-1/sqrt(H), 1/sqrt(H)) as for every built-in cell, or ``normal`` N(0, 2 / I),
the authors' (Kaiming normal for a ReLU-like f). b_h: U(-0.01, 0.01) for
modReLU (the authors'), zero for tanh.

The authors train A_hh with a learning rate ten times smaller than the other
parameters' (their README); rnnbench gives every parameter the variant's one
learning rate.

Refused remedies: orthogonal_init (W_hh is a function of A_hh, orthogonal
already), l2 (its "recurrent" group names a W_hh parameter, which this cell does
not have; decaying A_hh would pull W_hh towards the identity, another remedy)
and layer_norm (``takes_transforms`` False: a normalised summed input would
undo the norm preservation the cell is for).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Cell, Params
from rnnbench.engine import textbook
from rnnbench.engine.initialisation import INITS

PARAMS = ("W_hx", "A_hh", "b_h")


@dataclasses.dataclass(frozen=True)
class BiasedActivation:
    """h = f(a; b) and its two partial derivatives, each from (a, b, h)."""

    name: str
    forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    da: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    db: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _modrelu(a, b):
    return np.sign(a) * np.maximum(np.abs(a) + b, 0.0)


MODRELU = BiasedActivation(
    "modrelu",
    _modrelu,
    lambda a, b, h: (np.abs(a) + b > 0).astype(a.dtype),  # d/da sign(a)(|a| + b) = 1 where active
    lambda a, b, h: np.sign(a) * (np.abs(a) + b > 0),
)
TANH = BiasedActivation(
    "tanh",
    lambda a, b: np.tanh(a + b),
    lambda a, b, h: 1.0 - h * h,
    lambda a, b, h: 1.0 - h * h,
)
ACTIVATIONS = {"modrelu": MODRELU, "tanh": TANH}


class ExpRNNParams(BaseModel):
    """The expRNN's cell parameters, e.g. ``cell_params = { a_init = "cayley" }``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    a_init: Literal["henaff", "cayley"] = Field("henaff", description=(
        "Initialisation of the skew-symmetric A (W_hh = expm(A)): 'henaff' (rotations by angles "
        "uniform on (-pi, pi), the paper's for the copying task) or 'cayley'."))


def initial_skew(rng: np.random.Generator, H: int, a_init: str) -> np.ndarray:
    """P (H, H), zero but for P[2k, 2k+1] = s_k, k < H // 2: A = P - P^T is
    block-diagonal with blocks [[0, s_k], [-s_k, 0]] (the authors' create_diag_)."""
    if a_init == "henaff":
        s = rng.uniform(-np.pi, np.pi, H // 2)
    else:
        u = rng.uniform(0.0, np.pi / 2, H // 2)
        s = -np.sqrt((1.0 - np.cos(u)) / (1.0 + np.cos(u)))
    P = np.zeros((H, H))
    k = np.arange(H // 2)
    P[2 * k, 2 * k + 1] = s
    return P


class ExpRNNCell(Cell):
    """expRNN (Lezcano-Casado & Martinez-Rubio 2019): W_hh = expm(A), A skew-symmetric.

    h_t = f(W_hx x_t + expm(A) h_{t-1}; b_h), A = P - P^T, P the strict upper
    triangle of A_hh; f modReLU or tanh.

    Parameters: W_hx (H, I), A_hh (H, H) (only its strict upper triangle is used),
    b_h (H,). g[t-1] = dL/dh_t.
    """

    name = "exprnn"
    Params = ExpRNNParams
    activations = ("modrelu", "tanh")
    inits = INITS
    takes_transforms = False
    refused_remedies = {
        "orthogonal_init": "its W_hh = expm(A) is orthogonal by construction, a function of A_hh "
                           "that an initialisation of W_hh cannot set",
        "l2": "its 'recurrent' group names W_hh, which this cell computes as expm(A) rather than "
              "stores; decaying A would pull W_hh towards the identity",
    }

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        self.activation = ACTIVATIONS[config.activation]
        self.given = config.cell_params if isinstance(config.cell_params, ExpRNNParams) else ExpRNNParams()

    def init_params(self, rng: np.random.Generator) -> Params:
        c = self.config
        H, I = c.hidden_size, c.input_size
        if c.init == "uniform":
            W_hx = rng.uniform(-1.0 / np.sqrt(H), 1.0 / np.sqrt(H), (H, I))
        else:
            W_hx = rng.normal(0.0, np.sqrt(2.0 / I), (H, I))
        A_hh = initial_skew(rng, H, self.given.a_init)
        b_h = rng.uniform(-0.01, 0.01, H) if self.activation is MODRELU else np.zeros(H)
        return {k: v.astype(c.dtype) for k, v in {"W_hx": W_hx, "A_hh": A_hh, "b_h": b_h}.items()}

    def forward(self, params: Params, x: np.ndarray, state=None):
        """h_1..h_T, (T, B, H), and the cache; from h_0 = ``state`` (B, H) if
        given, else zero (a Network always starts from zero)."""
        cache = textbook.exprnn_forward(*(params[k] for k in PARAMS), x, self.activation, state)
        return cache.h[1:], cache

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        grads, g = textbook.exprnn_backward(params["b_h"], cache, dh_out, self.activation, truncate)
        return dict(zip(PARAMS, grads)), g

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        """W_hh = expm(A), orthogonal: ||W_hh||_2 = 1."""
        return textbook.orthogonal(params["A_hh"])

    def max_derivative(self) -> float:
        """1: modReLU's derivative is 0 or 1, tanh's at most 1."""
        return 1.0
