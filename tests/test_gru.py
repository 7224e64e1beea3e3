"""The GRU cell: gradients against finite differences, truncation, restarts,
a closed form, float32."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbench.api import Batch, ModelConfig
from rnnbench.engine import gru_kernels
from rnnbench.engine.finite_differences import check_gradients
from rnnbench.engine.losses import cross_entropy, mse
from rnnbench.engine.network import Network, init_readout
from rnnbench.engine.gru import GRUCell
from rnnbench_plugins.layer_norm import LayerNormTransform
from restart import forward_from, started_at, state_at

I, H = 3, 4


def make_cell(init="normal", layer_norm=False, dtype=np.float64, outputs=1):
    config = ModelConfig("gru", "tanh", init, I, H, outputs, np.dtype(dtype))
    transforms = (LayerNormTransform(1e-5),) if layer_norm else ()
    return GRUCell(config, transforms)


def make_params(cell, rng, outputs=1):
    """The cell's and read-out's parameters, all moved off special values by N(0, 0.1) noise."""
    params = cell.init_params(rng)
    params.update(init_readout(rng, H, outputs, np.float64))
    return {k: v + rng.normal(0.0, 0.1, v.shape) for k, v in params.items()}


def regression_batch(rng, T, B):
    return Batch(rng.normal(size=(T, B, I)), rng.normal(size=(B, 1)))


def assert_gradients_match(net, params, batch):
    _, grads = net.loss_and_gradients(params, batch)
    assert set(grads) == set(params)
    errors = check_gradients(lambda: net.loss_value(params, batch), params, grads)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("init", GRUCell.inits)
@pytest.mark.parametrize("layer_norm", [False, True])
def test_gradients_match_finite_differences(init, layer_norm):
    rng = np.random.default_rng(0)
    cell = make_cell(init, layer_norm)
    params = make_params(cell, rng)
    if layer_norm:
        assert {"layer_norm.gates.gain", "layer_norm.candidate.bias"} <= set(params)
        assert params["layer_norm.gates.gain"].shape == (2 * H,)
    assert_gradients_match(Network(cell, mse, many_to_one=True), params, regression_batch(rng, 6, 3))


@pytest.mark.parametrize("layer_norm", [False, True])
def test_many_to_many_gradients_match_finite_differences(layer_norm):
    rng = np.random.default_rng(1)
    T, B, O = 6, 3, 3
    cell = make_cell("uniform", layer_norm, outputs=O)
    params = make_params(cell, rng, O)
    mask = rng.random((T, B)) < 0.6
    mask[-1] = True
    batch = Batch(rng.normal(size=(T, B, I)), rng.integers(0, O, (T, B)), mask)
    assert_gradients_match(Network(cell, cross_entropy, many_to_one=False), params, batch)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_truncation_is_the_gradient_of_the_truncated_graph(layer_norm):
    rng = np.random.default_rng(2)
    T, k = 8, 3
    cell = make_cell("normal", layer_norm)
    params = make_params(cell, rng)
    batch = regression_batch(rng, T, 3)
    loss, truncated = Network(cell, mse, truncate=k).loss_and_gradients(params, batch)
    _, cache = cell.forward(params, batch.x)
    start = started_at(cell, state_at(cell, cache, T - k))
    short = Batch(batch.x[T - k :], batch.y)
    short_loss, expected = Network(start, mse).loss_and_gradients(params, short)
    assert short_loss == loss
    assert set(truncated) == set(expected)
    for name in expected:
        np.testing.assert_allclose(truncated[name], expected[name], rtol=1e-12, atol=1e-15, err_msg=name)
    # and truncation does change the gradient, so the comparison above means something
    _, full = Network(cell, mse).loss_and_gradients(params, batch)
    assert not np.allclose(full["W_hh"], truncated["W_hh"], rtol=1e-3)


def test_forward_restarts_from_a_state():
    rng = np.random.default_rng(3)
    T, t = 7, 3
    cell = make_cell("uniform", layer_norm=True)
    params = make_params(cell, rng)
    x = rng.normal(size=(T, 2, I))
    h, cache = cell.forward(params, x)
    assert h.shape == (T, 2, H)
    np.testing.assert_array_equal(state_at(cell, cache, 0), 0.0)
    np.testing.assert_array_equal(state_at(cell, cache, T), h[-1])
    h_rest, _ = forward_from(cell, params, x[t:], state_at(cell, cache, t))
    np.testing.assert_array_equal(h_rest, h[t:])


def test_forward_is_the_reset_before_gru():
    """Each step against the equations written out block by block."""
    rng = np.random.default_rng(6)
    cell = make_cell("uniform")
    p = make_params(cell, rng)
    x, h0 = rng.normal(size=(5, 2, I)), rng.normal(size=(2, H))
    h, _ = forward_from(cell, p, x, h0)
    W, U, b = (np.split(p[k], 3) for k in ("W_hx", "W_hh", "b_h"))
    sigmoid = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    prev = h0
    for t in range(len(x)):
        r = sigmoid(x[t] @ W[0].T + prev @ U[0].T + b[0])
        z = sigmoid(x[t] @ W[1].T + prev @ U[1].T + b[1])
        n = np.tanh(x[t] @ W[2].T + (r * prev) @ U[2].T + b[2])
        prev = (1.0 - z) * n + z * prev
        np.testing.assert_allclose(h[t], prev, rtol=1e-12, atol=1e-15)


def constant_gate_params(cell, b_r, b_z, b_n):
    """W_hx = W_hh = 0: r, z and n are the constants sigmoid(b_r), sigmoid(b_z), tanh(b_n)."""
    params = cell.init_params(np.random.default_rng(0))
    params["W_hx"][:] = 0.0
    params["W_hh"][:] = 0.0
    params["b_h"] = np.concatenate([b_r, b_z, b_n])
    params.update(init_readout(np.random.default_rng(1), H, 1, np.float64))
    return params


def test_closed_form_with_constant_gates():
    """h_t = (1 - z) n + z h_{t-1} from h_0 = 0 is h_t = n (1 - z^t), and
    dL_T/dh_t = z^(T - t) dL_T/dh_T, when the gates and candidate are constants."""
    rng = np.random.default_rng(4)
    T, B = 12, 3
    cell = make_cell()
    b_z = np.array([-1.0, 0.3, 1.2, 2.5])
    b_n = np.array([0.7, -0.4, 1.5, -2.0])
    params = constant_gate_params(cell, rng.normal(size=H), b_z, b_n)
    z, n = 1.0 / (1.0 + np.exp(-b_z)), np.tanh(b_n)
    batch = regression_batch(rng, T, B)
    h, cache = cell.forward(params, batch.x)
    t = np.arange(1, T + 1)[:, None, None]
    np.testing.assert_allclose(h, np.broadcast_to(n * (1.0 - z**t), h.shape), rtol=1e-12)
    # per unit: the gradient at h_t is the one at h_T scaled by z^(T - t)
    d = np.zeros_like(h)
    d[-1] = rng.normal(size=(B, H))
    _, g = cell.backward(params, cache, d)
    np.testing.assert_allclose(g, z ** (T - t) * d[-1], rtol=1e-12)
    # and the network's decay profile, with one z for every unit, is z^d
    z0 = 0.8
    params = constant_gate_params(cell, rng.normal(size=H), np.full(H, np.log(z0 / (1 - z0))), b_n)
    norms = Network(cell, mse).decay_profile(params, batch)
    assert norms.shape == (T,)
    np.testing.assert_allclose(norms / norms[0], z0 ** np.arange(T), rtol=1e-12)


def test_float32_matches_float64():
    rng = np.random.default_rng(5)
    cell64 = make_cell("normal", layer_norm=True)
    params = make_params(cell64, rng)
    batch = regression_batch(rng, 20, 8)
    loss64 = Network(cell64, mse).loss_value(params, batch)
    cell32 = make_cell("normal", layer_norm=True, dtype=np.float32)
    assert all(v.dtype == np.float32 for v in cell32.init_params(rng).values())
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    b32 = Batch(batch.x.astype(np.float32), batch.y.astype(np.float32))
    net32 = Network(cell32, mse)
    h, _ = cell32.forward(p32, b32.x)
    assert h.dtype == np.float32
    loss32, grads = net32.loss_and_gradients(p32, b32)
    assert loss32 == pytest.approx(loss64, rel=1e-4)
    assert {k: v.dtype for k, v in grads.items()} == {k: np.dtype(np.float32) for k in p32}
    # float64 inputs (as tasks sample them) still give float32 states and gradients
    h, _ = cell32.forward(p32, batch.x)
    assert h.dtype == np.float32
    _, grads = net32.loss_and_gradients(p32, Batch(batch.x, b32.y))
    assert all(v.dtype == np.float32 for v in grads.values())


def test_registered_as_gru(registry):
    assert registry.get("cell", "gru") is GRUCell


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_step_kernels_compute_the_formulas(dtype):
    """The four compiled kernels against the same formulas written with numpy."""
    B, n_cols, col = 3, 8, 2
    rng = np.random.default_rng(11)
    u = np.tanh(rng.normal(size=(2 * H, B))).astype(dtype)  # tanh(a/2) for r and z
    h_prev, n, g, drh = rng.normal(size=(4, H, B)).astype(dtype)
    n = np.tanh(n)
    rz, rh = u.copy(), np.empty_like(h_prev)
    gru_kernels.gates_and_reset(rz, h_prev, rh)
    r, z = (1 + u[:H]) / 2, (1 + u[H:]) / 2
    np.testing.assert_allclose(rz, np.concatenate([r, z]), rtol=1e-6)
    np.testing.assert_allclose(rh, r * h_prev, rtol=1e-6)

    h = np.empty_like(h_prev)
    gru_kernels.interpolate(rz[H:], n, h_prev, h)
    np.testing.assert_allclose(h, (1 - z) * n + z * h_prev, rtol=1e-5, atol=1e-6)

    dm = np.full((H, n_cols), 7.0, dtype)
    gru_kernels.candidate_backward(rz, n, g, dm, col)
    np.testing.assert_allclose(dm[:, col : col + B], (1 - n**2) * (1 - z) * g, rtol=1e-5)
    assert np.all(np.delete(dm, np.s_[col : col + B], axis=1) == 7.0)

    da, carry = np.full((2 * H, n_cols), 7.0, dtype), np.empty_like(h_prev)
    gru_kernels.gates_backward(rz, h_prev, n, g, drh, da, col, carry)
    expected = np.concatenate([r * (1 - r) * h_prev * drh, z * (1 - z) * (h_prev - n) * g])
    np.testing.assert_allclose(da[:, col : col + B], expected, rtol=1e-5, atol=1e-7)
    assert np.all(np.delete(da, np.s_[col : col + B], axis=1) == 7.0)
    np.testing.assert_allclose(carry, z * g + r * drh, rtol=1e-5, atol=1e-7)
    assert rz.dtype == h.dtype == dm.dtype == da.dtype == dtype
