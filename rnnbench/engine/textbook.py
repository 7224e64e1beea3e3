"""The textbook cells: the forward pass and the BPTT of each built-in cell, one
line per formula.

This is the file to read to learn backpropagation through time. It is plain
numpy written the way the maths is written: column vectors, a step's vector
being a (units, B) block with one column per sequence of the batch, and every
quantity indexed by its step t = 1..T (``h[t]`` is h_t, ``h[0]`` the initial
state). Each line of a forward or backward pass is one formula below, and its
comment gives the formula's number. Nothing here is tuned for speed. The fast
path of each cell (:mod:`rnnbench.engine.vanilla`, :mod:`rnnbench.engine.lstm`,
:mod:`rnnbench.engine.gru`, with compiled kernels) computes the same
quantities in another order and layout, and the tests hold it equal to these
functions to round-off for every combination of cell, activation and remedies
that validation accepts. Where numba is missing the cells run these functions
(:mod:`rnnbench.engine.fast`).

Notation, that of "The maths" in plugins/README.md: x_t is the input at step
t, h_t the hidden state, d_t the part of dL/dh_t that reaches h_t directly from
the read-out at step t (W_hy^T dl/do_t; zero at the steps without a loss),
g_t = dL/dh_t the total gradient, through every later step as well. ``*``
multiplies element-wise; sigma is the logistic function, sigma' = sigma (1 -
sigma), tanh' = 1 - tanh^2.

The remedies enter in two places:

- summed-input transforms (layer normalisation): z_t = N(a_t) sits between a
  summed input and its non-linearity; backwards, dL/da_t = N'(a_t)^T dL/dz_t.
  The transforms add the gradients of their own parameters to ``grads``.
  Without any transform N is the identity, z_t = a_t;
- truncated BPTT with k steps (Williams & Peng 1990): the sequence is cut after
  every step t < T with T - t a multiple of k, and nothing flows back from
  step t + 1 into step t: the state at a cut is a constant. Every carried term
  of the backward recursion is zero there, as it is at t = T.

Vanilla cell (Elman 1990), W_hx (H, I), W_hh (H, H), b_h (H,):

    (V1) a_t = W_hx x_t + W_hh h_{t-1} + b_h
    (V2) z_t = N(a_t)
    (V3) h_t = f(z_t)
    (V4) g_t = W_hh^T delta_{t+1} + d_t            (g_T = d_T)
    (V5) delta_t = dL/da_t = N'(a_t)^T (f'(z_t) * g_t)     (f'(a_t) * g_t without N)
    (V6) dW_hx = sum_t delta_t x_t^T,  dW_hh = sum_t delta_t h_{t-1}^T,  db_h = sum_t delta_t

LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers, Schmidhuber
& Cummins 2000; no peepholes), gate blocks stacked i, f, g, o in W_hx (4H, I),
W_hh (4H, H), b_h (4H,). Here g_t is the candidate, so the gradients are
called gh_t = dL/dh_t and gc_t = dL/dc_t:

    (L1) a_t = W_hx x_t + W_hh h_{t-1} + b_h                  [a_i; a_f; a_g; a_o]
    (L2) z_t = N(a_t)                                         per gate block
    (L3) i_t = sigma(z_i),  f_t = sigma(z_f),  g_t = tanh(z_g),  o_t = sigma(z_o)
    (L4) c_t = f_t * c_{t-1} + i_t * g_t
    (L5) h_t = o_t * tanh(c_t)
    (L6) gh_t = W_hh^T delta_{t+1} + d_t                      (gh_T = d_T)
    (L7) gc_t = gh_t * o_t * (1 - tanh^2(c_t)) + f_{t+1} * gc_{t+1}    (no carried term at T)
    (L8) dL/dz_t = [gc_t * g_t * i_t (1 - i_t);  gc_t * c_{t-1} * f_t (1 - f_t);
                    gc_t * i_t * (1 - g_t^2);    gh_t * tanh(c_t) * o_t (1 - o_t)]
    (L9) delta_t = dL/da_t = N'(a_t)^T dL/dz_t
    (L10) dW_hx = sum_t delta_t x_t^T,  dW_hh = sum_t delta_t h_{t-1}^T,  db_h = sum_t delta_t

GRU (Cho et al. 2014, section 2.3, eqs. 5-8, "reset before": the reset gate
multiplies h_{t-1} before the candidate's recurrent product), blocks r, z, n
stacked in W_hx = [W_r; W_z; W_n] (3H, I), W_hh = [U_r; U_z; U_n] (3H, H),
b_h = [b_r; b_z; b_n]; W_rz = [W_r; W_z] and likewise U_rz, b_rz. The
transforms act at two sites, N_g on the gates' summed input and N_c on the
candidate's:

    (G1) a_t = W_rz x_t + U_rz h_{t-1} + b_rz                 [a_r; a_z], the gates'
    (G2) [r_t; z_t] = sigma(N_g(a_t))                         reset and update gates
    (G3) m_t = W_n x_t + U_n (r_t * h_{t-1}) + b_n            the candidate's
    (G4) n_t = tanh(N_c(m_t))                                 the candidate
    (G5) h_t = (1 - z_t) * n_t + z_t * h_{t-1}
    (G6) g_t = e_{t+1} + d_t                                  (g_T = d_T)
    (G7) dm_t = dL/dm_t = N_c'(m_t)^T ((1 - n_t^2) * (1 - z_t) * g_t)
    (G8) q_t = dL/d(r_t * h_{t-1}) = U_n^T dm_t
    (G9) da_t = dL/da_t = N_g'(a_t)^T [r_t (1 - r_t) * h_{t-1} * q_t;
                                       z_t (1 - z_t) * (h_{t-1} - n_t) * g_t]
    (G10) e_t = dL/dh_{t-1} through step t = z_t * g_t + r_t * q_t + U_rz^T da_t
    (G11) dW_rz = sum_t da_t x_t^T,  dU_rz = sum_t da_t h_{t-1}^T,  db_rz = sum_t da_t,
          dW_n = sum_t dm_t x_t^T,   dU_n = sum_t dm_t (r_t * h_{t-1})^T,  db_n = sum_t dm_t

The functions take and return what the fast path's do (the cells call either):
x and d as (T, B, I) and (T, B, H) arrays, the gradients g as (T, B, H) with
g[t-1] = g_t, the weight gradients as (dW_hx, dW_hh, db_h).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnbench.engine.activations import Activation
from rnnbench.engine.transforms import TransformChain


# --- the shared pieces ------------------------------------------------------------------------


def by_step(X: np.ndarray) -> dict[int, np.ndarray]:
    """A (T, B, n) array as the column blocks x[1], ..., x[T], each (n, B)."""
    return {t: X[t - 1].T for t in range(1, X.shape[0] + 1)}


def as_rows(v: dict[int, np.ndarray]) -> np.ndarray:
    """v[1], ..., v[T], each (n, B), as one (T, B, n) array: the layout of the rest of the engine."""
    return np.stack([v[t].T for t in range(1, len(v) + 1)])


def states(X: np.ndarray, H: int, v0, dtype) -> np.ndarray:
    """A (T+1, H, B) array for v[0], ..., v[T], with v[0] from ``v0`` ((B, H); zero if None)."""
    T, B, _ = X.shape
    v = np.zeros((T + 1, H, B), dtype=dtype)
    if v0 is not None:
        v[0] = np.asarray(v0).T
    return v


def sigmoid(a: np.ndarray) -> np.ndarray:
    """sigma(a) = 1 / (1 + e^-a), written as (1 + tanh(a/2)) / 2, which never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def transform(N: TransformChain, a: np.ndarray, params):
    """z = N(a) for a (units, B) block, and the transforms' cache for the backward
    pass. The transforms take the batch as rows, hence the transposes."""
    z, cache = N.forward(a.T, params)
    return z.T, cache


