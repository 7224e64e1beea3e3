"""The linear recurrent unit (LRU), whole: the class a suite selects as
``cell = "lru"`` (:class:`LRUCell`: its parameters, initialisation and cell
parameters). Its forward pass and BPTT are the textbook ones,
:func:`rnnbench.engine.textbook.lru_forward` and ``lru_backward``, equations
(LRU1)-(LRU12); there is no fast path.

Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De 2023, "Resurrecting
Recurrent Neural Networks for Long Sequences" (ICML), sections 3.1-3.3 and
appendix A. A diagonal complex linear recurrence of N units,

    s_t = lambda * s_{t-1} + gamma * (B x_t),   lambda = exp(-exp(nu) + i exp(theta)),

whose per-step factor is |lambda_n| = exp(-exp(nu_n)) < 1 by construction (the
paper's "stable exponential parametrisation", section 3.3), read out as

    h_t = f(Re(C s_t) + D x_t).

Choices where the paper leaves one open, and why:

- h_t, what the network's read-out W_hy h_t + b_y sees (width hidden_size H):
  f(y_t) with y_t = Re(C s_t) + D x_t the LRU layer's output (the paper's, with
  D a full real (H, I) matrix instead of a diagonal, since the input width I of
  our tasks is not H). The paper follows the layer with a non-linear MLP/GLU
  and a residual connection in a stack of blocks; one element-wise f is the
  smallest non-linear layer that keeps a single block comparable with the other
  cells (one recurrent layer, then the linear read-out). f is the variant's
  ``activation``: ``gelu`` (exact, x Phi(x): the non-linearity of the paper's
  block) or ``tanh`` (the default of every variant).
- gamma = exp(gamma_log) is learned, initialised to sqrt(1 - |lambda|^2), as
  in the paper's pseudo-code (appendix A), not recomputed from lambda.
- the state's gradient. The recurrence carries gradient through s_t, not
  through h_t (h_t reaches the loss only through the read-out of step t), so
  :meth:`LRUCell.backward` returns as g the gradient of the complex state,
  g[t-1] = [dL/dRe s_t, dL/dIm s_t], (T, B, 2N): the real and imaginary parts
  of G_t = dL/dRe s_t + i dL/dIm s_t (twice the Wirtinger derivative
  dL/d conj(s_t)). Its Euclidean norm, the one Network.decay_profile draws, is
  |G_t| = ||dL/ds_t|| of s_t seen as a real 2N-vector. With a loss at the last
  step only, G_t = conj(lambda)^(T-t) G_T unit by unit: the profile falls by at
  most max|lambda| a step, which is the bound the cell reports
  (``recurrent_matrix`` = diag(|lambda|), ``max_derivative`` = 1).

Initialisation (appendix A): |lambda| uniform on the area of the ring
r_min <= |lambda| <= r_max, nu = log(-log(|lambda|)) with
|lambda|^2 = u (r_max^2 - r_min^2) + r_min^2, u ~ U(0, 1); the phase
exp(theta) ~ U(0, max_phase); B_re, B_im ~ N(0, 1 / (2 I)); C_re, C_im ~
N(0, 1 / N); D ~ N(0, 1 / I) (the paper's diagonal D ~ N(0, 1) gives each
output one input of unit weight; a full (H, I) matrix at 1 / I gives it the
same variance); gamma_log = log sqrt(1 - |lambda|^2). The defaults r_min = 0,
r_max = 1, max_phase = 2 pi are those of the paper's pseudo-code; for its
long-range tasks the paper moves the ring towards the unit circle and narrows
the phase (section 3.3), which the cell parameters allow and tuning can search.

The cell has no W_hh matrix and no summed input before a non-linearity inside
its recurrence, so it refuses the remedies that act on those: orthogonal_init,
l2 (whose groups name W_hh and W_hx) and layer_norm (``takes_transforms``
False); identity_init, chrono_init and leaky_relu refuse it themselves.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rnnbench.api import Cell, Params
from rnnbench.engine import textbook
from rnnbench.engine.activations import TANH, Activation

PARAMS = ("nu_log", "theta_log", "gamma_log", "B_re", "B_im", "C_re", "C_im", "D")


def _ndtr(a: np.ndarray) -> np.ndarray:
    """Phi(a), the standard normal distribution function. scipy is imported on
    the first call, not with the module: the verbs that draw nothing
    (``rnnbench plugins``, ``validate``) load the cells but not scipy."""
    from scipy.special import ndtr

    return ndtr(a)


def _gelu_derivative(a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """GELU'(a) = Phi(a) + a phi(a)."""
    return _ndtr(a) + a * np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)


# GELU (Hendrycks & Gimpel 2016), exact: f(a) = a Phi(a), Phi the standard normal
# distribution function. max |f'| = Phi(sqrt(2)) + sqrt(2) phi(sqrt(2)) ~ 1.129, at a = sqrt(2).
GELU = Activation(
    "gelu",
    lambda a, out=None: np.multiply(a, _ndtr(a), out=out),
    _gelu_derivative,
    0.5 * (1.0 + math.erf(1.0)) + math.sqrt(2.0) * math.exp(-1.0) / math.sqrt(2.0 * math.pi),
)

