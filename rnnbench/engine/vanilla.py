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
Only the recursion loops over t. Rows are batch elements, so W v becomes v @ W.T.
Each step makes ONE product: the state s_t = [x_t, h_{t-1}, 1] (B, I+H+1) is kept
in one buffer, where h_t is written in place, and multiplied by the contiguous
stacked W^T = [W_hx^T; W_hh^T; b_h^T], so the bias costs no separate pass.
Backwards, tanh's and relu's f'(a) * g are one compiled pass each
(:mod:`rnnbench.engine.activation_kernels`), the other activations numpy's;
W_hh^T delta_t is written straight into g_{t-1}, and d_{t-1} added only at the
steps that carry a loss. The weight gradients, [dW_hx, dW_hh, db_h] =
sum_t delta_t^T [x_t, h_{t-1}, 1], are multiplied out in cache-sized blocks
while the loop runs (:class:`rnnbench.engine.step_products.StepProducts`). The
cell stays in row layout, unlike the gated cells (see
:mod:`rnnbench.engine.columns` for why).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnbench.engine.activations import Activation
from rnnbench.engine.step_products import StepProducts
from rnnbench.engine.bptt import cut_before, loss_at
from rnnbench.engine.transforms import TransformChain


def stacked_state(x: np.ndarray, hidden: int, dtype, h0=None) -> np.ndarray:
    """s (T+1, B, I+H+1) with s[t] = [x_{t+1}, h_t, 1]: x and the constant 1
    filled in (x_{T+1} := 0), h_0 from ``h0`` (zero if None); the recursion
    writes h_t into s[t, :, I:I+H]."""
    T, B, I = x.shape
    s = np.empty((T + 1, B, I + hidden + 1), dtype=dtype)
    s[:T, :, :I] = x
    s[T, :, :I] = 0.0
    s[0, :, I : I + hidden] = 0.0 if h0 is None else h0
    s[:, :, I + hidden] = 1.0
    return s


def stacked_weights(W_hx, W_hh, b_h) -> np.ndarray:
    """[W_hx^T; W_hh^T; b_h^T] (I+H+1, G*H), contiguous."""
    I = W_hx.shape[1]
    W = np.empty((I + W_hh.shape[1] + 1, W_hh.shape[0]), dtype=W_hh.dtype)
    W[:I] = W_hx.T
    W[I:-1] = W_hh.T
    W[-1] = b_h
    return W


@dataclasses.dataclass
class VanillaCache:
    x: np.ndarray  # (T, B, I)
    a: np.ndarray  # (T, B, H): a_1..a_T
    z: np.ndarray  # (T, B, H): z_1..z_T (the same array as a without transforms)
    h: np.ndarray  # (T + 1, B, H): h_0..h_T, a view into s
    steps: list  # per step, the transform chain's caches
    s: np.ndarray  # (T + 1, B, I+H+1): [x_{t+1}, h_t, 1], see stacked_state


def forward(W_hx, W_hh, b_h, x, f: Activation, chain: TransformChain, params, h0=None) -> VanillaCache:
    dtype = W_hh.dtype
    T, B, I = x.shape
    H = W_hh.shape[0]
    s = stacked_state(x, H, dtype, h0)
    h = s[:, :, I : I + H]
    a = np.empty((T, B, H), dtype=dtype)
    z = np.empty_like(a) if chain else a
    steps = []
    W = stacked_weights(W_hx, W_hh, b_h)
    chain_on = bool(chain)
    for t in range(T):
        np.matmul(s[t], W, out=a[t])
        if chain_on:
            z[t], caches = chain.forward(a[t], params)
            steps.append(caches)
        f.forward(z[t], out=h[t + 1])
    return VanillaCache(x=x, a=a, z=z, h=h, steps=steps, s=s)


def backward(W_hh, cache: VanillaCache, d, f: Activation, chain: TransformChain, params,
             grads, truncate=None, loss_steps=None):
    """Return (dW_hx, dW_hh, db_h) and g, with g[t-1] = dL/dh_t, t = 1..T.

    The transforms' parameter gradients are added to ``grads``."""
    z, h, s = cache.z, cache.h, cache.s
    T, B, H = z.shape
    I = s.shape[2] - H - 1
    cut = cut_before(T, truncate)
    has_loss = loss_at(d, loss_steps)  # the steps whose d_t may not be zero
    W = np.ascontiguousarray(W_hh)
    g = np.empty_like(z)
    products = StepProducts(H, s[:T], layout="rows")  # delta_t and sum_t delta_t s_t^T
    g[T - 1] = d[T - 1]
    chain_on = bool(chain)
    for t in range(T - 1, -1, -1):
        block, j = products.slot(t)
        delta = block[j : j + B]
        if f.kernel is not None:
            f.kernel(z[t], s[t + 1], I, g[t], delta)  # the same f'(a) * g, compiled
        else:
            f.backprop(z[t], h[t + 1], g[t], out=delta)
        if chain_on:
            delta[...] = chain.backward(delta, cache.steps[t], params, grads)
        products.done(t)
        if t == 0:
            break
        if cut[t - 1]:
            g[t - 1] = d[t - 1]
        else:
            np.matmul(delta, W, out=g[t - 1])
            if has_loss[t - 1]:
                g[t - 1] += d[t - 1]
    dW = products.result()
    return (dW[:, :I].copy(), dW[:, I : I + H].copy(), dW[:, I + H].copy()), g