def transform_back(N: TransformChain, dz: np.ndarray, cache, params, grads) -> np.ndarray:
    """dL/da = N'(a)^T dL/dz for a (units, B) block; the transforms add their own
    parameters' gradients to ``grads``."""
    return N.backward(dz.T, cache, params, grads).T


def carried(t: int, T: int, truncate: int | None) -> bool:
    """Whether gradient flows back from step t + 1 into step t: not from beyond
    the last step, nor across a cut of truncated BPTT (after every step t with
    T - t a multiple of ``truncate``)."""
    return t < T and (truncate is None or (T - t) % truncate != 0)


# --- the vanilla cell -------------------------------------------------------------------------


@dataclasses.dataclass
class VanillaSteps:
    """What the forward pass keeps for BPTT."""

    x: dict  # x[t], (I, B)
    h_col: np.ndarray  # h[t], (T+1, H, B)
    z: dict  # z[t] = N(a_t)
    N: dict  # N[t], the transforms' cache of step t

    @property
    def h(self) -> np.ndarray:
        """h_0..h_T as (T+1, B, H), as the cells hand them out."""
        return self.h_col.transpose(0, 2, 1)


def vanilla_forward(W_hx, W_hh, b_h, X, f: Activation, N: TransformChain, params, h0=None) -> VanillaSteps:
    """(V1)-(V3) for t = 1..T, from h_0 = ``h0`` (zero if None), the inputs X[t-1] = x_t."""
    x = by_step(X)
    h = states(X, W_hh.shape[0], h0, W_hh.dtype)
    b_h = b_h[:, None]  # a column, added to every sequence's column
    z, caches = {}, {}
    for t in range(1, len(x) + 1):
        a = W_hx @ x[t] + W_hh @ h[t - 1] + b_h  # (V1)
        z[t], caches[t] = transform(N, a, params)  # (V2)
        h[t] = f.forward(z[t])  # (V3)
    return VanillaSteps(x, h, z, caches)