ACTIVATIONS = {"gelu": GELU, "tanh": TANH}


class LRUParams(BaseModel):
    """The LRU's cell parameters, e.g. ``cell_params = { r_min = 0.9, r_max = 0.999 }``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    r_min: float = Field(0.0, ge=0.0, lt=1.0, description=(
        "Smallest |lambda| at initialisation: eigenvalues start uniform on the ring r_min <= |lambda| <= r_max."))
    r_max: float = Field(1.0, gt=0.0, le=1.0, description="Largest |lambda| at initialisation (see r_min).")
    max_phase: float = Field(2 * math.pi, gt=0.0, le=2 * math.pi, description=(
        "Largest phase arg(lambda) at initialisation: phases start uniform on [0, max_phase]."))
    state_size: int | None = Field(None, ge=1, description=(
        "N, the number of complex units of the recurrence; the hidden size if not given."))

    @model_validator(mode="after")
    def _ring(self):
        if self.r_min >= self.r_max:
            raise ValueError(f"r_min ({self.r_min}) must be smaller than r_max ({self.r_max})")
        return self


class LRUCell(Cell):
    """Linear recurrent unit (Orvieto et al. 2023), a diagonal complex linear recurrence.

    s_t = lambda * s_{t-1} + gamma * (B x_t), h_t = f(Re(C s_t) + D x_t), f GELU or tanh.

    Parameters (all real): nu_log, theta_log, gamma_log (N,); B_re, B_im (N, I);
    C_re, C_im (H, N); D (H, I). ``backward`` returns as g the gradient of the
    complex state s_t as [Re, Im], (T, B, 2N) (see the module docstring). The
    one initialisation, ``uniform``, is the paper's: |lambda| uniform on the
    ring's area.
    """

    name = "lru"
    Params = LRUParams
    activations = ("gelu", "tanh")
    inits = ("uniform",)
    takes_transforms = False
    refused_remedies = {
        "orthogonal_init": "the LRU has no W_hh matrix: its recurrence is the diagonal lambda, kept "
                           "inside the unit circle by its parametrisation",
        "l2": "its groups name W_hh and W_hx, which the LRU does not have (its weights are nu, theta, "
              "gamma, B, C and D)",
    }

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        self.activation = ACTIVATIONS[config.activation]
        given = config.cell_params if isinstance(config.cell_params, LRUParams) else LRUParams()
        self.given = given
        self.state_size = given.state_size or config.hidden_size

    def init_params(self, rng: np.random.Generator) -> Params:
        c, p, N = self.config, self.given, self.state_size
        H, I = c.hidden_size, c.input_size
        u1, u2 = rng.uniform(size=N), rng.uniform(size=N)
        # |lambda|^2 uniform on [r_min^2, r_max^2]: |lambda| uniform on the ring's area
        nu_log = np.log(-0.5 * np.log(u1 * (p.r_max**2 - p.r_min**2) + p.r_min**2))
        theta_log = np.log(p.max_phase * u2)
        modulus = np.exp(-np.exp(nu_log))
        params = {
            "nu_log": nu_log,
            "theta_log": theta_log,
            "gamma_log": np.log(np.sqrt(1.0 - modulus**2)),
            "B_re": rng.normal(0.0, 1.0 / np.sqrt(2 * I), (N, I)),
            "B_im": rng.normal(0.0, 1.0 / np.sqrt(2 * I), (N, I)),
            "C_re": rng.normal(0.0, 1.0 / np.sqrt(N), (H, N)),
            "C_im": rng.normal(0.0, 1.0 / np.sqrt(N), (H, N)),
            "D": rng.normal(0.0, 1.0 / np.sqrt(I), (H, I)),
        }
        return {k: v.astype(c.dtype) for k, v in params.items()}

    def forward(self, params: Params, x: np.ndarray, state=None):
        """h_1..h_T, (T, B, H), and the cache; from s_0 = ``state`` ((B, N)
        complex) if given, else zero (a Network always starts from zero)."""
        cache = textbook.lru_forward(*(params[k] for k in PARAMS), x, self.activation, state)
        return cache.h, cache

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        """The parameters' gradients and g, g[t-1] = [dL/dRe s_t, dL/dIm s_t] (T, B, 2N)."""
        grads, g = textbook.lru_backward(*(params[k] for k in PARAMS[:-1]), cache, dh_out,
                                         self.activation, truncate)
        return dict(zip(PARAMS, grads)), g

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        """diag(|lambda|), |lambda| = exp(-exp(nu)): the per-step factor of the
        state's gradient, G_t = conj(lambda) * G_{t+1} + ..., unit by unit."""
        return np.diag(np.exp(-np.exp(params["nu_log"])))

    def max_derivative(self) -> float:
        """1: the recurrence is linear, so ||diag(|lambda|)||_2 = max |lambda| is
        itself the bound on the per-step factor of the state's gradient."""
        return 1.0
