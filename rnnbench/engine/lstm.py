"""The LSTM cell with forget gate, whole: the class a suite selects as
``cell = "lstm"`` (:class:`LSTMCell`: its parameters, initialisation, and which
path it runs) and its forward pass and backpropagation through time, the fast
path.

The same maths one line per formula, without the speed work, is
:func:`rnnbench.engine.textbook.lstm_forward` and ``lstm_backward``; the tests
hold the two equal to round-off, and without numba the cell runs those
(:mod:`rnnbench.engine.fast`).

Hochreiter & Schmidhuber 1997, "Long Short-Term Memory" (the memory cell and
its constant error carousel), with the forget gate of Gers, Schmidhuber &
Cummins 2000, "Learning to Forget" (section 2), without peepholes. The four
gate blocks of H units are stacked row-wise in the order i, f, g, o. The
forget-gate bias starts at 1 (Jozefowicz, Zaremba & Sutskever 2015, "An
Empirical Exploration of Recurrent Network Architectures", section 2.2), so
that the cell initially remembers.

The textbook's symbols and equation numbers (L1)-(L10). Forward, t = 1..T,
from (h_0, c_0) (zero unless given; arrays are indexed from 0: ``h[t]`` is h_t,
``c[t]`` is c_t, ``a[t-1]`` is a_t):
    (L1) a_t = W_hx x_t + W_hh h_{t-1} + b_h      (4H: [a_i; a_f; a_g; a_o])
    (L2) z_t = N(a_t)       the remedies' summed-input transforms at site "gates",
                            4 groups (identity if none)
    (L3) i_t = sigma(z_i)   f_t = sigma(z_f)   g_t = tanh(z_g)   o_t = sigma(z_o)
    (L4) c_t = f_t * c_{t-1} + i_t * g_t
    (L5) h_t = o_t * tanh(c_t)
Backward, from d_t, the part of dL/dh_t that reaches h_t directly from the
read-out at step t, to the total gradients gh_t = dL/dh_t and gc_t = dL/dc_t:
    (L6) gh_t = d_t + W_hh^T delta_{t+1}
    (L7) gc_t = gh_t * o_t * (1 - tanh^2(c_t)) + f_{t+1} * gc_{t+1}
    (L8) dL/dz_i = gc_t * g_t * i_t (1 - i_t)      dL/dz_f = gc_t * c_{t-1} * f_t (1 - f_t)
         dL/dz_g = gc_t * i_t * (1 - g_t^2)        dL/dz_o = gh_t * tanh(c_t) * o_t (1 - o_t)
    (L9) delta_t = dL/da_t = N'(a_t)^T dL/dz_t
    (L10) dW_hx = sum_t delta_t x_t^T,  dW_hh = sum_t delta_t h_{t-1}^T,  db_h = sum_t delta_t
(both carried terms are zero past the last step). With W_hh = 0 and no loss
before step T, gc_t = f_{t+1} ... f_T gc_T: the error carousel, scaled only by
the forget gates. Truncated BPTT drops BOTH carried terms, W_hh^T delta_{t+1}
and f_{t+1} * gc_{t+1}, at every cut: the state (h, c) at a cut is a constant.

Layout: inside the recursion the maths is written as above, with column
vectors: a step's states and gates are (units, B) blocks, the batch along the
contiguous axis (see :mod:`rnnbench.engine.columns`). Each step makes ONE
product, a_t = W s_t, of the contiguous stacked W = [W_hx, W_hh, b_h] with the
state s_t = [x_t; h_{t-1}; 1] (h_t written in place into s_{t+1}), and each
gate's block is a contiguous run of memory, so every element-wise pass runs
over contiguous data. Inside, the gate rows are reordered i, f, o, g so that
the three sigmoids are one block, and sigma(a) = (1 + tanh(a/2))/2 (the 1/2
folded into their weights when no transform sits between product and gates):
one numpy tanh call over all four gates, then ONE compiled pass
(:mod:`rnnbench.engine.lstm_kernels`) for the sigmoids' affine step and
c_t = f c_{t-1} + i g, then tanh(c_t) and h_t = o tanh(c_t). Backwards, one
compiled pass per step computes gc_t, the four gate deltas (sigma' = s (1 - s)
and tanh' = 1 - g^2 from the stored gate values) and the carried f_t * gc_t,
written straight into gc_{t-1}; W_hh^T delta_t is written straight into
gh_{t-1}, d_{t-1} added only where a loss is. The weight gradients,
[dW_hx, dW_hh, db_h] = sum_t delta_t [x_t; h_{t-1}; 1]^T, are multiplied out in
cache-sized blocks while the loop runs
(:class:`rnnbench.engine.step_products.StepProducts`). The caches hand the
states out as (T+1, B, H) views, the layout of the rest of the engine.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnbench.api import Cell, Params
from rnnbench.engine import fast, textbook
from rnnbench.engine.bptt import cut_before, loss_at
from rnnbench.engine.columns import column_state, column_weights, matmul_blocks, row_blocks, rows
from rnnbench.engine.initialisation import INITS, initial_params
from rnnbench.engine.step_products import StepProducts
from rnnbench.engine.transforms import TransformChain

GATES = 4  # i, f, g, o, stacked row-wise in this order


class LSTMParams(BaseModel):
    """The LSTM's parameters, given in a variant as ``cell_params = { forget_bias = 0.0 }``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    forget_bias: float = Field(1.0, description="Initial value of the forget gate's biases.")


