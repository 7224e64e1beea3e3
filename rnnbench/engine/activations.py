"""Element-wise non-linearities f and their derivatives f'.

``derivative(a, h)`` takes both the summed input a and the output h = f(a),
so that tanh can use f'(a) = 1 - h^2 without recomputing tanh. For the
recursions' inner loops, where every numpy call counts, ``forward(a, out)``
may write into ``out`` (None: a new array), and ``backprop(a, h, g, out)``
writes f'(a) * g into ``out`` (which may be g itself) in as few passes as the
function allows.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np



@dataclasses.dataclass(frozen=True)
class Activation:
    name: str
    forward: Callable[..., np.ndarray]  # forward(a, out=None) -> f(a)
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
    max_derivative: float  # max |f'|, for the bound ||W_hh||_2 * max|f'|
    backprop: Callable[..., np.ndarray] | None = None  # backprop(a, h, g, out) -> f'(a) * g
    # compiled kernel(a, h, g, out, col): f'(a) * g into out[:, col:col+B], for the
    # (H, B) arrays of the column-layout recursion (rnnbench.engine.activation_kernels)
    kernel: Callable[..., None] | None = None

    def __post_init__(self):
        if self.backprop is None:  # the generic form: f'(a) computed, then one product
            derivative = self.derivative
            object.__setattr__(
                self, "backprop", lambda a, h, g, out: np.multiply(derivative(a, h), g, out=out)
            )


def _compiled(name: str):
    """The kernel ``name`` of :mod:`rnnbench.engine.activation_kernels`, imported
    (with numba) on its first call rather than with this module, and kept: the
    vanilla recursion calls it once per time step."""
    found = None

    def kernel(*args):
        nonlocal found
        if found is None:
            from rnnbench.engine import activation_kernels

            found = getattr(activation_kernels, name)
        return found(*args)

    return kernel


def _sigmoid(a: np.ndarray, out=None) -> np.ndarray:
    # sigma(a) = (1 + tanh(a / 2)) / 2: no overflow for large |a|, one transcendental call
    out = np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _tanh_backprop(a, h, g, out):
    """(1 - h^2) * g = g - (h g) h: three passes, no temporary unless out is g."""
    hg = np.multiply(h, g, out=None if out is g else out)
    hg *= h
    return np.subtract(g, hg, out=out)


def _copy(a, out=None):
    if out is None:
        return a.copy()
    np.copyto(out, a)
    return out


def _relu_backprop(a, h, g, out):
    return np.multiply(g, a > 0, out=out)


def leaky_relu(slope: float = 0.01) -> Activation:
    """f(a) = a for a > 0, slope * a otherwise (Maas, Hannun & Ng 2013)."""
    def forward(a, out=None):
        return np.multiply(a, np.where(a > 0, 1.0, slope).astype(a.dtype), out=out)

    return Activation(
        "leaky_relu",
        forward,
        lambda a, h: np.where(a > 0, 1.0, slope).astype(a.dtype),
        max(1.0, abs(slope)),
    )


TANH = Activation("tanh", lambda a, out=None: np.tanh(a, out=out), lambda a, h: 1.0 - h * h, 1.0,
                  _tanh_backprop, _compiled("tanh_backprop"))
SIGMOID = Activation("sigmoid", _sigmoid, lambda a, h: h * (1.0 - h), 0.25)
RELU = Activation("relu", lambda a, out=None: np.maximum(a, 0, out=out),
                  lambda a, h: (a > 0).astype(a.dtype), 1.0, _relu_backprop, _compiled("relu_backprop"))
LINEAR = Activation("linear", _copy, lambda a, h: np.ones_like(a), 1.0, lambda a, h, g, out: _copy(g, out))

# The activations a vanilla cell can use, by name.
ACTIVATION_NAMES = ("tanh", "relu", "leaky_relu", "linear")


def activation(name: str, **params: float) -> Activation:
    """The activation called ``name``, made with its own ``params`` (a model
    configuration's ``activation_params``): leaky_relu takes ``slope`` (default
    0.01), the others take none."""
    if name == "leaky_relu":
        return leaky_relu(**params)
    if params:
        raise TypeError(f"activation '{name}' takes no parameters; given: {', '.join(params)}")
    return {"tanh": TANH, "relu": RELU, "linear": LINEAR, "sigmoid": SIGMOID}[name]
