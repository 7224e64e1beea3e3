"""The built-in cells run from a given state instead of zero, for the tests that
cut a sequence (truncated BPTT against the gradient of its last chunk, a
restart against the full pass). A Cell always starts from zero; the cells'
engine functions take the initial state, so these call them."""

from __future__ import annotations

import copy

from rnnbench.engine import antisymmetric, cornn, exprnn, gru, indrnn, lru, lstm, textbook, vanilla
from rnnbench.torch_cell import TorchCell


def state_at(cell, cache, t: int):
    """The state after t steps of the forward pass that made ``cache``: h_t, or
    (h_t, c_t) for the LSTM, (y_t, z_t) for the coRNN."""
    if isinstance(cell, TorchCell):  # a cell written in torch says its own
        return cell.state_at(cache, t)
    if isinstance(cell, lstm.LSTMCell):
        return cache.h[t], cache.c[t]
    if isinstance(cell, cornn.CoRNNCell):
        return cache.h[t], cache.z[t]
    if isinstance(cell, lru.LRUCell):
        return cache.s[t]  # the complex state s_t, (B, N)
    if isinstance(cell, indrnn.IndRNNCell):
        return cache.state(t)  # h_t, or every layer's h^l_t for a stack
    return cache.h[t]


def forward_from(cell, params, x, state):
    """``cell.forward(params, x)`` started from ``state``, as :func:`state_at` gives it."""
    if isinstance(cell, (lru.LRUCell, exprnn.ExpRNNCell, indrnn.IndRNNCell, antisymmetric.AntisymmetricRNNCell,
                         TorchCell)):  # these take it themselves
        return cell.forward(params, x, state)
    weights = params["W_hx"], params["W_hh"], params["b_h"]
    if isinstance(cell, lstm.LSTMCell):
        cache = lstm.forward(*weights, x, cell.chain, params, *state)
    elif isinstance(cell, gru.GRUCell):
        cache = gru.forward(*weights, x, cell.gates, cell.candidate, params, state)
    elif isinstance(cell, vanilla.VanillaCell):
        cache = vanilla.forward(*weights, x, cell.activation, cell.chain, params, state)
    elif isinstance(cell, cornn.CoRNNCell):
        h = cell.hyper
        cache = textbook.cornn_forward(params["W_hx"], params["W_hh"], params["W_hz"], params["b_h"], x,
                                       h.dt, h.gamma, h.epsilon, cell.chain, params, *state)
    else:
        raise TypeError(f"not a built-in cell: {type(cell).__name__}")
    return cache.h[1:], cache


def started_at(cell, state):
    """A copy of ``cell`` whose forward pass starts from ``state`` (for a Network)."""
    restarted = copy.copy(cell)
    restarted.forward = lambda params, x: forward_from(cell, params, x, state)
    return restarted
