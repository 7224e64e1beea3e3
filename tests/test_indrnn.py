"""The built-in IndRNN (Li, Li, Cook, Zhu & Gao 2018): its gradients and g_t =
dL/dh_t against finite differences, truncation, one unit's recurrence in closed
form, the bound on |u_n| (initialisation and constraint), the remedies it
refuses, and a PyTorch autograd version of the same equations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnbench import training
from rnnbench.api import Batch, ModelConfig
from rnnbench.engine.finite_differences import check_gradients, numerical_gradient, relative_error
from rnnbench.engine.indrnn import IndRNNCell, IndRNNParams, layer_names
from rnnbench.engine.losses import cross_entropy, mse
from rnnbench.engine.network import Network, init_readout
from rnnbench.resolve import resolve_variant
from rnnbench.spec import VariantSpec
from rnnbench.variant import build_model
from rnnbench_plugins.layer_norm import LayerNormTransform

import cell_checks
from cell_checks import make_params
from restart import forward_from, started_at, state_at

I = 3


def make_cell(H=4, O=2, activation="relu", layer_norm=False, dtype=np.float64, layers=1, **hyper):
    config = ModelConfig("indrnn", activation, "uniform", I, H, O, np.dtype(dtype),
                         cell_params=IndRNNParams(layers=layers, **hyper))
    return IndRNNCell(config, (LayerNormTransform(1e-5),) if layer_norm else ())


def regression_batch(T, B, O=2, seed=1):
    return cell_checks.regression_batch(T, B, O, seed, inputs=I)


def g_by_finite_differences(cell, params, batch, t):
    """dL/dh_t of a many-to-one MSE network, by central differences on the state
    h_t from which the forward pass is restarted (of a stack: the top layer's
    h^L_t, the states of the layers below it held)."""
    _, cache = cell.forward(params, batch.x)
    state = state_at(cell, cache, t)
    state = [s.copy() for s in state] if isinstance(state, list) else state.copy()

    def loss():
        h, _ = forward_from(cell, params, batch.x[t:], state)
        return mse(h[-1] @ params["W_hy"].T + params["b_y"], batch.y)[0]

    return numerical_gradient(loss, state[-1] if isinstance(state, list) else state)


@pytest.mark.parametrize("activation", IndRNNCell.activations)
@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_gradients_and_g_match_finite_differences(activation, layer_norm, layers):
    T, B = 7, 3
    cell = make_cell(activation=activation, layer_norm=layer_norm, layers=layers)
    params = make_params(cell)
    assert params["W_hh"].shape == (4,)  # u, one recurrent weight per unit
    if layers == 2:  # layer 2 reads layer 1's state: its own W_hx.2 (H, H), u and b, and layer norm
        assert params["W_hx.2"].shape == (4, 4) and params["W_hh.2"].shape == params["b_h.2"].shape == (4,)
        assert ("layer_norm.h2.gain" in params) == layer_norm
    batch = regression_batch(T, B)
    net = Network(cell, mse)
    _, grads = net.loss_and_gradients(params, batch)
    assert set(grads) == set(params)
    errors = check_gradients(lambda: net.loss_value(params, batch), params, grads)
    assert max(errors.values()) < 1e-6, errors
    # g_t, the total gradient at every step, against differences on the restarted state
    h, cache = cell.forward(params, batch.x)
    d = np.zeros_like(h)
    d[-1] = mse(h[-1] @ params["W_hy"].T + params["b_y"], batch.y)[1] @ params["W_hy"]
    _, g = cell.backward(params, cache, d)
    np.testing.assert_array_equal(g[-1], d[-1])
    for t in (1, 3, T - 1):
        assert relative_error(g[t - 1], g_by_finite_differences(cell, params, batch, t)) < 1e-7


def test_many_to_many_cross_entropy_gradients_match_finite_differences():
    T, B, O = 6, 3, 3
    cell = make_cell(O=O, layer_norm=True)
    params = make_params(cell, seed=2)
    rng = np.random.default_rng(3)
    mask = rng.random((T, B)) < 0.6
    mask[-1] = True
    batch = Batch(rng.normal(size=(T, B, I)), rng.integers(0, O, (T, B)), mask)
    net = Network(cell, cross_entropy, many_to_one=False)
    _, grads = net.loss_and_gradients(params, batch)
    errors = check_gradients(lambda: net.loss_value(params, batch), params, grads)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_truncation_is_the_gradient_of_the_truncated_graph(layer_norm, layers):
    T, B, k = 9, 3, 4
    cell = make_cell(layer_norm=layer_norm, layers=layers)
    params = make_params(cell, seed=4)
    batch = regression_batch(T, B, seed=5)
    _, truncated = Network(cell, mse, truncate=k).loss_and_gradients(params, batch)
    _, cache = cell.forward(params, batch.x)
    start = started_at(cell, state_at(cell, cache, T - k))
    _, expected = Network(start, mse).loss_and_gradients(params, Batch(batch.x[T - k :], batch.y))
    for name in expected:
        np.testing.assert_allclose(truncated[name], expected[name], rtol=1e-10, atol=1e-14, err_msg=name)
    _, full = Network(cell, mse).loss_and_gradients(params, batch)
    for name in ("W_hh", "W_hh.2")[:layers]:  # the cut changes something in every layer
        assert not np.allclose(full[name], truncated[name])
    # g_t: unchanged in the last chunk, zero before it (the loss is at T only)
    d = np.zeros((T, B, 4))
    d[-1] = np.random.default_rng(6).normal(size=(B, 4))
    _, g_full = cell.backward(params, cache, d)
    _, g_cut = cell.backward(params, cache, d, truncate=k)
    np.testing.assert_array_equal(g_cut[T - k :], g_full[T - k :])
    assert not g_cut[: T - k].any() and g_full[: T - k].any()


def test_one_unit_in_closed_form():
    """With no input (W_hx = 0) and b_h > 0 a relu unit never switches off:
    h_t = b (1 + u + ... + u^(t-1)) = b (1 - u^t) / (1 - u), and with a loss at T
    only dL/dh_t = u^(T-t) dL/dh_T (the paper's eq. 4 with relu' = 1)."""
    T, B, H = 12, 3, 4
    cell = make_cell(H)
    rng = np.random.default_rng(7)
    u = np.array([0.5, 0.9, 1.0 - 1e-3, 1.05])  # below, near and above 1
    b = np.array([0.3, 1.0, 0.2, 0.7])
    params = make_params(cell)
    params.update(W_hx=np.zeros((H, I)), W_hh=u, b_h=b)
    h, cache = cell.forward(params, rng.normal(size=(T, B, I)))
    t = np.arange(1, T + 1)[:, None, None]
    np.testing.assert_allclose(h, np.broadcast_to(b * (1 - u**t) / (1 - u), h.shape), rtol=1e-12)
    d = np.zeros_like(h)
    d[-1] = rng.normal(size=(B, H))
    _, g = cell.backward(params, cache, d)
    np.testing.assert_allclose(g, u ** (T - t) * d[-1], rtol=1e-12)
    # the network's decay profile, every unit with the same u, is u^d
    params["W_hh"] = np.full(H, 0.8)
    norms = Network(cell, mse).decay_profile(params, regression_batch(T, B))
    np.testing.assert_allclose(norms / norms[0], 0.8 ** np.arange(T), rtol=1e-12)


@pytest.mark.parametrize("hyper, T", [({}, 1000), ({"magnitude": 3.0, "bound_steps": 100}, 100)],
                         ids=["default", "given"])
def test_constrain_lets_no_unit_grow_a_gradient_beyond_magnitude_over_bound_steps(hyper, T):
    """After ``constrain``, |u_n|^T <= magnitude: the default is the paper's, a gradient
    grows at most 2x over T = 1000 steps; units beyond the bound land on it."""
    cell = make_cell(3, **hyper)
    params = {"W_hh": np.array([-3.0, 0.5, 3.0])}
    cell.constrain(params)
    u = params["W_hh"]
    magnitude = hyper.get("magnitude", 2.0)
    np.testing.assert_allclose(np.abs(u[[0, 2]]) ** T, magnitude, rtol=1e-12)
    assert u[1] == 0.5 and np.all(np.abs(u) ** T <= magnitude * (1 + 1e-12))


def test_the_bound_on_u_is_the_papers_and_initialisation_keeps_it():
    hyper = IndRNNParams(magnitude=2.0, bound_steps=100)
    assert hyper.recurrent_max == pytest.approx(2.0**0.01) and hyper.recurrent_min == pytest.approx(0.5**0.01)
    H = 500
    u = make_cell(H, bound_steps=100).init_params(np.random.default_rng(0))["W_hh"]
    assert u.min() >= 0.0 and u.max() <= hyper.recurrent_max
    assert u.min() < 0.01 and u.max() > 0.99 * hyper.recurrent_max  # U(0, 2^(1/T)): the whole range
    u = make_cell(H, bound_steps=100, memory_init=True).init_params(np.random.default_rng(0))["W_hh"]
    assert u.min() >= hyper.recurrent_min and u.max() <= hyper.recurrent_max


def test_constrain_clips_u_in_place_after_every_training_step():
    cell = make_cell(3, bound_steps=10)
    bound = 2.0**0.1
    params = {"W_hh": np.array([-3.0, 0.5, 3.0])}
    u = params["W_hh"]
    cell.constrain(params)
    assert params["W_hh"] is u
    np.testing.assert_allclose(u, [-bound, 0.5, bound])
    # in training: from u at the bound, a step that would push some units beyond it
    spec = VariantSpec(name="v", cell="indrnn", activation="relu", hidden_size=6,
                       cell_params={"bound_steps": 10})
    registry = _registry()
    model = build_model(resolve_variant(spec, registry), registry, I, 1, "float64", "mse", True,
                        np.random.default_rng(0))
    model.params["W_hh"][:] = bound
    model.params["b_h"][:] = 0.5  # every unit active
    rng = np.random.default_rng(1)
    batch = Batch(rng.uniform(size=(10, 4, I)), rng.normal(size=(4, 1)))
    _, grads = model.loss_and_gradients(batch)
    assert (grads["W_hh"] < 0).any()  # plain SGD would take these units above the bound
    sgd = registry.get("optimizer", "sgd")
    training.train_step(model, sgd(sgd.Params(), 1.0), batch, 1)
    assert np.abs(model.params["W_hh"]).max() <= bound
    np.testing.assert_array_equal(model.params["W_hh"][grads["W_hh"] < 0], bound)


def _registry():
    from rnnbench.registry import load_registry

    return load_registry()


def test_recurrent_matrix_is_diag_u_and_orthogonal_init_is_refused_in_one_line():
    cell = make_cell()
    params = make_params(cell)
    np.testing.assert_array_equal(cell.recurrent_matrix(params), np.diag(params["W_hh"]))
    assert cell.max_derivative() == 1.0
    registry = _registry()
    spec = VariantSpec(name="v", cell="indrnn", activation="relu", hidden_size=4, remedies=["orthogonal_init"])
    with pytest.raises(ValueError) as caught:
        resolve_variant(spec, registry)
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert "remedy 'orthogonal_init' does not apply to cell 'indrnn'" in message and "vector u" in message
    with pytest.raises(ValueError, match="cell_params of cell 'indrnn': magnitude: Input should be greater than 1"):
        resolve_variant(VariantSpec(name="v", cell="indrnn", cell_params={"magnitude": 0.5}), registry)


# --- the stack of layers ----------------------------------------------------------------------


@pytest.mark.parametrize("layer_norm", [False, True])
def test_one_layer_gives_the_numbers_of_the_one_layer_cell(layer_norm):
    """tests/fixtures/indrnn_one_layer.json holds what the one-layer cell computed
    before ``layers`` existed (commit d104359, the same computation as here): its
    parameters as drawn by init_params (then moved by noise), the loss and the
    gradients with truncation k = 3, and the decay profile."""
    stored = json.loads((Path(__file__).parent / "fixtures" / "indrnn_one_layer.json").read_text())
    tag = "ln" if layer_norm else "plain"
    cell = make_cell(layer_norm=layer_norm, bound_steps=10)
    rng = np.random.default_rng(11)
    params = cell.init_params(rng)
    params.update(init_readout(rng, 4, 2, np.float64))
    params = {k: v + rng.normal(0.0, 0.1, v.shape) for k, v in params.items()}
    batch = Batch(rng.normal(size=(7, 3, I)), rng.normal(size=(3, 2)))
    np.testing.assert_array_equal(batch.x, stored[f"{tag}/x"])
    assert sorted(params) == sorted(k.split("/param/")[1] for k in stored if k.startswith(f"{tag}/param/"))
    for name, value in params.items():
        np.testing.assert_array_equal(value, stored[f"{tag}/param/{name}"], err_msg=name)
    loss, grads = Network(cell, mse, truncate=3).loss_and_gradients(params, batch)
    assert loss == pytest.approx(stored[f"{tag}/loss"], rel=1e-13)
    assert set(grads) == set(params)
    for name, value in grads.items():
        np.testing.assert_allclose(value, stored[f"{tag}/grad/{name}"], rtol=1e-12, atol=1e-15, err_msg=name)
    np.testing.assert_allclose(Network(cell, mse).decay_profile(params, batch), stored[f"{tag}/profile"], rtol=1e-12)


def test_the_default_is_the_papers_two_layers_each_initialised_and_bounded():
    assert IndRNNParams().layers == 2  # Li et al. 2018, the adding problem
    hyper = IndRNNParams(bound_steps=100)
    cell = make_cell(300, layers=3, bound_steps=100)
    params = cell.init_params(np.random.default_rng(0))
    assert [n for n in params if n.startswith("W_hh")] == ["W_hh", "W_hh.2", "W_hh.3"]
    assert params["W_hx"].shape == (300, I) and params["W_hx.3"].shape == (300, 300)
    for name in ("W_hh", "W_hh.2"):  # the layers below the top: U(0, 2^(1/T))
        assert params[name].min() >= 0.0 and params[name].min() < 0.01
        assert params[name].max() <= hyper.recurrent_max
    u = params["W_hh.3"]  # the top layer: U(2^(-1/T), 2^(1/T)), the authors' last layer
    assert u.min() >= hyper.recurrent_min and u.max() <= hyper.recurrent_max
    np.testing.assert_array_equal(cell.recurrent_matrix(params), np.diag(u))  # the top layer's
    # constrain clips every layer's u, in place
    params = {name: np.array([-3.0, 0.5, 3.0]) for name in ("W_hh", "W_hh.2", "W_hh.3")}
    cell.constrain(params)
    for value in params.values():
        np.testing.assert_allclose(value, [-hyper.recurrent_max, 0.5, hyper.recurrent_max])


def test_l2_penalises_every_layers_weights_and_a_stack_trains_within_the_bound():
    registry = _registry()
    spec = VariantSpec(name="v", cell="indrnn", activation="relu", hidden_size=5,
                       cell_params={"layers": 2, "bound_steps": 10},
                       remedies=[{"name": "l2", "weight_decay": 0.1, "groups": ["recurrent"]},
                                 "layer_norm", {"name": "clip_norm", "threshold": 1.0}])
    model = build_model(resolve_variant(spec, registry), registry, I, 1, "float64", "mse", True,
                        np.random.default_rng(0))
    assert "layer_norm.h.gain" in model.params and "layer_norm.h2.gain" in model.params
    value, penalty_grads = model.remedies[0].penalty(model.params)
    assert sorted(penalty_grads) == ["W_hh", "W_hh.2"]
    u1, u2 = model.params["W_hh"], model.params["W_hh.2"]
    assert value == pytest.approx(0.05 * (u1 @ u1 + u2 @ u2))
    np.testing.assert_array_equal(penalty_grads["W_hh.2"], 0.1 * u2)
    model.params["W_hh.2"][:] = 2.0**0.1  # at the bound; a large SGD step pushes some units past it
    rng = np.random.default_rng(1)
    batch = Batch(rng.uniform(size=(10, 4, I)), rng.normal(size=(4, 1)))
    _, grads = model.loss_and_gradients(batch)
    assert (model.transform_gradients(grads)["W_hh.2"] < -1e-3).any()  # SGD would pass the bound
    sgd = registry.get("optimizer", "sgd")
    training.train_step(model, sgd(sgd.Params(), 10.0), batch, 1)
    for name in ("W_hh", "W_hh.2"):
        assert np.abs(model.params[name]).max() <= 2.0**0.1 + 1e-15


# --- the same equations with PyTorch autograd ---------------------------------------------------


def torch_loss_and_gradients(params, batch, activation, layer_norm, layers=1, eps_ln=1e-5, u_scale=1.0):
    """(IR1)-(IR3), layer by layer, then the read-out of the top layer and the
    MSE, written with torch and differentiated by autograd: the loss, every
    parameter's gradient and dL/dh^l_t of every layer (a list from l = 1).
    ``u_scale`` != 1 perturbs (IR1) in the top layer, for the negative test."""
    torch = pytest.importorskip("torch")
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    below = torch.tensor(batch.x, dtype=torch.float64)
    f = torch.relu if activation == "relu" else torch.tanh
    states = []
    for l in range(1, layers + 1):
        W_hx, u, b_h = (P[n] for n in layer_names(l))
        scale = u_scale if l == layers else 1.0
        site = "h" if l == 1 else f"h{l}"
        h = torch.zeros(below.shape[1], u.shape[0], dtype=torch.float64)
        hs = []
        for t in range(below.shape[0]):
            a = below[t] @ W_hx.T + scale * u * h + b_h
            if layer_norm:
                a = torch.nn.functional.layer_norm(a, a.shape[1:], P[f"layer_norm.{site}.gain"],
                                                   P[f"layer_norm.{site}.bias"], eps_ln)
            h = f(a)
            h.retain_grad()
            hs.append(h)
        states.append(hs)
        below = torch.stack(hs)
    loss = ((h @ P["W_hy"].T + P["b_y"] - torch.tensor(batch.y)) ** 2).mean()
    loss.backward()
    return (loss.item(), {k: v.grad.numpy() for k, v in P.items()},
            [np.stack([h.grad.numpy() for h in hs]) for hs in states])


@pytest.mark.parametrize("activation, layer_norm, layers",
                         [("relu", False, 1), ("tanh", True, 1), ("relu", False, 2), ("tanh", True, 2)])
def test_equal_to_a_pytorch_autograd_version_of_the_equations(activation, layer_norm, layers):
    pytest.importorskip("torch")
    T, B = 8, 3
    cell = make_cell(activation=activation, layer_norm=layer_norm, layers=layers)
    params = make_params(cell, seed=8)
    batch = regression_batch(T, B, seed=9)
    net = Network(cell, mse)
    loss, grads = net.loss_and_gradients(params, batch)
    h, cache = cell.forward(params, batch.x)
    d = np.zeros_like(h)
    d[-1] = mse(h[-1] @ params["W_hy"].T + params["b_y"], batch.y)[1] @ params["W_hy"]
    _, g = cell.backward(params, cache, d)
    below = cell.state_profiles(params, cache, d)  # the layers below the top one, "h1", ...
    assert sorted(below) == [f"h{l}" for l in range(1, layers)]

    def assert_equal(torch_loss, torch_grads, torch_g):
        assert abs(loss - torch_loss) <= 1e-10 * abs(loss)
        for name in params:
            assert relative_error(grads[name], torch_grads[name]) < 1e-10, name
        assert relative_error(g, torch_g[-1]) < 1e-10
        for l in range(1, layers):  # profile of dL/dh^l_t, norms[k] at t = T - k
            norms = np.linalg.norm(torch_g[l - 1], axis=2).mean(axis=1)[::-1]
            assert relative_error(below[f"h{l}"], norms) < 1e-10

    assert_equal(*torch_loss_and_gradients(params, batch, activation, layer_norm, layers))
    with pytest.raises(AssertionError):  # the comparison sees a wrong constant
        assert_equal(*torch_loss_and_gradients(params, batch, activation, layer_norm, layers, u_scale=1 + 1e-6))


def test_float32_runs_in_float32():
    cell64 = make_cell(layer_norm=True)
    params64 = make_params(cell64)
    batch = regression_batch(10, 4)
    loss64 = Network(cell64, mse).loss_value(params64, batch)
    cell = make_cell(dtype=np.float32, layer_norm=True)
    params = {k: v.astype(np.float32) for k, v in params64.items()}
    h, _ = cell.forward(params, batch.x)  # float64 inputs, as tasks sample them
    assert h.dtype == np.float32
    loss, grads = Network(cell, mse).loss_and_gradients(params, Batch(batch.x, batch.y.astype(np.float32)))
    assert all(v.dtype == np.float32 for v in grads.values())
    assert loss == pytest.approx(loss64, rel=1e-4)
