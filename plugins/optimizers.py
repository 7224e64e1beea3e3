"""Adaptive and momentum optimisers: momentum (Polyak 1964; Nesterov as in
Sutskever et al. 2013), RMSprop (Tieleman & Hinton 2012) and Adam (Kingma & Ba
2015). Each class docstring gives its update rule; g is dL/dp, lr the learning
rate, and every operation is elementwise.

State arrays (velocity, running averages) are created on the first step with
the shape and dtype of their weight, keyed by parameter name, so a float32 run
stays float32. Each parameter also gets one scratch buffer, so that a step
updates everything in place without allocating temporaries.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Optimizer, hookimpl


class _Stateful(Optimizer):
    """An optimiser with per-parameter state arrays, made lazily as zeros like the weight."""

    slots: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: BaseModel, learning_rate: float):
        super().__init__(params, learning_rate)
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def _slots(self, name: str, w: np.ndarray) -> dict[str, np.ndarray]:
        slots = self.state.get(name)
        if slots is None:
            slots = self.state[name] = {s: np.zeros_like(w) for s in (*self.slots, "buf")}
        return slots


class MomentumParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    momentum: float = Field(0.9, ge=0, lt=1, description="Decay mu of the velocity.")
    nesterov: bool = Field(False, description="Use Nesterov's look-ahead form of the update.")


class Momentum(_Stateful):
    """SGD with heavy-ball momentum: v <- mu v + g; p <- p - lr v.

    Nesterov (``nesterov = true``, Sutskever et al. 2013, "On the importance of
    initialization and momentum in deep learning", in the form used by common
    libraries): v <- mu v + g; p <- p - lr (g + mu v). Polyak 1964, "Some
    methods of speeding up the convergence of iteration methods".
    """

    name = "momentum"
    Params = MomentumParams
    slots = ("v",)

    def step(self, weights, grads) -> None:
        mu, lr = self.params.momentum, self.learning_rate
        for name, w in weights.items():
            g = grads[name]
            s = self._slots(name, w)
            v, buf = s["v"], s["buf"]
            v *= mu
            v += g
            if self.params.nesterov:
                np.multiply(v, mu, out=buf)
                buf += g
                buf *= lr
            else:
                np.multiply(v, lr, out=buf)
            w -= buf


class RMSpropParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    decay: float = Field(0.9, gt=0, lt=1, description="Decay rho of the mean of squared gradients.")
    eps: float = Field(1e-8, gt=0, description="Added to the root mean square before dividing.")


class RMSprop(_Stateful):
    """RMSprop: s <- rho s + (1 - rho) g^2; p <- p - lr g / (sqrt(s) + eps).

    Tieleman & Hinton 2012, "Lecture 6.5 - rmsprop: Divide the gradient by a
    running average of its recent magnitude", COURSERA: Neural Networks for
    Machine Learning.
    """

    name = "rmsprop"
    Params = RMSpropParams
    slots = ("s",)

    def step(self, weights, grads) -> None:
        rho, eps, lr = self.params.decay, self.params.eps, self.learning_rate
        for name, w in weights.items():
            g = grads[name]
            st = self._slots(name, w)
            s, buf = st["s"], st["buf"]
            s *= rho
            np.multiply(g, g, out=buf)
            buf *= 1 - rho
            s += buf
            np.sqrt(s, out=buf)
            buf += eps
            np.divide(g, buf, out=buf)
            buf *= lr
            w -= buf


class AdamParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    beta1: float = Field(0.9, ge=0, lt=1, description="Decay of the first-moment estimate.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Decay of the second-moment estimate.")
    eps: float = Field(1e-8, gt=0, description="Added to sqrt(v_hat) before dividing.")


class Adam(_Stateful):
    """Adam: m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2; p <- p - lr m_hat / (sqrt(v_hat) + eps).

    With t the number of steps taken (from 1), m_hat = m / (1 - b1^t) and
    v_hat = v / (1 - b2^t) are the bias-corrected moments. Kingma & Ba 2015,
    "Adam: A method for stochastic optimization", algorithm 1.
    """

    name = "adam"
    Params = AdamParams
    slots = ("m", "v")

    def __init__(self, params: BaseModel, learning_rate: float):
        super().__init__(params, learning_rate)
        self.t = 0

    def step(self, weights, grads) -> None:
        b1, b2, eps = self.params.beta1, self.params.beta2, self.params.eps
        self.t += 1
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for name, w in weights.items():
            g = grads[name]
            st = self._slots(name, w)
            m, v, buf = st["m"], st["v"], st["buf"]
            m *= b1
            np.multiply(g, 1 - b1, out=buf)
            m += buf
            v *= b2
            np.multiply(g, g, out=buf)
            buf *= 1 - b2
            v += buf
            np.divide(v, c2, out=buf)  # v_hat
            np.sqrt(buf, out=buf)
            buf += eps
            np.divide(m, buf, out=buf)
            buf *= self.learning_rate / c1  # lr * m_hat / (sqrt(v_hat) + eps)
            w -= buf


@hookimpl
def rnnbench_register_optimizers():
    return [Momentum, RMSprop, Adam]
