"""The optimiser plugins: closed-form first steps, state, dtype, convergence, registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from rnnbench.api import Optimizer
from rnnbench.registry import load_registry
from rnnbench.resolve import resolve_data
from rnnbench.spec import SpecError
from rnnbench.training import train

NAMES = ("sgd", "momentum", "rmsprop", "adam")


def make(registry, name, learning_rate, **params):
    cls = registry.get("optimizer", name)
    return cls(cls.Params(**params), learning_rate)


def two_steps(opt, p0=1.0, g1=0.5, g2=-0.25):
    """p after one and after two steps on a (1, 1) weight with gradients g1 then g2."""
    weights = {"p": np.array([[p0]])}
    seen = []
    for g in (g1, g2):
        opt.step(weights, {"p": np.array([[g]])})
        seen.append(weights["p"][0, 0])
    return seen


# Expected values below are worked by hand from each update rule, with
# lr = 0.1, p0 = 1, g1 = 0.5, g2 = -0.25.


def test_sgd_closed_form(registry):
    assert two_steps(make(registry, "sgd", 0.1)) == pytest.approx([0.95, 0.975], abs=1e-15)


def test_momentum_closed_form(registry):
    # v1 = 0.5, p1 = 1 - 0.05; v2 = 0.9 * 0.5 - 0.25 = 0.2, p2 = p1 - 0.02
    got = two_steps(make(registry, "momentum", 0.1, momentum=0.9))
    assert got == pytest.approx([0.95, 0.93], abs=1e-15)


def test_nesterov_momentum_closed_form(registry):
    # p1 = 1 - 0.1 * (0.5 + 0.9 * 0.5); v2 = 0.2, p2 = p1 - 0.1 * (-0.25 + 0.9 * 0.2)
    got = two_steps(make(registry, "momentum", 0.1, momentum=0.9, nesterov=True))
    assert got == pytest.approx([0.905, 0.912], abs=1e-15)


def test_rmsprop_closed_form(registry):
    # eps = 0.1 so that where it is added matters.
    # s1 = 0.1 * 0.25 = 0.025; s2 = 0.9 * 0.025 + 0.1 * 0.0625 = 0.02875
    p1 = 1 - 0.1 * 0.5 / (math.sqrt(0.025) + 0.1)
    p2 = p1 - 0.1 * -0.25 / (math.sqrt(0.02875) + 0.1)
    got = two_steps(make(registry, "rmsprop", 0.1, decay=0.9, eps=0.1))
    assert got == pytest.approx([p1, p2], abs=1e-14)
    assert p1 == pytest.approx(0.806287, abs=1e-6) and p2 == pytest.approx(0.899031, abs=1e-6)


def test_adam_closed_form(registry):
    # Step 1: m_hat = g1, v_hat = g1^2, so the step is lr * g1 / (|g1| + eps) ~ lr * sign(g1).
    p1 = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
    # Step 2: m = 0.9 * 0.05 + 0.1 * -0.25 = 0.02, m_hat = 0.02 / (1 - 0.81);
    #         v = 0.999 * 0.00025 + 0.001 * 0.0625 = 0.00031225, v_hat = v / (1 - 0.998001)
    p2 = p1 - 0.1 * (0.02 / 0.19) / (math.sqrt(0.00031225 / 0.001999) + 1e-8)
    got = two_steps(make(registry, "adam", 0.1))
    assert got == pytest.approx([p1, p2], abs=1e-14)
    assert p1 == pytest.approx(0.9, abs=1e-8) and p2 == pytest.approx(0.873366, abs=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_state_is_kept_per_parameter_name(registry, name):
    rng = np.random.default_rng(0)
    start = {"a": rng.normal(size=(3, 2)), "b": rng.normal(size=4)}
    grads = [{k: rng.normal(size=v.shape) for k, v in start.items()} for _ in range(3)]

    together = {k: v.copy() for k, v in start.items()}
    opt = make(registry, name, 0.1)
    for g in grads:
        opt.step(together, g)
    for k in start:  # each parameter alone, with its own optimiser
        alone = {k: start[k].copy()}
        opt = make(registry, name, 0.1)
        for g in grads:
            opt.step(alone, {k: g[k]})
        np.testing.assert_array_equal(together[k], alone[k])


@pytest.mark.parametrize("name", NAMES)
def test_float32_weights_are_updated_in_place_and_stay_float32(registry, name):
    w = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)
    weights = {"w": w}
    opt = make(registry, name, 0.1)
    for _ in range(3):
        opt.step(weights, {"w": (0.5 * w).astype(np.float32)})
    assert weights["w"] is w and w.dtype == np.float32
    assert not np.array_equal(w, [[1.0, -2.0], [0.5, 3.0]])
    for state in getattr(opt, "state", {}).values():
        assert all(a.dtype == np.float32 for a in state.values())


@pytest.mark.parametrize(
    "name, learning_rate, params",
    [
        ("sgd", 0.1, {}),
        ("momentum", 0.05, {}),
        ("momentum", 0.05, {"nesterov": True}),
        # With decay 0.9 plain RMSprop settles into a cycle of size ~ lr / 2 on
        # a deterministic problem; a slower average lets it converge.
        ("rmsprop", 0.01, {"decay": 0.99}),
        ("adam", 0.05, {}),
    ],
)
def test_minimises_a_least_squares_problem(registry, name, learning_rate, params):
    A = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    b = np.array([1.0, 2.0, -1.0])
    solution = np.linalg.lstsq(A, b, rcond=None)[0]
    weights = {"p": np.zeros(2)}
    opt = make(registry, name, learning_rate, **params)
    for _ in range(300):
        opt.step(weights, {"p": A.T @ (A @ weights["p"] - b)})  # grad of 0.5 ||A p - b||^2
    np.testing.assert_allclose(weights["p"], solution, atol=1e-3)


@pytest.mark.parametrize(
    "name, params",
    [
        ("momentum", {"momentum": 1.5}),
        ("momentum", {"momentum": -0.1}),
        ("rmsprop", {"eps": -1e-8}),
        ("rmsprop", {"decay": 1.0}),
        ("adam", {"eps": -1e-8}),
        ("adam", {"beta2": 1.0}),
        ("adam", {"lr": 0.1}),  # unknown key
    ],
)
def test_invalid_params_are_rejected(registry, name, params):
    with pytest.raises(ValidationError):
        registry.get("optimizer", name).Params(**params)


def test_invalid_optimizer_params_in_a_suite_name_the_field(registry, small_suite_data):
    small_suite_data["train"]["optimizer"] = {"name": "momentum", "momentum": 1.5}
    with pytest.raises(SpecError, match=r"optimizer 'momentum': momentum"):
        resolve_data(small_suite_data, registry)


def test_all_optimizers_are_found_through_the_registry():
    registry = load_registry()
    for name in NAMES:
        cls = registry.get("optimizer", name)
        assert issubclass(cls, Optimizer) and cls.name == name
        assert registry.components[("optimizer", name)].provider.distribution == "rnnbench"
    assert registry.problems == []


def test_a_suite_trained_with_adam_learns(registry, small_suite_data):
    small_suite_data["train"]["optimizer"] = {"name": "adam", "beta1": 0.8}
    suite = resolve_data(small_suite_data, registry)
    assert suite.train.optimizer.params == {"beta1": 0.8, "beta2": 0.999, "eps": 1e-8}
    result = train(suite.runs()[0], registry)
    assert result.status == "ok"
    assert result.final_test_loss < result.curves.test_loss[0]
