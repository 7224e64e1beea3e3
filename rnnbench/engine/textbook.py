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


# --- IndRNN (Li, Li, Cook, Zhu & Gao 2018) ------------------------------------------------------
#
# Li et al. 2018, eqs. 2-4: every unit has ONE recurrent weight u_n, so the recurrent product is
# element-wise and dh_t/dh_{t-1} is the diagonal matrix diag(u * f'(z_t)). A stack of L layers
# (the paper's multiple-layer IndRNN, section 3.2): layer l reads the state of layer l - 1 at the
# same step, h^0_t = x_t, and the read-out reads h^L_t; d_t reaches the top layer only. Layer l has
# its own u^l (H,), W^l_hx (H, H) (layer 1: (H, I)) and b^l_h (H,); f is relu (the paper's) or tanh.
# One layer is L = 1: drop the index l.
#
#     (IR1) a^l_t = W^l_hx h^(l-1)_t + u^l * h^l_{t-1} + b^l_h             (h^0_t = x_t)
#     (IR2) z^l_t = N^l(a^l_t)
#     (IR3) h^l_t = f(z^l_t)
#     (IR4) g^l_t = u^l * delta^l_{t+1} + d^l_t                           (g^l_T = d^l_T)
#     (IR5) delta^l_t = dL/da^l_t = N^l'(a^l_t)^T (f'(z^l_t) * g^l_t)
#     (IR6) dW^l_hx = sum_t delta^l_t h^(l-1)_t^T,  du^l = sum_t (delta^l_t * h^l_{t-1}) summed over
#           the batch,  db^l_h = sum_t delta^l_t
#     (IR7) d^L_t = d_t;  d^(l-1)_t = W^l_hx^T delta^l_t                   (l = L..2)
#
# d^l_t is the part of dL/dh^l_t that does not come through h^l_{t+1}: from the read-out for the top
# layer, from the layer above at the same step (IR7) below it. g^l_t = dL/dh^l_t is the total. A cut
# of truncated BPTT drops the carried term of (IR4) in every layer; (IR7) acts within one step and
# is never cut. Without N, with one layer and a loss at step T only, (IR4)-(IR5) give the paper's
# eq. 4 unit by unit: dL/dh_{n,t} = u_n^(T-t) f'(z_{n,t+1}) ... f'(z_{n,T}) dL/dh_{n,T}.


@dataclasses.dataclass
class IndRNNSteps:
    """What one IndRNN layer's forward pass keeps for BPTT."""

    x: dict  # x[t], (I, B): the layer's input, h^(l-1)_t
    h_col: np.ndarray  # h[t], (T+1, H, B)
    z: dict  # z[t] = N(a_t)
    N: dict  # N[t], the transforms' cache of step t

    @property
    def h(self) -> np.ndarray:
        """h_0..h_T as (T+1, B, H)."""
        return self.h_col.transpose(0, 2, 1)


def indrnn_forward(W_hx, u, b_h, X, f: Activation, N: TransformChain, params, h0=None) -> IndRNNSteps:
    """(IR1)-(IR3) of one layer for t = 1..T, from h_0 = ``h0`` (zero if None);
    X (T, B, I) is the layer's input h^(l-1)_1..T."""
    x = by_step(X.astype(u.dtype, copy=False))
    h = states(X, u.shape[0], h0, u.dtype)
    u, b_h = u[:, None], b_h[:, None]  # columns, applied to every sequence's column
    z, caches = {}, {}
    for t in range(1, len(x) + 1):
        a = W_hx @ x[t] + u * h[t - 1] + b_h  # (IR1)
        z[t], caches[t] = transform(N, a, params)  # (IR2)
        h[t] = f.forward(z[t])  # (IR3)
    return IndRNNSteps(x, h, z, caches)


