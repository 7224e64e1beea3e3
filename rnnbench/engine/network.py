"""A network: a recurrent cell, a linear read-out, a loss.

    o_t = W_hy h_t + b_y, read at the last step (many-to-one) or at every step
    the batch's mask selects (many-to-many); L = loss over those N outputs.
    dW_hy = sum_n dL/do_n h_n^T ;  db_y = sum_n dL/do_n ;  d_t = W_hy^T dL/do_t

d_t, the gradient reaching h_t from the read-out, is what the cell's BPTT starts
from. Read-out parameters are called ``W_hy`` and ``b_y``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from rnnbench.api import Batch, Cell, Params


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
    many_to_one: bool = True
    truncate: int | None = None  # truncated BPTT: chunk length, or None for full BPTT

    def _read(self, h: np.ndarray, batch: Batch):
        """The hidden states that carry a loss, (N, H), their targets, and where they are."""
        if self.many_to_one:
            return h[-1], batch.y, None
        mask = np.ones(h.shape[:2], dtype=bool) if batch.mask is None else batch.mask
        return h[mask], batch.y[mask], mask

    def loss_value(self, params: Params, batch: Batch) -> float:
        h, _ = self.cell.forward(params, batch.x)
        hs, ys, _ = self._read(h, batch)
        return self.loss(hs @ params["W_hy"].T + params["b_y"], ys)[0]

    def evaluate(self, params: Params, batch: Batch) -> tuple[float, np.ndarray]:
        """The loss and the read-out: (B, O) at the last step for a many-to-one
        network, (T, B, O) at every step for a many-to-many one."""
        h, _ = self.cell.forward(params, batch.x)
        hs, ys, _ = self._read(h, batch)
        loss = self.loss(hs @ params["W_hy"].T + params["b_y"], ys)[0]
        read = h[-1] if self.many_to_one else h
        return loss, read @ params["W_hy"].T + params["b_y"]

    def loss_and_gradients(self, params: Params, batch: Batch):
        """Return L and dL/dp for every parameter p (truncated if ``truncate``)."""
        h, cache = self.cell.forward(params, batch.x)
        hs, ys, mask = self._read(h, batch)
        loss, do = self.loss(hs @ params["W_hy"].T + params["b_y"], ys)
        do = do.astype(h.dtype, copy=False)
        # np.zeros, not zeros_like: its pages stay untouched, and unread by a
        # cell told the loss_steps, where no loss is
        d = np.zeros(h.shape, dtype=h.dtype)
        if mask is None:
            d[-1] = do @ params["W_hy"]
            loss_steps = np.array([h.shape[0] - 1])
        else:
            d[mask] = do @ params["W_hy"]
            loss_steps = np.flatnonzero(mask.any(axis=1))
        grads, _ = self.cell.backward(params, cache, d, self.truncate, loss_steps=loss_steps)
        grads["W_hy"] = do.T @ hs
        grads["b_y"] = do.sum(axis=0)
        return loss, grads

    def _final_loss_gradient(self, params: Params, batch: Batch):
        """The forward cache and d, the gradient of each sequence's own loss at
        the last step reaching h_T (the batch-mean loss's gradient times B)."""
        h, cache = self.cell.forward(params, batch.x)
        y_last = batch.y if self.many_to_one else batch.y[-1]
        _, do = self.loss(h[-1] @ params["W_hy"].T + params["b_y"], y_last)
        d = np.zeros(h.shape, dtype=h.dtype)
        d[-1] = (do * batch.x.shape[1]).astype(h.dtype, copy=False) @ params["W_hy"]
        return cache, d

    def decay_profile(self, params: Params, batch: Batch) -> np.ndarray:
        """norms[d] = mean over sequences of ||dL_T/dh_{T-d}||, d = 0..T-1.

        L_T is one sequence's loss at the last step. The profile is a property
        of the network, so it is measured with full BPTT even when training truncates.
        It is computed in float64 from a float64 copy of the parameters and batch,
        whatever the training dtype: a vanishing gradient falls below float32's
        smallest normal number (1.2e-38) long before float64's (2.2e-308), and in
        float32 it would be lost to underflow -- or to flush-to-zero, if on.
        """
        params, batch = _float64(params, batch)
        cache, d = self._final_loss_gradient(params, batch)
        _, g = self.cell.backward(params, cache, d, loss_steps=np.array([d.shape[0] - 1]))
        return np.linalg.norm(g.astype(np.float64), axis=2).mean(axis=1)[::-1]

    def state_profiles(self, params: Params, batch: Batch) -> dict[str, np.ndarray]:
        """The same for the cell's other states, by name (the LSTM's "c"); in
        float64 like :meth:`decay_profile`."""
        params, batch = _float64(params, batch)
        cache, d = self._final_loss_gradient(params, batch)
        return self.cell.state_profiles(params, cache, d)


def cast(batch: Batch, dtype) -> Batch:
    """The batch in ``dtype`` (copies); class indices stay integers."""
    y = batch.y if batch.y.dtype.kind in "iub" else batch.y.astype(dtype)
    return Batch(batch.x.astype(dtype), y, batch.mask)


def _float64(params: Params, batch: Batch) -> tuple[Params, Batch]:
    """Float64 copies of the parameters and of the batch's float arrays."""
    return {k: v.astype(np.float64) for k, v in params.items()}, cast(batch, np.float64)


def global_norm(grads: Params) -> float:
    """sqrt(sum over every parameter of its squared gradient entries)."""
    return float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
