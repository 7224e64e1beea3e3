"""The built-in coRNN (Rusch & Mishra 2021): its gradients, gy_t = dL/dy_t and
gz_t = dL/dz_t against finite differences, truncation, the linear oscillator in
closed form, the second state's decay profile, which remedies act on which
weight, a PyTorch autograd version of the same equations, and its parameters
searched by the tuning protocol."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from rnnbench import tuning
from rnnbench.api import Batch, ModelConfig
from rnnbench.engine.cornn import CoRNNCell, CoRNNParams
from rnnbench.engine.finite_differences import check_gradients, numerical_gradient, relative_error
from rnnbench.engine.losses import cross_entropy, mse
from rnnbench.engine.network import Network
from rnnbench.registry import load_registry
from rnnbench.resolve import resolve_data, resolve_variant
from rnnbench.spec import SpecError, VariantSpec
from rnnbench.variant import build_model
from rnnbench_plugins.layer_norm import LayerNormTransform

import cell_checks
from cell_checks import make_params
from restart import forward_from, started_at, state_at

I, H = 3, 4
# the authors' adding-problem constants (the defaults) and their sequential-MNIST ones
ADDING = {}
SMNIST = {"dt": 0.042, "gamma": 2.7, "epsilon": 4.7}


def make_cell(O=2, layer_norm=False, init="uniform", dtype=np.float64, **hyper):
    config = ModelConfig("cornn", "tanh", init, I, H, O, np.dtype(dtype), cell_params=CoRNNParams(**hyper))
    return CoRNNCell(config, (LayerNormTransform(1e-5),) if layer_norm else ())


def regression_batch(T, B, O=2, seed=1):
    return cell_checks.regression_batch(T, B, O, seed, inputs=I)


def last_step_gradient(params, h, batch):
    """d: the MSE's gradient reaching h_T (zero before)."""
    d = np.zeros_like(h)
    d[-1] = mse(h[-1] @ params["W_hy"].T + params["b_y"], batch.y)[1] @ params["W_hy"]
    return d


def state_gradient_by_finite_differences(cell, params, batch, t):
    """(dL/dy_t, dL/dz_t) of a many-to-one MSE network with (y_t, z_t) taken as the
    independent state the forward pass restarts from, by central differences."""
    _, cache = cell.forward(params, batch.x)
    y, z = (s.copy() for s in state_at(cell, cache, t))

    def loss():
        h, _ = forward_from(cell, params, batch.x[t:], (y, z))
        return mse(h[-1] @ params["W_hy"].T + params["b_y"], batch.y)[0]

    return numerical_gradient(loss, y), numerical_gradient(loss, z)


@pytest.mark.parametrize("hyper", [ADDING, SMNIST], ids=["adding", "smnist"])
@pytest.mark.parametrize("layer_norm", [False, True])
def test_gradients_gy_and_gz_match_finite_differences(hyper, layer_norm):
    T, B = 7, 3
    cell = make_cell(layer_norm=layer_norm, **hyper)
    params = make_params(cell)
    assert params["W_hh"].shape == params["W_hz"].shape == (H, H)
    batch = regression_batch(T, B)
    net = Network(cell, mse)
    _, grads = net.loss_and_gradients(params, batch)
    assert set(grads) == set(params)
    errors = check_gradients(lambda: net.loss_value(params, batch), params, grads)
    assert max(errors.values()) < 1e-6, errors
    h, cache = cell.forward(params, batch.x)
    d = last_step_gradient(params, h, batch)
    _, gy, gz = cell.backward_with_velocity(params, cache, d)
    np.testing.assert_array_equal(gy[-1], d[-1])
    np.testing.assert_array_equal(gz[-1], cell.hyper.dt * d[-1])
    for t in (1, 4, T - 1):
        fd_y, fd_z = state_gradient_by_finite_differences(cell, params, batch, t)
        assert relative_error(gy[t - 1], fd_y) < 1e-7
        # gz_t is the total gradient at z_t, which also reaches y_t = y_{t-1} + dt z_t
        assert relative_error(gz[t - 1], fd_z + cell.hyper.dt * gy[t - 1]) < 1e-7


