"""The gated recurrent unit and its backpropagation through time.

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
has one.

Backward, given d_t = dL/dh_t arriving from the read-out at step t:
    g_T = d_T,  g_t = d_t + c_{t+1}                              g_t = dL/dh_t
    dn_t  = (1 - z_t) * g_t
    dz_t  = (h_{t-1} - n_t) * g_t
    dm_t  = dL/dm_t  = N_c'(m_t)^T ((1 - n_t^2) * dn_t)           the candidate's delta
    drh_t = U_n^T dm_t                                           dL/d(r_t * h_{t-1})
    da_t  = dL/da_t  = N_g'(a_t)^T [r_t (1 - r_t) * h_{t-1} * drh_t;  z_t (1 - z_t) * dz_t]
    c_t   = dL/dh_{t-1} through step t
          = z_t * g_t + r_t * drh_t + [U_r; U_z]^T da_t
    dW_hx = sum_t [da_t; dm_t] x_t^T,  db_h = sum_t [da_t; dm_t]
    dW_hh[:2H] = sum_t da_t h_{t-1}^T,  dW_hh[2H:] = sum_t dm_t (r_t * h_{t-1})^T
Truncated BPTT drops c_{t+1} at every cut: no gradient crosses it through any
path (the gates and the candidate both read h_{t-1}, and all of c_t is dropped).

Per step the forward pass makes one fused input product x_t W_hx^T for all
three blocks, one product h_{t-1} [U_r; U_z]^T for both gates, and one
(r_t * h_{t-1}) U_n^T for the candidate (the reset gate must be known before the
candidate's recurrent product, so the "reset before" form cannot fuse the two).
Only the recursion loops over t; the weight gradients are products over all
T*B rows after the loop -- one each for dW_hx and db_h, one per input (h_{t-1}
and r_t * h_{t-1}) for the two row blocks of dW_hh. Rows are batch elements,
so W v becomes v @ W.T; the transposed weights are made contiguous once per
call.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnbench.engine.activations import SIGMOID, TANH
from rnnbench.engine.transforms import TransformChain, cut_before


@dataclasses.dataclass
class GRUCache:
    x: np.ndarray  # (T, B, I)
    a: np.ndarray  # (T, B, 2H): a_1..a_T, the gates' summed inputs
    m: np.ndarray  # (T, B, H): m_1..m_T, the candidate's summed inputs
    rz: np.ndarray  # (T, B, 2H): [r_t, z_t], t = 1..T
    rh: np.ndarray  # (T, B, H): r_t * h_{t-1}
    n: np.ndarray  # (T, B, H): n_t
    h: np.ndarray  # (T + 1, B, H): h_0..h_T
    gate_steps: list  # per step, the "gates" chain's caches
    candidate_steps: list  # per step, the "candidate" chain's caches


def forward(W_hx, W_hh, b_h, x, gates: TransformChain, candidate: TransformChain, params,
            h0=None) -> GRUCache:
    T, B, _ = x.shape
    H = W_hh.shape[1]
    dtype = W_hh.dtype
    xw = np.empty((B, 3 * H), dtype=dtype)  # x_t W_hx^T, reused every step
    a = np.empty((T, B, 2 * H), dtype=dtype)  # a_t, the gates' summed input
    m = np.empty((T, B, H), dtype=dtype)  # m_t, the candidate's summed input
    rz = np.empty((T, B, 2 * H), dtype=dtype)
    rh = np.empty((T, B, H), dtype=dtype)
    n = np.empty((T, B, H), dtype=dtype)
    h = np.empty((T + 1, B, H), dtype=dtype)
    h[0] = 0.0 if h0 is None else h0
    gate_steps, candidate_steps = [], []
    W_hx_T = np.ascontiguousarray(W_hx.T)  # (I, 3H)
    U_rz_T = np.ascontiguousarray(W_hh[: 2 * H].T)  # (H, 2H)
    U_n_T = np.ascontiguousarray(W_hh[2 * H :].T)  # (H, H)
    b_rz, b_n = b_h[: 2 * H], b_h[2 * H :]
    for t in range(T):
        np.matmul(x[t], W_hx_T, out=xw)
        np.matmul(h[t], U_rz_T, out=a[t])
        a[t] += xw[:, : 2 * H]
        a[t] += b_rz
        za = a[t]
        if gates:
            za, caches = gates.forward(a[t], params)
            gate_steps.append(caches)
        rz[t] = SIGMOID.forward(za)
        r, z = rz[t, :, :H], rz[t, :, H:]
        np.multiply(r, h[t], out=rh[t])
        np.matmul(rh[t], U_n_T, out=m[t])
        m[t] += xw[:, 2 * H :]
        m[t] += b_n
        zm = m[t]
        if candidate:
            zm, caches = candidate.forward(m[t], params)
            candidate_steps.append(caches)
        np.tanh(zm, out=n[t])
        # h_t = (1 - z) n + z h_{t-1} = n + z (h_{t-1} - n)
        np.subtract(h[t], n[t], out=h[t + 1])
        h[t + 1] *= z
        h[t + 1] += n[t]
    return GRUCache(x=x, a=a, m=m, rz=rz, rh=rh, n=n, h=h,
                    gate_steps=gate_steps, candidate_steps=candidate_steps)


def backward(W_hh, cache: GRUCache, d, gates: TransformChain, candidate: TransformChain, params,
             grads, truncate=None):
    """Return (dW_hx, dW_hh, db_h) and g, with g[t-1] = dL/dh_t, t = 1..T.

    The transforms' parameter gradients are added to ``grads``."""
    rz, rh, n, h, x = cache.rz, cache.rh, cache.n, cache.h, cache.x
    T, B, H = n.shape
    dtype = n.dtype
    cut = cut_before(T, truncate)
    U_rz = np.ascontiguousarray(W_hh[: 2 * H])  # (2H, H)
    U_n = np.ascontiguousarray(W_hh[2 * H :])  # (H, H)
    g = np.empty_like(n)
    delta = np.empty((T, B, 3 * H), dtype=dtype)  # [da_t, dm_t]
    dgate = np.empty((B, 2 * H), dtype=dtype)  # dL/d[ar_t, az_t], before the gates' chain
    dcand = np.empty((B, H), dtype=dtype)  # dL/dN_c(m_t), before the candidate's chain
    drh = np.empty((B, H), dtype=dtype)
    carry = np.zeros((B, H), dtype=dtype)  # c_{t+1}; zero past the last step
    for t in range(T - 1, -1, -1):
        np.add(d[t], carry, out=g[t])
        r, z, h_prev = rz[t, :, :H], rz[t, :, H:], h[t]
        # candidate: dm = N_c'^T ((1 - n^2) (1 - z) g)
        np.multiply(TANH.derivative(None, n[t]), 1.0 - z, out=dcand)
        dcand *= g[t]
        dm = delta[t, :, 2 * H :]
        dm[...] = candidate.backward(dcand, cache.candidate_steps[t], params, grads) if candidate else dcand
        np.matmul(dm, U_n, out=drh)
        # gates: dr = h_{t-1} drh, dz = (h_{t-1} - n) g, each times sigmoid'
        np.multiply(h_prev, drh, out=dgate[:, :H])
        np.subtract(h_prev, n[t], out=dgate[:, H:])
        dgate[:, H:] *= g[t]
        dgate *= SIGMOID.derivative(None, rz[t])
        da = delta[t, :, : 2 * H]
        da[...] = gates.backward(dgate, cache.gate_steps[t], params, grads) if gates else dgate
        if t and cut[t - 1]:
            carry.fill(0.0)
        else:
            np.matmul(da, U_rz, out=carry)
            carry += z * g[t]
            carry += r * drh
    delta2 = delta.reshape(T * B, 3 * H)
    dW_hx = delta2.T @ x.reshape(T * B, -1).astype(dtype, copy=False)
    dW_hh = np.empty_like(W_hh)
    np.matmul(delta2[:, : 2 * H].T, h[:-1].reshape(T * B, H), out=dW_hh[: 2 * H])
    np.matmul(delta2[:, 2 * H :].T, rh.reshape(T * B, H), out=dW_hh[2 * H :])
    db_h = delta2.sum(axis=0)
    return (dW_hx, dW_hh, db_h), g
