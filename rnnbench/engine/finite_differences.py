"""Central finite differences: the check every hand-written backward pass must pass."""

from __future__ import annotations

from typing import Callable

import numpy as np

from rnnbench.api import Params

# The step of the central difference. Its error is truncation, O(eps^2), plus round-off,
# about |L| * 2.2e-16 / eps; the two balance near cbrt(2.2e-16) = 6e-6 (for a loss and
# parameters of order 1). At 1e-6 round-off dominated where a gradient is small beside
# the loss: the chrono-initialised LSTM's W_hh (forget gates saturated) showed 2e-6
# against the tolerance 1e-6 at eps = 1e-6, 2e-7 at 1e-5, 3e-8 at 1e-4, and 1.4e-5 at
# 1e-7 -- an error growing as the step shrinks is round-off, not a wrong gradient.
EPS = 1e-5


def numerical_gradient(loss: Callable[[], float], param: np.ndarray, eps: float = EPS) -> np.ndarray:
    """dL/dparam by (L(p + eps) - L(p - eps)) / (2 eps), one entry at a time, in place."""
    grad = np.zeros_like(param, dtype=np.float64)
    for i in np.ndindex(param.shape):
        old = param[i]
        param[i] = old + eps
        plus = loss()
        param[i] = old - eps
        minus = loss()
        param[i] = old
        grad[i] = (plus - minus) / (2 * eps)
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
