"""The adding problem: structure, determinism and its input-blind baseline."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbench_plugins.adding import AddingProblem


def task(T):
    return AddingProblem(AddingProblem.Params(), T)


def test_two_markers_one_in_each_half_and_the_target_is_their_sum():
    T, B = 30, 200
    b = task(T).sample(np.random.default_rng(3), B)
    x, y = b.x, b.y
    assert b.mask is None
    assert x.shape == (T, B, 2) and y.shape == (B, 1)
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=0) == 2)
    assert np.all(markers[: T // 2].sum(axis=0) == 1)
    assert np.all((0 <= x[:, :, 0]) & (x[:, :, 0] <= 1))
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(axis=0))


def test_same_seed_same_data_other_seed_other_data():
    a = task(10).sample(np.random.default_rng(5), 4)
    b = task(10).sample(np.random.default_rng(5), 4)
    c = task(10).sample(np.random.default_rng(6), 4)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_baseline_is_the_mse_of_always_answering_one():
    y = task(10).sample(np.random.default_rng(0), 200_000).y
    blind = float(np.mean((y - 1.0) ** 2))
    assert task(10).baseline == pytest.approx(2 / 12)
    assert blind == pytest.approx(2 / 12, abs=0.002)


def test_too_short_a_sequence_is_refused():
    with pytest.raises(ValueError, match="seq_len >= 2"):
        task(1)


def test_the_1997_variant_structure_and_baseline():
    t = AddingProblem(AddingProblem.Params(variant="hochreiter1997"), 40)
    b = t.sample(np.random.default_rng(4), 100_000)
    markers = b.x[:, :, 1]
    assert np.all(markers.sum(axis=0) == 2) and np.all(markers[:10].sum(axis=0) == 1)
    assert np.all(markers[20:].sum(axis=0) == 0)
    values = (b.x[:, :, 0] * markers).sum(axis=0)
    np.testing.assert_allclose(b.y[:, 0], 0.5 + values / 4)
    assert t.baseline == pytest.approx(1 / 24)
    assert float(np.mean((b.y - 0.5) ** 2)) == pytest.approx(1 / 24, abs=0.0005)
    with pytest.raises(ValueError, match="seq_len >= 22"):
        AddingProblem(AddingProblem.Params(variant="hochreiter1997"), 21)


def test_both_success_criteria_are_reported():
    t = task(10)
    b = t.sample(np.random.default_rng(0), 50)
    near = b.y + 0.03
    metrics = t.evaluate(near, b)
    assert metrics["max_abs_error"] == pytest.approx(0.03)
    assert t.solved(0.0009, metrics) == {"mse_below_0.01": True, "abs_error_below_0.04": True}
    off = b.y.copy()
    off[7] += 0.5  # one sequence far off: the 1997 criterion fails, the MSE one holds
    assert t.solved(0.005, t.evaluate(off, b)) == {"mse_below_0.01": True, "abs_error_below_0.04": False}
    assert list(t.criteria)[0] == "mse_below_0.01"
