"""The element-wise work of one GRU step, each a single compiled pass.

The formulas are those of :mod:`rnnbench.engine.gru`, written once per unit and
sequence, in column layout (a step's blocks are (H, B), see
:mod:`rnnbench.engine.columns`; ``rz`` is (2H, B), rows r then z). As in
:mod:`rnnbench.engine.lstm_kernels`: numba compiles each to one loop in the
arrays' own dtype (constants made with ``dtype.type``), the matrix products
and tanh stay with numpy, and the deltas are written by column offset into
the contiguous blocks that :class:`rnnbench.engine.step_products.StepProducts`
multiplies out.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def gates_and_reset(rz, h_prev, rh):
    """In: rz = [tanh(a_r/2); tanh(a_z/2)]. Out: rz = [r; z] with
    sigma(a) = (1 + tanh(a/2))/2 in place, and rh = r * h_{t-1}."""
    H, B = rh.shape
    half = rz.dtype.type(0.5)
    for k in range(H):
        for b in range(B):
            r = rz[k, b] * half + half
            rz[k, b] = r
            rz[H + k, b] = rz[H + k, b] * half + half
            rh[k, b] = r * h_prev[k, b]


@njit(cache=True, nogil=True)
def interpolate(z, n, h_prev, h):
    """h_t = (1 - z) n + z h_{t-1}, written as n + z (h_{t-1} - n)."""
    H, B = h.shape
    for k in range(H):
        for b in range(B):
            h[k, b] = n[k, b] + z[k, b] * (h_prev[k, b] - n[k, b])


@njit(cache=True, nogil=True)
def candidate_backward(rz, n, g, dm, col):
    """dm = (1 - n^2) (1 - z) g, into columns col..col+B of ``dm``."""
    H, B = g.shape
    one = g.dtype.type(1.0)
    for k in range(H):
        for b in range(B):
            dm[k, col + b] = ((one - n[k, b] * n[k, b]) * (one - rz[H + k, b])) * g[k, b]


@njit(cache=True, nogil=True)
def gates_backward(rz, h_prev, n, g, q, da, col, carry):
    """da = [r(1-r) h_{t-1} q; z(1-z) (h_{t-1} - n) g] into columns
    col..col+B of ``da``, and carry = z g + r q, the part of dL/dh_{t-1} that
    does not pass through [U_r; U_z]."""
    H, B = g.shape
    one = g.dtype.type(1.0)
    for k in range(H):
        for b in range(B):
            r = rz[k, b]
            z = rz[H + k, b]
            da[k, col + b] = (h_prev[k, b] * q[k, b]) * (r * (one - r))
            da[H + k, col + b] = ((h_prev[k, b] - n[k, b]) * g[k, b]) * (z * (one - z))
            carry[k, b] = z * g[k, b] + r * q[k, b]
