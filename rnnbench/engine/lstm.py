"""The LSTM cell with forget gate and its backpropagation through time.

Hochreiter & Schmidhuber 1997, "Long Short-Term Memory" (the memory cell and
its constant error carousel), with the forget gate of Gers, Schmidhuber &
Cummins 2000, "Learning to Forget" (section 2), without peepholes. The four
gate blocks of H units are stacked row-wise in the order i, f, g, o.

Forward, t = 1..T, from (h_0, c_0) (zero unless given; arrays are indexed from
0: ``h[t]`` is h_t, ``c[t]`` is c_t, ``a[t-1]`` is a_t):
    a_t = W_hx x_t + W_hh h_{t-1} + b_h      (4H: [a_i; a_f; a_g; a_o])
    z_t = N(a_t)            the remedies' summed-input transforms at site "gates",
                            4 groups (identity if none)
    i_t = sigma(z_i)   f_t = sigma(z_f)   g_t = tanh(z_g)   o_t = sigma(z_o)
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)
Backward, given d_t = dL/dh_t arriving from the read-out at step t:
    gh_t = d_t + W_hh^T delta_{t+1}                                 gh_t = dL/dh_t
    gc_t = gh_t * o_t * (1 - tanh^2(c_t)) + f_{t+1} * gc_{t+1}      gc_t = dL/dc_t
    dL/dz_o = gh_t * tanh(c_t) * o_t (1 - o_t)
    dL/dz_i = gc_t * g_t * i_t (1 - i_t)
    dL/dz_f = gc_t * c_{t-1} * f_t (1 - f_t)
    dL/dz_g = gc_t * i_t * (1 - g_t^2)
    delta_t = dL/da_t = N'(a_t)^T dL/dz_t
    dW_hx = sum_t delta_t x_t^T,  dW_hh = sum_t delta_t h_{t-1}^T,  db_h = sum_t delta_t
(both carried terms are zero past the last step). With W_hh = 0 and no loss
before step T, gc_t = f_{t+1} ... f_T gc_T: the error carousel, scaled only by
the forget gates. Truncated BPTT drops BOTH carried terms, W_hh^T delta_{t+1}
and f_{t+1} * gc_{t+1}, at every cut: the state (h, c) at a cut is a constant.
Only the recursion loops over t; the weight gradients are one product each over
all steps and batch rows. Rows are batch elements, so W v becomes v @ W.T; the
transposed weights are made contiguous once per call.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnbench.engine.activations import SIGMOID, TANH
from rnnbench.engine.transforms import TransformChain, cut_before


@dataclasses.dataclass
class LSTMCache:
    x: np.ndarray  # (T, B, I)
    a: np.ndarray  # (T, B, 4H): a_1..a_T, the summed inputs before the transforms
    gates: np.ndarray  # (T, B, 4H): [i_t, f_t, g_t, o_t] for t = 1..T
    c: np.ndarray  # (T + 1, B, H): c_0..c_T
    tanh_c: np.ndarray  # (T, B, H): tanh(c_1)..tanh(c_T)
    h: np.ndarray  # (T + 1, B, H): h_0..h_T
    steps: list  # per step, the transform chain's caches


def forward(W_hx, W_hh, b_h, x, chain: TransformChain, params, h0=None, c0=None) -> LSTMCache:
    T, B, _ = x.shape
    H = W_hh.shape[1]
    dtype = W_hh.dtype
    x = np.asarray(x, dtype=dtype)  # no copy when the batch is already in the params' dtype
    a = np.empty((T, B, 4 * H), dtype=dtype)
    gates = np.empty_like(a)
    c = np.empty((T + 1, B, H), dtype=dtype)
    tanh_c = np.empty((T, B, H), dtype=dtype)
    h = np.empty((T + 1, B, H), dtype=dtype)
    h[0] = 0.0 if h0 is None else h0
    c[0] = 0.0 if c0 is None else c0
    steps = []
    W_hx_T = np.ascontiguousarray(W_hx.T)
    W_hh_T = np.ascontiguousarray(W_hh.T)
    for t in range(T):
        np.matmul(x[t], W_hx_T, out=a[t])
        a[t] += h[t] @ W_hh_T
        a[t] += b_h
        z = a[t]
        if chain:
            z, caches = chain.forward(a[t], params)
            steps.append(caches)
        act = gates[t]
        act[:, : 2 * H] = SIGMOID.forward(z[:, : 2 * H])  # i, f
        act[:, 2 * H : 3 * H] = TANH.forward(z[:, 2 * H : 3 * H])  # g
        act[:, 3 * H :] = SIGMOID.forward(z[:, 3 * H :])  # o
        i, f, g, o = act[:, :H], act[:, H : 2 * H], act[:, 2 * H : 3 * H], act[:, 3 * H :]
        np.multiply(f, c[t], out=c[t + 1])
        c[t + 1] += i * g
        np.tanh(c[t + 1], out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=h[t + 1])
    return LSTMCache(x=x, a=a, gates=gates, c=c, tanh_c=tanh_c, h=h, steps=steps)


def backward(W_hh, cache: LSTMCache, d, chain: TransformChain, params, grads, truncate=None):
    """Return (dW_hx, dW_hh, db_h), gh and gc, with gh[t-1] = dL/dh_t and
    gc[t-1] = dL/dc_t, t = 1..T (total gradients, through every later step).

    The transforms' parameter gradients are added to ``grads``."""
    gates, c, tanh_c, h, x = cache.gates, cache.c, cache.tanh_c, cache.h, cache.x
    T, B, H = tanh_c.shape
    cut = cut_before(T, truncate)
    gh = np.empty_like(tanh_c)
    gc = np.empty_like(tanh_c)
    delta = np.empty_like(gates)
    carry_h = np.zeros((B, H), dtype=gh.dtype)  # W_hh^T delta_{t+1}
    carry_c = np.zeros((B, H), dtype=gh.dtype)  # f_{t+1} * gc_{t+1}
    for t in range(T - 1, -1, -1):
        act = gates[t]
        i, f, g, o = act[:, :H], act[:, H : 2 * H], act[:, 2 * H : 3 * H], act[:, 3 * H :]
        dz = delta[t]
        np.add(d[t], carry_h, out=gh[t])
        np.multiply(gh[t] * o, TANH.derivative(None, tanh_c[t]), out=gc[t])
        gc[t] += carry_c
        np.multiply(gc[t] * g, SIGMOID.derivative(None, i), out=dz[:, :H])
        np.multiply(gc[t] * c[t], SIGMOID.derivative(None, f), out=dz[:, H : 2 * H])
        np.multiply(gc[t] * i, TANH.derivative(None, g), out=dz[:, 2 * H : 3 * H])
        np.multiply(gh[t] * tanh_c[t], SIGMOID.derivative(None, o), out=dz[:, 3 * H :])
        if chain:
            delta[t] = chain.backward(dz, cache.steps[t], params, grads)
        if t and cut[t - 1]:
            carry_h.fill(0.0)
            carry_c.fill(0.0)
        else:
            np.matmul(delta[t], W_hh, out=carry_h)
            np.multiply(f, gc[t], out=carry_c)
    delta2 = delta.reshape(T * B, 4 * H)
    dW_hx = delta2.T @ x.reshape(T * B, -1)
    dW_hh = delta2.T @ h[:-1].reshape(T * B, H)
    db_h = delta2.sum(axis=0)
    return (dW_hx, dW_hh, db_h), gh, gc
