"""The gated recurrent unit, whole: the class a suite selects as ``cell = "gru"``
(:class:`GRUCell`: its parameters, initialisation, and which path it runs) and
its forward pass and backpropagation through time, the fast path.

The same maths one line per formula, without the speed work, is
:func:`rnnbench.engine.textbook.gru_forward` and ``gru_backward``; the tests
hold the two equal to round-off, and without numba the cell runs those
(:mod:`rnnbench.engine.fast`).

The GRU of Cho et al. 2014 ("Learning Phrase Representations using RNN
Encoder-Decoder for Statistical Machine Translation", section 2.3, eqs. 5-8) in
its original "reset before" form -- the reset gate multiplies h_{t-1} *before*
the recurrent product of the candidate (not after it, as cuDNN and PyTorch do),
as also used by Chung et al. 2014 ("Empirical Evaluation of Gated Recurrent
Neural Networks on Sequence Modeling", eqs. 5-8). The gate blocks are stacked
r, z, n in W_hx (3H, I), W_hh (3H, H), b_h (3H,): W_r = W_hx[:H], W_z =
W_hx[H:2H], W_n = W_hx[2H:], likewise U_r, U_z, U_n for W_hh and b_r, b_z, b_n.

Forward, t = 1..T, from h_0 (zero unless given; arrays are indexed from 0:
``h[t]`` is h_t, ``a[t-1]`` is a_t and so on):
    a_t = [W_r; W_z] x_t + [U_r; U_z] h_{t-1} + [b_r; b_z]     (B, 2H), site "gates"
    [ar_t; az_t] = N_g(a_t)      the remedies' transforms (identity if none), 2 blocks
    r_t = sigmoid(ar_t),  z_t = sigmoid(az_t)                  reset and update gates
    m_t = W_n x_t + U_n (r_t * h_{t-1}) + b_n                  (B, H), site "candidate"
    n_t = tanh(N_c(m_t))                                       the candidate state
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}
This is Cho et al.'s eq. 7 (z_t keeps the old state); Chung et al.'s eq. 5 swaps
z_t and 1 - z_t, the same cell with the sign of the update gate's summed input
flipped. Cho et al. leave the biases out of their equations; here every block
has one. The update gate interpolates between the old state and the candidate,
so dh_t/dh_{t-1} contains the diagonal term z_t: where z_t is near 1 the
gradient crosses many steps almost unchanged.

Backward, in the textbook's symbols ((G6)-(G11) of :mod:`rnnbench.engine.textbook`),
given d_t, the gradient that reaches h_t from the read-out at step t:
    g_T = d_T,  g_t = d_t + e_{t+1}                              g_t = dL/dh_t, the total
    dn_t  = (1 - z_t) * g_t
    dz_t  = (h_{t-1} - n_t) * g_t
    dm_t  = dL/dm_t  = N_c'(m_t)^T ((1 - n_t^2) * dn_t)           the candidate's delta
    q_t   = U_n^T dm_t                                           dL/d(r_t * h_{t-1})
    da_t  = dL/da_t  = N_g'(a_t)^T [r_t (1 - r_t) * h_{t-1} * q_t;  z_t (1 - z_t) * dz_t]
    e_t   = dL/dh_{t-1} through step t
          = z_t * g_t + r_t * q_t + [U_r; U_z]^T da_t
    dW_hx = sum_t [da_t; dm_t] x_t^T,  db_h = sum_t [da_t; dm_t]
    dW_hh[:2H] = sum_t da_t h_{t-1}^T,  dW_hh[2H:] = sum_t dm_t (r_t * h_{t-1})^T
Truncated BPTT drops e_{t+1} at every cut: no gradient crosses it through any
path (the gates and the candidate both read h_{t-1}, and all of e_t is dropped).

Layout and products: the recursion runs in column layout (a step's blocks are
(H, B), see :mod:`rnnbench.engine.columns`). The gates are ONE product per step,
a_t = [W_rz, U_rz, b_rz] [x_t; h_{t-1}; 1], and so is the candidate,
m_t = [W_n, U_n, b_n] [x_t; r_t * h_{t-1}; 1]: each stacked state is one
buffer where the recursion writes h_{t-1} or r_t * h_{t-1}, x and the constant
1 filled in once (the reset gate must be known before the candidate's product,
so the "reset before" form cannot fuse the two). Backwards, one product per
step for q_t = U_n^T dm_t and one for [U_r; U_z]^T da_t. The sigmoids are
(1 + tanh(a/2))/2, the 1/2 folded into the gates' weights when no transform
sits between product and gates. The element-wise work is four compiled passes
(:mod:`rnnbench.engine.gru_kernels`). The weight gradients are gathered while
the loop runs, in cache-sized blocks (:class:`rnnbench.engine.step_products.StepProducts`):
[dW_rz, dU_rz, db_rz] = sum_t da_t [x_t; h_{t-1}; 1]^T and
[dW_n, dU_n, db_n] = sum_t dm_t [x_t; r_t * h_{t-1}; 1]^T.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnbench.api import Cell, Params
from rnnbench.engine import fast, textbook
from rnnbench.engine.bptt import cut_before, loss_at
from rnnbench.engine.columns import column_state, column_weights, matmul_blocks, row_blocks, rows
from rnnbench.engine.initialisation import INITS, initial_params
from rnnbench.engine.step_products import StepProducts
from rnnbench.engine.transforms import TransformChain


class GRUCell(Cell):
    """GRU with reset gate r, update gate z and candidate n, stacked r, z, n in
    ``W_hx`` (3H, I), ``W_hh`` (3H, H) and ``b_h`` (3H,).

    Its gates are sigmoids and its candidate a tanh, whatever the variant's
    activation (only "tanh" is accepted). Summed-input transforms act at two
    sites: "gates", the summed inputs of r and z (2 blocks of H units), and
    "candidate", that of n (1 block).

    Initialisations: ``uniform``, every weight U(-1/sqrt(H), 1/sqrt(H)) (the
    common default of deep-learning libraries); ``normal``, every weight
    N(0, 1/fan_in). Biases start at zero.
    """

    name = "gru"
    activations = ("tanh",)
    inits = INITS

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        H = config.hidden_size
        self.gates = TransformChain(self.transforms, "gates", 2, H)
        self.candidate = TransformChain(self.transforms, "candidate", 1, H)

    def init_params(self, rng: np.random.Generator) -> Params:
        return initial_params(rng, self.config, 3, self.gates, self.candidate)

    def forward(self, params: Params, x: np.ndarray):
        cache = forward(  # the module's forward, below: the fast path, or the textbook one
            params["W_hx"], params["W_hh"], params["b_h"], x, self.gates, self.candidate, params
        )
        return cache.h[1:], cache

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        grads = {**self.gates.zero_grads(params), **self.candidate.zero_grads(params)}
        (dW_hx, dW_hh, db_h), g = backward(
            params["W_hh"], cache, dh_out, self.gates, self.candidate, params, grads, truncate, loss_steps
        )
        grads.update(W_hx=dW_hx, W_hh=dW_hh, b_h=db_h)
        return grads, g

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        """All three blocks [U_r; U_z; U_n] (3H, H). For a gated cell the bound
        ||W_hh||_2 * max|f'| on the per-step gradient factor is only indicative:
        dh_t/dh_{t-1} = diag(z_t) + (terms through the gates and U_n), and the
        gates' sigmoids (max slope 1/4) and the interpolation are not in it."""
        return params["W_hh"]

    def max_derivative(self) -> None:
        """None: no bound ||W_hh||_2 max|f'| holds for a gated cell (see
        ``recurrent_matrix``)."""
        return None