def indrnn_backward(u, steps: IndRNNSteps, D, f: Activation, N: TransformChain, params, grads, truncate=None):
    """(IR4)-(IR6) of one layer for t = T..1, from D[t-1] = d^l_t. Return (dW_hx, du, db_h),
    the g^l_t as a (T, B, H) array and the delta^l_t, by step (for (IR7))."""
    x, h, z = steps.x, steps.h_col, steps.z
    d = by_step(D)
    T = len(x)
    u = u[:, None]
    g, delta = {}, {}
    for t in range(T, 0, -1):
        g[t] = u * delta[t + 1] + d[t] if carried(t, T, truncate) else d[t]  # (IR4)
        dz = f.derivative(z[t], h[t]) * g[t]  # (IR5), dL/dz_t = f'(z_t) * g_t
        delta[t] = transform_back(N, dz, steps.N[t], params, grads)  # (IR5), delta_t = N'(a_t)^T dL/dz_t
    dW_hx = sum(delta[t] @ x[t].T for t in range(1, T + 1))  # (IR6)
    du = sum((delta[t] * h[t - 1]).sum(axis=1) for t in range(1, T + 1))  # (IR6)
    db_h = sum(delta[t].sum(axis=1) for t in range(1, T + 1))  # (IR6)
    return (dW_hx, du, db_h), as_rows(g), delta


@dataclasses.dataclass
class IndRNNStack:
    """What the forward pass of a stack of IndRNN layers keeps for BPTT."""

    layers: list  # layers[l-1], the IndRNNSteps of layer l

    @property
    def h(self) -> np.ndarray:
        """The top layer's h^L_0..h^L_T as (T+1, B, H)."""
        return self.layers[-1].h

    def state(self, t: int):
        """Every layer's h^l_t (B, H), a list from l = 1 (with one layer, its array)."""
        states = [steps.h[t] for steps in self.layers]
        return states[0] if len(states) == 1 else states


def indrnn_stack_forward(weights, X, f: Activation, chains, params, h0=None) -> IndRNNStack:
    """(IR1)-(IR3) layer by layer, l = 1..L: ``weights[l-1]`` = (W^l_hx, u^l, b^l_h),
    ``chains[l-1]`` = N^l, ``h0[l-1]`` the initial state of layer l (all zero if None)."""
    layers = []
    for l, ((W_hx, u, b_h), N) in enumerate(zip(weights, chains)):
        below = X if l == 0 else layers[-1].h[1:]  # (IR1), h^0_t = x_t
        layers.append(indrnn_forward(W_hx, u, b_h, below, f, N, params, None if h0 is None else h0[l]))
    return IndRNNStack(layers)


def indrnn_stack_backward(weights, stack: IndRNNStack, D, f: Activation, chains, params, grads, truncate=None):
    """(IR4)-(IR7) layer by layer, l = L..1, from D[t-1] = d_t at the top layer. Return each
    layer's (dW_hx, du, db_h) and its g^l_t as a (T, B, H) array, both listed from l = 1."""
    layers = stack.layers
    L = len(layers)
    found, g = [None] * L, [None] * L
    d = D  # (IR7), d^L_t = d_t
    for l in range(L - 1, -1, -1):
        W_hx, u, _ = weights[l]
        found[l], g[l], delta = indrnn_backward(u, layers[l], d, f, chains[l], params, grads, truncate)
        if l > 0:
            d = as_rows({t: W_hx.T @ delta[t] for t in delta})  # (IR7), d^(l-1)_t = W^l_hx^T delta^l_t
    return found, g


