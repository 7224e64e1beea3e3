"""The vanilla recurrent cell and its backpropagation through time.

Forward, t = 1..T, h_0 = 0 (arrays are indexed from 0: ``h[t]`` is h_t, ``a[t-1]`` is a_t):
    a_t = W_hx x_t + W_hh h_{t-1} + b_h
    h_t = f(a_t)
Backward, given d_t = dL/dh_t arriving from the read-out at step t:
    g_T = d_T,  g_t = d_t + W_hh^T (f'(a_{t+1}) * g_{t+1})          g_t = dL/dh_t
    delta_t = f'(a_t) * g_t
    dW_hx = sum_t delta_t x_t^T,  dW_hh = sum_t delta_t h_{t-1}^T,  db_h = sum_t delta_t
Only the recursion loops over t; the weight gradients are one product each over
all steps and batch rows. Rows are batch elements, so W v becomes v @ W.T; the
transposed weights are made contiguous once per call.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnbench.engine.activations import Activation


@dataclasses.dataclass
class VanillaCache:
    x: np.ndarray  # (T, B, I)
    a: np.ndarray  # (T, B, H): a_1..a_T
    h: np.ndarray  # (T + 1, B, H): h_0..h_T


def forward(W_hx, W_hh, b_h, x: np.ndarray, f: Activation) -> VanillaCache:
    T, B, _ = x.shape
    H = W_hh.shape[0]
    a = np.empty((T, B, H), dtype=W_hh.dtype)
    h = np.empty((T + 1, B, H), dtype=W_hh.dtype)
    h[0] = 0.0
    W_hx_T = np.ascontiguousarray(W_hx.T)
    W_hh_T = np.ascontiguousarray(W_hh.T)
    for t in range(T):
        np.matmul(x[t], W_hx_T, out=a[t])
        a[t] += h[t] @ W_hh_T
        a[t] += b_h
        h[t + 1] = f.forward(a[t])
    return VanillaCache(x=x, a=a, h=h)


def backward(W_hh, cache: VanillaCache, d: np.ndarray, f: Activation):
    """Return (dW_hx, dW_hh, db_h) and g, with g[t-1] = dL/dh_t, t = 1..T."""
    a, h, x = cache.a, cache.h, cache.x
    T, B, H = a.shape
    g = np.empty_like(a)
    delta = np.empty_like(a)
    carry = np.zeros((B, H), dtype=a.dtype)  # W_hh^T delta_{t+1}; zero past the last step
    for t in range(T - 1, -1, -1):
        np.add(d[t], carry, out=g[t])
        np.multiply(f.derivative(a[t], h[t + 1]), g[t], out=delta[t])
        np.matmul(delta[t], W_hh, out=carry)
    delta2 = delta.reshape(T * B, H)
    dW_hx = delta2.T @ x.reshape(T * B, -1)
    dW_hh = delta2.T @ h[:-1].reshape(T * B, H)
    db_h = delta2.sum(axis=0)
    return (dW_hx, dW_hh, db_h), g
