"""The AntisymmetricRNN (Chang, Chen, Haber & Chi 2019, "AntisymmetricRNN: A
Dynamical System View on Recurrent Neural Networks", ICLR, section 3), the
class a suite selects as ``cell = "antisymmetric"``.

The forward Euler step, of size eps, of an ODE whose Jacobian has purely
imaginary eigenvalues, plus a diffusion gamma:

    h_t = h_{t-1} + eps tanh((W - W^T - gamma I) h_{t-1} + V x_t + b)

and, with ``gated = true``, the paper's gated form, a gate z_t of the same
recurrent matrix:

    z_t = sigma((W - W^T - gamma I) h_{t-1} + V_z x_t + b_z)
    h_t = h_{t-1} + eps z_t * tanh((W - W^T - gamma I) h_{t-1} + V_h x_t + b_h)

The stored parameters: W is ``W_hh`` (H, H), a free matrix; the recurrent
matrix is M = W_hh - W_hh^T - gamma I (:meth:`AntisymmetricRNNCell.recurrent_matrix`),
so only the antisymmetric part of W_hh acts. V is ``W_hx`` (H, I) and b is
``b_h`` (H,); gated, ``W_hx`` = [V_h; V_z] (2H, I) and ``b_h`` = [b_h; b_z]
(2H,). h_t is the hidden state itself, the read-out's input, and
g[t-1] = dL/dh_t as for the vanilla cell. The forward pass and BPTT are
:func:`rnnbench.engine.textbook.antisymmetric_forward` and
``antisymmetric_backward``, equations (AS1)-(AS10); there is no compiled path.

Why it keeps gradients (the paper's section 2-3 argument): dh_t/dh_{t-1} =
I + eps diag(c_t) M, c_t = z_t (1 - u_t^2) + u_t z_t (1 - z_t) (c_t = 1 - u_t^2
without the gate). M + gamma I is antisymmetric, its eigenvalues i w_k purely
imaginary, so near h = 0 the step's eigenvalues are 1 + eps c (i w_k - gamma):
of modulus sqrt((1 - eps c gamma)^2 + (eps c w_k)^2), within O(eps) of 1 --
and at most 1 (the paper's stability condition |1 + eps lambda| <= 1) when
gamma >= eps c (w_k^2 + gamma^2) / 2. Without diffusion (gamma = 0) the Euler
step of the antisymmetric system grows slightly; gamma damps it.

Cell parameters (:class:`AntisymmetricParams`): eps, gamma, the initial scale
sigma_w of W_hh, and ``gated``. The paper searched eps in {0.01, 0.1, 1},
gamma in {0.001, 0.01, 0.1, 1} and sigma_w in {0, 1, 2, 4, 8, 16} per task
(appendix C); the defaults eps = gamma = 0.01, sigma_w = 1 are points of those
grids (the values the per-task table settled on could not be checked here), and
tuning can search them (``cell.eps``, ``cell.gamma``, ``cell.recurrent_std``).

Initialisation: ``normal`` is the paper's (appendix C): W_hx ~ N(0, 1/I),
W_hh ~ N(0, sigma_w^2 / H), biases zero. ``uniform`` (every variant's default)
is the library default of the other built-in cells: W_hx ~ U(-1/sqrt(H),
1/sqrt(H)), W_hh ~ sigma_w U(-1/sqrt(H), 1/sqrt(H)), biases zero. The
summed-input transforms (layer_norm) act at the summed input a_t, site "h",
one block (two, [candidate; gate], gated).

No bound of the form ||W||_2 max|f'| holds for the per-step factor: it is
I + eps diag(c_t) M, |c_t| <= 1, whose norm is at most 1 + eps ||M||_2 but
not ||M||_2 times anything (a diagonal c_t can shear: I + eps diag(1, 0) M
is larger than I + eps M). So :meth:`recurrent_matrix` gives M, whose norm and
spectral radius the run's curves record, and :meth:`max_derivative` is None,
as for the gated cells.

Refused remedy: orthogonal_init. An orthogonal W_hh = Q does not make the
recurrent matrix orthogonal: Q - Q^T has singular values 2 |sin theta_k| (Q's
eigen-angles theta_k), spread over [0, 2], not the equal singular values the
remedy promises; and the antisymmetric structure it would aim at is there by
construction. l2's "recurrent" group decays W_hh: its antisymmetric part,
M + gamma I over 2, and its symmetric part, which the cell never uses.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Cell, Params
from rnnbench.engine import textbook
from rnnbench.engine.initialisation import INITS
from rnnbench.engine.transforms import TransformChain


class AntisymmetricParams(BaseModel):
    """The AntisymmetricRNN's parameters, given in a variant as ``cell_params = { eps = 0.1 }``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    eps: float = Field(0.01, gt=0, description="epsilon, the step size of the forward Euler step (section 3).")
    gamma: float = Field(0.01, ge=0, description="gamma, the diffusion: the recurrent matrix is W - W^T - gamma I.")
    recurrent_std: float = Field(1.0, ge=0, description=(
        "sigma_w, the scale of W_hh at initialisation: N(0, sigma_w^2 / H) (the paper's, appendix C)."))
    gated: bool = Field(False, description="The paper's gated form: h_t = h_{t-1} + eps z_t * tanh(...).")