def test_many_to_many_cross_entropy_gradients_match_finite_differences():
    T, B, O = 6, 3, 3
    cell = make_cell(O=O, layer_norm=True, init="normal")
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
def test_truncation_is_the_gradient_of_the_truncated_graph(layer_norm):
    T, B, k = 9, 3, 4
    cell = make_cell(layer_norm=layer_norm)
    params = make_params(cell, seed=4)
    batch = regression_batch(T, B, seed=5)
    _, truncated = Network(cell, mse, truncate=k).loss_and_gradients(params, batch)
    h, cache = cell.forward(params, batch.x)
    start = started_at(cell, state_at(cell, cache, T - k))
    _, expected = Network(start, mse).loss_and_gradients(params, Batch(batch.x[T - k :], batch.y))
    for name in expected:
        np.testing.assert_allclose(truncated[name], expected[name], rtol=1e-10, atol=1e-16, err_msg=name)
    _, full = Network(cell, mse).loss_and_gradients(params, batch)
    assert not np.allclose(full["W_hz"], truncated["W_hz"])  # the cut changes something
    d = last_step_gradient(params, h, batch)
    _, gy, gz = cell.backward_with_velocity(params, cache, d)
    _, gy_cut, gz_cut = cell.backward_with_velocity(params, cache, d, truncate=k)
    np.testing.assert_array_equal(gy_cut[T - k :], gy[T - k :])
    np.testing.assert_array_equal(gz_cut[T - k :], gz[T - k :])
    assert not gy_cut[: T - k].any() and not gz_cut[: T - k].any() and gy[: T - k].any()


def test_the_restart_reproduces_the_full_pass():
    T, t = 8, 3
    cell = make_cell(layer_norm=True)
    params = make_params(cell)
    x = regression_batch(T, 2).x
    h, cache = cell.forward(params, x)
    y, z = state_at(cell, cache, t)
    assert np.any(y != z) and np.any(z != 0)  # the state really is a pair
    h_rest, _ = forward_from(cell, params, x[t:], (y, z))
    np.testing.assert_array_equal(h_rest, h[t:])


def test_the_linear_oscillator_in_closed_form():
    """With W_hh = W_hz = W_hx = 0 the forcing tanh(b) = c is constant and the step
    is linear in s_n = (y_n, z_n): s_n = A s_{n-1} + f, with
    A = [[1 - dt^2 gamma, dt (1 - dt epsilon)], [-dt gamma, 1 - dt epsilon]] and
    f = (dt^2 c, dt c), so s_n = (I - A^n)(I - A)^{-1} f from s_0 = 0. Backwards,
    the gradient p_n with respect to the pair (y_n, z_n) is (A^T)^(T-n) (d_T, 0):
    gy_n = p_n[0], and gz_n = p_n[1] + dt gy_n (z_n reaches y_n within step n)."""
    T, B = 12, 3
    dt, gamma, epsilon = 0.06, 66.0, 15.0
    cell = make_cell()
    rng = np.random.default_rng(7)
    params = make_params(cell)
    b = rng.normal(size=H)
    params.update(W_hh=np.zeros((H, H)), W_hz=np.zeros((H, H)), W_hx=np.zeros((H, I)), b_h=b)
    h, cache = cell.forward(params, rng.normal(size=(T, B, I)))
    A = np.array([[1 - dt**2 * gamma, dt * (1 - dt * epsilon)], [-dt * gamma, 1 - dt * epsilon]])
    c = np.tanh(b)
    for n in (1, 5, T):
        s = (np.eye(2) - np.linalg.matrix_power(A, n)) @ np.linalg.solve(np.eye(2) - A, np.stack([dt**2 * c, dt * c]))
        np.testing.assert_allclose(h[n - 1], np.broadcast_to(s[0], (B, H)), rtol=1e-12)
        np.testing.assert_allclose(cache.z[n], np.broadcast_to(s[1], (B, H)), rtol=1e-12)
    d = np.zeros_like(h)
    d[-1] = rng.normal(size=(B, H))
    _, gy, gz = cell.backward_with_velocity(params, cache, d)
    for n in range(1, T + 1):
        p = np.einsum("ij,jbh->ibh", np.linalg.matrix_power(A.T, T - n), np.stack([d[-1], np.zeros_like(d[-1])]))
        np.testing.assert_allclose(gy[n - 1], p[0], rtol=1e-10, atol=1e-300)
        np.testing.assert_allclose(gz[n - 1], p[1] + dt * p[0], rtol=1e-10, atol=1e-300)
    # the network's profiles are the norms of those, the last step first: "z" is the velocity's
    profiles = cell.state_profiles(params, cache, d)
    assert set(profiles) == {"z"}
    np.testing.assert_allclose(profiles["z"], np.linalg.norm(gz, axis=2).mean(axis=1)[::-1], rtol=1e-12)