# --- coRNN (Rusch & Mishra 2021) ----------------------------------------------------------------
#
# Rusch & Mishra 2021, eq. 3: the implicit-explicit step of size dt of the oscillator network
# y'' = tanh(W y + Wz y' + V x + b) - gamma y - epsilon y'. Two states: the position y_n, which is
# h_n (what the read-out reads), and the velocity z_n; z_n is updated first, from y_{n-1} and
# z_{n-1}, and y_n then from z_n. The damping term is taken at n-1 (the paper's n-bar = n - 1, as
# the authors' code does). The paper's W is W_hh (H, H), its script W (on z) is W_hz (H, H), its V
# is W_hx (H, I), b is b_h (H,); dt, gamma and epsilon are constants.
#
#     (CO1) a_n = W_hh y_{n-1} + W_hz z_{n-1} + W_hx x_n + b_h
#     (CO2) s_n = N(a_n)
#     (CO3) z_n = z_{n-1} + dt (tanh(s_n) - gamma y_{n-1} - epsilon z_{n-1})
#     (CO4) y_n = y_{n-1} + dt z_n
#     (CO5) gy_n = d_n + gy_{n+1} - dt gamma gz_{n+1} + W_hh^T delta_{n+1}      (gy_T = d_T)
#     (CO6) gz_n = dt gy_n + (1 - dt epsilon) gz_{n+1} + W_hz^T delta_{n+1}     (gz_T = dt gy_T)
#     (CO7) delta_n = dL/da_n = N'(a_n)^T (dt (1 - tanh^2(s_n)) * gz_n)
#     (CO8) dW_hh = sum_n delta_n y_{n-1}^T,  dW_hz = sum_n delta_n z_{n-1}^T,
#           dW_hx = sum_n delta_n x_n^T,  db_h = sum_n delta_n
#
# gy_n = dL/dy_n and gz_n = dL/dz_n are total gradients; gz_n takes dt gy_n because y_n is made
# from z_n by (CO4). A cut of truncated BPTT drops every term carried from step n + 1.


@dataclasses.dataclass
class CoRNNSteps:
    """What the coRNN's forward pass keeps for BPTT."""

    x: dict  # x[n], (I, B)
    y_col: np.ndarray  # y[n], (T+1, H, B)
    z_col: np.ndarray  # z[n], (T+1, H, B)
    sigma: dict  # sigma[n] = tanh(s_n), s_n = N(a_n)
    N: dict  # N[n], the transforms' cache of step n

    @property
    def h(self) -> np.ndarray:
        """h_0..h_T = y_0..y_T as (T+1, B, H)."""
        return self.y_col.transpose(0, 2, 1)

    @property
    def z(self) -> np.ndarray:
        """z_0..z_T as (T+1, B, H)."""
        return self.z_col.transpose(0, 2, 1)


def cornn_forward(W_hx, W_hh, W_hz, b_h, X, dt, gamma, epsilon, N: TransformChain, params,
                  y0=None, z0=None) -> CoRNNSteps:
    """(CO1)-(CO4) for n = 1..T, from y_0 = ``y0`` and z_0 = ``z0`` (zero if None)."""
    x = by_step(X.astype(W_hh.dtype, copy=False))
    y = states(X, W_hh.shape[0], y0, W_hh.dtype)
    z = states(X, W_hh.shape[0], z0, W_hh.dtype)
    b_h = b_h[:, None]
    sigma, caches = {}, {}
    for n in range(1, len(x) + 1):
        a = W_hh @ y[n - 1] + W_hz @ z[n - 1] + W_hx @ x[n] + b_h  # (CO1)
        s, caches[n] = transform(N, a, params)  # (CO2)
        sigma[n] = np.tanh(s)  # (CO3), kept for (CO7)
        z[n] = z[n - 1] + dt * (sigma[n] - gamma * y[n - 1] - epsilon * z[n - 1])  # (CO3)
        y[n] = y[n - 1] + dt * z[n]  # (CO4)
    return CoRNNSteps(x, y, z, sigma, caches)


def cornn_backward(W_hh, W_hz, steps: CoRNNSteps, D, dt, gamma, epsilon, N: TransformChain, params, grads,
                   truncate=None):
    """(CO5)-(CO8) for n = T..1, from D[n-1] = d_n. Return (dW_hx, dW_hh, dW_hz, db_h),
    the gy_n and the gz_n, each as a (T, B, H) array."""
    x, y, z, sigma = steps.x, steps.y_col, steps.z_col, steps.sigma
    d = by_step(D)
    T = len(x)
    gy, gz, delta = {}, {}, {}
    for n in range(T, 0, -1):
        if carried(n, T, truncate):
            gy[n] = d[n] + gy[n + 1] - dt * gamma * gz[n + 1] + W_hh.T @ delta[n + 1]  # (CO5)
            gz[n] = dt * gy[n] + (1 - dt * epsilon) * gz[n + 1] + W_hz.T @ delta[n + 1]  # (CO6)
        else:
            gy[n] = d[n]  # (CO5), nothing carried
            gz[n] = dt * gy[n]  # (CO6), nothing carried
        ds = dt * (1 - sigma[n] ** 2) * gz[n]  # (CO7), dL/ds_n
        delta[n] = transform_back(N, ds, steps.N[n], params, grads)  # (CO7), delta_n = N'(a_n)^T dL/ds_n
    dW_hh = sum(delta[n] @ y[n - 1].T for n in range(1, T + 1))  # (CO8)
    dW_hz = sum(delta[n] @ z[n - 1].T for n in range(1, T + 1))  # (CO8)
    dW_hx = sum(delta[n] @ x[n].T for n in range(1, T + 1))  # (CO8)
    db_h = sum(delta[n].sum(axis=1) for n in range(1, T + 1))  # (CO8)
    return (dW_hx, dW_hh, dW_hz, db_h), as_rows(gy), as_rows(gz)