class AntisymmetricRNNCell(Cell):
    """AntisymmetricRNN: h_t = h_{t-1} + eps tanh(M h_{t-1} + W_hx x_t + b_h),
    M = W_hh - W_hh^T - gamma I; gated, times the gate z_t = sigma(M h_{t-1} + V_z x_t + b_z).

    Parameters: W_hh (H, H) (only W_hh - W_hh^T acts), W_hx (H, I) or (2H, I)
    gated, b_h (H,) or (2H,). g[t-1] = dL/dh_t. ``max_derivative`` is the base class's,
    None: no bound ||M||_2 max|f'| holds for the step I + eps diag(c_t) M.
    """

    name = "antisymmetric"
    Params = AntisymmetricParams
    activations = ("tanh",)
    inits = INITS
    refused_remedies = {
        "orthogonal_init": "its recurrent matrix is W_hh - W_hh^T - gamma I; an orthogonal W_hh gives "
                           "W_hh - W_hh^T singular values 2|sin theta| spread over [0, 2], not orthogonal",
    }

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        given = config.cell_params
        self.hyper = given if isinstance(given, AntisymmetricParams) else AntisymmetricParams()
        self.blocks = 2 if self.hyper.gated else 1
        self.chain = TransformChain(self.transforms, "h", self.blocks, config.hidden_size)

    def init_params(self, rng: np.random.Generator) -> Params:
        c = self.config
        H, I, G = c.hidden_size, c.input_size, self.blocks
        sigma_w = self.hyper.recurrent_std
        if c.init == "normal":
            W_hx = rng.normal(0.0, 1.0 / np.sqrt(I), (G * H, I))
            W_hh = rng.normal(0.0, sigma_w / np.sqrt(H), (H, H))
        else:
            bound = 1.0 / np.sqrt(H)
            W_hx = rng.uniform(-bound, bound, (G * H, I))
            W_hh = sigma_w * rng.uniform(-bound, bound, (H, H))
        params = {"W_hx": W_hx, "W_hh": W_hh, "b_h": np.zeros(G * H)}
        params.update(self.chain.init_params(c.dtype))
        return {name: v.astype(c.dtype) for name, v in params.items()}

    def forward(self, params: Params, x: np.ndarray, state=None):
        """h_1..h_T, (T, B, H), and the cache; from h_0 = ``state`` (B, H) if
        given, else zero (a Network always starts from zero)."""
        h = self.hyper
        steps = textbook.antisymmetric_forward(
            params["W_hx"], params["W_hh"], params["b_h"], x, h.eps, h.gamma, h.gated, self.chain, params, state,
        )
        return steps.h[1:], steps

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        # loss_steps is not needed: the textbook recursion adds every d_t
        grads = self.chain.zero_grads(params)
        (dW_hx, dW_hh, db_h), g = textbook.antisymmetric_backward(
            cache, dh_out, self.hyper.eps, self.hyper.gated, self.chain, params, grads, truncate,
        )
        grads.update(W_hx=dW_hx, W_hh=dW_hh, b_h=db_h)
        return grads, g

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        """M = W_hh - W_hh^T - gamma I (AS1). The per-step factor is I + eps diag(c_t) M,
        |c_t| <= 1, of norm at most 1 + eps ||M||_2: not ||M||_2 times a slope, hence
        :meth:`max_derivative` None."""
        return textbook.antisymmetric_matrix(params["W_hh"], self.hyper.gamma)
