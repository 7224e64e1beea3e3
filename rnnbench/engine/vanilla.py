"""The vanilla recurrent cell and its backpropagation through time.

Forward, t = 1..T, from h_0 (zero unless given; arrays are indexed from 0:
``h[t]`` is h_t, ``a[t-1]`` is a_t):
    a_t = W_hx x_t + W_hh h_{t-1} + b_h
    z_t = N(a_t)            the remedies' summed-input transforms (identity if none)
    h_t = f(z_t)
Backward, given d_t = dL/dh_t arriving from the read-out at step t:
    g_T = d_T,  g_t = d_t + W_hh^T delta_{t+1}                      g_t = dL/dh_t
    delta_t = dL/da_t = N'(a_t)^T (f'(z_t) * g_t)
    dW_hx = sum_t delta_t x_t^T,  dW_hh = sum_t delta_t h_{t-1}^T,  db_h = sum_t delta_t
Truncated BPTT drops the W_hh^T delta_{t+1} term at every cut.
Only the recursion loops over t; the weight gradients are one product each over
all steps and batch rows. Rows are batch elements, so W v becomes v @ W.T; the
transposed weights are made contiguous once per call.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnbench.engine.activations import Activation
from rnnbench.engine.transforms import TransformChain, cut_before


@dataclasses.dataclass
class VanillaCache:
    x: np.ndarray  # (T, B, I)
    a: np.ndarray  # (T, B, H): a_1..a_T
    z: np.ndarray  # (T, B, H): z_1..z_T (the same array as a without transforms)
    h: np.ndarray  # (T + 1, B, H): h_0..h_T
    steps: list  # per step, the transform chain's caches


def forward(W_hx, W_hh, b_h, x, f: Activation, chain: TransformChain, params, h0=None) -> VanillaCache:
    x = x.astype(W_hh.dtype, copy=False)
    T, B, _ = x.shape
    H = W_hh.shape[0]
    a = np.empty((T, B, H), dtype=W_hh.dtype)
    z = np.empty_like(a) if chain else a
    h = np.empty((T + 1, B, H), dtype=W_hh.dtype)
    h[0] = 0.0 if h0 is None else h0
    steps = []
    W_hx_T = np.ascontiguousarray(W_hx.T)
    W_hh_T = np.ascontiguousarray(W_hh.T)
    for t in range(T):
        np.matmul(x[t], W_hx_T, out=a[t])
        a[t] += h[t] @ W_hh_T
        a[t] += b_h
        if chain:
            z[t], caches = chain.forward(a[t], params)
            steps.append(caches)
        h[t + 1] = f.forward(z[t])
    return VanillaCache(x=x, a=a, z=z, h=h, steps=steps)


def backward(W_hh, cache: VanillaCache, d, f: Activation, chain: TransformChain, params,
             grads, truncate=None):
    """Return (dW_hx, dW_hh, db_h) and g, with g[t-1] = dL/dh_t, t = 1..T.

    The transforms' parameter gradients are added to ``grads``."""
    z, h, x = cache.z, cache.h, cache.x
    T, B, H = z.shape
    cut = cut_before(T, truncate)
    g = np.empty_like(z)
    delta = np.empty_like(z)
    carry = np.zeros((B, H), dtype=z.dtype)  # W_hh^T delta_{t+1}; zero past the last step
    for t in range(T - 1, -1, -1):
        np.add(d[t], carry, out=g[t])
        np.multiply(f.derivative(z[t], h[t + 1]), g[t], out=delta[t])
        if chain:
            delta[t] = chain.backward(delta[t], cache.steps[t], params, grads)
        if t and cut[t - 1]:
            carry.fill(0.0)
        else:
            np.matmul(delta[t], W_hh, out=carry)
    delta2 = delta.reshape(T * B, H)
    dW_hx = delta2.T @ x.reshape(T * B, -1)
    dW_hh = delta2.T @ h[:-1].reshape(T * B, H)
    db_h = delta2.sum(axis=0)
    return (dW_hx, dW_hh, db_h), g