class LSTMCell(Cell):
    """LSTM with forget gate; the state is (h_t, c_t).

    Initialisations, as for the vanilla cell: ``uniform``, every weight
    U(-1/sqrt(H), 1/sqrt(H)); ``normal``, every weight N(0, 1/fan_in). Biases
    start at zero except the forget gate's, which start at ``forget_bias``
    (1.0 unless the variant's ``cell_params`` say otherwise; Jozefowicz et al. 2015). The summed-input transforms act at one
    site, "gates", of 4 groups of H units (layer normalisation normalises each
    gate's block separately).
    """

    name = "lstm"
    Params = LSTMParams
    activations = ("tanh",)
    inits = INITS

    def __init__(self, config, transforms=()):
        super().__init__(config, transforms)
        self.chain = TransformChain(self.transforms, "gates", GATES, config.hidden_size)

    def init_params(self, rng: np.random.Generator) -> Params:
        c = self.config
        H = c.hidden_size
        params = initial_params(rng, c, GATES, self.chain)
        given = c.cell_params if isinstance(c.cell_params, LSTMParams) else LSTMParams()
        params["b_h"][H : 2 * H] = given.forget_bias
        return params

    def forward(self, params: Params, x: np.ndarray):
        cache = forward(  # the module's forward, below: the fast path, or the textbook one
            params["W_hx"], params["W_hh"], params["b_h"], x, self.chain, params
        )
        return cache.h[1:], cache

    def backward_with_cell_state(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        """As :meth:`backward`, and also gc with gc[t-1] = dL/dc_t, t = 1..T."""
        grads = self.chain.zero_grads(params)
        (dW_hx, dW_hh, db_h), gh, gc = backward(
            params["W_hh"], cache, dh_out, self.chain, params, grads, truncate, loss_steps
        )
        grads.update(W_hx=dW_hx, W_hh=dW_hh, b_h=db_h)
        return grads, gh, gc

    def backward(self, params: Params, cache, dh_out: np.ndarray, truncate=None, loss_steps=None):
        grads, gh, _ = self.backward_with_cell_state(params, cache, dh_out, truncate, loss_steps)
        return grads, gh

    def cell_state_profile(self, params: Params, cache, dh_out: np.ndarray) -> np.ndarray:
        """norms[d] = mean over the batch of ||dL/dc_{T-d}||, d = 0..T-1, by full
        BPTT from ``dh_out`` (ordered as :meth:`Network.decay_profile`; pass the
        same per-sequence scaling of ``dh_out`` as it does to compare the two)."""
        _, _, gc = self.backward_with_cell_state(params, cache, dh_out)
        return np.linalg.norm(gc.astype(np.float64), axis=2).mean(axis=1)[::-1]

    def state_profiles(self, params: Params, cache, dh_out: np.ndarray) -> dict[str, np.ndarray]:
        """The cell state's profile, under the name "c"."""
        return {"c": self.cell_state_profile(params, cache, dh_out)}

    def recurrent_matrix(self, params: Params) -> np.ndarray:
        """W_hh (4H, H). For a gated cell ||W_hh||_2 * max|f'| is only an
        indicative bound on the per-step gradient factor: the gates multiply
        the Jacobian, and the cell state c_t carries gradient past W_hh."""
        return params["W_hh"]

    def max_derivative(self) -> None:
        """None: no bound ||W_hh||_2 max|f'| holds for a gated cell (see
        :meth:`recurrent_matrix`)."""
        return None


def _orders(H: int):
    """Row permutations between the public gate order i, f, g, o and the
    internal i, f, o, g: internal = public[to_internal], public = internal[to_public]."""
    blocks = np.arange(4 * H).reshape(4, H)
    to_internal = blocks[[0, 1, 3, 2]].ravel()
    return to_internal, np.argsort(to_internal)


@dataclasses.dataclass
class LSTMCache:
    x: np.ndarray  # (T, B, I)
    gates: np.ndarray  # (T, 4H, B): [i_t; f_t; o_t; g_t] (internal order) for t = 1..T
    c_col: np.ndarray  # (T + 1, H, B): c_0..c_T
    tanh_c: np.ndarray  # (T, H, B): tanh(c_1)..tanh(c_T)
    steps: list  # per step, the transform chain's caches
    s: np.ndarray  # (T + 1, I+H+1, B): [x_{t+1}; h_t; 1]

    @property
    def h(self) -> np.ndarray:
        """h_0..h_T, (T + 1, B, H) (a view)."""
        I = self.x.shape[2]
        return rows(self.s[:, I : I + self.c_col.shape[1]])

    @property
    def c(self) -> np.ndarray:
        """c_0..c_T, (T + 1, B, H) (a view)."""
        return rows(self.c_col)


def forward(W_hx, W_hh, b_h, x, chain: TransformChain, params, h0=None, c0=None):
    if not fast.enabled():  # no numba: the textbook recursion, and its BPTT below
        return textbook.lstm_forward(W_hx, W_hh, b_h, x, chain, params, h0, c0)
    from rnnbench.engine import lstm_kernels as kernels  # numba, imported when first needed

    T, B, I = x.shape
    H = W_hh.shape[1]
    dtype = W_hh.dtype
    to_internal, _ = _orders(H)
    s = column_state(x, H, dtype, h0)
    h = s[:, I : I + H]  # (T + 1, H, B)
    gates = np.empty((T, 4 * H, B), dtype=dtype)
    c = np.empty((T + 1, H, B), dtype=dtype)
    tanh_c = np.empty((T, H, B), dtype=dtype)
    c[0] = 0.0 if c0 is None else np.asarray(c0).T
    steps = []
    W = column_weights(W_hx, W_hh, b_h)  # public order, for the transforms
    half = np.ones((4 * H, 1), dtype=dtype)
    half[: 3 * H] = 0.5  # internal order: tanh(a/2) for the sigmoids, tanh(a) for g
    if chain:
        a = np.empty((4 * H, B), dtype=dtype)
    else:
        W = np.ascontiguousarray(W[to_internal] * half)
    chain_on = bool(chain)
    blocks = row_blocks(4 * H, W.shape[1], B)
    for t in range(T):
        act = gates[t]
        if chain_on:
            matmul_blocks(W, s[t], a, blocks)
            z, caches = chain.forward(a.T, params)  # the transforms see (B, 4H) rows
            steps.append(caches)
            np.multiply(z.T[to_internal], half, out=act)
        else:
            matmul_blocks(W, s[t], act, blocks)
        np.tanh(act, out=act)
        kernels.gates_and_cell(act, c[t], c[t + 1])  # i, f, o = (1 + act)/2; c_t = f c_{t-1} + i g
        np.tanh(c[t + 1], out=tanh_c[t])
        np.multiply(act[2 * H : 3 * H], tanh_c[t], out=h[t + 1])  # h_t = o tanh(c_t)
    return LSTMCache(x=x, gates=gates, c_col=c, tanh_c=tanh_c, steps=steps, s=s)


def backward(W_hh, cache: LSTMCache, d, chain: TransformChain, params, grads, truncate=None,
             loss_steps=None):
    """Return (dW_hx, dW_hh, db_h), gh and gc, with gh[t-1] = dL/dh_t and
    gc[t-1] = dL/dc_t, t = 1..T (total gradients, through every later step),
    each (T, B, H) like ``d``.

    The transforms' parameter gradients are added to ``grads``."""
    if isinstance(cache, textbook.LSTMSteps):
        return textbook.lstm_backward(W_hh, cache, d, chain, params, grads, truncate)
    from rnnbench.engine import lstm_kernels as kernels  # numba, imported when first needed

    gates, c, tanh_c, s = cache.gates, cache.c_col, cache.tanh_c, cache.s
    T, H, B = tanh_c.shape
    I = s.shape[1] - H - 1
    to_internal, to_public = _orders(H)
    cut = cut_before(T, truncate)
    has_loss = loss_at(d, loss_steps)  # the steps whose d_t may not be zero
    d = d.transpose(0, 2, 1)  # (T, H, B)
    W = np.ascontiguousarray(W_hh[to_internal].T)  # (H, 4H), columns in internal order
    gh = np.empty_like(tanh_c)
    gc = np.empty_like(tanh_c)
    products = StepProducts(4 * H, s[:T])  # delta_t = dL/da_t, internal order, and sum_t delta_t s_t^T
    spare = np.empty((H, B), dtype=gh.dtype)  # gc_carry at t = 0, where nothing is carried
    gh[T - 1] = d[T - 1]
    gc[T - 1] = 0.0
    chain_on = bool(chain)
    blocks = row_blocks(H, 4 * H, B)
    for t in range(T - 1, -1, -1):
        block, j = products.slot(t)
        dz = block[:, j : j + B]
        # gc_t += gh_t o (1 - tanh^2 c_t); dL/dz; the carried f_t gc_t into gc_{t-1}
        kernels.gates_backward(gates[t], tanh_c[t], c[t], gh[t], gc[t], block, j,
                               gc[t - 1] if t > 0 else spare)
        if chain_on:
            dz[:] = chain.backward(dz[to_public].T, cache.steps[t], params, grads).T[to_internal]
        products.done(t)
        if t == 0:
            break
        if cut[t - 1]:
            gh[t - 1] = d[t - 1]
            gc[t - 1] = 0.0
        else:
            matmul_blocks(W, dz, gh[t - 1], blocks)
            if has_loss[t - 1]:
                gh[t - 1] += d[t - 1]
    dW = products.result()[to_public]
    return (dW[:, :I], dW[:, I : I + H], dW[:, I + H]), rows(gh), rows(gc)
