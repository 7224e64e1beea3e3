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