# --- LRU (Orvieto et al. 2023) ------------------------------------------------------------------
#
# Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De 2023, "Resurrecting Recurrent Neural
# Networks for Long Sequences" (ICML), sections 3.1-3.3 and the pseudo-code of appendix A. Their
# state x_k and input u_k are s_t and x_t here. N complex units: lambda = diag(Lambda) (N,),
# B = B_re + i B_im (N, I), C = C_re + i C_im (H, N), D (H, I) real; nu, theta and gamma_log (N,)
# real, so every parameter is real. s_t (N, B) is complex, s_0 = 0. The paper's block follows the
# recurrence with a non-linear layer: here f, GELU (the paper's) or tanh, on the real read-out.
#
#     (LRU1) lambda = exp(-exp(nu) + i exp(theta))                 |lambda| = exp(-exp(nu)) < 1
#     (LRU2) gamma = exp(gamma_log)                                initialised to sqrt(1 - |lambda|^2)
#     (LRU3) s_t = lambda * s_{t-1} + gamma * (B x_t)
#     (LRU4) y_t = Re(C s_t) + D x_t
#     (LRU5) h_t = f(y_t)
#
# Backwards, a complex z = a + i b carries the gradient dz = dL/da + i dL/db of the real loss
# (twice the Wirtinger derivative dL/d conj(z)). If w = c z for a complex constant c, dz = conj(c) dw;
# if w = Re(M z), dz = M^H dw. h_t has no recurrent path: only d_t reaches it, and the gradient
# carried back is G_t = ds_t, returned as the real 2N-vector [Re G_t; Im G_t] (its norm is |dL/ds_t|).
#
#     (LRU6) e_t = dL/dy_t = f'(y_t) * d_t
#     (LRU7) G_t = C^H e_t + conj(lambda) * G_{t+1}                (G_T = C^H e_T)
#     (LRU8) dD = sum_t e_t x_t^T,  dC_re = sum_t e_t Re(s_t)^T,  dC_im = -sum_t e_t Im(s_t)^T
#     (LRU9) dB_re + i dB_im = sum_t (gamma * G_t) x_t^T
#     (LRU10) dgamma_log = gamma * sum_t Re(conj(B x_t) * G_t)     (summed over the batch)
#     (LRU11) dlambda = sum_t conj(s_{t-1}) * G_t                  (summed over the batch)
#     (LRU12) dnu = -exp(nu) * Re(conj(lambda) * dlambda),  dtheta = exp(theta) * Im(conj(lambda) * dlambda)
#
# With a loss at step T only, (LRU7) gives G_t = conj(lambda)^(T-t) G_T unit by unit: the gradient
# of unit n shrinks by exactly |lambda_n| per step, the bound the cell reports.


@dataclasses.dataclass
class LRUSteps:
    """What the LRU's forward pass keeps for BPTT."""

    x: dict  # x[t], (I, B)
    s_col: np.ndarray  # s[t], (T+1, N, B), complex
    y: dict  # y[t], (H, B)
    h_t: dict  # h[t] = f(y_t), (H, B)

    @property
    def h(self) -> np.ndarray:
        """h_1..h_T as (T, B, H) (the LRU has no h_0: its state is s)."""
        return as_rows(self.h_t)

    @property
    def s(self) -> np.ndarray:
        """s_0..s_T as (T+1, B, N), complex."""
        return self.s_col.transpose(0, 2, 1)