def vanilla_backward(W_hh, steps: VanillaSteps, D, f: Activation, N: TransformChain, params, grads,
                     truncate=None):
    """(V4)-(V6) for t = T..1, from D[t-1] = d_t. Return (dW_hx, dW_hh, db_h) and
    the g_t as a (T, B, H) array."""
    x, h, z = steps.x, steps.h_col, steps.z
    d = by_step(D)
    T = len(x)
    g, delta = {}, {}
    for t in range(T, 0, -1):
        g[t] = W_hh.T @ delta[t + 1] + d[t] if carried(t, T, truncate) else d[t]  # (V4)
        dz = f.derivative(z[t], h[t]) * g[t]  # (V5), dL/dz_t = f'(z_t) * g_t
        delta[t] = transform_back(N, dz, steps.N[t], params, grads)  # (V5), delta_t = N'(a_t)^T dL/dz_t
    dW_hx = sum(delta[t] @ x[t].T for t in range(1, T + 1))  # (V6)
    dW_hh = sum(delta[t] @ h[t - 1].T for t in range(1, T + 1))  # (V6)
    db_h = sum(delta[t].sum(axis=1) for t in range(1, T + 1))  # (V6)
    return (dW_hx, dW_hh, db_h), as_rows(g)


# --- the LSTM -----------------------------------------------------------------------------------


@dataclasses.dataclass
class LSTMSteps:
    """What the forward pass keeps for BPTT."""

    x: dict  # x[t], (I, B)
    h_col: np.ndarray  # h[t], (T+1, H, B)
    c_col: np.ndarray  # c[t], (T+1, H, B)
    i: dict  # the gates i[t], f[t], o[t] and the candidate g[t], (H, B) each
    f: dict
    g: dict
    o: dict
    N: dict  # N[t], the transforms' cache of step t

    @property
    def h(self) -> np.ndarray:
        """h_0..h_T as (T+1, B, H)."""
        return self.h_col.transpose(0, 2, 1)

    @property
    def c(self) -> np.ndarray:
        """c_0..c_T as (T+1, B, H)."""
        return self.c_col.transpose(0, 2, 1)


