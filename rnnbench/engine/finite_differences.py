"""Central finite differences: the check every hand-written backward pass must pass."""

from __future__ import annotations

from typing import Callable

import numpy as np

from rnnbench.api import Params

# The five-point central difference, error O(eps^4) from truncation plus round-off of about
# |L| * 2.2e-16 / eps. The three-point one (error O(eps^2)) needed a step near 1e-5 to balance
# the two, and there round-off still showed where a gradient is small beside the loss: the
# chrono-initialised LSTM's W_hh (forget gates saturated), and the coRNN's W_hh with its
# authors' adding constants (y stays below 1/gamma = 1/66, so dL/dW_hh is 1e-5 of the loss:
# relative errors 2.7e-7 at eps = 1e-4, 3.7e-6 at 1e-5, 2.7e-5 at 1e-6 -- growing as the
# step shrinks, round-off, not a wrong gradient). Five points allow the larger step 1e-4,
# where truncation is about 1e-16 and round-off 1e-12 of the loss.
EPS = 1e-4


def numerical_gradient(loss: Callable[[], float], param: np.ndarray, eps: float = EPS) -> np.ndarray:
    """dL/dparam by the five-point central difference
    (L(p - 2 eps) - 8 L(p - eps) + 8 L(p + eps) - L(p + 2 eps)) / (12 eps),
    one entry at a time, in place."""
    grad = np.zeros_like(param, dtype=np.float64)
    for i in np.ndindex(param.shape):
        old = param[i]
        values = []
        for k in (-2, -1, 1, 2):
            param[i] = old + k * eps
            values.append(loss())
        param[i] = old
        grad[i] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |a - n| / max(|a| + |n|), with a floor so that all-zero gradients compare as equal."""
    scale = max(float(np.max(np.abs(analytic) + np.abs(numeric))), 1e-12)
    return float(np.max(np.abs(analytic - numeric))) / scale


def check_gradients(
    loss: Callable[[], float], params: Params, grads: Params, eps: float = EPS
) -> dict[str, float]:
    """Relative error of every parameter's analytic gradient against finite differences."""
    return {
        name: relative_error(grads[name], numerical_gradient(loss, params[name], eps))
        for name in params
    }