@dataclasses.dataclass
class GRUCache:
    x: np.ndarray  # (T, B, I)
    rz: np.ndarray  # (T, 2H, B): [r_t; z_t], t = 1..T
    n: np.ndarray  # (T, H, B): n_t
    s: np.ndarray  # (T + 1, I+H+1, B): [x_{t+1}; h_t; 1]
    sr: np.ndarray  # (T + 1, I+H+1, B): [x_{t+1}; r_{t+1} * h_t; 1]
    gate_steps: list  # per step, the "gates" chain's caches
    candidate_steps: list  # per step, the "candidate" chain's caches

    @property
    def h(self) -> np.ndarray:
        """h_0..h_T, (T + 1, B, H) (a view)."""
        I = self.x.shape[2]
        return rows(self.s[:, I : I + self.n.shape[1]])


def forward(W_hx, W_hh, b_h, x, gates: TransformChain, candidate: TransformChain, params,
            h0=None):
    if not fast.enabled():  # no numba: the textbook recursion, and its BPTT below
        return textbook.gru_forward(W_hx, W_hh, b_h, x, gates, candidate, params, h0)
    from rnnbench.engine import gru_kernels as kernels  # numba, imported when first needed

    T, B, I = x.shape
    H = W_hh.shape[1]
    dtype = W_hh.dtype
    s = column_state(x, H, dtype, h0)
    sr = column_state(x, H, dtype)
    h, rh = s[:, I : I + H], sr[:, I : I + H]
    rz = np.empty((T, 2 * H, B), dtype=dtype)
    n = np.empty((T, H, B), dtype=dtype)
    W_g = column_weights(W_hx[: 2 * H], W_hh[: 2 * H], b_h[: 2 * H])  # (2H, K)
    W_n = column_weights(W_hx[2 * H :], W_hh[2 * H :], b_h[2 * H :])  # (H, K)
    gate_steps, candidate_steps = [], []
    if gates:
        a = np.empty((2 * H, B), dtype=dtype)
    else:
        W_g *= 0.5  # tanh(a/2) for both sigmoids
    if candidate:
        m = np.empty((H, B), dtype=dtype)
    gate_blocks = row_blocks(2 * H, W_g.shape[1], B)
    candidate_blocks = row_blocks(H, W_n.shape[1], B)
    for t in range(T):
        act = rz[t]
        if gates:
            matmul_blocks(W_g, s[t], a, gate_blocks)
            za, caches = gates.forward(a.T, params)  # the transforms see (B, 2H) rows
            gate_steps.append(caches)
            np.multiply(za.T, 0.5, out=act)
        else:
            matmul_blocks(W_g, s[t], act, gate_blocks)
        np.tanh(act, out=act)
        kernels.gates_and_reset(act, h[t], rh[t])  # r, z = (1 + act)/2; r_t * h_{t-1}
        if candidate:
            matmul_blocks(W_n, sr[t], m, candidate_blocks)
            zm, caches = candidate.forward(m.T, params)
            candidate_steps.append(caches)
            np.tanh(zm.T, out=n[t])
        else:
            matmul_blocks(W_n, sr[t], n[t], candidate_blocks)
            np.tanh(n[t], out=n[t])
        kernels.interpolate(act[H:], n[t], h[t], h[t + 1])  # h_t = (1 - z) n + z h_{t-1}
    return GRUCache(x=x, rz=rz, n=n, s=s, sr=sr, gate_steps=gate_steps, candidate_steps=candidate_steps)