def test_remedies_act_on_the_weights_of_y_and_no_norm_bound_is_claimed():
    registry = load_registry()
    spec = resolve_variant(VariantSpec(name="v", cell="cornn", hidden_size=6, remedies=[
        {"name": "orthogonal_init", "scale": 1.0}, {"name": "l2", "weight_decay": 0.1, "groups": ["recurrent"]}]),
        registry)
    assert spec.cell_params == {"dt": 0.06, "gamma": 66.0, "epsilon": 15.0}  # the defaults, written out
    model = build_model(spec, registry, I, 1, "float64", "mse", True, np.random.default_rng(0))
    W, Wz = model.params["W_hh"], model.params["W_hz"]
    np.testing.assert_allclose(W @ W.T, np.eye(6), atol=1e-12)
    assert not np.allclose(Wz @ Wz.T, np.eye(6), atol=0.1)
    _, penalty = model.remedies[1].penalty(model.params)
    assert set(penalty) == {"W_hh"}
    assert model.network.cell.recurrent_matrix(model.params) is None
    assert model.network.cell.max_derivative() is None
    with pytest.raises(ValueError, match="cell_params of cell 'cornn': dt: Input should be greater than 0"):
        resolve_variant(VariantSpec(name="v", cell="cornn", cell_params={"dt": 0.0}), registry)


# --- the same equations with PyTorch autograd ---------------------------------------------------


def torch_loss_and_gradients(params, batch, hyper, layer_norm, epsilon_scale=1.0):
    """(CO1)-(CO4) with the update order of the authors' code, then the read-out
    and the MSE, differentiated by torch's autograd: the loss, every parameter's
    gradient, and dL/dy_n and dL/dz_n at every step. ``epsilon_scale`` != 1 perturbs
    the damping, for the negative test."""
    torch = pytest.importorskip("torch")
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    x = torch.tensor(batch.x, dtype=torch.float64)
    dt, gamma, epsilon = hyper.dt, hyper.gamma, hyper.epsilon * epsilon_scale
    y = torch.zeros(x.shape[1], H, dtype=torch.float64)
    z = torch.zeros_like(y)
    ys, zs = [], []
    for n in range(x.shape[0]):
        a = y @ P["W_hh"].T + z @ P["W_hz"].T + x[n] @ P["W_hx"].T + P["b_h"]
        if layer_norm:
            a = torch.nn.functional.layer_norm(a, a.shape[1:], P["layer_norm.h.gain"], P["layer_norm.h.bias"], 1e-5)
        z = z + dt * (torch.tanh(a) - gamma * y - epsilon * z)
        y = y + dt * z
        z.retain_grad()
        y.retain_grad()
        ys.append(y)
        zs.append(z)
    loss = ((y @ P["W_hy"].T + P["b_y"] - torch.tensor(batch.y)) ** 2).mean()
    loss.backward()
    grads = {k: v.grad.numpy() for k, v in P.items()}
    return loss.item(), grads, np.stack([v.grad.numpy() for v in ys]), np.stack([v.grad.numpy() for v in zs])


