"""Compiled backward passes of the vanilla cell's activations: delta = f'(a) * g in one pass.

In the vanilla recursion h_t is not an array of its own but rows of the
stacked state s_t = [x_{t+1}, h_t, 1] (see :mod:`rnnbench.engine.vanilla`),
so each kernel reads h from ``s_next[:, col:col+H]`` of the contiguous
(B, I+H+1) state: handed the strided h view instead, numba's 'A' arrays were no
faster than numpy. numpy needs three passes for tanh's (1 - h^2) g and a
temporary boolean array for relu's; measured on the development machine
(float32), tanh's went 3.3 -> 1.2 us at (B, H) = (32, 128) and 13.6 -> 6.2 us
at (128, 256). The operations are those of the numpy forms in
:mod:`rnnbench.engine.activations`, in the same order, in the arrays' dtype.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def tanh_backprop(a, s_next, col, g, out):
    """out = (1 - h^2) g, as g - (h g) h, with h = s_next[:, col:col+H]."""
    B, H = out.shape
    for b in range(B):
        for k in range(H):
            h = s_next[b, col + k]
            out[b, k] = g[b, k] - (h * g[b, k]) * h


@njit(cache=True, nogil=True)
def relu_backprop(a, s_next, col, g, out):
    """out = g where a > 0, else 0."""
    B, H = out.shape
    zero = out.dtype.type(0.0)
    for b in range(B):
        for k in range(H):
            out[b, k] = g[b, k] if a[b, k] > 0 else zero