def backward(W_hh, cache: GRUCache, d, gates: TransformChain, candidate: TransformChain, params,
             grads, truncate=None, loss_steps=None):
    """Return (dW_hx, dW_hh, db_h) and g, with g[t-1] = dL/dh_t, t = 1..T, (T, B, H) like ``d``.

    The transforms' parameter gradients are added to ``grads``."""
    if isinstance(cache, textbook.GRUSteps):
        return textbook.gru_backward(W_hh, cache, d, gates, candidate, params, grads, truncate)
    from rnnbench.engine import gru_kernels as kernels  # numba, imported when first needed

    rz, n, s, sr = cache.rz, cache.n, cache.s, cache.sr
    T, H, B = n.shape
    I = s.shape[1] - H - 1
    h = s[:, I : I + H]
    dtype = n.dtype
    cut = cut_before(T, truncate)
    has_loss = loss_at(d, loss_steps)  # the steps whose d_t may not be zero
    d = d.transpose(0, 2, 1)  # (T, H, B)
    U_rz_T = np.ascontiguousarray(W_hh[: 2 * H].T)  # (H, 2H)
    U_n_T = np.ascontiguousarray(W_hh[2 * H :].T)  # (H, H)
    g = np.empty((T, H, B), dtype=dtype)
    q = np.empty((H, B), dtype=dtype)
    carry = np.empty((H, B), dtype=dtype)  # z_t g_t + r_t q_t, the first two terms of e_t
    gate_products = StepProducts(2 * H, s[:T])  # da_t and sum_t da_t [x_t; h_{t-1}; 1]^T
    candidate_products = StepProducts(H, sr[:T])  # dm_t and sum_t dm_t [x_t; r_t h_{t-1}; 1]^T
    g[T - 1] = d[T - 1]
    n_blocks = row_blocks(H, H, B)  # for U_n^T dm
    rz_blocks = row_blocks(H, 2 * H, B)  # for [U_r; U_z]^T da
    for t in range(T - 1, -1, -1):
        # candidate: dm = N_c'^T ((1 - n^2) (1 - z) g); q = U_n^T dm
        block, j = candidate_products.slot(t)
        kernels.candidate_backward(rz[t], n[t], g[t], block, j)
        dm = block[:, j : j + B]
        if candidate:
            dm[:] = candidate.backward(dm.T, cache.candidate_steps[t], params, grads).T
        candidate_products.done(t)
        matmul_blocks(U_n_T, dm, q, n_blocks)
        # gates: da = N_g'^T [r(1-r) h_{t-1} q; z(1-z) (h_{t-1} - n) g]
        block, j = gate_products.slot(t)
        kernels.gates_backward(rz[t], h[t], n[t], g[t], q, block, j, carry)
        da = block[:, j : j + B]
        if gates:
            da[:] = gates.backward(da.T, cache.gate_steps[t], params, grads).T
        gate_products.done(t)
        if t == 0:
            break
        if cut[t - 1]:
            g[t - 1] = d[t - 1]
        else:
            # g_{t-1} = d_{t-1} + z g + r q + [U_r; U_z]^T da
            matmul_blocks(U_rz_T, da, g[t - 1], rz_blocks)
            g[t - 1] += carry
            if has_loss[t - 1]:
                g[t - 1] += d[t - 1]
    dW_g = gate_products.result()  # (2H, I+H+1)
    dW_n = candidate_products.result()  # (H, I+H+1)
    dW_hx = np.concatenate([dW_g[:, :I], dW_n[:, :I]])
    dW_hh = np.concatenate([dW_g[:, I : I + H], dW_n[:, I : I + H]])
    db_h = np.concatenate([dW_g[:, I + H], dW_n[:, I + H]])
    return (dW_hx, dW_hh, db_h), rows(g)
