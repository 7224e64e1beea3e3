"""The LRU cell (Orvieto et al. 2023): gradients against finite differences (the
parameters and the complex state's g_t, with and without truncation), closed
forms of the linear recurrence, its initialisation and cell parameters, and a
PyTorch autograd version of the same equations."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.stats import norm

from rnnbench import tuning
from rnnbench.api import Batch, ModelConfig
from rnnbench.engine import textbook
from rnnbench.engine.losses import mse
from rnnbench.engine.lru import GELU, PARAMS, LRUCell, LRUParams
from rnnbench.engine.network import Network, init_readout
from rnnbench.gradcheck import gradient_errors, make_problem
from rnnbench.resolve import resolve_data
from rnnbench.spec import SpecError
import cell_checks
from restart import started_at, state_at
from test_remedies import REGISTRY, variant

I, H, N = 3, 4, 3  # N != H: the state and the read-out have different widths


def make_cell(activation="gelu", dtype=np.float64, N=N, **cell_params):
    given = LRUParams(state_size=N, **cell_params)
    return LRUCell(ModelConfig("lru", activation, "uniform", I, H, 1, np.dtype(dtype), cell_params=given))


def make_params(cell, rng):
    """The cell's and read-out's parameters, moved off their initial values by N(0, 0.1) noise."""
    params = cell.init_params(rng)
    params.update(init_readout(rng, H, 1, np.float64))
    return {k: v + rng.normal(0.0, 0.1, v.shape) for k, v in params.items()}


def regression_batch(rng, T, B=3):
    return Batch(rng.normal(size=(T, B, I)), rng.normal(size=(B, 1)))


@pytest.mark.parametrize("activation", LRUCell.activations)
@pytest.mark.parametrize("truncate", [None, 3])
def test_parameter_gradients_match_finite_differences_of_the_truncated_graph(activation, truncate):
    """Full BPTT against finite differences; truncated BPTT against the
    gradient of the last chunk restarted from its (constant) first state."""
    rng = np.random.default_rng(0)
    T = 8
    cell = make_cell(activation)
    params = make_params(cell, rng)
    batch = regression_batch(rng, T)
    grads, errors = cell_checks.truncated_gradient_errors(cell, params, batch, truncate)
    assert set(grads) == set(params) and all(grads[k].shape == params[k].shape for k in grads)
    assert max(errors.values()) < 1e-6, errors
    if truncate is None:
        return
    _, full = Network(cell, mse).loss_and_gradients(params, batch)
    assert not np.allclose(full["nu_log"], grads["nu_log"], rtol=1e-3)  # truncation changed it


def loss_from_state(cell, params, batch, t):
    """L as a function of s_t (B, N) complex, by restarting the forward pass there
    (a many-to-one loss: nothing before step T reads the output)."""

    def loss(s_t):
        return Network(started_at(cell, s_t), mse).loss_value(params, Batch(batch.x[t:], batch.y))

    return loss


@pytest.mark.parametrize("truncate", [None, 4])
def test_g_is_the_gradient_of_the_complex_state_by_finite_differences(truncate):
    """g[t-1] = [dL/dRe s_t, dL/dIm s_t], each by central differences; with
    truncation the last chunk keeps it and nothing reaches the steps before."""
    rng = np.random.default_rng(1)
    T = 7
    cell = make_cell("tanh")
    params = make_params(cell, rng)
    batch = regression_batch(rng, T)
    net = Network(cell, mse)
    h, cache = cell.forward(params, batch.x)
    _, do = mse(h[-1] @ params["W_hy"].T + params["b_y"], batch.y)
    d = np.zeros_like(h)
    d[-1] = do @ params["W_hy"]
    _, g = cell.backward(params, cache, d, truncate)
    assert g.shape == (T, 3, 2 * N) and g.dtype == np.float64
    for t in range(1, T):
        if truncate is not None and t <= T - truncate:
            assert not g[t - 1].any()  # before the cut: no loss there, nothing carried
            continue
        loss = loss_from_state(cell, params, batch, t)
        s = state_at(cell, cache, t).copy()
        re = np.zeros(s.shape)
        im = np.zeros(s.shape)
        for idx in np.ndindex(s.shape):
            for part, out in ((1.0, re), (1j, im)):
                s[idx] += 1e-5 * part
                plus = loss(s)
                s[idx] -= 2e-5 * part
                minus = loss(s)
                s[idx] += 1e-5 * part
                out[idx] = (plus - minus) / 2e-5
        np.testing.assert_allclose(g[t - 1], np.concatenate([re, im], axis=1), rtol=1e-6, atol=1e-10)
    assert net.decay_profile(params, batch).shape == (T,)


def test_a_single_input_decays_as_lambda_to_the_power_t_in_closed_form():
    """With x_t = 0 after step 1, s_t = lambda^(t-1) gamma (B x_1); with a loss at T
    only, G_t = conj(lambda)^(T-t) C^H e_T: unit by unit, a rotation and a decay."""
    rng = np.random.default_rng(2)
    T, B = 12, 3
    cell = make_cell("gelu", r_min=0.8, r_max=0.99)
    params = cell.init_params(rng)
    x = np.zeros((T, B, I))
    x[0] = rng.normal(size=(B, I))
    h, cache = cell.forward(params, x)
    lam = np.exp(-np.exp(params["nu_log"]) + 1j * np.exp(params["theta_log"]))
    gamma = np.exp(params["gamma_log"])
    B_c, C = params["B_re"] + 1j * params["B_im"], params["C_re"] + 1j * params["C_im"]
    t = np.arange(1, T + 1)[:, None, None]
    s_expected = lam ** (t - 1) * (gamma * (x[0] @ B_c.T))
    np.testing.assert_allclose(cache.s[1:], s_expected, rtol=1e-12, atol=1e-15)
    d = np.zeros_like(h)
    d[-1] = rng.normal(size=(B, H))
    _, g = cell.backward(params, cache, d)
    y_T = (s_expected[-1] @ C.T).real + x[-1] @ params["D"].T
    e_T = d[-1] * gelu_derivative(y_T)
    G = np.conj(lam) ** (T - t) * (e_T @ np.conj(C))
    np.testing.assert_allclose(g, np.concatenate([G.real, G.imag], axis=2), rtol=1e-10, atol=1e-14)


def gelu_derivative(y):
    """d/dy (y Phi(y)) = Phi(y) + y phi(y)."""
    return norm.cdf(y) + y * norm.pdf(y)


def test_the_decay_profile_of_one_unit_is_its_modulus_to_the_power_d_and_the_bound_holds():
    """One complex unit: ||dL_T/ds_{T-d}|| = |lambda|^d ||dL_T/ds_T|| exactly, which
    is the bound ||recurrent_matrix||_2 * max_derivative the report draws."""
    rng = np.random.default_rng(3)
    T = 30
    cell = make_cell("tanh", N=1, r_min=0.9, r_max=0.95)
    params = make_params(cell, rng)
    modulus = 0.93
    params["nu_log"] = np.array([np.log(-np.log(modulus))])  # |lambda| = exp(-exp(nu)) = 0.93
    net = Network(cell, mse)
    profile = net.decay_profile(params, regression_batch(rng, T))
    np.testing.assert_allclose(profile / profile[0], modulus ** np.arange(T), rtol=1e-10)
    bound = np.linalg.norm(cell.recurrent_matrix(params), 2) * cell.max_derivative()
    assert bound == pytest.approx(modulus, rel=1e-14)


def test_initialisation_is_uniform_on_the_ring_and_normalised():
    r_min, r_max, phase = 0.4, 0.9, np.pi / 4
    cell = LRUCell(ModelConfig("lru", "gelu", "uniform", 5, 8, 1, np.dtype(np.float64),
                               cell_params=LRUParams(r_min=r_min, r_max=r_max, max_phase=phase, state_size=4000)))
    p = cell.init_params(np.random.default_rng(4))
    assert p["nu_log"].shape == (4000,) and p["B_re"].shape == (4000, 5) and p["C_im"].shape == (8, 4000)
    assert p["D"].shape == (8, 5)
    modulus = np.exp(-np.exp(p["nu_log"]))
    assert modulus.min() >= r_min and modulus.max() <= r_max
    # uniform on the ring's area: |lambda|^2 uniform on [r_min^2, r_max^2], mean and quartiles
    r2 = (modulus**2 - r_min**2) / (r_max**2 - r_min**2)
    assert abs(r2.mean() - 0.5) < 0.02 and abs(np.quantile(r2, 0.25) - 0.25) < 0.02
    arg = np.exp(p["theta_log"])
    assert arg.min() >= 0 and arg.max() <= phase and abs(arg.mean() - phase / 2) < 0.02 * phase
    np.testing.assert_allclose(np.exp(p["gamma_log"]), np.sqrt(1 - modulus**2), rtol=1e-12)
    assert p["B_re"].std() == pytest.approx(1 / np.sqrt(2 * 5), rel=0.05)
    assert p["C_re"].std() == pytest.approx(1 / np.sqrt(4000), rel=0.05)
    # the default state size is the hidden size
    default = LRUCell(ModelConfig("lru", "gelu", "uniform", 5, 8, 1, np.dtype(np.float64)))
    assert default.init_params(np.random.default_rng(0))["nu_log"].shape == (8,)


def test_float32_runs_in_float32_and_agrees_with_float64():
    rng = np.random.default_rng(5)
    cell64, cell32 = make_cell("gelu"), make_cell("gelu", dtype=np.float32)
    params = make_params(cell64, rng)
    batch = regression_batch(rng, 10)
    loss64 = Network(cell64, mse).loss_value(params, batch)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    b32 = Batch(batch.x.astype(np.float32), batch.y.astype(np.float32))
    h32, cache = cell32.forward(p32, b32.x)
    assert h32.dtype == np.float32 and cache.s.dtype == np.complex64
    assert cell32.forward(p32, batch.x)[0].dtype == np.float32  # float64 input, cast to the parameters'
    loss32, grads32 = Network(cell32, mse).loss_and_gradients(p32, b32)
    assert loss32 == pytest.approx(loss64, rel=1e-4)
    assert all(g.dtype == np.float32 for g in grads32.values())


def test_cell_params_are_validated_in_one_line():
    with pytest.raises(ValueError, match="cell_params of cell 'lru': .*r_min \\(0.9\\) must be smaller than r_max"):
        variant(cell="lru", cell_params={"r_min": 0.9, "r_max": 0.5})
    with pytest.raises(ValueError, match="cell_params of cell 'lru': r_max"):
        variant(cell="lru", cell_params={"r_max": 1.5})
    assert variant(cell="lru").cell_params == {"r_min": 0.0, "r_max": 1.0, "max_phase": 2 * np.pi,
                                               "state_size": None}


@pytest.mark.parametrize("remedy, reason", [
    ("orthogonal_init", "the LRU has no W_hh matrix"),
    ("l2", "its groups name W_hh and W_hx"),
    ("layer_norm", "this cell takes no such transform"),
    ("identity_init", "identity initialisation"),
])
def test_remedies_that_make_no_sense_are_refused_in_one_line(remedy, reason):
    with pytest.raises(ValueError, match=f"remedy '{remedy}' does not apply.*{reason}") as refused:
        variant(cell="lru", remedies=[remedy])
    assert "\n" not in str(refused.value)


def test_a_suite_tuning_a_cell_parameter_resolves(registry):
    data = {
        "name": "lru-tuned", "task": {"name": "adding"}, "seq_lens": [6], "seeds": [0],
        "train": {"steps": 4, "batch_size": 4, "log_every": 2, "test_size": 8, "validation_size": 8},
        "variants": [{"name": "lru", "cell": "lru", "activation": "gelu", "hidden_size": 4}],
        "tuning": {"budget": 2, "seeds": [100],
                   "search": [{"name": "cell.r_min", "values": [0.0, 0.9]}]},
    }
    suite = resolve_data(copy.deepcopy(data), registry)
    runs = tuning.trial_runs(suite)
    lru = [r for r in runs if r.variant.name == "lru"]
    assert sorted(r.variant.cell_params["r_min"] for r in lru) == [0.0, 0.9]
    with pytest.raises(SpecError, match="r_min"):  # a value outside the field's range is refused
        data["tuning"]["search"][0]["values"] = [0.0, 1.5]
        tuning.trial_runs(resolve_data(data, registry))


def test_the_remedies_grid_includes_the_lru_and_its_gradients():
    """The registered cell, built from a variant as a suite builds it, against finite differences."""
    v = variant(cell="lru", activation="gelu", cell_params={"state_size": 2})
    errors = gradient_errors(make_problem(v, REGISTRY, loss="cross_entropy", many_to_one=False, seed=6))
    assert set(errors) == {*PARAMS, "W_hy", "b_y"} and max(errors.values()) < 1e-6, errors


# --- against PyTorch autograd ------------------------------------------------------------------


def torch_lru(torch, params, x, R, activation, gelu_approximate="none"):
    """L = sum_t <R_t, h_t> by the same equations, (LRU1)-(LRU5), in torch: the
    loss, every parameter's gradient and dL/ds_t (as torch's .grad of the complex s_t)."""
    p = {k: torch.tensor(params[k], requires_grad=True) for k in PARAMS}
    lam = torch.exp(torch.complex(-torch.exp(p["nu_log"]), torch.exp(p["theta_log"])))
    gamma = torch.exp(p["gamma_log"])
    B, C = torch.complex(p["B_re"], p["B_im"]), torch.complex(p["C_re"], p["C_im"])
    X = torch.tensor(x)
    s = torch.zeros(x.shape[1], lam.shape[0], dtype=torch.complex128)
    states, loss = [], 0.0
    for t in range(x.shape[0]):
        s = lam * s + gamma * (X[t].to(torch.complex128) @ B.T)
        s.retain_grad()
        states.append(s)
        y = (s @ C.T).real + X[t] @ p["D"].T
        h = torch.nn.functional.gelu(y, approximate=gelu_approximate) if activation == "gelu" else torch.tanh(y)
        loss = loss + (torch.tensor(R[t]) * h).sum()
    loss.backward()
    g = np.stack([np.concatenate([s.grad.real.numpy(), s.grad.imag.numpy()], axis=1) for s in states])
    return float(loss.detach()), {k: v.grad.numpy() for k, v in p.items()}, g


def compare_with_torch(torch, activation, truncate=None, **wrong):
    rng = np.random.default_rng(7)
    T, B = 6, 3
    cell = make_cell(activation)
    params = make_params(cell, rng)
    x = rng.normal(size=(T, B, I))
    R = rng.normal(size=(T, B, H))  # a loss at every step
    h, cache = cell.forward(params, x)
    grads, g = cell.backward(params, cache, R, truncate)
    reference = torch_lru(torch, params, x, R, activation, **wrong)
    cell_checks.assert_equal_to_reference((float((R * h).sum()), grads, g), reference, PARAMS)


@pytest.mark.parametrize("activation", LRUCell.activations)
def test_equal_to_pytorch_autograd(activation):
    torch = pytest.importorskip("torch")
    compare_with_torch(torch, activation)


def test_a_wrong_formula_fails_the_pytorch_comparison(monkeypatch):
    """The comparison can fail: the tanh approximation of GELU in the reference
    (a forward off by ~1e-4), and a backward that drops conj(lambda) G_{t+1}."""
    torch = pytest.importorskip("torch")
    with pytest.raises(AssertionError):
        compare_with_torch(torch, "gelu", gelu_approximate="tanh")
    monkeypatch.setattr(textbook, "carried", lambda t, T, truncate: False)
    with pytest.raises(AssertionError):
        compare_with_torch(torch, "gelu")


def test_gelu_and_its_derivative():
    """f(a) = a Phi(a) against scipy's normal distribution; f' against central
    differences; max |f'| where f'' = 0, at a = sqrt(2)."""
    a = np.linspace(-6, 6, 1201)
    np.testing.assert_allclose(GELU.forward(a), a * norm.cdf(a), rtol=1e-14, atol=1e-300)
    numeric = (GELU.forward(a + 1e-6) - GELU.forward(a - 1e-6)) / 2e-6
    np.testing.assert_allclose(GELU.derivative(a, GELU.forward(a)), numeric, atol=1e-8)
    assert GELU.max_derivative == pytest.approx(gelu_derivative(np.sqrt(2.0)), rel=1e-14)
    assert GELU.max_derivative >= np.abs(gelu_derivative(a)).max() > GELU.max_derivative - 1e-4
