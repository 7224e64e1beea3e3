"""The engine's maths against finite differences and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbench.api import ModelConfig
from rnnbench.engine.activations import ACTIVATIONS
from rnnbench.engine.gradcheck import check_gradients, numerical_gradient
from rnnbench.engine.losses import mse
from rnnbench.engine.network import Network, global_norm, init_readout
from rnnbench_plugins.adding import AddingProblem
from rnnbench_plugins.clipping import ClipNorm, ClipNormParams
from rnnbench_plugins.vanilla import VanillaCell


def make_network(activation="tanh", init="normal", T=7, B=4, H=5, seed=0):
    config = ModelConfig("vanilla", activation, init, 2, H, 1, np.dtype(np.float64))
    cell = VanillaCell(config)
    rng = np.random.default_rng(seed)
    params = cell.init_params(rng)
    params.update(init_readout(rng, H, 1, np.float64))
    params["b_h"] += rng.normal(0, 0.1, H)  # non-zero biases so their gradient is exercised
    task = AddingProblem(AddingProblem.Params(), T)
    x, y = task.sample(rng, B)
    return Network(cell, mse), params, x, y


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("init", VanillaCell.inits)
def test_vanilla_gradients_match_finite_differences(activation, init):
    net, params, x, y = make_network(activation, init)
    _, grads = net.loss_and_gradients(params, x, y)
    assert set(grads) == {"W_hx", "W_hh", "b_h", "W_hy", "b_y"}
    errors = check_gradients(lambda: net.loss_value(params, x, y), params, grads)
    assert max(errors.values()) < 1e-6, errors


def test_gradient_check_catches_a_wrong_gradient():
    net, params, x, y = make_network()
    _, grads = net.loss_and_gradients(params, x, y)
    grads["W_hh"] = grads["W_hh"] * 1.01
    errors = check_gradients(lambda: net.loss_value(params, x, y), params, grads)
    assert errors["W_hh"] > 1e-3
    assert errors["W_hx"] < 1e-6


def test_mse_and_its_gradient():
    o = np.array([[1.0], [3.0]])
    y = np.array([[0.0], [1.0]])
    loss, do = mse(o, y)
    assert loss == pytest.approx((1 + 4) / 2)
    np.testing.assert_allclose(do, [[1.0], [2.0]])
    np.testing.assert_allclose(numerical_gradient(lambda: mse(o, y)[0], o), do, rtol=1e-8)


@pytest.mark.parametrize("k, expected_at_10", [(0.5, 0.5**10), (1.5, 1.5**10)])
def test_decay_profile_of_a_linear_rnn_is_geometric(k, expected_at_10):
    T, H = 11, 4
    net, params, x, y = make_network("linear", T=T, H=H)
    params["W_hh"] = k * np.eye(H)
    norms = net.decay_profile(params, x, y)
    assert norms.shape == (T,)
    ratios = norms / norms[0]
    np.testing.assert_allclose(ratios, k ** np.arange(T), rtol=1e-12)
    # the textbook numbers: 0.5^10 ~ 0.00098, 1.5^10 ~ 57.7
    assert ratios[10] == pytest.approx(expected_at_10, rel=1e-12)
    assert round(ratios[10], 5 if k < 1 else 1) in (0.00098, 57.7)


def test_decay_profile_is_the_per_sequence_gradient_norm():
    net, params, x, y = make_network(B=3)
    norms = net.decay_profile(params, x, y)
    # by hand for the first sequence alone: its loss gradient, at the last state only
    one = [net.decay_profile(params, x[:, b : b + 1], y[b : b + 1]) for b in range(3)]
    np.testing.assert_allclose(norms, np.mean(one, axis=0), rtol=1e-12)


def test_clip_norm_keeps_direction_and_bounds_the_norm():
    rng = np.random.default_rng(1)
    grads = {"a": rng.normal(size=(3, 3)), "b": rng.normal(size=3)}
    norm = global_norm(grads)
    clipped = ClipNorm(ClipNormParams(threshold=norm / 4)).transform_gradients(grads)
    assert global_norm(clipped) == pytest.approx(norm / 4, rel=1e-12)
    for name in grads:
        np.testing.assert_allclose(clipped[name], grads[name] / 4, rtol=1e-12)
    untouched = ClipNorm(ClipNormParams(threshold=norm * 2)).transform_gradients(grads)
    for name in grads:
        np.testing.assert_array_equal(untouched[name], grads[name])


def test_float32_forward_matches_float64():
    net, params, x, y = make_network(T=20, B=8, H=16)
    loss64 = net.loss_value(params, x, y)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    net.cell.config = ModelConfig("vanilla", "tanh", "normal", 2, 16, 1, np.dtype(np.float32))
    loss32 = net.loss_value(p32, x.astype(np.float32), y.astype(np.float32))
    assert loss32 == pytest.approx(loss64, rel=1e-4)
