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

All three cells run in this layout. For the vanilla cell, whose step has a
single block, it gains little: its forward and backward took 2.4% less time at
(batch, hidden, length) = (32, 128, 100) and 0.7% less at (128, 256, 200) than
in row layout. With OpenBLAS's SkylakeX kernels both layouts gave bit-identical
results; with its Haswell kernels they differed in the last bits of float32,
enough to change which variant of the ``irnn`` suite ended lowest (which is why
that suite no longer claims it). Outside the recursion the engine keeps rows,
(T, B, H): :func:`rows` gives the caches' states as views in that layout.
"""

from __future__ import annotations

import numpy as np

from rnnbench.engine import blas


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


def row_blocks(n_rows: int, inner: int, batch: int, most: int = 4) -> list[slice]:
    """Row slices that split a (n_rows, inner) @ (inner, batch) product into
    blocks that OpenBLAS's small-matrix kernels take (M N K <= 10^6, see
    :func:`rnnbench.engine.blas.has_small_matrix_kernels`), of balanced
    sizes, a multiple of 16 rows each; one slice where those kernels are absent,
    where the product is small already, or where it would take more than
    ``most`` blocks (thin blocks gain nothing for the calls they cost).

    On the development machine (OpenBLAS's SkylakeX kernels, float32, one
    thread) the LSTM's (512, 131) @ (131, 32) ran at 189 GFLOP/s in one call
    and 211-223 in blocks of 128-192 rows; its backward (128, 512) @ (512, 32)
    at 182 against 200-210 in blocks of 32-48 rows: an LSTM step at (32, 128,
    100) took 5% less time. With the Haswell kernels, which have no such path,
    the split made the same step 5% slower."""
    limit = blas.SMALL_PRODUCT // max(1, inner * batch)  # rows per block at most
    if n_rows <= limit or limit < 16 or not blas.has_small_matrix_kernels():
        return [slice(0, n_rows)]
    count = -(-n_rows // (limit // 16 * 16))
    if count > most:
        return [slice(0, n_rows)]
    size = -(-n_rows // count)
    size = -(-size // 16) * 16
    return [slice(i, min(i + size, n_rows)) for i in range(0, n_rows, size)]


def matmul_blocks(W: np.ndarray, x: np.ndarray, out: np.ndarray, blocks: list[slice]) -> None:
    """out = W @ x, one product per row block."""
    if len(blocks) == 1:
        np.matmul(W, x, out=out)
        return
    for b in blocks:
        np.matmul(W[b], x, out=out[b])
