"""The expRNN cell (Lezcano-Casado & Martinez-Rubio 2019): gradients against
finite differences (the parameters and g_t, with and without truncation),
W_hh = expm(A) orthogonal through training, closed forms of the orthogonal
linear case, its initialisations, and a PyTorch autograd version of the same
equations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from rnnbench.api import Batch, ModelConfig
from rnnbench.engine import textbook
from rnnbench.engine.exprnn import PARAMS, ExpRNNCell, ExpRNNParams
from rnnbench.engine.finite_differences import numerical_gradient
from rnnbench.engine.losses import mse
from rnnbench.engine.network import Network, init_readout
from rnnbench.gradcheck import gradient_errors, make_problem
from rnnbench.variant import build_model
from rnnbench_plugins.optimizers import Adam, AdamParams
import cell_checks
from restart import started_at, state_at
from test_remedies import REGISTRY, variant

I, H = 3, 4


def make_cell(activation="modrelu", init="normal", a_init="henaff", dtype=np.float64, hidden=H):
    config = ModelConfig("exprnn", activation, init, I, hidden, 1, np.dtype(dtype),
                         cell_params=ExpRNNParams(a_init=a_init))
    return ExpRNNCell(config)


def make_params(cell, rng, hidden=H):
    """The cell's and read-out's parameters, moved off their initial values by N(0, 0.1) noise."""
    params = cell.init_params(rng)
    params.update(init_readout(rng, hidden, 1, np.float64))
    return {k: v + rng.normal(0.0, 0.1, v.shape) for k, v in params.items()}


def regression_batch(rng, T, B=3):
    return Batch(rng.normal(size=(T, B, I)), rng.normal(size=(B, 1)))


@pytest.mark.parametrize("activation", ExpRNNCell.activations)
@pytest.mark.parametrize("truncate", [None, 3])
def test_parameter_gradients_match_finite_differences_of_the_truncated_graph(activation, truncate):
    """Full BPTT against finite differences (dA_hh through the Frechet derivative
    of expm); truncated BPTT against the gradient of the last chunk restarted
    from its (constant) first state."""
    rng = np.random.default_rng(0)
    T = 8
    cell = make_cell(activation)
    params = make_params(cell, rng)
    batch = regression_batch(rng, T)
    grads, errors = cell_checks.truncated_gradient_errors(cell, params, batch, truncate)
    assert set(grads) == set(params) and all(grads[k].shape == params[k].shape for k in grads)
    assert not np.tril(grads["A_hh"]).any()  # only the strict upper triangle is a parameter
    if truncate is not None:
        _, full = Network(cell, mse).loss_and_gradients(params, batch)
        assert not np.allclose(full["A_hh"], grads["A_hh"], rtol=1e-3)  # truncation changed it
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("truncate", [None, 4])
def test_g_is_dL_dh_by_finite_differences(truncate):
    rng = np.random.default_rng(1)
    T = 7
    cell = make_cell("tanh")
    params = make_params(cell, rng)
    batch = regression_batch(rng, T)
    h, cache = cell.forward(params, batch.x)
    _, do = mse(h[-1] @ params["W_hy"].T + params["b_y"], batch.y)
    d = np.zeros_like(h)
    d[-1] = do @ params["W_hy"]
    _, g = cell.backward(params, cache, d, truncate)
    assert g.shape == (T, 3, H)
    for t in range(1, T):
        if truncate is not None and t <= T - truncate:
            assert not g[t - 1].any()  # before the cut: no loss there, nothing carried
            continue
        h_t = state_at(cell, cache, t).copy()
        chunk = Batch(batch.x[t:], batch.y)
        numeric = numerical_gradient(
            lambda: Network(started_at(cell, h_t), mse).loss_value(params, chunk), h_t)
        np.testing.assert_allclose(g[t - 1], numeric, rtol=1e-6, atol=1e-10)


def test_W_hh_stays_orthogonal_through_100_adam_steps():
    v = variant(cell="exprnn", activation="modrelu", init="normal", hidden_size=8)
    rng = np.random.default_rng(2)
    model = build_model(v, REGISTRY, I, 1, "float64", "mse", True, rng)
    batch = Batch(rng.normal(size=(10, 4, I)), rng.normal(size=(4, 1)))
    start = model.params["A_hh"].copy()
    adam = Adam(AdamParams(), 0.05)
    losses = []
    for _ in range(100):
        loss, grads = model.loss_and_gradients(batch)
        losses.append(loss)
        adam.step(model.params, grads)
    W = model.network.cell.recurrent_matrix(model.params)
    assert np.linalg.norm(W.T @ W - np.eye(8)) < 1e-10
    assert np.abs(model.params["A_hh"] - start).max() > 0.2  # A moved far: the test means something
    assert losses[-1] < 0.5 * losses[0]  # and it learned


def test_the_orthogonal_linear_case_keeps_the_gradient_norm_in_closed_form():
    """modReLU with b_h = 0 is the identity, so h_t = W_hh h_{t-1} + W_hx x_t: from a
    single input, h_t = W^(t-1) W_hx x_1, and with a loss at T only g_t = (W^T)^(T-t) d_T,
    whose norm is ||d_T|| at every t (the flat decay profile of an orthogonal cell)."""
    rng = np.random.default_rng(3)
    T, B = 12, 3
    cell = make_cell("modrelu", hidden=6)
    params = cell.init_params(rng)
    params["b_h"][:] = 0.0
    W = cell.recurrent_matrix(params)
    x = np.zeros((T, B, I))
    x[0] = rng.normal(size=(B, I))
    h, cache = cell.forward(params, x)
    for t in range(1, T + 1):
        expected = x[0] @ params["W_hx"].T @ np.linalg.matrix_power(W, t - 1).T
        np.testing.assert_allclose(h[t - 1], expected, rtol=1e-10, atol=1e-13)
    d = np.zeros_like(h)
    d[-1] = rng.normal(size=(B, 6))
    _, g = cell.backward(params, cache, d)
    for t in range(1, T + 1):
        np.testing.assert_allclose(g[t - 1], d[-1] @ np.linalg.matrix_power(W, T - t), rtol=1e-10, atol=1e-13)
    norms = np.linalg.norm(g, axis=2)
    np.testing.assert_allclose(norms, np.broadcast_to(norms[-1], norms.shape), rtol=1e-12)


@pytest.mark.parametrize("a_init", ["henaff", "cayley"])
def test_initialisation(a_init):
    H = 64
    cell = make_cell("modrelu", init="normal", a_init=a_init, hidden=H)
    p = cell.init_params(np.random.default_rng(4))
    assert not np.tril(p["A_hh"]).any()
    A = textbook.skew(p["A_hh"])
    W = cell.recurrent_matrix(p)
    np.testing.assert_allclose(W.T @ W, np.eye(H), atol=1e-13)
    # block-diagonal rotations: the angles are A's entries A[2k, 2k+1]
    s = A[np.arange(0, H, 2), np.arange(1, H, 2)]
    assert np.count_nonzero(A) == H  # two entries per 2 x 2 block
    np.testing.assert_allclose(np.sort(np.abs(np.angle(np.linalg.eigvals(W)))), np.sort(np.repeat(np.abs(s), 2)),
                               atol=1e-10)
    if a_init == "henaff":
        assert s.min() >= -np.pi and s.max() <= np.pi and s.std() == pytest.approx(np.pi / np.sqrt(3), rel=0.25)
    else:
        assert s.min() >= -1.0 and s.max() <= 0.0  # -tan(u/2), u ~ U(0, pi/2)
    assert p["W_hx"].std() == pytest.approx(np.sqrt(2 / I), rel=0.15)  # Kaiming normal
    assert np.abs(p["b_h"]).max() <= 0.01 and p["b_h"].any()
    tanh = make_cell("tanh", init="uniform", hidden=H).init_params(np.random.default_rng(4))
    assert not tanh["b_h"].any() and np.abs(tanh["W_hx"]).max() <= 1 / np.sqrt(H)


@pytest.mark.parametrize("remedy, reason", [
    ("orthogonal_init", "orthogonal by construction"),
    ("l2", "its 'recurrent' group names W_hh"),
    ("layer_norm", "this cell takes no such transform"),
    ("leaky_relu", "leaky_relu is for the vanilla cell"),
])
def test_remedies_that_make_no_sense_are_refused_in_one_line(remedy, reason):
    with pytest.raises(ValueError, match=f"remedy '{remedy}' does not apply.*{reason}") as refused:
        variant(cell="exprnn", remedies=[remedy])
    assert "\n" not in str(refused.value)


def test_cell_params_are_validated_in_one_line():
    with pytest.raises(ValueError, match="cell_params of cell 'exprnn': a_init"):
        variant(cell="exprnn", cell_params={"a_init": "haar"})
    assert variant(cell="exprnn").cell_params == {"a_init": "henaff"}


def test_the_registered_cell_matches_finite_differences_with_cayley_init():
    v = variant(cell="exprnn", activation="modrelu", init="normal", cell_params={"a_init": "cayley"})
    errors = gradient_errors(make_problem(v, REGISTRY, loss="cross_entropy", many_to_one=False, seed=6))
    assert set(errors) == {*PARAMS, "W_hy", "b_y"} and max(errors.values()) < 1e-6, errors


# --- against PyTorch autograd ------------------------------------------------------------------


def torch_exprnn(torch, params, x, R, activation):
    """L = sum_t <R_t, h_t> by the same equations, (E1)-(E4), in torch (matrix_exp's
    own autograd): the loss, every parameter's gradient and dL/dh_t."""
    p = {k: torch.tensor(params[k], requires_grad=True) for k in PARAMS}
    P = torch.triu(p["A_hh"], diagonal=1)
    W = torch.linalg.matrix_exp(P - P.T)
    X = torch.tensor(x)
    h = torch.zeros(x.shape[1], W.shape[0], dtype=torch.float64)
    states, loss = [], 0.0
    for t in range(x.shape[0]):
        a = X[t] @ p["W_hx"].T + h @ W.T
        if activation == "modrelu":
            h = torch.sign(a) * torch.relu(torch.abs(a) + p["b_h"])
        else:
            h = torch.tanh(a + p["b_h"])
        h.retain_grad()
        states.append(h)
        loss = loss + (torch.tensor(R[t]) * h).sum()
    loss.backward()
    return float(loss.detach()), {k: v.grad.numpy() for k, v in p.items()}, np.stack([h.grad.numpy() for h in states])


