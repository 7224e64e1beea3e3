"""The weight gradients of a recursion, sum_t delta_t s_t^T, gathered while BPTT runs.

Every cell's weight gradients have one form: with the stacked state
s_t = [x_t; h_{t-1}; 1] (K = I+H+1) and delta_t = dL/da_t (G units),
[dW_hx, dW_hh, db_h] = sum_t delta_t s_t^T, (G, K). The recursion writes each
step's delta_t into a block handed out by :meth:`StepProducts.slot`; every
``chunk`` steps (counted back from the last one) the block just filled is
multiplied by the matching states in ONE product,
[delta_t0 ... delta_t1-1] [s_t0 ... s_t1-1]^T, and added to the total.

The block is still in cache when it is multiplied. On the development machine
(float32, one BLAS thread) such products ran at 190-220 GFLOP/s against
155-175 for one product over all T*B columns after the loop, which also needs
the whole (G, T*B) matrix of deltas in memory: a vanilla step at (batch,
hidden, length) = (128, 256, 200) spent 19.4 ms in that one product. 256
columns (steps x sequences) per block did best for the LSTM and GRU at
(batch, hidden) = (32, 128) and (128, 256) among 128 to 1024.

The cells store their steps in column layout (:mod:`rnnbench.engine.columns`):
s is (T, K, B), and delta_t a (G, B) block of columns of a (G, chunk*B) matrix.
The states are copied into (chunk*B, K) rows for the product (5-10% faster than
reading them transposed).
"""

from __future__ import annotations

import numpy as np


class StepProducts:
    """sum_t delta_t s_t^T, (G, K), for the states ``s`` of one backward pass."""

    #: columns (steps x sequences) per product: enough for a fast product, few enough to stay in cache
    COLUMNS = 256

    def __init__(self, G: int, s: np.ndarray):
        T, K, B = s.shape
        self.s = s
        self.B = B
        self.chunk = max(1, self.COLUMNS // B)
        self.block = np.empty((G, self.chunk * B), dtype=s.dtype)
        self.states = np.empty((self.chunk, B, K), dtype=s.dtype)  # rows (step, sequence)
        self.total = None
        self.end = T  # the current block holds steps [end - chunk, end), clipped at 0

    def _start(self) -> int:
        return max(0, self.end - self.chunk)

    def slot(self, t: int) -> tuple[np.ndarray, int]:
        """(block, j): delta_t is to be written into ``block[:, j:j+B]``; t
        counts down from T-1. A compiled kernel takes the contiguous block and j."""
        return self.block, (t - self._start()) * self.B

    def done(self, t: int) -> None:
        """Step t's delta is written: multiply out the block when t is its first step."""
        if t != self._start():
            return
        n, B = self.end - t, self.B
        states = self.states[:n]
        np.copyto(states, self.s[t : self.end].transpose(0, 2, 1))
        product = self.block[:, : n * B] @ states.reshape(n * B, -1)
        if self.total is None:
            self.total = product
        else:
            self.total += product
        self.end = t

    def result(self) -> np.ndarray:
        """The sum over every step, once ``done`` has been called for each."""
        assert self.end == 0, "a step's delta is missing"
        return self.total