def lru_matrices(nu, theta, gamma_log, B_re, B_im, C_re, C_im):
    """lambda and gamma as (N, 1) columns, B and C complex: (LRU1), (LRU2) and the complex weights."""
    lam = np.exp(-np.exp(nu) + 1j * np.exp(theta))[:, None]  # (LRU1)
    gamma = np.exp(gamma_log)[:, None]  # (LRU2)
    return lam, gamma, B_re + 1j * B_im, C_re + 1j * C_im


def lru_forward(nu, theta, gamma_log, B_re, B_im, C_re, C_im, D, X, f: Activation, s0=None) -> LRUSteps:
    """(LRU1)-(LRU5) for t = 1..T, from s_0 = ``s0`` ((B, N) complex; zero if None)."""
    lam, gamma, B, C = lru_matrices(nu, theta, gamma_log, B_re, B_im, C_re, C_im)
    x = by_step(X.astype(D.dtype, copy=False))
    T, batch, _ = X.shape
    s = np.zeros((T + 1, lam.shape[0], batch), dtype=lam.dtype)
    if s0 is not None:
        s[0] = np.asarray(s0).T
    y, h = {}, {}
    for t in range(1, T + 1):
        s[t] = lam * s[t - 1] + gamma * (B @ x[t])  # (LRU3)
        y[t] = (C @ s[t]).real + D @ x[t]  # (LRU4)
        h[t] = f.forward(y[t])  # (LRU5)
    return LRUSteps(x, s, y, h)


def lru_backward(nu, theta, gamma_log, B_re, B_im, C_re, C_im, steps: LRUSteps, Dout, f: Activation,
                 truncate=None):
    """(LRU6)-(LRU12) for t = T..1, from Dout[t-1] = d_t. Return (dnu, dtheta, dgamma_log,
    dB_re, dB_im, dC_re, dC_im, dD) and G_t as [Re G_t, Im G_t], a (T, B, 2N) array."""
    lam, gamma, B, C = lru_matrices(nu, theta, gamma_log, B_re, B_im, C_re, C_im)
    x, s, y, h = steps.x, steps.s_col, steps.y, steps.h_t
    d = by_step(Dout)
    T = len(x)
    C_H, lam_conj = C.conj().T, lam.conj()
    e, G = {}, {}
    for t in range(T, 0, -1):
        e[t] = f.derivative(y[t], h[t]) * d[t]  # (LRU6)
        if carried(t, T, truncate):
            G[t] = C_H @ e[t] + lam_conj * G[t + 1]  # (LRU7)
        else:
            G[t] = C_H @ e[t]  # (LRU7), nothing carried
    dD = sum(e[t] @ x[t].T for t in range(1, T + 1))  # (LRU8)
    dC_re = sum(e[t] @ s[t].real.T for t in range(1, T + 1))  # (LRU8)
    dC_im = -sum(e[t] @ s[t].imag.T for t in range(1, T + 1))  # (LRU8)
    dB = sum((gamma * G[t]) @ x[t].T for t in range(1, T + 1))  # (LRU9)
    dgamma_log = gamma[:, 0] * sum((np.conj(B @ x[t]) * G[t]).real.sum(axis=1)
                                   for t in range(1, T + 1))  # (LRU10)
    dlam = sum((np.conj(s[t - 1]) * G[t]).sum(axis=1) for t in range(1, T + 1))  # (LRU11)
    dnu = -np.exp(nu) * (np.conj(lam[:, 0]) * dlam).real  # (LRU12)
    dtheta = np.exp(theta) * (np.conj(lam[:, 0]) * dlam).imag  # (LRU12)
    G_real = as_rows({t: np.concatenate([G[t].real, G[t].imag]) for t in G})  # [Re G_t; Im G_t]
    return (dnu, dtheta, dgamma_log, dB.real, dB.imag, dC_re, dC_im, dD), G_real




