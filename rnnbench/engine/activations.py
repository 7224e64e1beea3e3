"""Element-wise non-linearities f and their derivatives f'.

``derivative(a, h)`` takes both the summed input a and the output h = f(a),
so that tanh can use f'(a) = 1 - h^2 without recomputing tanh.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Activation:
    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
    max_derivative: float  # max |f'|, for the bound ||W_hh||_2 * max|f'|


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * a) + 1.0)  # no overflow for large |a|


def leaky_relu(slope: float) -> Activation:
    """f(a) = a for a > 0, slope * a otherwise (Maas, Hannun & Ng 2013)."""
    return Activation(
        "leaky_relu",
        lambda a: np.where(a > 0, a, slope * a),
        lambda a, h: np.where(a > 0, 1.0, slope).astype(a.dtype),
        max(1.0, abs(slope)),
    )


TANH = Activation("tanh", np.tanh, lambda a, h: 1.0 - h * h, 1.0)
SIGMOID = Activation("sigmoid", _sigmoid, lambda a, h: h * (1.0 - h), 0.25)
RELU = Activation("relu", lambda a: np.maximum(a, 0), lambda a, h: (a > 0).astype(a.dtype), 1.0)
LINEAR = Activation("linear", lambda a: a.copy(), lambda a, h: np.ones_like(a), 1.0)

# The activations a vanilla cell can use, by name.
ACTIVATION_NAMES = ("tanh", "relu", "leaky_relu", "linear")


def activation(name: str, slope: float = 0.01) -> Activation:
    """The activation called ``name``; ``slope`` is used by leaky_relu only."""
    if name == "leaky_relu":
        return leaky_relu(slope)
    return {"tanh": TANH, "relu": RELU, "linear": LINEAR, "sigmoid": SIGMOID}[name]
