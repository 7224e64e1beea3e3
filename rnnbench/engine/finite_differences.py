"""Central finite differences: the check every hand-written backward pass must pass."""

from __future__ import annotations

from typing import Callable

import numpy as np

from rnnbench.api import Params


def numerical_gradient(loss: Callable[[], float], param: np.ndarray, eps: float = 1e-6) -> np.ndarray:
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
    loss: Callable[[], float], params: Params, grads: Params, eps: float = 1e-6
) -> dict[str, float]:
    """Relative error of every parameter's analytic gradient against finite differences."""
    return {
        name: relative_error(grads[name], numerical_gradient(loss, params[name], eps))
        for name in params
    }
