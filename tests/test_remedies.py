"""Every cell x activation x remedy that validation accepts, checked against
finite differences; clipping and truncation against their definitions; the
combinations that make no sense refused with a reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnnbench.api import Batch
from rnnbench.engine.network import global_norm
from rnnbench.gradcheck import gradient_errors, make_problem
from rnnbench.registry import load_registry
from rnnbench.resolve import model_config as resolve_model, resolve_data, resolve_variant
from rnnbench.variant import build_model
from rnnbench.spec import VariantSpec
from rnnbench.training import build
from restart import started_at, state_at

REGISTRY = load_registry()
TOLERANCE = 1e-6


def variant(registry=REGISTRY, **fields):
    return resolve_variant(VariantSpec.model_validate({"name": "v", "hidden_size": 4, **fields}), registry)


def remedy_name(remedy: str | dict) -> str:
    return remedy if isinstance(remedy, str) else remedy["name"]


def accepted_combinations():
    """(cell, activation, remedies) for each single remedy and a few compositions."""
    remedy_lists = [[]] + [[name] for name in REGISTRY.names("remedy")] + [
        ["layer_norm", "l2", "clip_norm"],
        ["orthogonal_init", "layer_norm"],
        ["identity_init", "leaky_relu", "l2"],
        ["gru", "layer_norm", "truncated_bptt"],
        ["lstm", "orthogonal_init", "layer_norm", "clip_value"],
        ["lstm", {"name": "chrono_init", "t_max": 8.0}],
    ]
    combos = []
    for cell in REGISTRY.names("cell"):
        for activation in REGISTRY.get("cell", cell).activations:
            for remedies in remedy_lists:
                try:
                    variant(cell=cell, activation=activation, remedies=remedies)
                except ValueError:
                    continue
                combos.append(pytest.param(cell, activation, remedies, id=f"{cell}-{activation}-{'+'.join(map(remedy_name, remedies)) or 'none'}"))
    return combos


COMBINATIONS = accepted_combinations()


def test_the_grid_of_combinations_is_not_empty_and_covers_every_remedy():
    assert len(COMBINATIONS) > 20
    used = {remedy_name(r) for p in COMBINATIONS for r in p.values[2]}
    assert used == set(REGISTRY.names("remedy"))
    assert {p.values[0] for p in COMBINATIONS} == set(REGISTRY.names("cell"))


@pytest.mark.parametrize("cell, activation, remedies", COMBINATIONS)
def test_gradients_match_finite_differences(cell, activation, remedies):
    v = variant(cell=cell, activation=activation, remedies=remedies)
    errors = gradient_errors(make_problem(v, REGISTRY, seed=1))
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("cell", REGISTRY.names("cell"))
@pytest.mark.parametrize("remedies", [[], ["layer_norm", "l2"]])
def test_many_to_many_cross_entropy_gradients_match_finite_differences(cell, remedies):
    try:
        v = variant(cell=cell, remedies=remedies)
    except ValueError as refused:  # a cell may refuse these remedies (the LRU and expRNN do)
        pytest.skip(str(refused))
    problem = make_problem(v, REGISTRY, loss="cross_entropy", many_to_one=False, seed=2)
    assert problem.batch.mask.sum() < problem.batch.mask.size  # some steps carry no loss
    errors = gradient_errors(problem)
    assert max(errors.values()) < TOLERANCE, errors


def test_the_checked_parameters_include_the_remedies_own():
    problem = make_problem(variant(remedies=["layer_norm"]), REGISTRY)
    errors = gradient_errors(problem)
    assert {"layer_norm.h.gain", "layer_norm.h.bias", "W_hh", "W_hy"} <= set(errors)


@pytest.mark.parametrize("cell", REGISTRY.names("cell"))
def test_truncated_gradient_is_the_gradient_of_the_truncated_graph(cell):
    T, k = 9, 4
    problem = make_problem(variant(cell=cell, remedies=[{"name": "truncated_bptt", "steps": k}]), REGISTRY, seq_len=T)
    net, params, batch = problem.model.network, problem.model.params, problem.batch
    net.truncate = k
    _, truncated = net.loss_and_gradients(params, batch)
    net.truncate = None
    _, full = net.loss_and_gradients(params, batch)
    _, cache = net.cell.forward(params, batch.x)
    start = dataclasses.replace(net, cell=started_at(net.cell, state_at(net.cell, cache, T - k)))
    _, graph = start.loss_and_gradients(params, Batch(batch.x[T - k :], batch.y))
    for name in graph:
        np.testing.assert_allclose(truncated[name], graph[name], rtol=1e-10, atol=1e-14)
    # truncation changed something (a recurrent parameter; the LRU and expRNN have no W_hh)
    assert any(not np.allclose(truncated[n], full[n]) for n in ("W_hh", "A_hh", "nu_log") if n in full)


def test_truncation_is_applied_in_training_and_the_shortest_wins(registry, small_suite_data):
    data = small_suite_data
    data["variants"][1]["remedies"] = [{"name": "truncated_bptt", "steps": 5}, {"name": "truncated_bptt", "steps": 3}]
    run = resolve_data(data, registry).runs()[2]
    _, model, _ = build(run, registry)
    assert model.network.truncate == 3


def test_clip_norm_keeps_direction_and_bounds_the_norm(registry):
    clip = registry.create("remedy", variant(remedies=["clip_norm"]).remedies[0])
    rng = np.random.default_rng(1)
    grads = {"a": rng.normal(size=(3, 3)), "b": rng.normal(size=3)}
    norm = global_norm(grads)
    clip.params = clip.Params(threshold=norm / 4)
    clipped = clip.transform_gradients(grads)
    assert global_norm(clipped) == pytest.approx(norm / 4, rel=1e-12)
    for name in grads:
        np.testing.assert_allclose(clipped[name], grads[name] / 4, rtol=1e-12)
    clip.params = clip.Params(threshold=norm * 2)
    untouched = clip.transform_gradients(grads)
    for name in grads:
        np.testing.assert_array_equal(untouched[name], grads[name])


def test_clip_value_bounds_every_entry(registry):
    clip = registry.create("remedy", variant(remedies=[{"name": "clip_value", "threshold": 0.5}]).remedies[0])
    grads = {"a": np.array([[-2.0, 0.1], [0.5, 0.7]])}
    np.testing.assert_array_equal(clip.transform_gradients(grads)["a"], [[-0.5, 0.1], [0.5, 0.5]])


def test_l2_penalty_is_half_lambda_squared_norm_of_the_chosen_groups(registry):
    l2 = registry.create("remedy", variant(remedies=[{"name": "l2", "weight_decay": 0.1, "groups": ["recurrent"]}]).remedies[0])
    params = {"W_hh": np.full((2, 2), 3.0), "W_hx": np.ones((2, 1)), "b_h": np.ones(2)}
    value, grads = l2.penalty(params)
    assert value == pytest.approx(0.5 * 0.1 * 4 * 9)
    assert set(grads) == {"W_hh"}
    np.testing.assert_allclose(grads["W_hh"], 0.3)


def test_identity_and_orthogonal_initialisation(registry, small_suite_data):
    data = small_suite_data
    data["variants"] = [
        {"name": "irnn", "activation": "relu", "hidden_size": 6, "remedies": [{"name": "identity_init", "scale": 0.9}]},
        {"name": "ortho", "hidden_size": 6, "remedies": [{"name": "orthogonal_init", "scale": 1.2}]},
        {"name": "ortho-lstm", "cell": "lstm", "hidden_size": 6, "remedies": ["orthogonal_init"]},
    ]
    runs = resolve_data(data, registry).runs()
    irnn = build(runs[0], registry)[1].params
    np.testing.assert_array_equal(irnn["W_hh"], (0.9 * np.eye(6)).astype(irnn["W_hh"].dtype))
    assert not irnn["b_h"].any()
    ortho = build(runs[2], registry)[1].params
    np.testing.assert_allclose(np.linalg.svd(ortho["W_hh"].astype(float), compute_uv=False), 1.2, rtol=1e-6)
    lstm = build(runs[4], registry)[1].params
    W = lstm["W_hh"].astype(float)
    for block in np.split(W, W.shape[0] // 6):
        np.testing.assert_allclose(block @ block.T, np.eye(6), atol=1e-6)


def test_chrono_initialisation_spreads_the_forget_bias_over_log_1_to_log_t_max(registry, small_suite_data):
    data = small_suite_data
    data["variants"] = [{"name": "chrono", "cell": "lstm", "hidden_size": 200,
                         "remedies": [{"name": "chrono_init", "t_max": 50.0}]}]
    params = build(resolve_data(data, registry).runs()[0], registry)[1].params
    H = 200
    b_i, b_f = params["b_h"][:H].astype(float), params["b_h"][H : 2 * H].astype(float)
    np.testing.assert_allclose(b_i, -b_f, rtol=1e-6)
    assert b_f.min() >= 0.0 and b_f.max() <= np.log(49.0) + 1e-6
    # u = exp(b_f) is uniform on [1, 49]: its mean is 25 and its quartiles lie near 13 and 37
    u = np.exp(b_f)
    assert abs(u.mean() - 25.0) < 3.0 and abs(np.median(u) - 25.0) < 5.0
    assert not params["b_h"][2 * H :].any()  # the g and o gates keep their zero biases


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"remedies": [{"name": "chrono_init", "t_max": 10.0}]}, "chrono initialisation sets the LSTM's"),
        ({"cell": "lstm", "remedies": ["identity_init"]}, "identity initialisation (IRNN)"),
        ({"cell": "gru", "remedies": ["leaky_relu"]}, "leaky_relu is for the vanilla cell"),
        ({"remedies": ["lstm", "identity_init"]}, "cell 'lstm' uses W_hh for its gates"),
        ({"cell": "lstm", "activation": "relu"}, "activation 'relu' is not available for cell 'lstm'"),
        ({"remedies": ["lstm", "gru"]}, "a later remedy replaced the cell 'lstm' by 'gru'"),
    ],
)
def test_combinations_that_make_no_sense_are_refused_with_a_reason(fields, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        variant(**fields)


def test_leaky_relu_remedy_sets_activation_and_slope(registry):
    config, _ = resolve_model(variant(remedies=[{"name": "leaky_relu", "slope": 0.2}]), registry, 2, 1, "float64")
    assert (config.activation, config.activation_params) == ("leaky_relu", {"slope": 0.2})


def test_cell_params_reach_the_cell_and_are_validated_by_it(registry):
    v = variant(cell="lstm", cell_params={"forget_bias": 0.0})
    params = build_model(v, registry, 2, 1, "float64", "mse", True, np.random.default_rng(0)).params
    H = v.hidden_size
    assert not params["b_h"][H : 2 * H].any()
    default = variant(cell="lstm")
    assert default.cell_params == {"forget_bias": 1.0}  # the default is written out: the key covers it
    with pytest.raises(ValueError, match="cell_params of cell 'lstm': forget_gate: Extra inputs"):
        variant(cell="lstm", cell_params={"forget_gate": 0.0})
    with pytest.raises(ValueError, match="cell_params of cell 'vanilla'"):
        variant(cell_params={"forget_bias": 0.0})