@pytest.mark.parametrize("layer_norm", [False, True])
def test_equal_to_a_pytorch_autograd_version_of_the_equations(layer_norm):
    pytest.importorskip("torch")
    T, B = 8, 3
    cell = make_cell(layer_norm=layer_norm)
    params = make_params(cell, seed=8)
    batch = regression_batch(T, B, seed=9)
    loss, grads = Network(cell, mse).loss_and_gradients(params, batch)
    h, cache = cell.forward(params, batch.x)
    _, gy, gz = cell.backward_with_velocity(params, cache, last_step_gradient(params, h, batch))

    def assert_equal(torch_loss, torch_grads, torch_gy, torch_gz):
        assert abs(loss - torch_loss) <= 1e-10 * abs(loss)
        for name in params:
            assert relative_error(grads[name], torch_grads[name]) < 1e-10, name
        assert relative_error(gy, torch_gy) < 1e-10 and relative_error(gz, torch_gz) < 1e-10

    assert_equal(*torch_loss_and_gradients(params, batch, cell.hyper, layer_norm))
    with pytest.raises(AssertionError):  # the comparison sees a wrong constant
        assert_equal(*torch_loss_and_gradients(params, batch, cell.hyper, layer_norm, epsilon_scale=1 + 1e-6))


def test_float32_runs_in_float32():
    cell64 = make_cell(layer_norm=True)
    params64 = make_params(cell64)
    batch = regression_batch(10, 4)
    loss64 = Network(cell64, mse).loss_value(params64, batch)
    cell = make_cell(layer_norm=True, dtype=np.float32)
    params = {k: v.astype(np.float32) for k, v in params64.items()}
    h, cache = cell.forward(params, batch.x)  # float64 inputs, as tasks sample them
    assert h.dtype == cache.z.dtype == np.float32
    loss, grads = Network(cell, mse).loss_and_gradients(params, Batch(batch.x, batch.y.astype(np.float32)))
    assert all(v.dtype == np.float32 for v in grads.values())
    assert loss == pytest.approx(loss64, rel=1e-4)


# --- the cells' own parameters, searched by the tuning protocol ---------------------------------

TUNED = {
    "name": "tuned",
    "task": {"name": "adding"},
    "seq_lens": [6],
    "seeds": [0],
    "train": {"optimizer": "adam", "steps": 4, "batch_size": 4, "log_every": 2, "test_size": 8,
              "validation_size": 8},
    "variants": [
        {"name": "coRNN", "cell": "cornn", "hidden_size": 4},
        {"name": "IndRNN", "cell": "indrnn", "activation": "relu", "hidden_size": 4,
         "cell_params": {"bound_steps": 6}},
    ],
    "tuning": {"budget": 2, "seeds": [100], "search": [
        {"name": "cell.dt", "values": [0.03, 0.06]},
        {"name": "cell.magnitude", "values": [2.0, 4.0]},
    ]},
}


def test_a_suite_tunes_the_cells_own_parameters():
    registry = load_registry()
    suite = resolve_data(copy.deepcopy(TUNED), registry)
    runs = tuning.trial_runs(suite)
    by_variant = {}
    for run in runs:
        by_variant.setdefault(run.variant.name, []).append(run.variant.cell_params)
    # each dimension applies to the cell that has the parameter, the others keep their defaults
    assert by_variant["coRNN"] == [{"dt": 0.03, "gamma": 66.0, "epsilon": 15.0},
                                   {"dt": 0.06, "gamma": 66.0, "epsilon": 15.0}]
    assert by_variant["IndRNN"] == [{"magnitude": 2.0, "bound_steps": 6, "memory_init": False, "layers": 2},
                                    {"magnitude": 4.0, "bound_steps": 6, "memory_init": False, "layers": 2}]
    bad = copy.deepcopy(TUNED)
    bad["tuning"]["search"][0]["values"] = [-0.03, 0.06]
    with pytest.raises(SpecError, match=r"variant 'coRNN' at cell\.dt=-0\.03.*dt: Input should be greater than 0"):
        resolve_data(bad, registry)
