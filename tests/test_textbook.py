"""The textbook cells (rnnbench.engine.textbook) and the fast path beside them.

The fast path equals the textbook one to round-off, forward outputs and every
parameter's gradient, for every combination test_remedies.py enumerates; the
textbook path matches finite differences on its own; and without numba a
training run goes through the textbook path, gives the fast path's numbers to
round-off, and the process says once that the fast path is off."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from rnnbench.engine import fast, textbook
from rnnbench.gradcheck import gradient_errors, make_problem
from rnnbench.registry import load_registry
from rnnbench.resolve import resolve_data
from rnnbench.training import train
from rnnbench.torch_cell import is_torch_cell
from test_remedies import COMBINATIONS, REGISTRY, variant

ROUND_OFF = 1e-12  # float64: the two paths add and multiply in different orders
TEXTBOOK_STEPS = (textbook.VanillaSteps, textbook.LSTMSteps, textbook.GRUSteps)
# The cells the engine setting chooses a path for: not those written in torch (rnnbench.torch_cell),
# which have one, held equal to the numpy engine by tests/test_torch_cells.py
NUMPY_CELLS = [c for c in REGISTRY.names("cell") if not is_torch_cell(REGISTRY.get("cell", c))]
# The cells with a fast path beside the textbook one; the others (IndRNN, coRNN, LRU, expRNN)
# run their textbook functions only, checked against finite differences in their own tests
TWO_PATH_CELLS = ["vanilla", "lstm", "gru"]
NUMPY_COMBINATIONS = [p for p in COMBINATIONS if p.values[0] in TWO_PATH_CELLS]


def relative_difference(fast_value, textbook_value) -> float:
    """max |fast - textbook| / max |textbook| (the scale floored so zero arrays compare)."""
    fast_value, textbook_value = np.asarray(fast_value), np.asarray(textbook_value)
    assert fast_value.shape == textbook_value.shape
    scale = max(float(np.max(np.abs(textbook_value))), 1e-300)
    return float(np.max(np.abs(fast_value - textbook_value))) / scale


def both_paths(problem, compute):
    """compute(cell, params, batch) on the fast path, then on the textbook path."""
    model = problem.model
    on_fast = compute(model.network.cell, model.params, problem.batch)
    with fast.textbook():
        on_textbook = compute(model.network.cell, model.params, problem.batch)
    return on_fast, on_textbook


def forward_and_gradients(model):
    def compute(cell, params, batch):
        h, cache = cell.forward(params, batch.x)
        loss, grads = model.loss_and_gradients(batch)
        return h, cache, loss, grads

    return compute


def assert_equal_to_round_off(problem):
    (h, cache, loss, grads), (h_book, cache_book, loss_book, grads_book) = both_paths(
        problem, forward_and_gradients(problem.model)
    )
    assert not isinstance(cache, TEXTBOOK_STEPS)  # numba is there: the default is the fast path
    assert isinstance(cache_book, TEXTBOOK_STEPS)  # and the textbook path really ran
    assert relative_difference(h, h_book) < ROUND_OFF
    assert relative_difference(loss, loss_book) < ROUND_OFF
    assert set(grads) == set(grads_book) == set(problem.model.params)
    differences = {name: relative_difference(grads[name], grads_book[name]) for name in grads}
    assert max(differences.values()) < ROUND_OFF, differences


needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                 reason="the fast path needs numba (the 'fast' extra)")


@needs_numba
@pytest.mark.parametrize("truncate", [None, 3])
@pytest.mark.parametrize("cell, activation, remedies", NUMPY_COMBINATIONS)
def test_the_fast_path_equals_the_textbook_one(cell, activation, remedies, truncate):
    problem = make_problem(variant(cell=cell, activation=activation, remedies=remedies), REGISTRY, seq_len=7, seed=1)
    problem.model.network.truncate = truncate
    assert_equal_to_round_off(problem)


@needs_numba
@pytest.mark.parametrize("cell", TWO_PATH_CELLS)
@pytest.mark.parametrize("remedies", [[], ["layer_norm"]])
def test_the_paths_agree_where_many_steps_carry_a_loss_and_on_the_decay_profiles(cell, remedies):
    problem = make_problem(variant(cell=cell, remedies=remedies), REGISTRY, loss="cross_entropy",
                           many_to_one=False, seq_len=7, seed=2)
    assert_equal_to_round_off(problem)
    network = problem.model.network

    def profiles(cell, params, batch):
        return network.decay_profile(params, batch), network.state_profiles(params, batch)

    (decay, states), (decay_book, states_book) = both_paths(problem, profiles)
    assert relative_difference(decay, decay_book) < ROUND_OFF
    assert set(states) == set(states_book) == ({"c"} if cell == "lstm" else set())
    for name in states:  # the LSTM's dL/dc_t
        assert relative_difference(states[name], states_book[name]) < ROUND_OFF


@needs_numba
def test_a_wrong_textbook_formula_would_be_seen(monkeypatch):
    """The comparison can fail: a textbook vanilla cell that forgets the recurrent
    term W_hh^T delta_{t+1} of g_t differs from the fast path far beyond round-off."""
    problem = make_problem(variant(), REGISTRY, seq_len=7, seed=1)
    monkeypatch.setattr(textbook, "carried", lambda t, T, truncate: False)
    with pytest.raises(AssertionError):
        assert_equal_to_round_off(problem)


@pytest.mark.parametrize("cell", NUMPY_CELLS)
@pytest.mark.parametrize("remedies", [[], ["layer_norm"]])
def test_the_textbook_path_matches_finite_differences(cell, remedies):
    if remedies and not REGISTRY.get("cell", cell).takes_transforms:
        pytest.skip(f"cell '{cell}' takes no summed-input transform")
    problem = make_problem(variant(cell=cell, remedies=remedies), REGISTRY, seq_len=5, seed=3)
    with fast.textbook():
        cache = problem.model.network.cell.forward(problem.model.params, problem.batch.x)[1]
        assert type(cache).__module__ == textbook.__name__  # the textbook path really ran
        errors = gradient_errors(problem)
    assert max(errors.values()) < 1e-6, errors


# --- without numba ------------------------------------------------------------------------------

SUITE = {
    "name": "without-numba",
    "task": {"name": "adding"},
    "seq_lens": [6],
    "seeds": [0],
    "train": {"learning_rate": 0.1, "steps": 8, "batch_size": 8, "log_every": 4, "test_size": 16,
              "validation_size": 16, "dtype": "float64"},
    "variants": [
        {"name": "tanh", "hidden_size": 6},
        {"name": "lstm + layer norm", "cell": "lstm", "hidden_size": 6, "remedies": ["layer_norm"]},
        {"name": "gru + truncation", "cell": "gru", "hidden_size": 6,
         "remedies": [{"name": "truncated_bptt", "steps": 3}]},
    ],
}

# Trains the suite read from stdin with numba made unimportable, as if it were not
# installed, and prints the numbers of every run.
WITHOUT_NUMBA = """
import json, sys
sys.modules["numba"] = None  # import numba now raises ImportError
from rnnbench.registry import load_registry
from rnnbench.resolve import resolve_data
from rnnbench.training import train
registry = load_registry()
runs = resolve_data(json.load(sys.stdin), registry).runs()
results = [train(run, registry) for run in runs]
print(json.dumps({
    "numbers": [result.model_dump(mode="json", include={"curves", "decay"}) for result in results],
    "kernels_imported": sorted(m for m in sys.modules if m.endswith("_kernels")),
}))
"""


def numbers(value, path=""):
    """The floats of a nested record, by their path in it."""
    if isinstance(value, dict):
        return {k: v for key in value for k, v in numbers(value[key], f"{path}/{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in numbers(item, f"{path}/{i}").items()}
    return {path: value}


@needs_numba
def test_without_numba_training_runs_the_textbook_path_and_says_so_once():
    process = subprocess.run([sys.executable, "-c", WITHOUT_NUMBA], input=json.dumps(SUITE),
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    said = [line for line in process.stderr.splitlines() if "fast path is off" in line]
    assert said == [fast.OFF_MESSAGE]  # one line for the three runs
    out = json.loads(process.stdout)
    assert out["kernels_imported"] == []

    registry = load_registry()
    with_numba = [train(run, registry).model_dump(mode="json", include={"curves", "decay"})
                  for run in resolve_data(SUITE, registry).runs()]
    expected, got = numbers(with_numba), numbers(out["numbers"])
    assert set(got) == set(expected) and any(isinstance(v, float) for v in expected.values())
    for path, value in expected.items():
        if isinstance(value, float):
            assert got[path] == pytest.approx(value, rel=1e-9, abs=1e-12), path
        else:
            assert got[path] == value, path
