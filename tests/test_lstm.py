"""The LSTM cell against finite differences, truncation, restarts and the constant
error carousel in closed form."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pydantic import ValidationError

from rnnbench.api import Batch, ModelConfig
from rnnbench.engine import lstm_kernels
from rnnbench.engine.finite_differences import check_gradients
from rnnbench.engine.losses import cross_entropy, mse
from rnnbench.engine.network import Network, init_readout
from rnnbench.engine.lstm import LSTMCell
from rnnbench_plugins.layer_norm import LayerNormTransform
from restart import forward_from, started_at, state_at

I = 3


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def make_cell(H=4, O=2, init="normal", dtype=np.float64, transforms=()):
    config = ModelConfig("lstm", "tanh", init, I, H, O, np.dtype(dtype))
    return LSTMCell(config, transforms)


def make_params(cell, seed=0, noise=0.1):
    """The cell's and the read-out's parameters, all perturbed by N(0, noise)."""
    rng = np.random.default_rng(seed)
    c = cell.config
    params = cell.init_params(rng)
    params.update(init_readout(rng, c.hidden_size, c.output_size, c.dtype))
    for v in params.values():
        v += rng.normal(0.0, noise, v.shape).astype(v.dtype)
    return params


def many_to_one_batch(T, B, O=2, seed=1):
    rng = np.random.default_rng(seed)
    return Batch(rng.normal(size=(T, B, I)), rng.normal(size=(B, O)))


@pytest.mark.parametrize("init", LSTMCell.inits)
@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("many_to_one", [True, False])
def test_gradients_match_finite_differences(init, layer_norm, many_to_one):
    T, B, H = 6, 3, 4
    transforms = (LayerNormTransform(1e-5),) if layer_norm else ()
    if many_to_one:
        cell = make_cell(H, 2, init, transforms=transforms)
        net = Network(cell, mse, many_to_one=True)
        batch = many_to_one_batch(T, B)
    else:
        cell = make_cell(H, 3, init, transforms=transforms)
        net = Network(cell, cross_entropy, many_to_one=False)
        rng = np.random.default_rng(1)
        mask = rng.random((T, B)) < 0.6
        mask[-1, 0] = mask[0, 1] = True
        batch = Batch(rng.normal(size=(T, B, I)), rng.integers(0, 3, (T, B)), mask)
    params = make_params(cell)
    expected = {"W_hx", "W_hh", "b_h", "W_hy", "b_y"}
    if layer_norm:
        expected |= {"layer_norm.gates.gain", "layer_norm.gates.bias"}
        assert params["layer_norm.gates.gain"].shape == (4 * H,)
    assert set(params) == expected
    _, grads = net.loss_and_gradients(params, batch)
    assert set(grads) == expected
    assert all(grads[n].shape == params[n].shape for n in expected)
    errors = check_gradients(lambda: net.loss_value(params, batch), params, grads)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("layer_norm", [False, True])
def test_truncated_gradient_is_the_gradient_of_the_truncated_graph(layer_norm):
    T, B, H, k = 8, 3, 4, 3
    transforms = (LayerNormTransform(1e-5),) if layer_norm else ()
    cell = make_cell(H, transforms=transforms)
    params = make_params(cell)
    batch = many_to_one_batch(T, B)
    _, truncated = Network(cell, mse, many_to_one=True, truncate=k).loss_and_gradients(params, batch)
    _, cache = cell.forward(params, batch.x)
    start = started_at(cell, state_at(cell, cache, T - k))
    short = Batch(batch.x[T - k :], batch.y)
    _, expected = Network(start, mse, many_to_one=True).loss_and_gradients(params, short)
    _, full = Network(cell, mse, many_to_one=True).loss_and_gradients(params, batch)
    for name in expected:
        np.testing.assert_allclose(truncated[name], expected[name], rtol=1e-10, atol=1e-14, err_msg=name)
    assert not np.allclose(truncated["W_hh"], full["W_hh"])  # the cut does change something


def test_restart_from_a_state_reproduces_the_full_pass():
    T, B, t = 9, 3, 4
    cell = make_cell(transforms=(LayerNormTransform(1e-5),))
    params = make_params(cell)
    x = many_to_one_batch(T, B).x
    h, cache = cell.forward(params, x)
    h0, c0 = state_at(cell, cache, t)
    assert np.any(c0 != h0)  # the state really is a pair
    h_rest, cache_rest = forward_from(cell, params, x[t:], (h0, c0))
    np.testing.assert_array_equal(h_rest, h[t:])
    np.testing.assert_array_equal(state_at(cell, cache_rest, T - t)[1], state_at(cell, cache, T)[1])
    h_zero, _ = cell.forward(params, x[t:])
    assert not np.allclose(h_zero, h[t:])  # the initial state is used


def carousel_params(cell, b_i, b_f, b_g, b_o):
    H = cell.config.hidden_size
    params = make_params(cell)
    params["W_hx"][:] = 0.0
    params["W_hh"][:] = 0.0
    params["b_h"] = np.concatenate([np.broadcast_to(b, H) for b in (b_i, b_f, b_g, b_o)]).astype(float)
    return params


def test_constant_error_carousel_in_closed_form():
    """With W_hx = W_hh = 0 the gates are constants, i = sigma(b_i), f = sigma(b_f),
    g = tanh(b_g), o = sigma(b_o), so c_t = i g (1 - f^t) / (1 - f), and with a loss
    at step T only dL/dc_t = f^(T-t) dL/dc_T, dL/dc_T = dL/dh_T o (1 - tanh^2 c_T)."""
    T, B, H = 10, 3, 4
    cell = make_cell(H)
    rng = np.random.default_rng(3)
    b_i, b_f, b_g, b_o = (rng.normal(0, 1, H) for _ in range(4))
    b_f = b_f + 1.5  # forget gates between ~0.5 and ~0.95, different per unit
    params = carousel_params(cell, b_i, b_f, b_g, b_o)
    x = rng.normal(size=(T, B, I))
    h, cache = cell.forward(params, x)
    i, f, g, o = sigmoid(b_i), sigmoid(b_f), np.tanh(b_g), sigmoid(b_o)
    t = np.arange(1, T + 1)[:, None, None]
    c_expected = np.broadcast_to(i * g * (1 - f**t) / (1 - f), (T, B, H))
    np.testing.assert_allclose(cache.c[1:], c_expected, rtol=1e-12)
    np.testing.assert_allclose(h, o * np.tanh(c_expected), rtol=1e-12)

    d = np.zeros_like(h)
    d[-1] = rng.normal(size=(B, H))
    _, gh, gc = cell.backward_with_cell_state(params, cache, d)
    gc_T = d[-1] * o * (1 - np.tanh(c_expected[-1]) ** 2)
    gc_expected = f ** (T - t) * gc_T
    np.testing.assert_allclose(gc, gc_expected, rtol=1e-12)
    assert not gh[:-1].any()  # with W_hh = 0 nothing flows back through h
    grads, g_only = cell.backward(params, cache, d)
    np.testing.assert_array_equal(g_only, gh)

    # truncation cuts the carousel too: nothing reaches c_t before the last chunk
    k = 4
    _, _, gc_cut = cell.backward_with_cell_state(params, cache, d, truncate=k)
    np.testing.assert_array_equal(gc_cut[T - k :], gc[T - k :])
    assert not gc_cut[: T - k].any()


def test_cell_state_profile_decays_as_the_forget_gate():
    T, B, H, b_f = 10, 3, 4, 0.7
    cell = make_cell(H)
    rng = np.random.default_rng(4)
    params = carousel_params(cell, 0.3, b_f, -0.4, 0.2)
    h, cache = cell.forward(params, rng.normal(size=(T, B, I)))
    d = np.zeros_like(h)
    d[-1] = rng.normal(size=(B, H))
    norms = cell.cell_state_profile(params, cache, d)
    assert norms.shape == (T,) and norms.dtype == np.float64
    np.testing.assert_allclose(norms / norms[0], sigmoid(b_f) ** np.arange(T), rtol=1e-12)
    _, _, gc = cell.backward_with_cell_state(params, cache, d)
    assert norms[0] == pytest.approx(np.linalg.norm(gc[-1], axis=1).mean(), rel=1e-12)


def test_float32_matches_float64():
    T, B, H = 12, 5, 8
    cell64 = make_cell(H, transforms=(LayerNormTransform(1e-5),))
    params = make_params(cell64)
    batch = many_to_one_batch(T, B)
    loss64 = Network(cell64, mse).loss_value(params, batch)
    cell32 = make_cell(H, dtype=np.float32, transforms=(LayerNormTransform(1e-5),))
    cell32.init_params(np.random.default_rng(0))  # the transform learns its groups here
    net32 = Network(cell32, mse)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    b32 = Batch(batch.x.astype(np.float32), batch.y.astype(np.float32))
    h32, cache = cell32.forward(p32, b32.x)
    assert h32.dtype == np.float32 and cache.c.dtype == np.float32
    loss32, grads32 = net32.loss_and_gradients(p32, b32)
    assert loss32 == pytest.approx(loss64, rel=1e-4)
    assert all(g.dtype == np.float32 for g in grads32.values())


@pytest.mark.parametrize("init", LSTMCell.inits)
def test_initialisation(init):
    H = 64
    cell = make_cell(H, init=init)
    params = cell.init_params(np.random.default_rng(0))
    assert params["W_hx"].shape == (4 * H, I) and params["W_hh"].shape == (4 * H, H)
    b = params["b_h"].reshape(4, H)
    assert np.all(b[1] == 1.0) and not b[[0, 2, 3]].any()  # forget-gate bias 1, others 0
    W = params["W_hh"]
    if init == "uniform":
        assert np.abs(W).max() <= 1 / np.sqrt(H)
        assert W.std() == pytest.approx(1 / np.sqrt(3 * H), rel=0.05)
    else:
        assert W.std() == pytest.approx(1 / np.sqrt(H), rel=0.05)
        assert params["W_hx"].std() == pytest.approx(1 / np.sqrt(I), rel=0.2)

    shut = LSTMCell(dataclasses.replace(cell.config, cell_params=LSTMCell.Params(forget_bias=-2.0)))
    assert np.all(shut.init_params(np.random.default_rng(0))["b_h"][H : 2 * H] == -2.0)
    assert LSTMCell.Params().forget_bias == 1.0
    with pytest.raises(ValidationError):
        LSTMCell.Params(bias=1.0)


def test_registered_as_a_cell(registry):
    assert registry.get("cell", "lstm") is LSTMCell
    cell = make_cell(H=4)
    params = cell.init_params(np.random.default_rng(0))
    recurrent = cell.recurrent_matrix(params)  # every gate's block, (4H, H): not W_hx, not one block
    assert recurrent is params["W_hh"] and recurrent.shape == (16, 4)
    assert cell.max_derivative() is None  # no bound holds for a gated cell


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_step_kernels_compute_the_formulas(dtype):
    """The two compiled kernels against the same formulas written with numpy."""
    H, B, n, col = 5, 3, 8, 4
    rng = np.random.default_rng(7)
    u = np.tanh(rng.normal(size=(4 * H, B))).astype(dtype)  # tanh(a/2) for i, f, o; tanh(a) for g
    c_prev = rng.normal(size=(H, B)).astype(dtype)
    act, c = u.copy(), np.empty_like(c_prev)
    lstm_kernels.gates_and_cell(act, c_prev, c)
    i, f, o = ((1 + u[: 3 * H]) / 2).reshape(3, H, B)
    g = u[3 * H :]
    np.testing.assert_allclose(act, np.concatenate([i, f, o, g]), rtol=1e-6)
    np.testing.assert_allclose(c, f * c_prev + i * g, rtol=1e-6)
    assert act.dtype == c.dtype == dtype

    tanh_c = np.tanh(c)
    gh, gc0 = rng.normal(size=(2, H, B)).astype(dtype)
    gc, block, carry = gc0.copy(), np.full((4 * H, n), 7.0, dtype), np.empty_like(gc0)
    lstm_kernels.gates_backward(act, tanh_c, c_prev, gh, gc, block, col, carry)
    gc_t = gc0 + gh * o * (1 - tanh_c**2)
    np.testing.assert_allclose(gc, gc_t, rtol=1e-5)
    dz = np.concatenate([gc_t * g * i * (1 - i), gc_t * c_prev * f * (1 - f),
                         gh * tanh_c * o * (1 - o), gc_t * i * (1 - g**2)])
    np.testing.assert_allclose(block[:, col : col + B], dz, rtol=1e-5, atol=1e-7)
    assert np.all(np.delete(block, np.s_[col : col + B], axis=1) == 7.0)  # no other column written
    np.testing.assert_allclose(carry, f * gc_t, rtol=1e-5)