def compare_with_torch(torch, activation):
    rng = np.random.default_rng(7)
    T, B = 6, 3
    cell = make_cell(activation)
    params = make_params(cell, rng)
    x = rng.normal(size=(T, B, I))
    R = rng.normal(size=(T, B, H))  # a loss at every step
    h, cache = cell.forward(params, x)
    grads, g = cell.backward(params, cache, R)
    reference = torch_exprnn(torch, params, x, R, activation)
    cell_checks.assert_equal_to_reference((float((R * h).sum()), grads, g), reference, PARAMS)


@pytest.mark.parametrize("activation", ExpRNNCell.activations)
def test_equal_to_pytorch_autograd(activation):
    torch = pytest.importorskip("torch")
    compare_with_torch(torch, activation)


def test_a_wrong_formula_fails_the_pytorch_comparison(monkeypatch):
    """The comparison can fail: the Frechet derivative taken at A instead of A^T
    in (E9) (right for a symmetric A, wrong for a skew one) gives another dA_hh."""
    torch = pytest.importorskip("torch")
    frechet = scipy.linalg.expm_frechet
    monkeypatch.setattr(scipy.linalg, "expm_frechet", lambda A, E, **kw: frechet(A.T, E, **kw))
    with pytest.raises(AssertionError, match="A_hh"):
        compare_with_torch(torch, "modrelu")
