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


def _relu_derivative(a: np.ndarray, h: np.ndarray) -> np.ndarray:
    return (a > 0).astype(a.dtype)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("tanh", np.tanh, lambda a, h: 1.0 - h * h, 1.0),
        Activation("relu", lambda a: np.maximum(a, 0), _relu_derivative, 1.0),
        Activation("linear", lambda a: a.copy(), lambda a, h: np.ones_like(a), 1.0),
    )
}