# --- expRNN (Lezcano-Casado & Martinez-Rubio 2019) ---------------------------------------------
#
# Lezcano-Casado & Martinez-Rubio 2019, "Cheap Orthogonal Constraints in Neural Networks: A Simple
# Parametrization of the Orthogonal and Unitary Group" (ICML), sections 3-4: W_hh = expm(A) with A
# skew-symmetric is orthogonal whatever A is, so gradient descent on A keeps W_hh orthogonal. A is
# parametrised by the strict upper triangle P of the stored A_hh (H, H), A = P - P^T, as in the
# authors' code; W_hx (H, I); b_h (H,) is the bias of the non-linearity f(a; b): modReLU, the
# paper's, f(a; b) = sign(a) max(|a| + b, 0) (real case), or tanh(a + b).
#
#     (E1) A = P - P^T,  P = triu(A_hh, 1)
#     (E2) W_hh = expm(A)                                          once per forward pass
#     (E3) a_t = W_hx x_t + W_hh h_{t-1}
#     (E4) h_t = f(a_t; b_h)
#     (E5) g_t = W_hh^T delta_{t+1} + d_t                          (g_T = d_T)
#     (E6) delta_t = dL/da_t = df/da(a_t; b_h) * g_t               modReLU: 1[|a_t| + b_h > 0]
#     (E7) db_h = sum_t df/db(a_t; b_h) * g_t                      modReLU: sign(a_t) 1[|a_t| + b_h > 0]
#     (E8) dW_hx = sum_t delta_t x_t^T,  dW_hh = sum_t delta_t h_{t-1}^T
#     (E9) dA = L_exp(A^T, dW_hh)                                  the Frechet derivative of expm
#     (E10) dA_hh = triu(dA - dA^T, 1)
#
# (E9): dW = L_exp(A, dA) = int_0^1 expm(r A) dA expm((1 - r) A) dr, whose adjoint under
# <X, Y> = trace(X^T Y) is L_exp(A^T, .). (E10): A_ij = P_ij - P_ji, so dP_ij = dA_ij - dA_ji for
# i < j, and the unused lower triangle and diagonal of A_hh get no gradient.


@dataclasses.dataclass
class ExpRNNSteps:
    """What the expRNN's forward pass keeps for BPTT."""

    x: dict  # x[t], (I, B)
    h_col: np.ndarray  # h[t], (T+1, H, B)
    a: dict  # a[t], (H, B)
    A: np.ndarray  # A = P - P^T, (H, H)
    W_hh: np.ndarray  # expm(A)

    @property
    def h(self) -> np.ndarray:
        """h_0..h_T as (T+1, B, H)."""
        return self.h_col.transpose(0, 2, 1)


def skew(A_hh: np.ndarray) -> np.ndarray:
    """(E1): A = P - P^T with P the strict upper triangle of A_hh."""
    P = np.triu(A_hh, 1)
    return P - P.T


def expm_skew(A: np.ndarray) -> np.ndarray:
    """(E2) from A = skew(A_hh) itself: expm(A), computed in float64 and returned in A's dtype."""
    import scipy.linalg  # only the expRNN needs scipy here

    return scipy.linalg.expm(A.astype(np.float64)).astype(A.dtype)


def orthogonal(A_hh: np.ndarray) -> np.ndarray:
    """(E2): W_hh = expm(A), computed in float64 and returned in A_hh's dtype."""
    return expm_skew(skew(A_hh))


def exprnn_forward(W_hx, A_hh, b_h, X, f, h0=None) -> ExpRNNSteps:
    """(E1)-(E4) for t = 1..T, from h_0 = ``h0`` (zero if None). ``f`` has
    ``forward(a, b)``, ``da(a, b, h)`` and ``db(a, b, h)``."""
    A = skew(A_hh)  # (E1)
    W_hh = expm_skew(A)  # (E2)
    x = by_step(X.astype(W_hx.dtype, copy=False))
    h = states(X, W_hh.shape[0], h0, W_hh.dtype)
    b = b_h[:, None]
    a = {}
    for t in range(1, len(x) + 1):
        a[t] = W_hx @ x[t] + W_hh @ h[t - 1]  # (E3)
        h[t] = f.forward(a[t], b)  # (E4)
    return ExpRNNSteps(x, h, a, A, W_hh)


