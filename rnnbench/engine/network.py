"""A network: a recurrent cell, a linear read-out of the last hidden state, a loss.

    o = W_hy h_T + b_y ;  L = loss(o, y)
    dW_hy = dL/do h_T^T ;  db_y = dL/do ;  dL/dh_T (from the read-out) = W_hy^T dL/do

Read-out parameters are called ``W_hy`` and ``b_y``; the cell's are its own.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from rnnbench.api import Cell, Params


def init_readout(rng: np.random.Generator, hidden: int, outputs: int, dtype) -> Params:
    """U(-1/sqrt(H), 1/sqrt(H)) weights, zero bias."""
    bound = 1.0 / np.sqrt(hidden)
    return {
        "W_hy": rng.uniform(-bound, bound, (outputs, hidden)).astype(dtype),
        "b_y": np.zeros(outputs, dtype=dtype),
    }


@dataclasses.dataclass
class Network:
    cell: Cell
    loss: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]

    def predict(self, params: Params, x: np.ndarray):
        h, cache = self.cell.forward(params, x)
        o = h[-1] @ params["W_hy"].T + params["b_y"]
        return o, h, cache

    def loss_value(self, params: Params, x: np.ndarray, y: np.ndarray) -> float:
        o, _, _ = self.predict(params, x)
        return self.loss(o, y)[0]

    def _backward(self, params, x, y):
        o, h, cache = self.predict(params, x)
        loss, do = self.loss(o, y)
        do = do.astype(h.dtype, copy=False)
        d = np.zeros_like(h)
        d[-1] = do @ params["W_hy"]
        grads, g = self.cell.backward(params, cache, d)
        grads["W_hy"] = do.T @ h[-1]
        grads["b_y"] = do.sum(axis=0)
        return loss, grads, g

    def loss_and_gradients(self, params: Params, x: np.ndarray, y: np.ndarray):
        """Return L and dL/dp for every parameter p."""
        loss, grads, _ = self._backward(params, x, y)
        return loss, grads

    def decay_profile(self, params: Params, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """norms[d] = mean over sequences of ||dL_T/dh_{T-d}||, d = 0..T-1.

        L_T is one sequence's loss at the last step: the batch-mean loss's
        gradient is scaled back by the batch size B.
        """
        _, _, g = self._backward(params, x, y)
        per_sequence = np.linalg.norm(g.astype(np.float64), axis=2) * x.shape[1]
        return per_sequence.mean(axis=1)[::-1]


def global_norm(grads: Params) -> float:
    """sqrt(sum over every parameter of its squared gradient entries)."""
    return float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
