"""The element-wise work of one LSTM step, each a single compiled pass.

The formulas are those of :mod:`rnnbench.engine.lstm`, written once per unit
and sequence, in column layout (a step's blocks are (H, B), see
:mod:`rnnbench.engine.columns`; ``act`` is (4H, B), gate rows in the internal
order i, f, o, g). numpy spends one call, and one pass over memory, per
operation: an LSTM step is about twenty such calls of a few microseconds each,
half the step's time at small shapes. numba compiles each function below to
one loop over the block (vectorised by LLVM over the contiguous batch axis), in
the arrays' own dtype: a float32 constant is made with ``dtype.type`` so that
no operation is promoted to float64. The operations are the same, in the same
order, as numpy's would be, and numba does not contract a * b + c into a fused
multiply-add without ``fastmath``, so the results are bit for bit those of the
numpy formulation (a test compares them). The tanh calls stay with numpy, whose
SIMD tanh numba does not have.

Compiled on first use and cached on disk (``cache=True``: ``__pycache__`` beside
this file, or numba's user cache when that is not writable).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def gates_and_cell(act, c_prev, c):
    """In: act = [tanh(a_i/2); tanh(a_f/2); tanh(a_o/2); tanh(a_g)].
    Out: act = [i; f; o; g] with sigma(a) = (1 + tanh(a/2))/2 in place, and
    c = f * c_prev + i * g."""
    H, B = c.shape
    half = act.dtype.type(0.5)
    for k in range(H):
        for b in range(B):
            i = act[k, b] * half + half
            f = act[H + k, b] * half + half
            act[2 * H + k, b] = act[2 * H + k, b] * half + half
            act[k, b] = i
            act[H + k, b] = f
            c[k, b] = f * c_prev[k, b] + i * act[3 * H + k, b]


@njit(cache=True, nogil=True)
def gates_backward(act, tanh_c, c_prev, gh, gc, dz, col, gc_carry):
    """One step back, given gh = dL/dh_t (total) and gc holding the carried
    f_{t+1} * gc_{t+1}:
        gc     += gh * o * (1 - tanh^2 c_t)
        dz      = [gc g i(1-i); gc c_{t-1} f(1-f); gh tanh(c_t) o(1-o); gc i (1-g)(1+g)]
        gc_carry = f * gc      (the carried term of gc_{t-1})
    dz is written into columns col..col+B of the contiguous (4H, n) ``dz``: a
    contiguous array lets LLVM vectorise the stores, a strided view (typed
    'A' by numba) made the pass 2.5 times slower."""
    H, B = gc.shape
    one = act.dtype.type(1.0)
    for k in range(H):
        for b in range(B):
            i = act[k, b]
            f = act[H + k, b]
            o = act[2 * H + k, b]
            g = act[3 * H + k, b]
            t = tanh_c[k, b]
            gct = gc[k, b] + gh[k, b] * (o * (one - t * t))
            gc[k, b] = gct
            dz[k, col + b] = (gct * g) * ((one - i) * i)
            dz[H + k, col + b] = (gct * c_prev[k, b]) * ((one - f) * f)
            dz[2 * H + k, col + b] = (gh[k, b] * t) * ((one - o) * o)
            dz[3 * H + k, col + b] = (gct * i) * ((one - g) * (g + one))
            gc_carry[k, b] = f * gct
