"""The column layout of the recurrences: a step's states are (units, B) blocks.

The maths of the cells is written with column vectors, a_t = W s_t, and so is
their recursion: each step's state, gates and gradients are stored as
(units, B) arrays, the batch along the contiguous axis, and the stacked
weights W = [W_hx, W_hh, b_h] are (G*H, I+H+1). Two things follow, both
measured on the development machine (float32, one BLAS thread):

- every gate block of a step, rows ``k*H:(k+1)*H``, is one contiguous run of
  memory, so the element-wise passes over it run at the speed of contiguous
  arrays (a multiply of two (32, 128) blocks cut out of (32, 512) rows took
  1.8 us, of two contiguous ones 0.7 us);
- OpenBLAS's sgemm reached 195 GFLOP/s on the LSTM's (512, 131) @ (131, 32)
  against 147 on the same product in row layout, (32, 131) @ (131, 512).

The LSTM and GRU run in this layout. The vanilla cell keeps rows
(:mod:`rnnbench.engine.vanilla`): it has one H-wide block and no gate slices,
and in column layout its step was within 3% either way (slower at (32, 128,
100), faster at (128, 256, 200)). Outside the recursion the engine keeps rows,
(T, B, H): :func:`rows` gives the caches' states as views in that layout.
"""

from __future__ import annotations

import numpy as np


def column_state(x: np.ndarray, hidden: int, dtype, h0=None) -> np.ndarray:
    """s (T+1, I+H+1, B) with s[t] = [x_{t+1}; h_t; 1]: x and the constant 1
    filled in (x_{T+1} := 0), h_0 from ``h0`` ((B, H); zero if None); the
    recursion writes h_t into s[t, I:I+H]."""
    T, B, I = x.shape
    s = np.empty((T + 1, I + hidden + 1, B), dtype=dtype)
    s[:T, :I] = x.transpose(0, 2, 1)
    s[T, :I] = 0.0
    s[0, I : I + hidden] = 0.0 if h0 is None else np.asarray(h0).T
    s[:, I + hidden] = 1.0
    return s


def column_weights(W_hx, W_hh, b_h) -> np.ndarray:
    """[W_hx, W_hh, b_h] (G*H, I+H+1), contiguous."""
    return np.ascontiguousarray(np.concatenate([W_hx, W_hh, b_h[:, None]], axis=1), dtype=W_hh.dtype)


def rows(a: np.ndarray) -> np.ndarray:
    """A (T, units, B) array as a (T, B, units) view."""
    return a.transpose(0, 2, 1)


class StepProducts:
    """sum_t delta_t s_t^T, (G, K), gathered while a backward recursion runs.

    Each step's delta_t (G, B) is written by the recursion into
    :meth:`column`; every ``chunk`` steps (counted back from the last one) the
    block of columns just filled is multiplied by the matching states in one
    product, [delta_t0 ... delta_t1-1] [s_t0 ... s_t1-1]^T (G x chunk*B @
    chunk*B x K, the states copied into rows), and added up. The block is
    still in cache when it is multiplied; on the development machine (float32,
    one thread) such products ran at 190-220 GFLOP/s against 155-175 for one
    product over all T*B columns after the loop, which also needs the whole
    (G, T*B) matrix in memory. 256 columns per block did best for the LSTM and
    GRU at (batch, hidden) = (32, 128) and (128, 256) among 128 to 1024.
    """

    #: columns per product: enough for a fast product, few enough to stay in cache
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

    def column(self, t: int) -> tuple[np.ndarray, int]:
        """(block, j): delta_t is to be written into ``block[:, j:j+B]`` (t counts
        down from T-1). A compiled kernel takes the contiguous block and j."""
        j = (t - self._start()) * self.B
        return self.block, j

    def done(self, t: int) -> None:
        """Step t's delta is written: multiply out the block when t is its first step."""
        if t != self._start():
            return
        n = self.end - t
        states = self.states[:n]
        np.copyto(states, self.s[t : self.end].transpose(0, 2, 1))
        product = self.block[:, : n * self.B] @ states.reshape(n * self.B, -1)
        if self.total is None:
            self.total = product
        else:
            self.total += product
        self.end = t

    def result(self) -> np.ndarray:
        """The sum over every step, once ``done`` has been called for each."""
        assert self.end == 0, "a step's delta is missing"
        return self.total
