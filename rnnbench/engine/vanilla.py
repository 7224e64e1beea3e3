"""The vanilla (Elman) cell, h_t = f(W_hx x_t + W_hh h_{t-1} + b_h), whole: the
class a suite selects as ``cell = "vanilla"`` (:class:`VanillaCell`: its
parameters, initialisation, and which path it runs) and its forward pass and
backpropagation through time, the fast path.

The same maths one line per formula, without the speed work, is
:func:`rnnbench.engine.textbook.vanilla_forward` and ``vanilla_backward``; the
tests hold the two equal to round-off, and without numba the cell runs those
(:mod:`rnnbench.engine.fast`).

The textbook's symbols and equation numbers (V1)-(V6). Forward, t = 1..T,
from h_0 (zero unless given; arrays are indexed from 0: ``h[t]`` is h_t,
``a[t-1]`` is a_t):
    (V1) a_t = W_hx x_t + W_hh h_{t-1} + b_h
    (V2) z_t = N(a_t)       the remedies' summed-input transforms (identity if none)
    (V3) h_t = f(z_t)
Backward, from d_t, the part of dL/dh_t that reaches h_t directly from the
read-out at step t (zero where no loss is), to g_t = dL/dh_t, the total gradient:
    (V4) g_T = d_T,  g_t = d_t + W_hh^T delta_{t+1}
    (V5) delta_t = dL/da_t = N'(a_t)^T (f'(z_t) * g_t)
    (V6) dW_hx = sum_t delta_t x_t^T,  dW_hh = sum_t delta_t h_{t-1}^T,  db_h = sum_t delta_t
Truncated BPTT drops the W_hh^T delta_{t+1} term at every cut.
Only the recursion loops over t. It runs in column layout, as the formulas are
written (:mod:`rnnbench.engine.columns`): a step's a_t, h_t, g_t and delta_t are
(H, B) arrays, one column per sequence. Each step makes ONE product: the state
s_t = [x_t; h_{t-1}; 1] (I+H+1, B) is kept in one buffer, where h_t is written
in place, and multiplied by the contiguous W = [W_hx, W_hh, b_h], so the bias
costs no separate pass. Backwards, tanh's and relu's f'(a) * g are one compiled
pass each (:mod:`rnnbench.engine.activation_kernels`), the other activations
numpy's; W_hh^T delta_t is written straight into g_{t-1}, and d_{t-1} added only
at the steps that carry a loss. The weight gradients, [dW_hx, dW_hh, db_h] =
sum_t delta_t [x_t; h_{t-1}; 1]^T, are multiplied out in cache-sized blocks
while the loop runs (:class:`rnnbench.engine.step_products.StepProducts`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnbench.api import Cell, Params
from rnnbench.engine import fast, textbook
from rnnbench.engine.activations import ACTIVATION_NAMES, Activation, activation
from rnnbench.engine.bptt import cut_before, loss_at
from rnnbench.engine.columns import column_state, column_weights, matmul_blocks, row_blocks, rows
from rnnbench.engine.initialisation import INITS, initial_params
from rnnbench.engine.step_products import StepProducts
from rnnbench.engine.transforms import TransformChain


class VanillaCell(Cell):
    """Elman RNN, h_t = f(W_hx x_t + W_hh h_{t-1} + b_h).

    Initialisations: ``uniform``, every weight U(-1/sqrt(H), 1/sqrt(H)) (the
    common default of deep-learning libraries); ``normal``, every weight
    N(0, 1/fan_in). Biases start at zero.
    """

    name = "vanilla"
    activations = ACTIVATION_NAMES
    inits = INITS

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        self.activation = activation(config.activation, **config.activation_params)
        self.chain = TransformChain(self.transforms, "h", 1, config.hidden_size)

    def init_params(self, rng: np.random.Generator) -> Params:
        return initial_params(rng, self.config, 1, self.chain)

    def forward(self, params: Params, x: np.ndarray):
        cache = forward(  # the module's forward, below: the fast path, or the textbook one
            params["W_hx"], params["W_hh"], params["b_h"], x, self.activation, self.chain, params
        )
        return cache.h[1:], cache

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        grads = self.chain.zero_grads(params)
        (dW_hx, dW_hh, db_h), g = backward(
            params["W_hh"], cache, dh_out, self.activation, self.chain, params, grads, truncate, loss_steps
        )
        grads.update(W_hx=dW_hx, W_hh=dW_hh, b_h=db_h)
        return grads, g

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        return params["W_hh"]

    def max_derivative(self) -> float:
        return self.activation.max_derivative


@dataclasses.dataclass
class VanillaCache:
    x: np.ndarray  # (T, B, I)
    z_col: np.ndarray  # (T, H, B): z_1..z_T (a_1..a_T without transforms)
    steps: list  # per step, the transform chain's caches
    s: np.ndarray  # (T + 1, I+H+1, B): [x_{t+1}; h_t; 1], see columns.column_state

    @property
    def h(self) -> np.ndarray:
        """h_0..h_T, (T + 1, B, H) (a view)."""
        I = self.x.shape[2]
        return rows(self.s[:, I : I + self.z_col.shape[1]])


def forward(W_hx, W_hh, b_h, x, f: Activation, chain: TransformChain, params, h0=None):
    if not fast.enabled():  # no numba: the textbook recursion, and its BPTT below
        return textbook.vanilla_forward(W_hx, W_hh, b_h, x, f, chain, params, h0)
    dtype = W_hh.dtype
    T, B, I = x.shape
    H = W_hh.shape[0]
    s = column_state(x, H, dtype, h0)
    h = s[:, I : I + H]  # (T + 1, H, B)
    z = np.empty((T, H, B), dtype=dtype)
    a = np.empty((H, B), dtype=dtype) if chain else None  # a_t, where transforms make z_t of it
    steps = []
    W = column_weights(W_hx, W_hh, b_h)  # (H, I+H+1)
    chain_on = bool(chain)
    blocks = row_blocks(H, W.shape[1], B)
    for t in range(T):
        if chain_on:
            matmul_blocks(W, s[t], a, blocks)  # a_t = W s_t
            zt, caches = chain.forward(a.T, params)  # the transforms see (B, H) rows
            z[t] = zt.T
            steps.append(caches)
        else:
            matmul_blocks(W, s[t], z[t], blocks)  # z_t = a_t = W s_t
        f.forward(z[t], out=h[t + 1])  # h_t = f(z_t)
    return VanillaCache(x=x, z_col=z, steps=steps, s=s)


def backward(W_hh, cache: VanillaCache, d, f: Activation, chain: TransformChain, params,
             grads, truncate=None, loss_steps=None):
    """Return (dW_hx, dW_hh, db_h) and g, with g[t-1] = dL/dh_t, t = 1..T, (T, B, H) like ``d``.

    The transforms' parameter gradients are added to ``grads``."""
    if isinstance(cache, textbook.VanillaSteps):
        return textbook.vanilla_backward(W_hh, cache, d, f, chain, params, grads, truncate)
    z, s = cache.z_col, cache.s
    T, H, B = z.shape
    I = s.shape[1] - H - 1
    h = s[:, I : I + H]
    cut = cut_before(T, truncate)
    has_loss = loss_at(d, loss_steps)  # the steps whose d_t may not be zero
    d = d.transpose(0, 2, 1)  # (T, H, B)
    W = np.ascontiguousarray(W_hh.T)  # g_{t-1} = W_hh^T delta_t
    g = np.empty_like(z)
    products = StepProducts(H, s[:T])  # delta_t and sum_t delta_t s_t^T
    g[T - 1] = d[T - 1]
    chain_on = bool(chain)
    blocks = row_blocks(H, H, B)
    for t in range(T - 1, -1, -1):
        block, j = products.slot(t)
        delta = block[:, j : j + B]
        if f.kernel is not None:
            f.kernel(z[t], h[t + 1], g[t], block, j)  # the same f'(z) * g, compiled
        else:
            f.backprop(z[t], h[t + 1], g[t], out=delta)
        if chain_on:
            delta[...] = chain.backward(delta.T, cache.steps[t], params, grads).T
        products.done(t)
        if t == 0:
            break
        if cut[t - 1]:
            g[t - 1] = d[t - 1]
        else:
            matmul_blocks(W, delta, g[t - 1], blocks)
            if has_loss[t - 1]:
                g[t - 1] += d[t - 1]
    dW = products.result()
    return (dW[:, :I], dW[:, I : I + H], dW[:, I + H]), rows(g)