def exprnn_backward(b_h, steps: ExpRNNSteps, D, f, truncate=None):
    """(E5)-(E10) for t = T..1, from D[t-1] = d_t. Return (dW_hx, dA_hh, db_h) and
    the g_t as a (T, B, H) array."""
    import scipy.linalg  # only the expRNN needs scipy here

    x, h, a, W_hh = steps.x, steps.h_col, steps.a, steps.W_hh
    b = b_h[:, None]
    d = by_step(D)
    T = len(x)
    g, delta, beta = {}, {}, {}
    for t in range(T, 0, -1):
        g[t] = W_hh.T @ delta[t + 1] + d[t] if carried(t, T, truncate) else d[t]  # (E5)
        delta[t] = f.da(a[t], b, h[t]) * g[t]  # (E6)
        beta[t] = f.db(a[t], b, h[t]) * g[t]  # (E7), before the sum
    db_h = sum(beta[t].sum(axis=1) for t in range(1, T + 1))  # (E7)
    dW_hx = sum(delta[t] @ x[t].T for t in range(1, T + 1))  # (E8)
    dW_hh = sum(delta[t] @ h[t - 1].T for t in range(1, T + 1))  # (E8)
    dA = scipy.linalg.expm_frechet(steps.A.T.astype(np.float64), dW_hh.astype(np.float64),
                                   compute_expm=False)  # (E9)
    dA_hh = np.triu(dA - dA.T, 1).astype(W_hh.dtype)  # (E10)
    return (dW_hx, dA_hh, db_h), as_rows(g)


# --- AntisymmetricRNN (Chang, Chen, Haber & Chi 2019) ------------------------------------------
#
# Chang, Chen, Haber & Chi 2019, "AntisymmetricRNN: A Dynamical System View on Recurrent Neural
# Networks" (ICLR), section 3: the forward Euler step of size eps of the ODE
# h'(t) = tanh((W - W^T) h(t) + V x(t) + b), whose Jacobian has purely imaginary eigenvalues,
# with the diffusion -gamma I that keeps the Euler step stable, and optionally the gated form
# (also section 3): the summed input is computed twice, for the candidate and for a
# gate z_t, with the same recurrent matrix. The paper's W is the free parameter W_hh (H, H), used
# only through M; V is W_hx (H, I) and b is b_h (H,) -- gated, W_hx = [V_h; V_z] (2H, I) and
# b_h = [b_h; b_z] (2H,). Without the gate, read z_t = 1 and drop the z rows. h_t is the state
# the read-out reads.
#
#     (AS1) M = W_hh - W_hh^T - gamma I
#     (AS2) a_t = [M h_{t-1}; M h_{t-1}] + W_hx x_t + b_h        [a_u; a_z] (one block without the gate)
#     (AS3) s_t = N(a_t)                                         per block
#     (AS4) u_t = tanh(s_u),  z_t = sigma(s_z)                   (z_t = 1 without the gate)
#     (AS5) h_t = h_{t-1} + eps z_t * u_t
#     (AS6) g_t = d_t + g_{t+1} + M^T m_{t+1}                    (g_T = d_T)
#     (AS7) dL/ds_t = [eps z_t (1 - u_t^2) * g_t;  eps u_t z_t (1 - z_t) * g_t]
#     (AS8) delta_t = dL/da_t = N'(a_t)^T dL/ds_t,  m_t = delta_u + delta_z   (m_t = delta_t without the gate)
#     (AS9) dM = sum_t m_t h_{t-1}^T,  dW_hh = dM - dM^T
#     (AS10) dW_hx = sum_t delta_t x_t^T,  db_h = sum_t delta_t
#
# m_t is dL/d(M h_{t-1}) through step t: M h_{t-1} enters both blocks of (AS2). (AS9): M_ij =
# W_ij - W_ji - gamma [i = j], so dW_ij = dM_ij - dM_ji; gamma is a constant. One step's Jacobian
# is dh_t/dh_{t-1} = I + eps diag(c_t) M with c_t = z_t (1 - u_t^2) + u_t z_t (1 - z_t), |c_t| <= 1.


