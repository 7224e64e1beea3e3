"""The AntisymmetricRNN (Chang, Chen, Haber & Chi 2019), plain and gated: its
gradients and g_t = dL/dh_t against finite differences, with and without
truncation; the linearised step and its eigenvalues 1 + eps (i w - gamma) in
closed form (the paper's stability condition); which remedies act on which
weight; a PyTorch autograd version of the same equations; its parameters
searched by the tuning protocol."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from rnnbench import tuning
from rnnbench.api import Batch, ModelConfig
from rnnbench.engine.antisymmetric import AntisymmetricParams, AntisymmetricRNNCell
from rnnbench.engine.finite_differences import numerical_gradient, relative_error
from rnnbench.engine.losses import mse
from rnnbench.engine.network import Network
from rnnbench.gradcheck import gradient_errors, make_problem
from rnnbench.registry import load_registry
from rnnbench.resolve import resolve_data
from rnnbench.spec import SpecError
from rnnbench.variant import build_model
from rnnbench_plugins.layer_norm import LayerNormTransform

import cell_checks
from cell_checks import make_params
from restart import forward_from, started_at, state_at
from test_remedies import REGISTRY, variant

I, H = 3, 4
# the defaults (eps = gamma = 0.01) and a large step, where tanh and the gate are far from linear
DEFAULT = {}
LARGE = {"eps": 0.7, "gamma": 0.2}


def make_cell(gated=False, layer_norm=False, init="uniform", dtype=np.float64, hidden=H, **hyper):
    config = ModelConfig("antisymmetric", "tanh", init, I, hidden, 2, np.dtype(dtype),
                         cell_params=AntisymmetricParams(gated=gated, **hyper))
    return AntisymmetricRNNCell(config, (LayerNormTransform(1e-5),) if layer_norm else ())


def regression_batch(T, B=3, seed=1):
    return cell_checks.regression_batch(T, B, 2, seed, inputs=I)


@pytest.mark.parametrize("hyper", [DEFAULT, LARGE], ids=["default", "large"])
@pytest.mark.parametrize("gated, layer_norm", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("truncate", [None, 3])
def test_parameter_gradients_match_finite_differences_of_the_truncated_graph(hyper, gated, layer_norm, truncate):
    """Full BPTT against finite differences; truncated BPTT against those of the last
    chunk restarted from its (constant) first state."""
    T = 7
    cell = make_cell(gated, layer_norm, **hyper)
    params = make_params(cell, seed=2)
    G = 2 if gated else 1
    assert params["W_hh"].shape == (H, H) and params["W_hx"].shape == (G * H, I)
    batch = regression_batch(T)
    grads, errors = cell_checks.truncated_gradient_errors(cell, params, batch, truncate)
    assert set(grads) == set(params)
    np.testing.assert_allclose(grads["W_hh"], -grads["W_hh"].T, atol=1e-15)  # dM - dM^T (AS9)
    if truncate is not None:
        _, full = Network(cell, mse).loss_and_gradients(params, batch)
        assert not np.allclose(full["W_hh"], grads["W_hh"], rtol=1e-6)  # truncation changed it
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("truncate", [None, 4])
def test_g_is_dL_dh_by_finite_differences(gated, truncate):
    T = 7
    cell = make_cell(gated, **LARGE)
    params = make_params(cell, seed=3)
    batch = regression_batch(T, seed=4)
    h, cache = cell.forward(params, batch.x)
    d = np.zeros_like(h)
    d[-1] = mse(h[-1] @ params["W_hy"].T + params["b_y"], batch.y)[1] @ params["W_hy"]
    _, g = cell.backward(params, cache, d, truncate)
    assert g.shape == (T, 3, H)
    np.testing.assert_array_equal(g[-1], d[-1])
    for t in range(1, T):
        if truncate is not None and t <= T - truncate:
            assert not g[t - 1].any()  # before the cut: no loss there, nothing carried
            continue
        h_t = state_at(cell, cache, t).copy()
        chunk = Batch(batch.x[t:], batch.y)
        numeric = numerical_gradient(lambda: Network(started_at(cell, h_t), mse).loss_value(params, chunk), h_t)
        assert relative_error(g[t - 1], numeric) < 1e-8


def test_the_restart_reproduces_the_full_pass():
    T, t = 8, 3
    cell = make_cell(True, True, **LARGE)
    params = make_params(cell)
    x = regression_batch(T).x
    h, cache = cell.forward(params, x)
    h_rest, _ = forward_from(cell, params, x[t:], state_at(cell, cache, t))
    np.testing.assert_array_equal(h_rest, h[t:])


# --- the linearised step in closed form ----------------------------------------------------------


def skew_params(cell, rng, hidden):
    """W_hx = 0 and b = 0 (so h_t = 0 stays 0 from h_0 = 0), W_hh random."""
    params = cell.init_params(rng)
    params["W_hh"] = rng.normal(0.0, 1.0 / np.sqrt(hidden), (hidden, hidden))
    params["W_hx"][:] = 0.0
    params["b_h"][:] = 0.0
    return params


@pytest.mark.parametrize("gated", [False, True])
def test_the_linearised_step_and_its_eigenvalues_in_closed_form(gated):
    """With W_hx = 0, b = 0 the state stays at h = 0, where tanh' = 1 and (gated)
    z = sigma(0) = 1/2: every step's Jacobian is J = I + eps c M, c = 1 (c = 1/2
    gated), so g_t = (J^T)^(T-t) d_T exactly. M = A - gamma I with A antisymmetric
    is normal, with eigenvalues i w_k - gamma: with d_T = sum_k y_k v_k in M^T's
    unitary eigenbasis, ||g_t||^2 = sum_k |mu_k|^(2(T-t)) |y_k|^2, mu_k =
    1 + eps c (i w_k - gamma). A tiny h_0 follows the linear map (I + eps c M)^t h_0."""
    rng = np.random.default_rng(5)
    T, B, hidden, eps, gamma = 12, 3, 6, 0.3, 0.05
    cell = make_cell(gated, hidden=hidden, eps=eps, gamma=gamma)
    params = skew_params(cell, rng, hidden)
    M = cell.recurrent_matrix(params)
    np.testing.assert_allclose(M + M.T, -2 * gamma * np.eye(hidden), atol=1e-15)  # (AS1)
    c = 0.5 if gated else 1.0
    J = np.eye(hidden) + eps * c * M
    x = rng.normal(size=(T, B, I))
    h, cache = cell.forward(params, x)
    assert not h.any()
    d = np.zeros_like(h)
    d[-1] = rng.normal(size=(B, hidden))
    _, g = cell.backward(params, cache, d)
    w, V = np.linalg.eig(M.T)  # M^T = -A - gamma I: eigenvalues -i w_k - gamma, same moduli
    np.testing.assert_allclose(w.real, -gamma, atol=1e-12)  # the eigenvalues of the antisymmetric part: i w
    mu = 1 + eps * c * w
    y = np.linalg.solve(V, d[-1].T)  # (hidden, B) coordinates of d_T
    for t in range(1, T + 1):
        k = T - t
        np.testing.assert_allclose(g[t - 1], d[-1] @ np.linalg.matrix_power(J, k), rtol=1e-10, atol=1e-14)
        closed = np.sqrt(np.sum(np.abs(mu[:, None]) ** (2 * k) * np.abs(y) ** 2, axis=0))
        np.testing.assert_allclose(np.linalg.norm(g[t - 1], axis=1), closed, rtol=1e-10)
    # the profile's per-step factor lies between the smallest and largest |mu_k|, all near 1
    ratios = np.linalg.norm(g[:-1], axis=2) / np.linalg.norm(g[1:], axis=2)
    assert np.all(ratios >= np.abs(mu).min() - 1e-12) and np.all(ratios <= np.abs(mu).max() + 1e-12)
    # from a tiny h_0 the state follows the linear map to O(|h|^2)
    h0 = 1e-10 * rng.normal(size=(B, hidden))
    h_lin, _ = forward_from(cell, params, x, h0)
    for t in (1, 6, T):
        np.testing.assert_allclose(h_lin[t - 1], h0 @ np.linalg.matrix_power(J, t).T, rtol=1e-8, atol=1e-20)


def test_diffusion_gives_the_papers_stability_condition():
    """|1 + eps (i w - gamma)| <= 1 for every eigenvalue exactly when gamma >= eps
    (w^2 + gamma^2) / 2: with that much diffusion the linearised gradient never grows
    going back; without diffusion (gamma = 0) the Euler step of the antisymmetric
    system, |1 + i eps w| > 1, makes it grow at every step."""
    rng = np.random.default_rng(6)
    T, B, hidden, eps = 30, 3, 6, 0.2
    W = rng.normal(0.0, 1.0 / np.sqrt(hidden), (hidden, hidden))
    w = np.abs(np.linalg.eigvals(W - W.T).imag)
    enough = eps * (w.max() ** 2) / 2 * 1.1  # >= eps (w^2 + gamma^2) / 2 for small gamma
    assert enough >= eps * (w.max() ** 2 + enough**2) / 2
    norms = {}
    for gamma in (0.0, enough):
        cell = make_cell(hidden=hidden, eps=eps, gamma=gamma)
        params = skew_params(cell, rng, hidden)
        params["W_hh"] = W
        h, cache = cell.forward(params, rng.normal(size=(T, B, I)))
        d = np.zeros_like(h)
        d[-1] = rng.normal(size=(B, hidden))
        _, g = cell.backward(params, cache, d)
        norms[gamma] = np.linalg.norm(g, axis=2)
        mu = np.abs(np.linalg.eigvals(np.eye(hidden) + eps * cell.recurrent_matrix(params)))
        assert (mu.max() <= 1.0) == (gamma > 0)
    assert np.all(np.diff(norms[enough], axis=0) >= -1e-12)  # g_{t} <= g_{t+1}: no growth going back
    assert np.all(np.diff(norms[0.0], axis=0) < 0)  # grows at every step going back


# --- remedies, parameters, initialisation --------------------------------------------------------


def test_remedies_act_on_W_and_the_recurrent_matrix_is_reported_without_a_bound():
    registry = load_registry()
    v = variant(cell="antisymmetric", hidden_size=6, remedies=[
        {"name": "l2", "weight_decay": 0.1, "groups": ["recurrent"]}, "layer_norm"])
    assert v.cell_params == {"eps": 0.01, "gamma": 0.01, "recurrent_std": 1.0, "gated": False}  # written out
    model = build_model(v, registry, I, 1, "float64", "mse", True, np.random.default_rng(0))
    _, penalty = model.remedies[0].penalty(model.params)
    assert set(penalty) == {"W_hh"}
    cell = model.network.cell
    M = cell.recurrent_matrix(model.params)
    np.testing.assert_allclose(M, model.params["W_hh"] - model.params["W_hh"].T - 0.01 * np.eye(6))
    assert cell.max_derivative() is None
    with pytest.raises(ValueError, match="remedy 'orthogonal_init' does not apply.*not orthogonal") as refused:
        variant(cell="antisymmetric", remedies=["orthogonal_init"])
    assert "\n" not in str(refused.value)
    with pytest.raises(ValueError, match="cell_params of cell 'antisymmetric': eps: Input should be greater than 0"):
        variant(cell="antisymmetric", cell_params={"eps": 0.0})


@pytest.mark.parametrize("gated", [False, True])
def test_the_per_step_factor_is_I_plus_eps_diag_c_M_within_one_plus_eps_norm_M(gated):
    """The docstring's claims on the cell's own BPTT: one step's Jacobian dh_t/dh_{t-1} is
    I + eps diag(c_t) M, c_t = z_t (1 - u_t^2) + u_t z_t (1 - z_t), M = recurrent_matrix,
    and its norm is at most 1 + eps ||M||_2."""
    eps = LARGE["eps"]
    cell = make_cell(gated, **LARGE)
    params = make_params(cell, seed=7)
    # one sequence per unit, all the same, so every sequence has the same Jacobian J = dh_2/dh_1
    x = np.repeat(np.random.default_rng(8).normal(size=(2, 1, I)), H, axis=1)
    h, cache = cell.forward(params, x)
    d = np.zeros_like(h)
    d[-1] = np.eye(H)  # sequence b asks for the gradient of h_2[b]
    _, g = cell.backward(params, cache, d)
    J = g[0]  # g[0][b] = J^T e_b, row b of J
    u = cache.u[2][:, 0]
    z = cache.z[2][:, 0] if gated else 1.0
    c = z * (1 - u**2) + (u * z * (1 - z) if gated else 0.0)
    M = cell.recurrent_matrix(params)
    np.testing.assert_allclose(J, np.eye(H) + eps * np.diag(c) @ M, rtol=1e-12, atol=1e-15)
    assert np.linalg.norm(J, 2) <= 1 + eps * np.linalg.norm(M, 2)


@pytest.mark.parametrize("gated", [False, True])
def test_initialisation(gated):
    hidden = 64
    cell = make_cell(gated, init="normal", hidden=hidden, recurrent_std=2.0)
    p = cell.init_params(np.random.default_rng(8))
    G = 2 if gated else 1
    assert p["W_hx"].shape == (G * hidden, I) and p["b_h"].shape == (G * hidden,) and not p["b_h"].any()
    assert p["W_hx"].std() == pytest.approx(1 / np.sqrt(I), rel=0.1)  # N(0, 1/m), appendix C
    assert p["W_hh"].std() == pytest.approx(2.0 / np.sqrt(hidden), rel=0.05)  # N(0, sigma_w^2 / n)
    uniform = make_cell(gated, hidden=hidden).init_params(np.random.default_rng(8))
    assert np.abs(uniform["W_hh"]).max() <= 1 / np.sqrt(hidden) and np.abs(uniform["W_hx"]).max() <= 1 / np.sqrt(hidden)


def test_the_registered_gated_cell_matches_finite_differences():
    v = variant(cell="antisymmetric", init="normal", remedies=["layer_norm"],
                cell_params={"gated": True, "eps": 0.5, "gamma": 0.1})
    errors = gradient_errors(make_problem(v, REGISTRY, loss="cross_entropy", many_to_one=False, seed=6))
    assert max(errors.values()) < 1e-6, errors


def test_float32_runs_in_float32():
    cell64 = make_cell(True, True, **LARGE)
    params64 = make_params(cell64)
    batch = regression_batch(10, 4)
    loss64 = Network(cell64, mse).loss_value(params64, batch)
    cell = make_cell(True, True, dtype=np.float32, **LARGE)
    params = {k: v.astype(np.float32) for k, v in params64.items()}
    h, _ = cell.forward(params, batch.x)  # float64 inputs, as tasks sample them
    assert h.dtype == np.float32
    loss, grads = Network(cell, mse).loss_and_gradients(params, Batch(batch.x, batch.y.astype(np.float32)))
    assert all(v.dtype == np.float32 for v in grads.values())
    assert loss == pytest.approx(loss64, rel=1e-4)


# --- against PyTorch autograd ---------------------------------------------------------------------


def torch_antisymmetric(torch, params, x, R, hyper, layer_norm, gamma_scale=1.0):
    """L = sum_t <R_t, h_t> by the paper's equations in torch (autograd): the loss,
    every parameter's gradient and dL/dh_t. ``gamma_scale`` != 1 perturbs the
    diffusion, for the negative test."""
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items() if k not in ("W_hy", "b_y")}
    W, V, b = P["W_hh"], P["W_hx"], P["b_h"]
    n = W.shape[0]
    M = W - W.T - hyper.gamma * gamma_scale * torch.eye(n, dtype=torch.float64)
    X = torch.tensor(x)
    h = torch.zeros(x.shape[1], n, dtype=torch.float64)
    states, loss = [], 0.0
    for t in range(x.shape[0]):
        Mh = h @ M.T
        a = X[t] @ V.T + b + (torch.cat([Mh, Mh], dim=1) if hyper.gated else Mh)
        if layer_norm:
            blocks = a.reshape(a.shape[0], -1, n)
            a = torch.nn.functional.layer_norm(blocks, (n,), eps=1e-5).reshape(a.shape)
            a = a * P["layer_norm.h.gain"] + P["layer_norm.h.bias"]
        step = torch.tanh(a[:, :n])
        if hyper.gated:
            step = torch.sigmoid(a[:, n:]) * step
        h = h + hyper.eps * step
        h.retain_grad()
        states.append(h)
        loss = loss + (torch.tensor(R[t]) * h).sum()
    loss.backward()
    return float(loss.detach()), {k: v.grad.numpy() for k, v in P.items()}, np.stack([s.grad.numpy() for s in states])


def compare_with_torch(torch, gated, layer_norm, gamma_scale=1.0):
    rng = np.random.default_rng(9)
    T, B = 6, 3
    cell = make_cell(gated, layer_norm, **LARGE)
    params = make_params(cell, seed=10)
    x = rng.normal(size=(T, B, I))
    R = rng.normal(size=(T, B, H))  # a loss at every step
    h, cache = cell.forward(params, x)
    grads, g = cell.backward(params, cache, R)
    loss_t, grads_t, g_t = torch_antisymmetric(torch, params, x, R, cell.hyper, layer_norm, gamma_scale)
    assert float((R * h).sum()) == pytest.approx(loss_t, rel=1e-10, abs=1e-12)
    assert set(grads) == set(grads_t)
    for name in grads:
        assert relative_error(grads[name], grads_t[name]) < 1e-10, name
    assert relative_error(g, g_t) < 1e-10


@pytest.mark.parametrize("gated, layer_norm", [(False, False), (True, True)])
def test_equal_to_pytorch_autograd(gated, layer_norm):
    torch = pytest.importorskip("torch")
    compare_with_torch(torch, gated, layer_norm)


def test_a_wrong_formula_fails_the_pytorch_comparison():
    """The comparison can fail: a diffusion off by one part in a million."""
    torch = pytest.importorskip("torch")
    with pytest.raises(AssertionError):
        compare_with_torch(torch, True, False, gamma_scale=1 + 1e-6)


# --- the cell's own parameters, searched by the tuning protocol ----------------------------------

TUNED = {
    "name": "tuned",
    "task": {"name": "adding"},
    "seq_lens": [6],
    "seeds": [0],
    "train": {"optimizer": "adam", "steps": 4, "batch_size": 4, "log_every": 2, "test_size": 8,
              "validation_size": 8},
    "variants": [{"name": "AntisymmetricRNN", "cell": "antisymmetric", "hidden_size": 4,
                  "cell_params": {"gated": True}}],
    "tuning": {"budget": 2, "seeds": [100], "search": [{"name": "cell.eps", "values": [0.01, 0.1]}]},
}


def test_a_suite_tunes_the_cells_own_parameters():
    registry = load_registry()
    runs = tuning.trial_runs(resolve_data(copy.deepcopy(TUNED), registry))
    assert [run.variant.cell_params for run in runs] == [
        {"eps": e, "gamma": 0.01, "recurrent_std": 1.0, "gated": True} for e in (0.01, 0.1)]
    bad = copy.deepcopy(TUNED)
    bad["tuning"]["search"][0]["values"] = [-0.1, 0.1]
    with pytest.raises(SpecError, match=r"at cell\.eps=-0\.1.*eps: Input should be greater than 0"):
        resolve_data(bad, registry)