def lstm_forward(W_hx, W_hh, b_h, X, N: TransformChain, params, h0=None, c0=None) -> LSTMSteps:
    """(L1)-(L5) for t = 1..T, from h_0 = ``h0`` and c_0 = ``c0`` (zero if None)."""
    H = W_hh.shape[1]
    x = by_step(X)
    h = states(X, H, h0, W_hh.dtype)
    c = states(X, H, c0, W_hh.dtype)
    b_h = b_h[:, None]
    i, f, g, o, caches = {}, {}, {}, {}, {}
    for t in range(1, len(x) + 1):
        a = W_hx @ x[t] + W_hh @ h[t - 1] + b_h  # (L1)
        z, caches[t] = transform(N, a, params)  # (L2)
        i[t], f[t] = sigmoid(z[:H]), sigmoid(z[H : 2 * H])  # (L3)
        g[t], o[t] = np.tanh(z[2 * H : 3 * H]), sigmoid(z[3 * H :])  # (L3)
        c[t] = f[t] * c[t - 1] + i[t] * g[t]  # (L4)
        h[t] = o[t] * np.tanh(c[t])  # (L5)
    return LSTMSteps(x, h, c, i, f, g, o, caches)


def lstm_backward(W_hh, steps: LSTMSteps, D, N: TransformChain, params, grads, truncate=None):
    """(L6)-(L10) for t = T..1, from D[t-1] = d_t. Return (dW_hx, dW_hh, db_h), the
    gh_t and the gc_t, each as a (T, B, H) array."""
    x, h, c, i, f, g, o = steps.x, steps.h_col, steps.c_col, steps.i, steps.f, steps.g, steps.o
    d = by_step(D)
    T = len(x)
    gh, gc, delta = {}, {}, {}
    for t in range(T, 0, -1):
        if carried(t, T, truncate):
            gh[t] = W_hh.T @ delta[t + 1] + d[t]  # (L6)
            gc[t] = gh[t] * o[t] * (1 - np.tanh(c[t]) ** 2) + f[t + 1] * gc[t + 1]  # (L7)
        else:
            gh[t] = d[t]  # (L6), nothing carried
            gc[t] = gh[t] * o[t] * (1 - np.tanh(c[t]) ** 2)  # (L7), nothing carried
        dz = np.concatenate([
            gc[t] * g[t] * i[t] * (1 - i[t]),  # (L8) dL/dz_i
            gc[t] * c[t - 1] * f[t] * (1 - f[t]),  # (L8) dL/dz_f
            gc[t] * i[t] * (1 - g[t] ** 2),  # (L8) dL/dz_g
            gh[t] * np.tanh(c[t]) * o[t] * (1 - o[t]),  # (L8) dL/dz_o
        ])
        delta[t] = transform_back(N, dz, steps.N[t], params, grads)  # (L9)
    dW_hx = sum(delta[t] @ x[t].T for t in range(1, T + 1))  # (L10)
    dW_hh = sum(delta[t] @ h[t - 1].T for t in range(1, T + 1))  # (L10)
    db_h = sum(delta[t].sum(axis=1) for t in range(1, T + 1))  # (L10)
    return (dW_hx, dW_hh, db_h), as_rows(gh), as_rows(gc)


# --- the GRU ------------------------------------------------------------------------------------


@dataclasses.dataclass
class GRUSteps:
    """What the forward pass keeps for BPTT."""

    x: dict  # x[t], (I, B)
    h_col: np.ndarray  # h[t], (T+1, H, B)
    r: dict  # the gates r[t], z[t] and the candidate n[t], (H, B) each
    z: dict
    n: dict
    N_g: dict  # N_g[t], N_c[t]: the transforms' caches of step t at the two sites
    N_c: dict

    @property
    def h(self) -> np.ndarray:
        """h_0..h_T as (T+1, B, H)."""
        return self.h_col.transpose(0, 2, 1)


