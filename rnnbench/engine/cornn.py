"""The coupled oscillatory recurrent neural network (coRNN; Rusch & Mishra 2021,
"Coupled Oscillatory Recurrent Neural Network (coRNN): An accurate and
(gradient) stable architecture for learning long time dependencies", ICLR,
eq. 3), the class a suite selects as ``cell = "cornn"``.

A network of damped, driven oscillators y'' = tanh(W y + Wz y' + V x + b) -
gamma y - epsilon y', stepped with dt by the paper's implicit-explicit scheme:

    z_n = z_{n-1} + dt (tanh(W_hh y_{n-1} + W_hz z_{n-1} + W_hx x_n + b_h) - gamma y_{n-1} - epsilon z_{n-1})
    y_n = y_{n-1} + dt z_n

Two states: the position y_n, which is h_n (what the read-out reads, as in the
authors' code), and the velocity z_n, whose decay profile is the state "z"
(:meth:`CoRNNCell.state_profiles`). The paper's W is ``W_hh`` (H, H) -- the
name remedies look for, so that ``l2`` (group "recurrent") and
``orthogonal_init`` act on the weights of y -- its script W, on z, is ``W_hz``
(H, H; ``l2`` leaves it alone), its V is ``W_hx`` (H, I) and b is ``b_h``.
The forward pass and BPTT are :func:`rnnbench.engine.textbook.cornn_forward`
and ``cornn_backward``, equations (CO1)-(CO8); there is no compiled path.

Choices: the damping is explicit (the paper's n-bar = n - 1; eq. 3 also allows
the implicit n-bar = n), as in the authors' code (tk-rusch/coRNN,
adding/model.py). The defaults of dt, gamma and epsilon are that code's for the
adding problem (adding/adding_task.py: dt = 0.06, gamma = 66, epsilon = 15, with
128 units and Adam at 0.02). ``init = "uniform"`` is the code's initialisation,
torch's nn.Linear over [x; z; y]: every weight and bias U(-k, k),
k = 1/sqrt(I + 2H). No bound of the form ||W_hh||_2 max|f'| holds for the
per-step factor (the paper bounds the gradients through dt, gamma and epsilon
instead, section 3), so :meth:`recurrent_matrix` is None.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Cell, Params
from rnnbench.engine import textbook
from rnnbench.engine.initialisation import INITS
from rnnbench.engine.transforms import TransformChain


class CoRNNParams(BaseModel):
    """The coRNN's parameters, given in a variant as ``cell_params = { dt = 0.042 }``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dt: float = Field(0.06, gt=0, description="Delta t, the step of the time discretisation (eq. 3).")
    gamma: float = Field(66.0, ge=0, description="gamma, the restoring force on y (eq. 3).")
    epsilon: float = Field(15.0, ge=0, description="epsilon, the damping of z (eq. 3).")


class CoRNNCell(Cell):
    """coRNN: h_n = y_n, the oscillators' positions; z_n, their velocities, is a
    second state. W_hh (H, H) acts on y, W_hz (H, H) on z, W_hx (H, I) on x.

    Initialisation: ``uniform``, every weight and bias U(-k, k), k = 1/sqrt(I + 2H)
    (the authors' code); ``normal``, every weight N(0, 1/(I + 2H)), b_h = 0. The
    summed-input transforms (layer_norm) act on the summed input of tanh, site "h".
    ``recurrent_matrix`` and ``max_derivative`` are the base class's, None: no bound
    ||W_hh||_2 max|f'| holds for the coRNN's per-step factor.
    """

    name = "cornn"
    Params = CoRNNParams
    activations = ("tanh",)
    inits = INITS

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        self.chain = TransformChain(self.transforms, "h", 1, config.hidden_size)
        given = config.cell_params
        self.hyper = given if isinstance(given, CoRNNParams) else CoRNNParams()

    def init_params(self, rng: np.random.Generator) -> Params:
        c = self.config
        H, I = c.hidden_size, c.input_size
        k = 1.0 / np.sqrt(I + 2 * H)  # the fan-in of the summed input
        shapes = {"W_hx": (H, I), "W_hh": (H, H), "W_hz": (H, H), "b_h": (H,)}
        if c.init == "uniform":
            params = {name: rng.uniform(-k, k, shape) for name, shape in shapes.items()}
        else:
            params = {name: rng.normal(0.0, k, shape) for name, shape in shapes.items() if name != "b_h"}
            params["b_h"] = np.zeros(H)
        params.update(self.chain.init_params(c.dtype))
        return {name: v.astype(c.dtype) for name, v in params.items()}

    def _constants(self):
        h = self.hyper
        return h.dt, h.gamma, h.epsilon

    def forward(self, params: Params, x: np.ndarray):
        steps = textbook.cornn_forward(
            params["W_hx"], params["W_hh"], params["W_hz"], params["b_h"], x, *self._constants(),
            self.chain, params,
        )
        return steps.h[1:], steps

    def backward_with_velocity(self, params: Params, cache, dh_out: np.ndarray, truncate=None):
        """As :meth:`backward`, and also gz with gz[n-1] = dL/dz_n, n = 1..T."""
        grads = self.chain.zero_grads(params)
        (dW_hx, dW_hh, dW_hz, db_h), gy, gz = textbook.cornn_backward(
            params["W_hh"], params["W_hz"], cache, dh_out, *self._constants(), self.chain, params, grads,
            truncate,
        )
        grads.update(W_hx=dW_hx, W_hh=dW_hh, W_hz=dW_hz, b_h=db_h)
        return grads, gy, gz

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        # loss_steps is not needed: the textbook recursion adds every d_n
        grads, gy, _ = self.backward_with_velocity(params, cache, dh_out, truncate)
        return grads, gy

    def state_profiles(self, params: Params, cache, dh_out: np.ndarray) -> dict[str, np.ndarray]:
        """The velocity's profile, "z": norms[d] = mean over the batch of ||dL/dz_{T-d}||,
        by full BPTT from ``dh_out``."""
        _, _, gz = self.backward_with_velocity(params, cache, dh_out)
        return {"z": np.linalg.norm(gz.astype(np.float64), axis=2).mean(axis=1)[::-1]}
