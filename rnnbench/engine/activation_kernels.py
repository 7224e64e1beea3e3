"""Compiled backward passes of the vanilla cell's activations: delta = f'(a) * g in one pass.

The vanilla recursion runs in column layout (see :mod:`rnnbench.engine.vanilla`):
a, h and g of a step are contiguous (H, B) arrays, and delta_t goes straight into
its columns ``col:col+B`` of the (H, chunk*B) block that
:class:`rnnbench.engine.step_products.StepProducts` multiplies by the states
(handed that strided view instead, numba's 'A'-layout loops were 2.5 times
slower). numpy needs three passes for tanh's (1 - h^2) g and a temporary boolean
array for relu's; measured on the development machine (float32), tanh's went
3.3 -> 1.2 us at (B, H) = (32, 128) and 13.6 -> 6.2 us at (128, 256). The
operations are those of the numpy forms in :mod:`rnnbench.engine.activations`,
in the same order, in the arrays' dtype.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def tanh_backprop(a, h, g, out, col):
    """out[:, col:col+B] = (1 - h^2) g, as g - (h g) h."""
    H, B = g.shape
    for k in range(H):
        for b in range(B):
            out[k, col + b] = g[k, b] - (h[k, b] * g[k, b]) * h[k, b]


@njit(cache=True, nogil=True)
def relu_backprop(a, h, g, out, col):
    """out[:, col:col+B] = g where a > 0, else 0."""
    H, B = g.shape
    zero = out.dtype.type(0.0)
    for k in range(H):
        for b in range(B):
            out[k, col + b] = g[k, b] if a[k, b] > 0 else zero