def gru_forward(W_hx, W_hh, b_h, X, N_g: TransformChain, N_c: TransformChain, params, h0=None) -> GRUSteps:
    """(G1)-(G5) for t = 1..T, from h_0 = ``h0`` (zero if None)."""
    H = W_hh.shape[1]
    W_rz, W_n = W_hx[: 2 * H], W_hx[2 * H :]
    U_rz, U_n = W_hh[: 2 * H], W_hh[2 * H :]
    b_rz, b_n = b_h[: 2 * H, None], b_h[2 * H :, None]
    x = by_step(X)
    h = states(X, H, h0, W_hh.dtype)
    r, z, n, gate_caches, candidate_caches = {}, {}, {}, {}, {}
    for t in range(1, len(x) + 1):
        a = W_rz @ x[t] + U_rz @ h[t - 1] + b_rz  # (G1)
        a_rz, gate_caches[t] = transform(N_g, a, params)  # (G2), N_g(a_t)
        r[t], z[t] = sigmoid(a_rz[:H]), sigmoid(a_rz[H:])  # (G2)
        m = W_n @ x[t] + U_n @ (r[t] * h[t - 1]) + b_n  # (G3)
        m_c, candidate_caches[t] = transform(N_c, m, params)  # (G4), N_c(m_t)
        n[t] = np.tanh(m_c)  # (G4)
        h[t] = (1 - z[t]) * n[t] + z[t] * h[t - 1]  # (G5)
    return GRUSteps(x, h, r, z, n, gate_caches, candidate_caches)


def gru_backward(W_hh, steps: GRUSteps, D, N_g: TransformChain, N_c: TransformChain, params, grads,
                 truncate=None):
    """(G6)-(G11) for t = T..1, from D[t-1] = d_t. Return (dW_hx, dW_hh, db_h) and
    the g_t as a (T, B, H) array."""
    x, h, r, z, n = steps.x, steps.h_col, steps.r, steps.z, steps.n
    H = W_hh.shape[1]
    U_rz, U_n = W_hh[: 2 * H], W_hh[2 * H :]
    d = by_step(D)
    T = len(x)
    g, dm, da, e = {}, {}, {}, {}
    for t in range(T, 0, -1):
        g[t] = e[t + 1] + d[t] if carried(t, T, truncate) else d[t]  # (G6)
        dm[t] = transform_back(N_c, (1 - n[t] ** 2) * (1 - z[t]) * g[t], steps.N_c[t], params, grads)  # (G7)
        q = U_n.T @ dm[t]  # (G8)
        d_r = r[t] * (1 - r[t]) * h[t - 1] * q  # (G9), the reset gate's rows
        d_z = z[t] * (1 - z[t]) * (h[t - 1] - n[t]) * g[t]  # (G9), the update gate's rows
        da[t] = transform_back(N_g, np.concatenate([d_r, d_z]), steps.N_g[t], params, grads)  # (G9)
        e[t] = z[t] * g[t] + r[t] * q + U_rz.T @ da[t]  # (G10)
    dW_rz = sum(da[t] @ x[t].T for t in range(1, T + 1))  # (G11)
    dU_rz = sum(da[t] @ h[t - 1].T for t in range(1, T + 1))  # (G11)
    db_rz = sum(da[t].sum(axis=1) for t in range(1, T + 1))  # (G11)
    dW_n = sum(dm[t] @ x[t].T for t in range(1, T + 1))  # (G11)
    dU_n = sum(dm[t] @ (r[t] * h[t - 1]).T for t in range(1, T + 1))  # (G11)
    db_n = sum(dm[t].sum(axis=1) for t in range(1, T + 1))  # (G11)
    stacked = (np.concatenate([dW_rz, dW_n]), np.concatenate([dU_rz, dU_n]), np.concatenate([db_rz, db_n]))
    return stacked, as_rows(g)