@dataclasses.dataclass
class AntisymmetricSteps:
    """What the AntisymmetricRNN's forward pass keeps for BPTT."""

    x: dict  # x[t], (I, B)
    h_col: np.ndarray  # h[t], (T+1, H, B)
    u: dict  # u[t] = tanh(s_u), (H, B)
    z: dict  # z[t] = sigma(s_z), (H, B); empty without the gate
    N: dict  # N[t], the transforms' cache of step t
    M: np.ndarray  # (AS1)

    @property
    def h(self) -> np.ndarray:
        """h_0..h_T as (T+1, B, H)."""
        return self.h_col.transpose(0, 2, 1)


def antisymmetric_matrix(W_hh: np.ndarray, gamma: float) -> np.ndarray:
    """(AS1): M = W_hh - W_hh^T - gamma I."""
    return W_hh - W_hh.T - gamma * np.eye(W_hh.shape[0], dtype=W_hh.dtype)


def antisymmetric_forward(W_hx, W_hh, b_h, X, eps, gamma, gated: bool, N: TransformChain, params,
                          h0=None) -> AntisymmetricSteps:
    """(AS1)-(AS5) for t = 1..T, from h_0 = ``h0`` (zero if None)."""
    H = W_hh.shape[0]
    M = antisymmetric_matrix(W_hh, gamma)  # (AS1)
    x = by_step(X.astype(W_hh.dtype, copy=False))
    h = states(X, H, h0, W_hh.dtype)
    b_h = b_h[:, None]
    u, z, caches = {}, {}, {}
    for t in range(1, len(x) + 1):
        Mh = M @ h[t - 1]
        a = (np.concatenate([Mh, Mh]) if gated else Mh) + W_hx @ x[t] + b_h  # (AS2)
        s, caches[t] = transform(N, a, params)  # (AS3)
        u[t] = np.tanh(s[:H])  # (AS4)
        if gated:
            z[t] = sigmoid(s[H:])  # (AS4)
            h[t] = h[t - 1] + eps * z[t] * u[t]  # (AS5)
        else:
            h[t] = h[t - 1] + eps * u[t]  # (AS5), z_t = 1
    return AntisymmetricSteps(x, h, u, z, caches, M)


def antisymmetric_backward(steps: AntisymmetricSteps, D, eps, gated: bool, N: TransformChain, params, grads,
                           truncate=None):
    """(AS6)-(AS10) for t = T..1, from D[t-1] = d_t. Return (dW_hx, dW_hh, db_h) and
    the g_t as a (T, B, H) array."""
    x, h, u, z, M = steps.x, steps.h_col, steps.u, steps.z, steps.M
    H = M.shape[0]
    d = by_step(D)
    T = len(x)
    g, delta, m = {}, {}, {}
    for t in range(T, 0, -1):
        g[t] = d[t] + g[t + 1] + M.T @ m[t + 1] if carried(t, T, truncate) else d[t]  # (AS6)
        if gated:
            ds = np.concatenate([eps * z[t] * (1 - u[t] ** 2) * g[t],  # (AS7), dL/ds_u
                                 eps * u[t] * z[t] * (1 - z[t]) * g[t]])  # (AS7), dL/ds_z
        else:
            ds = eps * (1 - u[t] ** 2) * g[t]  # (AS7), z_t = 1
        delta[t] = transform_back(N, ds, steps.N[t], params, grads)  # (AS8)
        m[t] = delta[t][:H] + delta[t][H:] if gated else delta[t]  # (AS8)
    dM = sum(m[t] @ h[t - 1].T for t in range(1, T + 1))  # (AS9)
    dW_hh = dM - dM.T  # (AS9)
    dW_hx = sum(delta[t] @ x[t].T for t in range(1, T + 1))  # (AS10)
    db_h = sum(delta[t].sum(axis=1) for t in range(1, T + 1))  # (AS10)
    return (dW_hx, dW_hh, db_h), as_rows(g)
